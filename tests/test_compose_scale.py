"""Composing at scale: render processes and pipelined batches give the very same outbox as
one process, and every notice ends in exactly one message."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from models import Notice, Outbox, messages, session, write_session
from tindak import followup
from tindak.followup import compose, plan

MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)


def snapshot() -> list[tuple]:
    with session() as s:
        return sorted((m.key, m.kind, m.recipient, m.cc, m.subject, m.body_text, m.body_html)
                      for m in messages(s))


def unlinked() -> int:
    with session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(Notice)
                         .where(Notice.outbox_id.is_(None))).scalar_one()


def forget_messages() -> None:
    with write_session() as s:
        s.execute(sa.update(Notice).values(outbox_id=None))
        s.execute(sa.delete(Outbox))


@pytest.mark.slow
def test_render_processes_give_the_same_outbox_as_one_process(make, monkeypatch):
    unit = make.unit()
    boss = make.person(unit=unit, roles="leader")
    for i in range(40):
        owner = make.person(unit=unit, supervisor=boss)
        for k in range(1 + i % 4):
            make.rec(ref=f"R{i}-{k}", owner=owner, deadline=MONDAY + timedelta(days=1 - 9 * k))
    planned = followup.plan_all(as_of=MONDAY, now=NOW)
    assert planned.notices > 40  # counted on PostgreSQL too (RETURNING, not rowcount)
    monkeypatch.setattr(compose, "POOL_MIN_MESSAGES", 0)
    monkeypatch.setattr(compose, "RENDER_CHUNK", 3)
    pooled = followup.compose_pending(now=NOW, batch=7, workers=2)
    assert unlinked() == 0
    first = snapshot()
    forget_messages()
    serial = followup.compose_pending(now=NOW, batch=1000, workers=1)
    assert unlinked() == 0
    assert (pooled.messages, pooled.notices) == (serial.messages, serial.notices)
    assert pooled.messages == len(first) > 40
    assert snapshot() == first


def planned() -> list[tuple]:
    with session() as s:
        return sorted(tuple(r) for r in s.execute(
            sa.select(Notice.recommendation_id, Notice.stage, Notice.kind, Notice.recipient_id,
                      Notice.cc_id, Notice.on_date)))


@pytest.mark.slow
def test_planning_processes_plan_what_one_process_plans(make, monkeypatch, settings_env):
    # The processes read the settings of the run that starts them (a ladder set just now).
    settings_env(ESCALATE_LEVEL1_DAYS=5)
    unit = make.unit()
    boss = make.person(unit=unit, roles="leader")
    five_days_late = set()
    for i in range(30):
        owner = make.person(unit=unit, supervisor=boss)
        for k in range(1 + i % 3):
            rec = make.rec(ref=f"R{i}-{k}", owner=owner,
                           deadline=MONDAY + timedelta(days=1 - 6 * k))
            if k == 1:
                five_days_late.add(rec.id)
    monkeypatch.setattr(plan, "PLAN_POOL_MIN_ITEMS", 0)
    ranges = followup.active_id_ranges(size=7)
    assert len(ranges) > 4
    pooled = followup.plan_ranges(ranges, as_of=MONDAY, now=NOW)
    first = planned()
    with write_session() as s:
        s.execute(sa.delete(Notice))
    monkeypatch.setattr(plan, "PLAN_POOL_MIN_ITEMS", 10**9)
    serial = followup.plan_ranges(ranges, as_of=MONDAY, now=NOW)
    assert (pooled.items, pooled.notices) == (serial.items, serial.notices) == (60, len(first))
    assert planned() == first
    # Escalated at 5 days late: the ladder of this run, not the default (7 days).
    assert {rid for rid, stage, *_ in first if stage.startswith("esc1:")} >= five_days_late


def test_a_message_whose_notices_another_run_queued_is_skipped_not_doubled(make):
    owner = make.person()
    make.rec(owner=owner, deadline=date(2026, 3, 10))
    followup.plan_all(as_of=MONDAY, now=NOW)
    composed = followup.compose_chunk([owner.id])  # read and rendered, not yet queued
    assert followup.compose_pending(now=NOW).messages == 1  # the other run
    report = followup.ComposeReport()
    compose._queue_composed(composed, NOW, report)
    assert (report.messages, report.skipped) == (0, 1)
    assert len(snapshot()) == 1


@pytest.mark.slow
def test_digests_rendered_in_processes_are_the_digests_of_one_process(make, monkeypatch):
    from tindak import digest

    root = make.unit(code="PEMPROV")
    leaders = [make.person(unit=root, roles="leader")]
    for i in range(3):
        unit = make.unit(code=f"DINAS{i}", parent=root)
        leaders.append(make.person(unit=unit, roles="leader"))
        for k in range(4):
            make.rec(ref=f"D{i}-{k}", owner=make.person(unit=unit),
                     deadline=MONDAY - timedelta(days=3 * k))
    ids = [p.id for p in leaders]
    monkeypatch.setattr(digest, "POOL_MIN_DIGESTS", 0)
    assert digest.plan_digests(MONDAY, ids, now=NOW).messages == 4
    pooled = snapshot()  # the chart is the same PNG: the same cid in the HTML
    forget_messages()
    monkeypatch.setattr(digest, "POOL_MIN_DIGESTS", 10**6)
    assert digest.plan_digests(MONDAY, ids, now=NOW).messages == 4
    assert snapshot() == pooled


def test_another_timezones_run_does_not_take_a_persons_day_from_their_own_run(make):
    """Runs of two dates at once (a backfill): Tuesday's WITA run must not mail a WIB owner
    Monday's leftover as "Tuesday's reminder", or Tuesday's own WIB reminder of that owner
    finds the day's message taken and waits until Wednesday."""
    wib, wita = make.unit(timezone="Asia/Jakarta"), make.unit(timezone="Asia/Makassar")
    owner = make.person(unit=wib)
    make.person(unit=wita)
    make.rec(ref="A", owner=owner, deadline=MONDAY + timedelta(days=1))  # H-1 on Monday
    make.rec(ref="B", owner=owner, deadline=MONDAY + timedelta(days=2))  # H-1 on Tuesday
    tuesday, now = MONDAY + timedelta(days=1), NOW + timedelta(days=1)
    # Monday's WIB run has planned, not composed yet, when Tuesday's WITA run composes.
    followup.plan_all(as_of=MONDAY, now=NOW, timezones=["Asia/Jakarta"])
    assert followup.run_daily(as_of=tuesday, now=now, timezones=["Asia/Makassar"],
                              deliver=False)["messages"] == 0  # not its people
    followup.run_daily(as_of=tuesday, now=now, timezones=["Asia/Jakarta"], deliver=False)
    followup.run_daily(as_of=MONDAY, now=NOW, timezones=["Asia/Jakarta"], deliver=False)
    assert unlinked() == 0  # every reminder is in a message, none left for Wednesday
    with session() as s:
        days = sorted(m.on_date for m in messages(s))
    assert days == [tuesday]  # one message of the day, A and B together


def test_a_runs_steps_share_one_pool_made_once_and_shut_down_at_the_runs_end():
    from tindak import pool

    first = pool.run_pool("a-run")
    if first is None:
        pytest.skip("one core: every step works in its own process")
    try:
        assert pool.run_pool("a-run") is first  # a later task of the run
        with pool.for_run("a-run", wanted=False) as executor:  # a small step still uses it
            assert executor is first
        with pool.for_run(None, wanted=True, workers=2) as own:  # no run: its own pool
            assert own is not None and own is not first
        assert own._shutdown_thread  # gone after the step
        with pool.for_run(None, wanted=False) as none:
            assert none is None
    finally:
        pool.end_run("a-run")
    assert pool.started("a-run") is None and first._shutdown_thread
