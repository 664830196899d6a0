"""`tindak demo`: a realistic data set in a fresh data dir, a week of follow-up through
Prefect, and every message delivered to a real local SMTP server that keeps them as files."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tindak.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo("Asia/Jakarta")).astimezone(UTC)


def _use(path: Path, smtp_port: int) -> None:
    """Point this process's settings at the demo's data dir and the local SMTP sink."""
    from models import dispose_engines
    from tindak.settings import get_settings, reset_settings

    base = get_settings().base_url or "http://127.0.0.1:8000"
    os.environ.update({
        "TINDAK_HOME": str(path),
        "TINDAK_DATABASE_URL": f"sqlite:///{path / 'tindak.db'}",
        "TINDAK_SMTP_HOST": "127.0.0.1",
        "TINDAK_SMTP_PORT": str(smtp_port),
        "TINDAK_SMTP_SECURITY": "none",
        "TINDAK_SMTP_USER": "",
        "TINDAK_SMTP_PASSWORD": "",
        "TINDAK_BASE_URL": base,
        "TINDAK_DELIVERY_RETRIES": "0",
    })
    os.environ.pop("PREFECT_API_URL", None)
    reset_settings()
    dispose_engines()


def _planner_for(unit_id: int, planners: list[tuple[str, int]], tree) -> str | None:  # type: ignore[no-untyped-def]
    for email, home in planners:
        if unit_id in tree.subtree(home):
            return email
    return None


def _follow_up_story(today: date) -> Counter:
    """Owners report and planners verify over the past weeks, so every status shows."""
    from models import Person, Recommendation, session
    from tindak import recs
    from tindak.directory import UnitTree

    with session() as s:
        tree = UnitTree.load(s)
        rows = s.execute(sa.select(Recommendation.ref, Recommendation.unit_id, Person.email)
                         .join(Person, Person.id == Recommendation.owner_id)
                         .order_by(Recommendation.deadline, Recommendation.ref)).all()
        planners = [(e, u) for e, u, roles in s.execute(
            sa.select(Person.email, Person.unit_id, Person.roles)) if "planner" in roles]
    story = ["progress", "done", "completed", "progress", "completed", "not_actionable",
             "done", "progress"]
    count: Counter = Counter()
    for (ref, unit_id, owner), step in zip(rows[1::3], story, strict=False):
        planner = _planner_for(unit_id, planners, tree)
        if step == "progress":
            recs.update_rec(ref, by=owner, progress=40, note="Draf SOP sudah disusun.",
                            public=True, at=_at(today - timedelta(days=12)))
        elif step == "not_actionable":
            recs.update_rec(ref, by=owner, status="not_actionable",
                            note="Kewenangan dialihkan ke pemerintah provinsi.", public=True,
                            at=_at(today - timedelta(days=9)))
        else:
            recs.update_rec(ref, by=owner, progress=100, note="Sudah dilaksanakan.",
                            evidence=recs.Evidence(url="https://example.go.id/bukti.pdf"),
                            public=True, at=_at(today - timedelta(days=6)))
            if step == "completed" and planner:
                recs.verify_rec(ref, by=planner, at=_at(today - timedelta(days=3)))
        count[step] += 1
    return count


def run_demo(path: Path, today: date) -> None:
    from tindak.flowrun import describe, run_flow
    from tindak.i18n import error_text
    from tindak.importer import import_files
    from tindak.settings import get_settings
    from tindak.smtp_sink import SmtpSink

    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        raise InvalidInput(f"{path} is not empty: give a new folder with --dir, or remove it")
    path.mkdir(parents=True, exist_ok=True)
    mail_dir = path / "mail"
    with SmtpSink(mail_dir) as sink:
        _use(path, sink.port)
        print(f"Tindak demo in {path}")
        print(f"local SMTP server on 127.0.0.1:{sink.port}, keeping every message in {mail_dir}")
        files = [SAMPLES / f"{k}.csv" for k in ("units", "people", "recommendations")]
        report = import_files(files)
        print("\n1. Imported the sample forums (samples/*.csv):")
        for line in report.lines():
            print(f"   {line}")
        story = _follow_up_story(today)
        print(f"\n2. Owners reported and planners verified: {dict(story)}")
        week_ago = today - timedelta(days=7)
        for n, (name, day) in enumerate(
            [("daily", week_ago), ("daily", today), ("digest", today)], start=3):
            label = "daily follow-up" if name == "daily" else "weekly digest"
            print(f"\n{n}. Prefect flow run: {label} as of {day.isoformat()}")
            summary = run_flow(name, day, None, allow_future=True)  # its own database
            for line in describe(summary)[0]:
                print(f"   {error_text(line, get_settings().language, 'cli')}")
        _print_mail(sink.received)
    print(f"""
Look further:
  export TINDAK_HOME={path}
  tindak recs list --overdue --as-of {today.isoformat()}   # what is late
  tindak outbox list                                  # every message and its delivery
  tindak web                                          # the web app on http://127.0.0.1:8000
  tindak login-link <a planner's email>               # sign in as a planner
  Prefect's records of the runs: {path / 'prefect'}""")


def _print_mail(received, shown: int = 4) -> None:  # type: ignore[no-untyped-def]
    by_kind: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in received:
        msg = r.message
        subject = " ".join(str(msg["Subject"]).split())
        kind = ("digest" if "ringkasan" in subject.lower() or "digest" in subject.lower()
                else "escalation" if "skalasi" in subject.lower() else "reminder")
        by_kind[kind].append((str(msg["To"]), subject, str(r.path)))
    print(f"\nThe SMTP server received {len(received)} message(s):")
    for kind in ("reminder", "escalation", "digest"):
        rows = by_kind.get(kind, [])
        print(f"  {kind}: {len(rows)}")
        for to, subject, where in rows[:shown]:
            print(f"    {where}  to {to}\n      {subject}")
        if len(rows) > shown:
            print(f"    … and {len(rows) - shown} more")
