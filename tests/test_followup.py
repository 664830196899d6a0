"""The daily follow-up on a real database: who gets which message, once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import sqlalchemy as sa

from models import Notice, messages, session
from tindak import followup

MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # 07:30 WIB


def outbox() -> list:
    with session() as s:
        return messages(s)


def team(make):
    unit = make.unit(code="DINSOS")
    head = make.person(email="kadis@dinsos.example.go.id", unit=unit, roles="leader",
                       name="Kepala Dinas")
    boss = make.person(email="kabid@dinsos.example.go.id", unit=unit, supervisor=head,
                       name="Kepala Bidang")
    owner = make.person(email="staf@dinsos.example.go.id", unit=unit, supervisor=boss,
                        name="Staf Pelaksana")
    return unit, head, boss, owner


def test_one_message_per_owner_listing_all_their_items_for_the_day(make):
    unit, _, _, owner = team(make)
    make.rec(ref="A", owner=owner, deadline=date(2026, 3, 10))  # due tomorrow
    make.rec(ref="B", owner=owner, deadline=date(2026, 3, 16))  # due in 7 days
    make.rec(ref="C", owner=owner, deadline=date(2026, 6, 1))  # nothing yet
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    rows = outbox()
    assert [(r.kind, r.recipient) for r in rows] == [("reminder", owner.email)]
    assert "A" in rows[0].body_text and "B" in rows[0].body_text
    assert "Recommendation" in rows[0].body_text


def test_escalation_goes_to_the_supervisor_with_the_owner_in_cc(make):
    unit, head, boss, owner = team(make)
    make.rec(ref="LATE-8", owner=owner, deadline=date(2026, 3, 1))  # 8 days overdue
    make.rec(ref="LATE-31", owner=owner, deadline=date(2026, 2, 6))  # 31 days overdue
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    by_to = {(r.kind, r.recipient): r for r in outbox()}
    assert set(by_to) == {("reminder", owner.email), ("escalation", boss.email),
                          ("escalation", head.email)}
    assert by_to[("escalation", boss.email)].cc == owner.email
    assert "LATE-8" in by_to[("escalation", boss.email)].body_text
    assert "LATE-31" not in by_to[("escalation", boss.email)].body_text
    assert "LATE-31" in by_to[("escalation", head.email)].body_text


def test_owner_without_supervisor_escalates_to_the_units_leader(make):
    root = make.unit(code="PEMKAB")
    leader = make.person(unit=root, roles="leader")
    child = make.unit(code="UPT", parent=root)
    owner = make.person(unit=child)
    make.rec(ref="X", owner=owner, deadline=date(2026, 2, 27))
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    esc = [r for r in outbox() if r.kind == "escalation"]
    assert [(r.recipient, r.cc) for r in esc] == [(leader.email, owner.email)]


def test_the_same_day_twice_queues_nothing_new(make):
    _, _, _, owner = team(make)
    make.rec(owner=owner, deadline=date(2026, 3, 1))
    first = followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    again = followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    assert first["messages"] == 2 and again["messages"] == 0 and again["notices"] == 0
    assert len(outbox()) == 2


def test_two_runs_at_once_queue_each_message_once(make):
    _, _, _, owner = team(make)
    for i in range(30):
        make.rec(ref=f"R{i}", owner=owner if i % 2 else make.person(), deadline=date(2026, 3, 1))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = outbox()
    keys = [(r.kind, r.recipient) for r in rows]
    assert len(keys) == len(set(keys))
    with session() as s:
        orphans = s.execute(sa.select(sa.func.count()).select_from(Notice)
                            .where(Notice.outbox_id.is_(None))).scalar_one()
    assert orphans == 0


def test_closed_items_and_days_off_get_nothing(make):
    _, _, _, owner = team(make)
    make.rec(owner=owner, deadline=date(2026, 3, 1), status="awaiting_verification",
             progress=100)
    make.rec(owner=owner, deadline=date(2026, 3, 1), status="completed", progress=100)
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    assert outbox() == []
    make.rec(owner=owner, deadline=date(2026, 3, 1))
    followup.run_daily(as_of=date(2026, 3, 19), now=NOW, deliver=False)  # Nyepi
    assert outbox() == []


def test_items_are_judged_on_their_units_date(make):
    wit = make.unit(timezone="Asia/Jayapura")
    wib = make.unit(timezone="Asia/Jakarta")
    a = make.rec(ref="WIT", owner=make.person(unit=wit), deadline=date(2026, 3, 9))
    make.rec(ref="WIB", owner=make.person(unit=wib), deadline=date(2026, 3, 9))
    # 15:30 UTC on Sunday 8 March: Monday 00:30 in Jayapura, still Sunday night in Jakarta.
    followup.run_daily(now=datetime(2026, 3, 8, 15, 30, tzinfo=UTC), deliver=False)
    rows = outbox()
    assert len(rows) == 1 and a.ref in rows[0].body_text


def test_an_item_first_seen_40_days_late_reaches_the_supervisor_when_nobody_is_above(make):
    unit = make.unit(code="UPTD")
    boss = make.person(email="kasi@uptd.example.go.id", unit=unit, name="Kepala Seksi")
    owner = make.person(unit=unit, supervisor=boss)
    make.rec(ref="LATE-40", owner=owner, deadline=date(2026, 1, 28))  # 40 days late
    make.rec(ref="LATE-8", owner=owner, deadline=date(2026, 3, 1))
    out = followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    esc = [r for r in outbox() if r.kind == "escalation"]
    assert [(r.recipient, r.cc) for r in esc] == [(boss.email, owner.email)]
    assert "LATE-40" in esc[0].body_text and "LATE-8" in esc[0].body_text
    assert out["unaddressed"] == 0 and out["unaddressed_refs"] == []


def test_the_advice_names_the_items_that_truly_have_nobody_above_their_owner(make):
    from tindak.flowrun import describe

    alone = make.person(unit=make.unit(code="SENDIRI"))
    make.rec(ref="NOBODY-1", owner=alone, deadline=date(2026, 2, 27))
    make.rec(ref="NOBODY-2", owner=alone, deadline=date(2026, 1, 20))
    _, _, _, owner = team(make)
    make.rec(ref="FINE", owner=owner, deadline=date(2026, 1, 20))
    out = followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    assert out["unaddressed"] == 2 and sorted(out["unaddressed_refs"]) == ["NOBODY-1",
                                                                          "NOBODY-2"]
    lines, _ = describe({**out, "delivery": {}})
    advice = [line for line in lines if "nobody" in line]
    assert len(advice) == 1 and "NOBODY-1" in advice[0] and "NOBODY-2" in advice[0]
    assert "FINE" not in advice[0]
