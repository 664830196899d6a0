"""Faults against the exactly-once promise (SPEC §6): kill -9 in the middle of delivery and of
planning, SMTP failures seen through `tindak run daily`, a database locked by another writer,
two schedulers on one database. Real processes, a real SMTP server, a real database.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import get_engine
from tests import faults
from tests.faults import FaultSink
from tindak import delivery, followup

MAIL_FROM = "Tindak Pemkot <tindak@pemkot.example.go.id>"
AS_OF = date(2026, 12, 1)  # a Tuesday and a working day


@pytest.fixture
def fault_smtp() -> Iterator[FaultSink]:
    """A real SMTP server whose handler can delay and kill (see FaultHandler)."""
    sink = FaultSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_env(fault_smtp: FaultSink, settings_env, db_url: str, home: Path):  # type: ignore[no-untyped-def]
    """This process and its children point at `fault_smtp`; returns child_env(**more)."""
    common = dict(SMTP_HOST=fault_smtp.host, SMTP_PORT=fault_smtp.port, SMTP_SECURITY="none",
                  SMTP_TIMEOUT=5, MAIL_FROM=MAIL_FROM, DELIVERY_LEASE_SECONDS=1)
    settings_env(**common)
    get_engine()  # the schema exists before any child opens the database

    def env(**more: object) -> dict[str, str]:
        return faults.child_env(home, db_url, **{**common, **more})

    return env


def is_pg(db_url: str) -> bool:
    return db_url.startswith("postgresql")


@contextmanager
def writer_lock(db_url: str) -> Iterator[None]:
    """Another writer holding the database: BEGIN IMMEDIATE on SQLite, the outbox and notice
    tables locked EXCLUSIVE on PostgreSQL (reads go on, writes wait)."""
    if is_pg(db_url):
        engine = sa.create_engine(db_url)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("LOCK TABLE outbox, notice IN EXCLUSIVE MODE")
                yield
                conn.rollback()
        finally:
            engine.dispose()
        return
    conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def pg_waiters(db_url: str) -> int:
    """Sessions waiting for a lock in this test's schema (PostgreSQL)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE NOT l.granted AND c.relname IN ('outbox', 'notice') "
                "AND c.relnamespace = current_schema()::regnamespace").scalar_one()
    finally:
        engine.dispose()


def wait_for(check, timeout: float, what: str, every: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


# ================================================================ 1. kill -9 during delivery

KILL_TRIALS = 24
PER_TRIAL = 48
# Where the kill lands: 'locked' kills a run waiting for the write lock (before its claim);
# 'connect' after the claim, before any send; 'mail' with one message marked 'sending';
# 'data-before' with the data on the wire but not kept; 'data-after' kept by the server
# but the '250' never read; 'timer' at a random moment after the start.
STRATEGIES = ("locked", "connect", "mail", "data-before", "data-after", "timer", "timer", "timer")


def phase(at_kill: dict[str, int]) -> str:
    """Where a trial's kill landed, from the outbox it left behind."""
    if at_kill.get("sending"):
        return "sending"
    if at_kill.get("claimed"):
        return "claimed"
    if at_kill.get("sent"):
        return "between" if at_kill.get("pending") else "finished"
    return "before-claim"


@pytest.fixture
def zygote(smtp_env, tmp_path: Path) -> Iterator[faults.Zygote]:
    z = faults.Zygote(smtp_env(), tmp_path)
    try:
        yield z
    finally:
        z.close()


def test_kill_9_during_delivery_never_sends_twice_nor_loses_a_message(
        zygote: faults.Zygote, fault_smtp: FaultSink, db_url: str):
    handler = fault_smtp.faults
    handler.delay = 0.005  # so that a timed kill lands mid-batch
    rng = random.Random(20261125)
    phases: Counter[str] = Counter()
    in_doubt_but_delivered = 0
    for i in range(KILL_TRIALS):
        strategy = STRATEGIES[i % len(STRATEGIES)]
        batch = rng.choice((7, 16, 500))
        # deliver() keeps one connection across its batches: one greeting per run.
        nth = {"connect": 1, "timer": 0}.get(strategy, rng.randint(1, PER_TRIAL))
        delay = rng.uniform(0.0, 0.45)
        label = f"trial {i} ({strategy} {nth}, batch {batch}, delay {delay:.2f})"
        ids = faults.enqueue(PER_TRIAL, f"kill{i}")
        pid = zygote.fork("deliver", BATCH_SIZE=batch)
        if strategy in ("connect", "mail", "data-before", "data-after"):
            handler.arm(strategy, nth, pid)
        with writer_lock(db_url) if strategy == "locked" else _nothing():
            zygote.go(pid)
            if strategy == "locked":  # killed while waiting for the write lock
                if is_pg(db_url):
                    wait_for(lambda: pg_waiters(db_url) > 0, 20, "the run to wait")
                else:
                    time.sleep(0.05 + delay / 4)  # it waits on SQLite's busy lock
                os.kill(pid, signal.SIGKILL)
            elif strategy == "timer":
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)  # still ours: not reaped before zygote.reap
            zygote.wait_ended(pid)
        handler.disarm()
        code = zygote.reap(pid)
        at_kill = faults.status_counts(ids)
        phases[phase(at_kill) if code == -signal.SIGKILL else "finished"] += 1
        label += f": exit {code}, left {at_kill}"
        assert code == -signal.SIGKILL or (strategy == "timer" and zygote.done(pid)), label

        # Recovery: a later run, once the dead run's lease (1 s) has run out.
        report = delivery.deliver(now=datetime.now(UTC) + timedelta(seconds=5))
        assert report.unknown == at_kill.get("sending", 0), label
        assert report.requeued == at_kill.get("claimed", 0), label
        got = Counter(handler.mids)
        rows = faults.outbox(ids)
        assert {r.status for r in rows} <= {"sent", "unknown"}, label
        for r in rows:
            if r.status == "sent":
                assert got[r.message_id] == 1, f"{label}: {r.id} sent {got[r.message_id]}x"
            else:
                assert got[r.message_id] <= 1, f"{label}: {r.id} unknown, received twice"
                assert "may have accepted" in r.last_error, label
                in_doubt_but_delivered += got[r.message_id]
        assert max(got.values()) == 1, f"{label}: a message arrived twice"
        print(label, "→", phase(at_kill))
    # The kills landed in every phase: before the claim, after it, with a message in flight.
    assert {"before-claim", "claimed", "sending"} <= phases.keys(), phases
    assert in_doubt_but_delivered > 0  # 'unknown' was truthful: some had in fact arrived


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ================================================================ kill -9 during planning

PLAN_TRIALS = 7
OWNERS = 40
# 'none' (the first: measures an unkilled run), 'timer' (a random moment of it), or as
# soon as the first batch of notices ('planning') or of messages ('composing') is committed
# (the run goes on with its next batch meanwhile).
PLAN_STRATEGIES = ("none", "timer", "planning", "composing", "timer", "composing", "timer")


def test_kill_9_while_planning_and_composing_then_a_rerun_sends_each_notice_once(
        zygote: faults.Zygote, fault_smtp: FaultSink, db_url: str):
    handler = fault_smtp.faults
    rng = random.Random(6)
    phases: Counter[str] = Counter()
    duration = 1.0  # of an unkilled run; measured by trial 0, which is not killed
    for i in range(PLAN_TRIALS):
        strategy = PLAN_STRATEGIES[i % len(PLAN_STRATEGIES)]
        team = faults.build_team(f"PLAN{i}", OWNERS, AS_OF)
        expected = 3 * team["owners"]  # a reminder, an overdue reminder and an escalation
        plan_batch = 10 if strategy == "planning" else rng.choice((20, 50, 2000))
        compose_batch = 6 if strategy == "composing" else rng.choice((6, 500))
        pid = zygote.fork("plan-compose", AS_OF, plan_batch, compose_batch)
        started = time.monotonic()
        zygote.go(pid)
        if strategy == "timer":
            time.sleep(rng.uniform(0.05, 1.0) * duration)
        elif strategy == "planning":
            zygote.lines.expect(f"planned {pid} ")  # its first batch of notices is committed
        elif strategy == "composing":  # as soon as the first messages are committed
            wait_for(lambda u=team["unit"]: any(n.outbox_id for n in faults.notices_of(u)), 30,
                     "messages")
        if strategy != "none":
            os.kill(pid, signal.SIGKILL)
        zygote.wait_ended(pid)
        if strategy == "none":
            duration = time.monotonic() - started
        code = zygote.reap(pid)
        notices = faults.notices_of(team["unit"])
        linked = sum(1 for n in notices if n.outbox_id is not None)
        where = ("finished" if code == 0 else "before-plan" if not notices
                 else "planning" if len(notices) < expected
                 else "planned" if not linked else "composing" if linked < expected
                 else "composed")
        phases[where] += 1
        label = f"trial {i}: exit {code}, {len(notices)} notices, {linked} composed ({where})"

        # The next run (plan, compose, deliver) finishes the job.
        result = followup.run_daily(as_of=AS_OF)
        assert result["delivery"].ok, label
        notices = faults.notices_of(team["unit"])
        assert len(notices) == expected, label
        assert all(n.outbox_id is not None for n in notices), label
        ids = {n.outbox_id for n in notices}
        rows = faults.outbox(ids)
        # One message per recipient and kind: each owner one reminder listing both items,
        # each supervisor one escalation; each delivered once.
        assert len(rows) == team["owners"] + team["supervisors"], label
        assert Counter((r.recipient, r.kind) for r in rows).most_common(1)[0][1] == 1, label
        assert {r.status for r in rows} == {"sent"}, label
        assert all(handler.mids[r.message_id] == 1 for r in rows), label
        per_message = Counter(n.outbox_id for n in notices)
        kinds = {r.id: r.kind for r in rows}
        assert all(per_message[oid] == (2 if kinds[oid] == "reminder" else 5)
                   for oid in ids), label
        faults.close_items(team["unit"])
        print(label)
    assert max(handler.mids.values()) == 1
    assert {"planning", "composing"} <= phases.keys(), phases
