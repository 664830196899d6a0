"""The weekly digest: each leader sees exactly their unit tree, with honest counts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from models import messages, session
from tindak import digest, followup, recs

MONDAY = date(2026, 3, 9)


def tree(make):
    prov = make.unit(code="PROV", name="Pemerintah Provinsi")
    dinas = make.unit(code="DINKES", name="Dinas Kesehatan", parent=prov)
    rsud = make.unit(code="RSUD", name="RSUD Kota", parent=dinas, timezone="Asia/Makassar")
    other = make.unit(code="DISDIK", name="Dinas Pendidikan", parent=prov)
    people = {
        "gub": make.person(unit=prov, roles="leader"),
        "kadinkes": make.person(unit=dinas, roles="leader"),
        "kadisdik": make.person(unit=other, roles="leader"),
        "planner": make.person(unit=prov, roles="planner"),
        "rs": make.person(unit=rsud),
        "dk": make.person(unit=dinas),
        "dd": make.person(unit=other),
    }
    return {"prov": prov, "dinas": dinas, "rsud": rsud, "other": other}, people


def test_each_leader_sees_exactly_their_tree(make):
    units, p = tree(make)
    make.rec(ref="RS-1", owner=p["rs"], unit=units["rsud"], deadline=date(2026, 3, 1))
    make.rec(ref="DK-1", owner=p["dk"], unit=units["dinas"], deadline=date(2026, 4, 1))
    make.rec(ref="DD-1", owner=p["dd"], unit=units["other"], deadline=date(2026, 3, 2))
    gub = digest.digest_for_leader(p["gub"].id, MONDAY)
    kadinkes = digest.digest_for_leader(p["kadinkes"].id, MONDAY)
    kadisdik = digest.digest_for_leader(p["kadisdik"].id, MONDAY)
    assert gub.total == 3 and kadinkes.total == 2 and kadisdik.total == 1
    assert sorted(i.ref for i in kadinkes.overdue) == ["RS-1"]
    assert sorted(i.ref for i in gub.overdue) == ["DD-1", "RS-1"]
    assert [i.ref for i in kadisdik.overdue] == ["DD-1"]
    assert {u.unit_name for u in gub.per_unit} == {"Dinas Kesehatan", "Dinas Pendidikan"}


def test_overdue_counts_only_active_items_past_their_deadline(make):
    units, p = tree(make)
    make.rec(ref="LATE", owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1))
    make.rec(ref="WAIT", owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1),
             status="awaiting_verification", progress=100)
    make.rec(ref="NA", owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1),
             status="not_actionable")
    make.rec(ref="DONE", owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1),
             status="completed", progress=100)
    d = digest.digest_for_leader(p["kadinkes"].id, MONDAY)
    assert d.overdue_count == 1 and [i.ref for i in d.overdue] == ["LATE"]
    assert d.counts["completed"] == 1 and d.total == 4
    assert abs(d.completion_rate - 1 / 3) < 1e-9  # not_actionable is not counted against


def test_past_weeks_completions_and_escalations_are_listed(make):
    units, p = tree(make)
    boss = make.person(unit=units["dinas"])
    owner = make.person(unit=units["dinas"], supervisor=boss)
    make.rec(ref="ESC", owner=owner, unit=units["dinas"], deadline=date(2026, 2, 20))
    make.rec(ref="OK", owner=owner, unit=units["dinas"], deadline=date(2026, 4, 1))
    followup.run_daily(as_of=date(2026, 3, 4), deliver=False)  # escalation, last week
    recs.update_rec("OK", by=owner.email, progress=100,
                    at=datetime(2026, 3, 5, 3, 0, tzinfo=UTC))
    recs.verify_rec("OK", by=p["planner"].email, at=datetime(2026, 3, 6, 3, 0, tzinfo=UTC))
    d = digest.digest_for_leader(p["kadinkes"].id, MONDAY)
    assert [i.ref for i in d.escalations] == ["ESC"]
    assert [i.ref for i in d.completions] == ["OK"]
    later = digest.digest_for_leader(p["kadinkes"].id, date(2026, 3, 16))
    assert later.escalations == [] and later.completions == []


def test_digests_are_queued_once_per_leader_per_week(make):
    units, p = tree(make)
    make.rec(owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1))
    ids = [p["gub"].id, p["kadinkes"].id, p["kadisdik"].id]
    first = digest.plan_digests(MONDAY, ids)
    again = digest.plan_digests(MONDAY, ids)
    assert (first.messages, again.messages, again.skipped) == (3, 0, 3)
    with session() as s:
        rows = [(m.recipient, m.kind, m.attachments) for m in messages(s)]
    assert sorted(r[0] for r in rows) == sorted(p[k].email for k in ("gub", "kadinkes",
                                                                      "kadisdik"))
    assert all(r[1] == "digest" for r in rows)
    charts = {r[0] for r in rows if "image/png" in r[2]}
    assert {p["gub"].email, p["kadinkes"].email} <= charts  # trees with items get a chart


def test_a_rerun_on_another_day_of_the_same_week_queues_no_second_digest(make):
    units, p = tree(make)
    make.rec(owner=p["dk"], unit=units["dinas"], deadline=date(2026, 3, 1))
    ids = [p["gub"].id, p["kadinkes"].id, p["kadisdik"].id]
    first = digest.plan_digests(MONDAY, ids)
    wednesday = digest.plan_digests(date(2026, 3, 11), ids)  # a late re-run, same ISO week
    sunday = digest.plan_digests(date(2026, 3, 15), ids)
    assert (first.messages, wednesday.messages, wednesday.skipped) == (3, 0, 3)
    assert (sunday.messages, sunday.skipped) == (0, 3)
    next_week = digest.plan_digests(date(2026, 3, 16), ids)
    assert next_week.messages == 3
    with session() as s:
        assert len(messages(s)) == 6
