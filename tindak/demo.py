"""`tindak demo`: a realistic data set in a fresh data dir, a week of follow-up through
Prefect, and every message delivered to a real local SMTP server that keeps them as files."""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from tindak.errors import N_, InvalidInput

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo("Asia/Jakarta")).astimezone(UTC)


def _use(path: Path, smtp_port: int) -> None:
    """Point this process's settings at the demo's data dir and the local SMTP sink."""
    from models import dispose_engines
    from tindak.database import migrate
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
    migrate()  # the demo's own database: its schema step, as every entry point takes


def _verifier(unit_id: int, reporter: str, planners: list[tuple[str, int]], tree) -> str | None:
    """The nearest planner above the item's unit who did not report it (segregation of duties)."""
    chain = [unit_id, *tree.ancestors(unit_id)]
    for uid in chain:
        for email, home in planners:
            if home == uid and email != reporter:
                return email
    return None


def _follow_up_story(today: date) -> None:
    """Owners report and other planners verify over the past weeks, so every status shows."""
    from models import Person, Recommendation, session
    from tindak import recs
    from tindak.directory import UnitTree

    with session() as s:
        tree = UnitTree.load(s)
        rows = s.execute(sa.select(col(Recommendation.ref), col(Recommendation.unit_id),
                                   col(Person.email))
                         .join(Person, col(Person.id) == Recommendation.owner_id)
                         .order_by(col(Recommendation.deadline), col(Recommendation.ref))).all()
        planners = [(e, u) for e, u, roles in s.execute(
            sa.select(col(Person.email), col(Person.unit_id), col(Person.roles)))
            if "planner" in roles]
    story = ["progress", "done", "completed", "progress", "completed", "not_actionable",
             "done", "progress", "completed"]
    asked = 0
    for (ref, unit_id, owner), step in zip(rows[1::3], story, strict=False):
        if step == "progress":
            recs.update_rec(ref, by=owner, progress=40, note="Draf SOP sudah disusun.",
                            public=True, at=_at(today - timedelta(days=12)))
            asked += 1
            if asked <= 2:  # more time asked for: one approved by another planner, one waits
                _extension_story(ref, unit_id, owner, planners, tree, today, asked == 1)
        elif step == "not_actionable":
            recs.update_rec(ref, by=owner, status="not_actionable",
                            note="Kewenangan dialihkan ke pemerintah provinsi.", public=True,
                            at=_at(today - timedelta(days=9)))
        else:
            recs.update_rec(ref, by=owner, progress=100, note="Sudah dilaksanakan.",
                            evidence=recs.Evidence(url="https://example.go.id/bukti.pdf"),
                            public=True, at=_at(today - timedelta(days=6)))
            verifier = _verifier(unit_id, owner, planners, tree)
            if step == "completed":
                if verifier is None:
                    raise InvalidInput(N_("the demo data has no planner who may verify "
                                          "%(ref)s"), ref=ref)
                recs.verify_rec(ref, by=verifier, at=_at(today - timedelta(days=3)))


def _extension_story(ref: str, unit_id: int, owner: str, planners: list[tuple[str, int]],
                     tree, today: date, decide: bool) -> None:
    """The owner asks for a month more, with a reason; another planner approves it (SPEC §7)."""
    from models import Recommendation, session
    from tindak import extensions

    with session() as s:
        deadline = s.execute(sa.select(col(Recommendation.deadline))
                             .where(col(Recommendation.ref) == ref)).scalar_one()
    extensions.request_extension(
        ref, max(deadline, today) + timedelta(days=30),
        "Menunggu pencairan anggaran APBD Perubahan.", owner,
        at=_at(today - timedelta(days=10 if decide else 2)))
    verifier = _verifier(unit_id, owner, planners, tree)
    if decide and verifier is not None:
        extensions.decide_extension(ref, verifier, approve=True, note="Sesuai jadwal APBD-P.",
                                    at=_at(today - timedelta(days=8)))


def _story_lines(lang: str) -> list[str]:
    """What the data now says, read back from the database, in words."""
    from models import Extension, Person, ProgressUpdate, Recommendation, session
    from tindak.i18n import format_percent, status_label, translator
    from tindak.web.views import public_forums

    t = translator(lang)
    with session() as s:
        counts = Counter(s.execute(sa.select(col(Recommendation.status))).scalars())
        verified = s.execute(
            sa.select(col(Recommendation.ref), col(Person.name))
            .join(ProgressUpdate, col(ProgressUpdate.recommendation_id) == Recommendation.id)
            .join(Person, col(Person.id) == ProgressUpdate.person_id)
            .where(col(ProgressUpdate.kind) == "verify", col(Recommendation.status) == "completed")
            .order_by(col(Recommendation.ref))).all()
    out = [t.gettext("%(total)d recommendation(s): %(counts)s") % {
        "total": sum(counts.values()),
        "counts": ", ".join(f"{status_label(code, lang)} {counts[code]}" for code in
                            ("open", "in_progress", "awaiting_verification", "completed",
                             "not_actionable") if counts[code])}]
    for ref, name in verified:
        out.append(t.gettext("%(ref)s: reported done by its owner, verified by %(name)s") %
                   {"ref": ref, "name": name})
    with session() as s:
        moved = s.execute(
            sa.select(col(Recommendation.ref), col(Extension.previous), col(Extension.until),
                      col(Person.name), col(Extension.status))
            .join(Extension, col(Extension.recommendation_id) == Recommendation.id)
            .outerjoin(Person, col(Person.id) == Extension.decided_by)
            .order_by(col(Extension.id))).all()
    for ref, previous, until, name, status in moved:
        if status == "approved":
            out.append(t.gettext("%(ref)s: its owner asked for more time; %(name)s approved "
                                 "it: deadline %(old)s → %(new)s") % {
                "ref": ref, "name": name, "old": previous.isoformat(),
                "new": until.isoformat()})
        elif status == "requested":
            out.append(t.gettext("%(ref)s: its owner asks for more time (to %(new)s); the "
                                 "request waits for a planner") % {
                "ref": ref, "new": until.isoformat()})
    if counts["awaiting_verification"]:
        out.append(t.ngettext("%(num)d report of done waits for a planner to verify it",
                              "%(num)d reports of done wait for a planner to verify them",
                              counts["awaiting_verification"]) %
                   {"num": counts["awaiting_verification"]})
    out.append(t.gettext("completion rate on the public pages:"))
    for f in public_forums():
        out.append(f"  {format_percent(f['rate'], lang):>5}  {f['title']}")
    return out


def _command() -> str:
    """How this person runs `tindak`: the script beside this Python, else plain `tindak`."""
    script = Path(sys.executable).with_name("tindak")
    return str(script) if script.exists() else "tindak"


def run_demo(path: Path, today: date) -> None:
    from tindak.flowrun import describe, run_flow
    from tindak.i18n import error_text, translator
    from tindak.importer import import_files
    from tindak.settings import get_settings
    from tindak.smtp_sink import SmtpSink

    t = translator(get_settings().language)
    _ = t.gettext
    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        raise InvalidInput(N_("%(path)s is not empty: give a new folder with --dir, or "
                              "remove it"), path=str(path))
    path.mkdir(parents=True, exist_ok=True)
    mail_dir = path / "mail"
    with SmtpSink(mail_dir) as sink:
        _use(path, sink.port)
        print(_("Tindak demo in %(path)s") % {"path": path})
        print(_("local SMTP server on 127.0.0.1:%(port)s, keeping every message in "
                "%(dir)s") % {"port": sink.port, "dir": mail_dir})
        files = [SAMPLES / f"{k}.csv" for k in ("units", "people", "recommendations")]
        report = import_files(files)
        print("\n1. " + _("Imported the sample forums (samples/*.csv):"))
        for imported in report.lines():
            print(f"   {error_text(imported, t.lang, 'cli')}")
        _follow_up_story(today)
        print("\n2. " + _("Owners reported progress over the past weeks; other planners "
                          "verified what was reported done:"))
        for line in _story_lines(t.lang):
            print(f"   {line}")
        week_ago = today - timedelta(days=7)
        for n, (name, day) in enumerate(
            [("daily", week_ago), ("daily", today), ("digest", today)], start=3):
            label = _("daily follow-up") if name == "daily" else _("weekly digest")
            print(f"\n{n}. " + _("Prefect flow run: %(flow)s as of %(date)s") %
                  {"flow": label, "date": day.isoformat()})
            summary = run_flow(name, day, None, allow_future=True)  # its own database
            for said in describe(summary)[0]:
                print(f"   {error_text(said, t.lang, 'cli')}")
        _print_mail(sink.received, t)
    tindak = _command()
    planner = "dewi.anggraini@bps34.example.go.id"
    print("\n" + _("Look further (each line runs as printed):"))
    print(f"  export TINDAK_HOME={path}")
    print(f"  {tindak} recs list --overdue --as-of {today.isoformat()}")
    print(f"  {tindak} outbox list")
    print(f"  {tindak} login-link {planner}    # " + _("sign in as a planner"))
    print(f"  {tindak} web    # " + _("the web app on http://127.0.0.1:8000"))
    print("  " + _("Prefect's records of the runs: %(dir)s") % {"dir": path / "prefect"})


def _print_mail(received, t, shown: int = 4) -> None:
    by_kind: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in received:
        msg = r.message
        subject = " ".join(str(msg["Subject"]).split())
        kind = str(msg.get("X-Tindak-Kind") or "") or (
            "digest" if "ringkasan" in subject.lower() or "digest" in subject.lower()
            else "escalation" if "skalasi" in subject.lower()
            else "extension" if "perpanjangan" in subject.lower()
            or "extension" in subject.lower() else "reminder")
        by_kind[kind].append((str(msg["To"]), subject, str(r.path)))
    print("\n" + t.gettext("The SMTP server received %(num)d message(s):") %
          {"num": len(received)})
    labels = {"reminder": t.gettext("reminders"), "escalation": t.gettext("escalations"),
              "digest": t.gettext("digests"), "extension": t.gettext("extension decisions")}
    for kind in sorted(by_kind, key=lambda k: (k not in labels, k)):
        rows = by_kind[kind]
        print(f"  {labels.get(kind, kind)}: {len(rows)}")
        for to, subject, where in rows[:shown]:
            print(f"    {where}  → {to}\n      {subject}")
        if len(rows) > shown:
            print("    " + t.gettext("… and %(num)d more") % {"num": len(rows) - shown})
