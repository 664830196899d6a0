"""The daily follow-up on a real database: who gets which message, once."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime

import sqlalchemy as sa

from models import Notice, Recommendation, messages, session
from tindak import followup, links

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
    lines = [str(line) for line in describe({**out, "delivery": {}})[0]]
    advice = [line for line in lines if "nobody" in line]
    assert len(advice) == 1 and "NOBODY-1" in advice[0] and "NOBODY-2" in advice[0]
    assert "FINE" not in advice[0]


def _rows_to(email: str, kind: str = "reminder") -> list:
    return [r for r in outbox() if r.recipient == email and r.kind == kind]


def test_a_subject_counts_every_item_though_the_list_is_capped(make):
    _, _, _, owner = team(make)
    for i in range(70):
        make.rec(ref=f"LATE-{i:02}", owner=owner, deadline=date(2026, 3, 2))
    for i in range(5):
        make.rec(ref=f"SOON-{i}", owner=owner, deadline=date(2026, 3, 16))
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [msg] = _rows_to(owner.email)
    assert msg.subject == ("[Tindak] 75 rekomendasi: 70 terlambat, "
                           "5 jatuh tempo dalam 7 hari")
    assert msg.body_text.count("* LATE-") + msg.body_text.count("* SOON-") == 50


def test_a_reminder_says_how_late_an_item_is_not_before_the_deadline(make):
    _, _, _, owner = team(make)
    make.rec(ref="OLD", owner=owner, deadline=date(2025, 12, 5))  # 94 days late
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [msg] = _rows_to(owner.email)
    assert "sebelum tenggat" not in msg.body_text and "sebelum tenggat" not in msg.body_html
    assert "terlambat 94 hari" in msg.body_text
    assert "Tenggat waktu sudah lewat" in msg.body_text


def test_each_item_link_of_a_reminder_opens_that_item_on_the_owners_page(make, settings_env):
    settings_env(BASE_URL="https://tindak.example.go.id")
    _, _, _, owner = team(make)
    a = make.rec(ref="A", owner=owner, deadline=date(2026, 3, 10))
    b = make.rec(ref="B", owner=owner, deadline=date(2026, 3, 16))
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [msg] = _rows_to(owner.email)
    links = re.findall(r"https://tindak\.example\.go\.id/o/[^\s\"#]+#r\d+", msg.body_text)
    assert sorted(link.rsplit("#", 1)[1] for link in links) == sorted([f"r{a.id}",
                                                                       f"r{b.id}"])
    assert len({link.split("#")[0] for link in links}) == 1  # the owner's one page


def test_an_escalation_links_each_item_where_the_supervisor_can_open_it(make, settings_env):
    settings_env(BASE_URL="https://tindak.example.go.id")
    unit = make.unit(code="DISKOMINFO")
    head = make.person(unit=unit, roles="leader")
    boss = make.person(unit=unit, supervisor=head)  # not staff: cannot sign in
    owner = make.person(unit=unit, supervisor=boss)
    late = make.rec(ref="L8", owner=owner, deadline=date(2026, 3, 1))
    longer = make.rec(ref="L40", owner=make.person(unit=unit, supervisor=head),
                      deadline=date(2026, 1, 28))
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [to_boss] = _rows_to(boss.email, "escalation")
    [to_head] = _rows_to(head.email, "escalation")
    base = "https://tindak.example.go.id"
    assert f"{base}/forum/{late.forum_id}#r{late.id}" in to_boss.body_text
    assert "/kelola/" not in to_boss.body_text and "/o/" not in to_boss.body_text
    assert f"{base}/kelola/rekomendasi/{longer.id}" in to_head.body_text  # a leader signs in
    assert "/o/" not in to_head.body_text + to_head.body_html


def test_a_message_carries_only_what_is_true_when_composed(make, settings_env):
    """A run killed after planning; then one item moves to another owner and one is closed;
    the day re-run mails neither to the old owner, and the moved one to the new owner."""
    settings_env(BASE_URL="https://tindak.example.go.id")
    unit, _, boss, old = team(make)
    new = make.person(email="baru@dinsos.example.go.id", unit=unit, supervisor=boss)
    moved = make.rec(ref="MOVED", owner=old, deadline=date(2026, 3, 10))
    closed = make.rec(ref="CLOSED", owner=old, deadline=date(2026, 3, 10))
    make.rec(ref="KEPT", owner=old, deadline=date(2026, 3, 10))
    followup.plan_all(as_of=MONDAY, now=NOW)  # ... and the run dies here
    with session() as s:
        s.get(Recommendation, moved.id).owner_id = new.id
        done = s.get(Recommendation, closed.id)
        done.status, done.progress = "completed", 100
        s.commit()
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [to_old] = _rows_to(old.email)
    assert "KEPT" in to_old.body_text
    assert "MOVED" not in to_old.body_text and "CLOSED" not in to_old.body_text
    assert _tokens(to_old.body_text) == {links.owner_token(old.id, old.email)}
    [to_new] = _rows_to(new.email)
    assert "MOVED" in to_new.body_text
    assert _tokens(to_new.body_text) == {links.owner_token(new.id, new.email)}


def _tokens(text: str) -> set[str]:
    return {m for m in re.findall(r"/o/([^\s\"#/]+)", text)}


def test_one_reminder_and_one_escalation_a_day_across_timezones(make):
    """`tindak serve` runs the day in WIT first, then WIB: the owner of items in both
    still gets one reminder that day, the supervisor one escalation; nothing is lost."""
    wib = make.unit(code="WIB-1", timezone="Asia/Jakarta")
    wit = make.unit(code="WIT-1", timezone="Asia/Jayapura")
    boss = make.person(email="atasan@example.go.id", unit=wib)
    owner = make.person(email="pj@example.go.id", unit=wib, supervisor=boss)
    make.rec(ref="IN-WIT", owner=owner, unit=wit, deadline=date(2026, 3, 1))
    make.rec(ref="IN-WIB", owner=owner, unit=wib, deadline=date(2026, 3, 2))
    followup.run_daily(as_of=MONDAY, now=NOW, timezones=["Asia/Jayapura"], deliver=False)
    followup.run_daily(as_of=MONDAY, now=NOW, timezones=["Asia/Jakarta"], deliver=False)
    assert len(_rows_to(owner.email)) == 1 and len(_rows_to(boss.email, "escalation")) == 1
    tuesday = date(2026, 3, 10)
    followup.run_daily(as_of=tuesday, now=NOW, timezones=["Asia/Jayapura"], deliver=False)
    followup.run_daily(as_of=tuesday, now=NOW, timezones=["Asia/Jakarta"], deliver=False)
    mailed = outbox()
    seen = {ref for r in mailed for ref in ("IN-WIT", "IN-WIB") if ref in r.body_text
            and r.recipient == owner.email}
    assert seen == {"IN-WIT", "IN-WIB"}  # the WIB item waited a day, it was not lost
    esc = " ".join(r.body_text for r in _rows_to(boss.email, "escalation"))
    assert "IN-WIT" in esc and "IN-WIB" in esc
    per_day = [(r.recipient, r.kind, r.on_date) for r in mailed]
    assert len(per_day) == len(set(per_day))


def test_an_escalation_subject_counts_the_owners_of_unlisted_items_too(make):
    unit, _, boss, _ = team(make)
    for i in range(55):  # 55 owners, one late item each: 50 listed
        make.rec(ref=f"E{i:02}", owner=make.person(unit=unit, supervisor=boss),
                 deadline=date(2026, 3, 1))
    followup.run_daily(as_of=MONDAY, now=NOW, deliver=False)
    [esc] = _rows_to(boss.email, "escalation")
    assert esc.subject.startswith("[Tindak] Eskalasi: 55 rekomendasi terlambat (")
    assert esc.subject.endswith(" +53)")
