"""Deadline extensions (SPEC §7): asked with a reason, decided by someone else, on record.

The deadline in force moves only on approval; reminders and escalations follow it with a
fresh ladder; the Berita Acara's deadline stays on record (and in the evaluator's rates);
the one who asked hears the decision by mail, which arrives at a real SMTP server.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from models import AuditRecord, Notice, Recommendation, session
from tindak import extensions, followup, recs
from tindak.errors import Forbidden, InvalidInput

MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # 07:30 WIB


def office(make):
    unit = make.unit(code="DINSOS", name="Dinas Sosial")
    boss = make.person(email="kabid@dinsos.example.go.id", unit=unit, name="Kepala Bidang")
    owner = make.person(email="staf@dinsos.example.go.id", unit=unit, supervisor=boss,
                        name="Siti Rahma", roles="owner;planner")
    planner = make.person(email="perencana@dinsos.example.go.id", unit=unit, roles="planner",
                          name="Budi Perencana")
    other = make.person(email="evaluator@dinsos.example.go.id", unit=unit, roles="planner",
                        name="Ani Evaluator")
    return unit, boss, owner, planner, other


def row(ref: str) -> dict:
    return next(r for r in recs.list_recs() if r["ref"] == ref)


def test_a_request_moves_nothing_until_another_planner_approves_it(make, smtp_settings):
    unit, _, owner, planner, other = office(make)
    rec = make.rec(ref="FKP-1/3", owner=owner, deadline=date(2026, 6, 30))
    asked = extensions.request_extension("fkp-1/3", date(2026, 9, 30),
                                         "Anggaran baru cair pada APBD-P", owner.email)
    assert asked["deadline"] == "2026-06-30"
    listed = row(rec.ref)
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-06-30", "2026-06-30")
    assert listed["extension"] == {"until": "2026-09-30", "status": "requested",
                                   "reason": "Anggaran baru cair pada APBD-P",
                                   "requested_by": owner.email, "decided_by": None}
    # The owner (a planner too) may not decide their own request.
    with pytest.raises(Forbidden, match="asked for this extension"):
        extensions.decide_extension(rec.ref, owner.email, approve=True)
    assert row(rec.ref)["deadline"] == "2026-06-30"

    extensions.decide_extension(rec.ref, planner.email, approve=True, note="Sesuai jadwal APBD-P")
    listed = row(rec.ref)
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-09-30", "2026-06-30")
    assert listed["extension"]["status"] == "approved"
    assert listed["extension"]["decided_by"] == planner.email

    [got] = smtp_settings.wait_for(lambda r: owner.email in r.rcpt_tos)
    assert list(got.rcpt_tos) == [owner.email]
    assert "FKP-1/3" in got.message["Subject"] and "30 September 2026" in got.message["Subject"]
    body = got.message.get_body(("plain",)).get_content()
    assert "Budi Perencana menyetujui" in body
    assert "30 Juni 2026" in body and "Sesuai jadwal APBD-P" in body

    kinds = [(h["kind"], h["until"]) for h in recs.history(rec.ref)]
    assert kinds == [("extend_request", date(2026, 9, 30)), ("extend_approve", date(2026, 9, 30))]
    with session() as s:
        actions = s.execute(sa.select(AuditRecord.action, AuditRecord.actor)
                            .where(AuditRecord.entity_key == rec.ref)
                            .order_by(AuditRecord.id)).all()
    assert [tuple(a) for a in actions][-2:] == [("extend_request", owner.email),
                                                ("extend_approve", planner.email)]


def test_a_planner_who_asked_for_the_owner_needs_another_planner(make):
    unit, _, _, planner, other = office(make)
    owner = make.person(unit=unit)
    rec = make.rec(owner=owner, deadline=date(2026, 6, 30))
    extensions.request_extension(rec.ref, date(2026, 7, 31), "Menunggu Perwali", planner.email)
    with pytest.raises(Forbidden, match="asked for this extension"):
        extensions.decide_extension(rec.ref, planner.email, approve=False, note="x")
    # A planner of another tree may not decide either.
    stranger = make.person(unit=make.unit(), roles="planner")
    with pytest.raises(Forbidden, match="only a planner of its unit"):
        extensions.decide_extension(rec.ref, stranger.email, approve=True)
    with pytest.raises(InvalidInput, match="rejection needs a reason"):
        extensions.decide_extension(rec.ref, other.email, approve=False)
    assert row(rec.ref)["extension"]["status"] == "requested"
    extensions.decide_extension(rec.ref, other.email, approve=False,
                                note="Perwali sudah terbit")
    listed = row(rec.ref)
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-06-30", "2026-06-30")
    assert listed["extension"]["status"] == "rejected"
    # Rejected, it may be asked again (one request waits at a time).
    extensions.request_extension(rec.ref, date(2026, 7, 15), "Perwali belum diundangkan",
                                 owner.email)
    with pytest.raises(InvalidInput, match="already has an extension request waiting"):
        extensions.request_extension(rec.ref, date(2026, 8, 15), "lagi", owner.email)


@pytest.mark.parametrize(("until", "reason", "match"), [
    (date(2026, 6, 30), "Alasan", "must be after the deadline in force"),
    (date(2026, 5, 1), "Alasan", "must be after the deadline in force"),
    (date(2026, 9, 30), "  ", "needs a reason"),
])
def test_a_wrong_request_is_refused_and_nothing_is_recorded(make, until, reason, match):
    _, _, owner, _, _ = office(make)
    rec = make.rec(owner=owner, deadline=date(2026, 6, 30))
    with pytest.raises(InvalidInput, match=match):
        extensions.request_extension(rec.ref, until, reason, owner.email)
    assert row(rec.ref)["extension"] is None and recs.history(rec.ref) == []


def test_only_the_owner_or_a_planner_asks_and_only_while_the_item_runs(make):
    _, _, owner, planner, _ = office(make)
    rec = make.rec(owner=owner, deadline=date(2026, 6, 30))
    with pytest.raises(Forbidden, match="may not ask to extend"):
        extensions.request_extension(rec.ref, date(2026, 9, 30), "x", make.person().email)
    recs.update_rec(rec.ref, by=owner.email, status="not_actionable", note="Kewenangan provinsi")
    with pytest.raises(InvalidInput, match="no longer open or in progress"):
        extensions.request_extension(rec.ref, date(2026, 9, 30), "x", owner.email)
    with pytest.raises(InvalidInput, match="no extension request waiting"):
        extensions.decide_extension(rec.ref, planner.email, approve=True)


def _stages(ref: str) -> list[str]:
    with session() as s:
        rid = s.execute(sa.select(Recommendation.id).where(Recommendation.ref == ref)).scalar()
        return [n for (n,) in s.execute(sa.select(Notice.stage).where(
            Notice.recommendation_id == rid).order_by(Notice.id))]


def test_reminders_and_escalations_follow_the_deadline_in_force_with_a_fresh_ladder(make):
    _, boss, owner, planner, _ = office(make)
    make.rec(ref="LATE", owner=owner, deadline=date(2026, 2, 27))  # 10 days late on MONDAY
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    assert _stages("LATE") == ["overdue_0:2026-02-27", "esc1:2026-02-27"]

    extensions.request_extension("LATE", date(2026, 3, 16), "Menunggu tanda tangan Walikota",
                                 owner.email)
    tuesday = date(2026, 3, 10)
    followup.run_daily(as_of=tuesday, now=NOW.replace(day=10), deliver=False)
    assert _stages("LATE")[2:] == []  # asked, not approved: nothing new (repeat is weekly)

    extensions.decide_extension("LATE", planner.email, approve=True)
    wednesday = date(2026, 3, 11)
    followup.run_daily(as_of=wednesday, now=NOW.replace(day=11), deliver=False)
    assert _stages("LATE")[2:] == ["before_7:2026-03-16"]  # a reminder, no escalation
    [late] = [r for r in recs.list_recs(now=NOW.replace(day=11)) if r["ref"] == "LATE"]
    assert late["overdue"] is False

    # Late against the new date: the ladder starts again from its first rung.
    # (the week of Idul Fitri 2026 is off: the next working Monday)
    followup.run_daily(as_of=date(2026, 3, 30), now=NOW.replace(day=30), deliver=False)
    assert _stages("LATE")[3:] == ["overdue_0:2026-03-16", "esc1:2026-03-16"]


def test_re_importing_the_berita_acara_keeps_the_approved_deadline(make, home):
    from tindak.importer import import_files

    unit, _, owner, planner, _ = office(make)
    (home / "r.csv").write_text(
        "ref,forum,forum_date,text,owner,deadline\n"
        f"BA-1,FKP Layanan Sosial,2026-01-12,Perbaiki SOP,{owner.email},2026-06-30\n")
    import_files([str(home / "r.csv")], by=planner.email)
    extensions.request_extension("BA-1", date(2026, 9, 30), "APBD-P", owner.email)
    extensions.decide_extension("BA-1", planner.email, approve=True)

    report = import_files([str(home / "r.csv")], by=planner.email)  # the same document again
    assert report.counts["recommendations"].unchanged == 1
    listed = row("BA-1")
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-09-30", "2026-06-30")

    # A corrected Berita Acara corrects the original; the approved deadline stays in force.
    (home / "r.csv").write_text(
        "ref,forum,forum_date,text,owner,deadline\n"
        f"BA-1,FKP Layanan Sosial,2026-01-12,Perbaiki SOP,{owner.email},2026-07-31\n")
    import_files([str(home / "r.csv")], by=planner.email)
    listed = row("BA-1")
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-09-30", "2026-07-31")


def test_the_report_rates_an_extended_item_both_ways(make, home):
    from tindak.report import build_report

    _, _, owner, planner, other = office(make)
    make.rec(ref="EXT", owner=owner, deadline=date(2026, 3, 2))
    extensions.request_extension("EXT", date(2026, 4, 30), "Pengadaan ulang", owner.email,
                                 at=datetime(2026, 2, 20, 3, tzinfo=UTC))
    extensions.decide_extension("EXT", planner.email, approve=True,
                                at=datetime(2026, 2, 23, 3, tzinfo=UTC))
    recs.update_rec("EXT", by=owner.email, progress=100, at=datetime(2026, 4, 1, 3, tzinfo=UTC))
    recs.verify_rec("EXT", by=other.email, at=datetime(2026, 4, 2, 3, tzinfo=UTC))
    report = build_report(as_of=date(2026, 5, 4))
    [item] = report.forums[0].items
    assert (item.original_deadline, item.deadline) == (date(2026, 3, 2), date(2026, 4, 30))
    assert (report.totals.on_time_original.on_time, report.totals.on_time_original.due) == (0, 1)
    assert (report.totals.on_time_current.on_time, report.totals.on_time_current.due) == (1, 1)


def test_the_cli_asks_and_decides_in_the_users_words(make, capsys):
    from tindak.cli import main

    _, _, owner, planner, _ = office(make)
    rec = make.rec(owner=owner, deadline=date(2026, 6, 30))
    assert main(["recs", "extend", rec.ref, "--by", owner.email, "--until", "30/09/2026",
                 "--reason", "APBD-P"]) == 0
    out = capsys.readouterr().out
    assert "2026-09-30" in out and "2026-06-30" in out
    assert main(["recs", "extend", rec.ref, "--by", planner.email, "--approve",
                 "--reject", "--note", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--approve" in err[0] and "--until" in err[0]
    assert row(rec.ref)["extension"]["status"] == "requested"
    assert main(["recs", "extend", rec.ref, "--by", planner.email, "--approve"]) == 0
    assert owner.email in capsys.readouterr().out
    assert main(["recs", "list", "--format", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["deadline"], listed["original_deadline"]) == ("2026-09-30", "2026-06-30")
    assert listed["extension"]["decided_by"] == planner.email
    assert main(["recs", "history", rec.ref]) == 0
    history = capsys.readouterr().out
    assert "disetujui" in history and "2026-09-30" in history


def test_the_digest_counts_extended_items_and_both_on_time_rates(make):
    from tindak.digest import digest_for_leader
    from tindak.mail import render_digest

    unit, _, owner, planner, other = office(make)
    head = make.person(email="kadis@dinsos.example.go.id", unit=unit, roles="leader",
                       name="Kepala Dinas")
    child = make.unit(code="UPT", name="UPT Panti", parent=unit)
    pic = make.person(unit=child, name="Pengelola Panti")
    make.rec(ref="EXT", owner=pic, unit=child, deadline=date(2026, 3, 2))
    make.rec(ref="ON-TIME", owner=pic, unit=child, deadline=date(2026, 4, 30))
    make.rec(ref="LATE", owner=pic, unit=child, deadline=date(2026, 3, 31))
    make.rec(ref="NOT-DUE", owner=pic, unit=child, deadline=date(2026, 12, 31))
    at = datetime(2026, 2, 20, 3, tzinfo=UTC)
    extensions.request_extension("EXT", date(2026, 4, 30), "Pengadaan ulang", pic.email, at=at)
    extensions.decide_extension("EXT", planner.email, approve=True, at=at)
    for ref in ("EXT", "ON-TIME"):  # both done on 1 April: late only against EXT's original
        recs.update_rec(ref, by=pic.email, progress=100, at=datetime(2026, 4, 1, 3, tzinfo=UTC))
        recs.verify_rec(ref, by=other.email, at=datetime(2026, 4, 2, 3, tzinfo=UTC))
    d = digest_for_leader(head.id, date(2026, 5, 4))
    assert d.extended == 1
    assert (d.on_time_original.on_time, d.on_time_original.due) == (1, 3)
    assert (d.on_time_current.on_time, d.on_time_current.due) == (2, 3)
    text = render_digest(d).text
    assert "Tepat waktu (tenggat awal): 33% (1/3)" in text
    assert "Tenggat waktu diperpanjang: 1" in text
