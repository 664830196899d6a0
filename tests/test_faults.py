"""Faults against the exactly-once promise (SPEC §6): kill -9 in the middle of delivery and of
planning, SMTP failures seen through `tindak run daily`, a database locked by another writer,
two schedulers on one database. Real processes, a real SMTP server, a real database.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
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
from tindak import followup, outbox

pytestmark = pytest.mark.usefixtures("english")  # these read the English words

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
                  SMTP_TIMEOUT=5, MAIL_FROM=MAIL_FROM, DELIVERY_LEASE_SECONDS=1,
                  LANGUAGE="en")  # the CLI's English words, which these tests read
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
        report = outbox.deliver(now=datetime.now(UTC) + timedelta(seconds=5))
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


def _alive(pid: int) -> bool:
    return faults._state(pid) not in (None, "Z", "X")


@contextmanager
def killed_while_rendering(zygote: faults.Zygote, tag: str) -> Iterator[tuple[dict, list[int]]]:
    """A planning-and-composing run whose messages render in 2 processes, SIGKILLed once
    they render; yields (the team, the processes it had started). Those still alive at
    the end are killed by id."""
    team = faults.build_team(tag, 100, AS_OF)  # 120 messages: render jobs for the processes
    pid = zygote.fork("plan-compose", AS_OF, 2000, 500, 2)
    zygote.go(pid)
    helpers: list[int] = []
    try:
        # The resource tracker, the forkserver and a worker: rendering has begun.
        wait_for(lambda: len(faults.descendants(pid)) >= 3 or zygote.done(pid), 60,
                 "render processes", every=0.005)
        helpers = faults.descendants(pid)
        os.kill(pid, signal.SIGKILL)
        zygote.wait_ended(pid)
        assert zygote.reap(pid) == -signal.SIGKILL, "the run ended before it could be killed"
        helpers = sorted({*helpers, *(kid for h in helpers for kid in faults.descendants(h))})
        yield team, helpers
    finally:
        for helper in helpers:
            if _alive(helper):
                os.kill(helper, signal.SIGKILL)


def test_kill_9_while_render_processes_compose_then_a_rerun_sends_each_message_once(
        zygote: faults.Zygote, fault_smtp: FaultSink):
    with killed_while_rendering(zygote, "POOL") as (team, _):
        assert not any(n.outbox_id for n in faults.notices_of(team["unit"]))
        result = followup.run_daily(as_of=AS_OF)
    assert result["delivery"].ok
    notices = faults.notices_of(team["unit"])
    assert len(notices) == 3 * team["owners"] and all(n.outbox_id for n in notices)
    rows = faults.outbox({n.outbox_id for n in notices})
    assert len(rows) == team["owners"] + team["supervisors"]
    assert {r.status for r in rows} == {"sent"}
    assert all(fault_smtp.faults.mids[r.message_id] == 1 for r in rows)


def test_kill_9_while_render_processes_compose_leaves_no_process_behind(
        zygote: faults.Zygote):
    with killed_while_rendering(zygote, "ORPHAN") as (_, helpers):
        assert helpers
        try:
            wait_for(lambda: not any(map(_alive, helpers)), 5, "the render processes to end",
                     every=0.05)
        finally:
            left = [(h, open(f"/proc/{h}/cmdline").read().split("\0")[3][:45])
                    for h in helpers if _alive(h)]
            print("left behind:", left)


# ============================================================ 2. SMTP faults, as a user sees them

MONDAY = date(2026, 3, 9)
RUN = ["run", "daily", "--as-of", MONDAY.isoformat()]
NOT_DELIVERED = "error: some mail was not delivered: see `tindak outbox list`"


def owners(make, n: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    """n owners under one head, each with an item due in 7 days: n reminders on MONDAY."""
    unit = make.unit(code="DISPENDUK", name="Dinas Kependudukan")
    head = make.person(email="kadis@dispenduk.example.go.id", unit=unit, roles="leader")
    emails = []
    for i in range(n):
        p = make.person(email=f"pic{i}@dispenduk.example.go.id", unit=unit, supervisor=head)
        make.rec(ref=f"DSP-{i}", owner=p, unit=unit, deadline=MONDAY + timedelta(days=7))
        emails.append(p.email)
    return emails


def run(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """`tindak ARGS` in this process: exit code, stdout lines, stderr lines."""
    from tindak.cli import main

    code = main(list(args) or RUN)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.splitlines()


def by_recipient() -> dict[str, sa.Row]:
    return {r.recipient: r for r in faults.outbox()}


def received_by(server) -> Counter[str]:  # type: ignore[no-untyped-def]
    return Counter(to for r in server.received for to in r.rcpt_tos)


@pytest.fixture
def cli_smtp(flows, smtp_settings, settings_env):  # type: ignore[no-untyped-def]
    """Real Prefect runs, the misbehaving SMTP server, no Prefect retries of delivery."""
    settings_env(DELIVERY_RETRIES=0)
    return smtp_settings


def test_server_down_run_says_so_keeps_the_mail_and_the_next_run_delivers(
        cli_smtp, make, capsys):
    emails = owners(make)
    cli_smtp.stop()
    code, out, err = run(capsys)
    assert code == 1 and err == [NOT_DELIVERED]
    assert "queued 3 message(s) (reminder 3)" in out
    assert "delivered: 0 sent, 0 failed (will retry), 0 unknown, 3 still queued" in out
    assert any(line.strip().startswith(f"cannot use SMTP server 127.0.0.1:{cli_smtp.port}")
               for line in out), out
    rows = by_recipient()
    assert {(r.status, r.attempts) for r in rows.values()} == {("pending", 0)}
    assert all("cannot use SMTP server" in r.last_error for r in rows.values())

    cli_smtp.start()  # the same port, up again
    code, out, err = run(capsys)
    assert (code, err) == (0, [])
    assert "queued 0 message(s)" in out
    assert "delivered: 3 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert received_by(cli_smtp) == Counter(emails)


def test_one_refused_recipient_fails_alone_and_is_sent_once_the_server_takes_it(
        cli_smtp, make, capsys):
    emails = owners(make)
    cli_smtp.refuse.add(emails[1])
    code, out, err = run(capsys)
    assert code == 1 and err == [NOT_DELIVERED]
    assert "delivered: 2 sent, 1 failed (will retry), 0 unknown, 1 still queued" in out
    refused = by_recipient()[emails[1]]
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "550" in refused.last_error
    assert any(f"outbox {refused.id} ({emails[1]}): {emails[1]}: 550" in line
               for line in out), out

    cli_smtp.refuse.clear()
    code, out, err = run(capsys)
    assert (code, err) == (0, [])
    assert "delivered: 1 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert received_by(cli_smtp) == Counter(emails)
    assert {r.status for r in faults.outbox()} == {"sent"}


def test_a_recipient_refused_max_attempts_times_is_dead_until_retried(
        cli_smtp, make, settings_env, capsys):
    settings_env(MAX_ATTEMPTS=2)
    emails = owners(make, 2)
    cli_smtp.refuse.add(emails[0])
    assert run(capsys)[0] == 1
    code, out, _ = run(capsys)
    assert code == 1
    assert "delivered: 0 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    dead = by_recipient()[emails[0]]
    assert (dead.status, dead.attempts) == ("dead", 2)
    code, out, _ = run(capsys, "outbox", "list", "--status", "dead")
    assert code == 0 and out[-1] == "(1 message(s))"
    assert any(line.split()[:2] == [str(dead.id), "dead"] for line in out), out
    assert any("550" in line for line in out), out

    cli_smtp.refuse.clear()
    code, out, _ = run(capsys)  # a dead message waits for a person: not tried again
    assert code == 0 and "delivered: 0 sent" in "\n".join(out)
    assert received_by(cli_smtp) == Counter(emails[1:])
    assert run(capsys, "outbox", "retry", str(dead.id))[:2] == (
        0, [f"message {dead.id} re-queued: the next `tindak run daily` delivers it"])
    code, out, _ = run(capsys)
    assert code == 0 and "delivered: 1 sent" in "\n".join(out)
    assert received_by(cli_smtp) == Counter(emails)


def test_a_temporary_failure_451_keeps_every_message_for_the_next_run(cli_smtp, make, capsys):
    emails = owners(make)
    cli_smtp.temp_fail = True
    code, out, err = run(capsys)
    assert code == 1 and err == [NOT_DELIVERED]
    assert "delivered: 0 sent, 3 failed (will retry), 0 unknown, 3 still queued" in out
    assert sum("451" in line for line in out) == 3
    assert {(r.status, r.attempts) for r in faults.outbox()} == {("failed", 1)}

    cli_smtp.temp_fail = False
    code, out, err = run(capsys)
    assert (code, err) == (0, [])
    assert "delivered: 3 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert received_by(cli_smtp) == Counter(emails)


def test_a_hang_up_during_data_is_unknown_shown_and_resent_only_when_asked(
        cli_smtp, make, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: each row on one line
    emails = owners(make)
    cli_smtp.drop_data = True
    code, out, err = run(capsys)
    assert code == 1 and err == [NOT_DELIVERED]
    assert "delivered: 0 sent, 0 failed (will retry), 1 unknown, 2 still queued" in out
    assert ("  messages in doubt are not resent: `tindak outbox list --status unknown`"
            in out)
    (doubt,) = [r for r in faults.outbox() if r.status == "unknown"]
    code, out, _ = run(capsys, "outbox", "list", "--status", "unknown")
    assert code == 0 and out[-1] == "(1 message(s))"
    [row] = [line for line in out if line.split()[:1] == [str(doubt.id)]]
    assert row.split()[:2] == [str(doubt.id), "unknown"]
    assert "connection lost while sending" in row

    cli_smtp.drop_data = False
    code, out, err = run(capsys)
    assert (code, err) == (0, [])
    assert "delivered: 2 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert faults.outbox([doubt.id])[0].status == "unknown"  # not resent by itself
    assert doubt.recipient not in received_by(cli_smtp)

    assert run(capsys, "outbox", "retry", str(doubt.id))[0] == 0
    code, out, _ = run(capsys)
    assert code == 0 and "delivered: 1 sent" in "\n".join(out)
    assert received_by(cli_smtp) == Counter(emails)  # once each (and once cut short)
    assert [r.rcpt_tos for r in cli_smtp.dropped] == [(doubt.recipient,)]


def test_a_server_slower_than_the_timeout_leaves_one_message_unknown(
        cli_smtp, make, settings_env, capsys):
    emails = owners(make)
    settings_env(SMTP_TIMEOUT=0.1)
    cli_smtp.delay = 0.3
    code, out, err = run(capsys)
    assert code == 1 and err == [NOT_DELIVERED]
    assert "delivered: 0 sent, 0 failed (will retry), 1 unknown, 2 still queued" in out
    assert any("timed out" in line for line in out), out
    (doubt,) = [r for r in faults.outbox() if r.status == "unknown"]
    assert "timed out" in doubt.last_error

    settings_env(SMTP_TIMEOUT=2)  # slow, but within the timeout
    code, out, err = run(capsys)
    assert (code, err) == (0, [])
    assert "delivered: 2 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert faults.outbox([doubt.id])[0].status == "unknown"
    # (This server drops a message whose client hung up while it dawdled; another might
    # keep it: hence 'unknown'.)
    assert received_by(cli_smtp) == Counter(e for e in emails if e != doubt.recipient)


def test_server_down_the_real_command_prints_no_traceback(
        prefect_url: str, smtp_env, make, fault_smtp: FaultSink, tmp_path: Path):
    owners(make)
    fault_smtp.stop()
    env = {**smtp_env(DELIVERY_RETRIES=0), "PREFECT_API_URL": prefect_url}
    proc = faults.start([str(faults.CLI), *RUN], env, tmp_path)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        faults.end(proc)
    assert proc.returncode == 1
    assert "delivered: 0 sent, 0 failed (will retry), 0 unknown, 3 still queued" in out
    assert "Traceback" not in err
    assert err.splitlines() == [NOT_DELIVERED]


# ================================================================ the real command, killed

@pytest.fixture
def prefect_url(flows) -> str:  # type: ignore[no-untyped-def]
    """The test session's Prefect API: child processes run their flows against it (a fresh
    interpreter would otherwise start its own ephemeral Prefect server, ~15 s)."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def test_kill_9_of_tindak_run_daily_mid_delivery_then_the_next_run_reports_the_doubt(
        prefect_url: str, smtp_env, fault_smtp: FaultSink, tmp_path: Path, capsys):
    team = faults.build_team("KILLRUN", 30, AS_OF)
    expected = team["owners"] + team["supervisors"]
    handler = fault_smtp.faults
    env = {**smtp_env(BATCH_SIZE=10), "PREFECT_API_URL": prefect_url}
    proc = faults.start([str(faults.CLI), "run", "daily", "--as-of", AS_OF.isoformat()],
                        env, tmp_path)
    try:
        handler.arm("data-after", 17, proc.pid)  # the 17th message: kept, '250' never read
        code = proc.wait(timeout=120)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        handler.disarm()
        faults.end(proc)
    assert code == -signal.SIGKILL, err
    at_kill = faults.status_counts()
    assert at_kill.get("sending", 0) >= 1 and sum(at_kill.values()) == expected, at_kill

    time.sleep(1.05)  # the dead run's lease (TINDAK_DELIVERY_LEASE_SECONDS=1) runs out
    code, out, err_lines = run(capsys, "run", "daily", "--as-of", AS_OF.isoformat())
    assert code == 1 and err_lines == [NOT_DELIVERED]
    in_doubt, sent_before = at_kill["sending"], at_kill.get("sent", 0)
    assert "queued 0 message(s)" in out
    assert (f"delivered: {expected - sent_before - in_doubt} sent, 0 failed (will retry), "
            f"{in_doubt} unknown, 0 still queued") in out
    assert "  messages in doubt are not resent: `tindak outbox list --status unknown`" in out
    rows = faults.outbox()
    assert Counter(r.status for r in rows) == {"sent": expected - in_doubt, "unknown": in_doubt}
    assert all(handler.mids[r.message_id] == 1 for r in rows if r.status == "sent")
    assert max(handler.mids.values()) == 1
    assert sum(handler.mids.values()) == expected  # all arrived (17 before the kill)


# ================================================================ 3. the database locked

class Holder(threading.Thread):
    """Another writer: holds `writer_lock` until `release` is set (at most `limit` s), and
    notes what the outbox held just before letting go."""

    def __init__(self, db_url: str, limit: float = 60):
        super().__init__(daemon=True)
        self.db_url, self.limit = db_url, limit
        self.held, self.release = threading.Event(), threading.Event()
        self.outbox_at_release: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with writer_lock(self.db_url):
                self.held.set()
                self.release.wait(self.limit)
                self.outbox_at_release = len(faults.outbox())
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.held.set()

    def __enter__(self) -> Holder:
        self.start()
        assert self.held.wait(10) and self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.join(30)


def test_run_daily_waits_for_another_writer_then_delivers(cli_smtp, make, db_url: str, capsys):
    emails = owners(make)
    get_engine()
    with Holder(db_url) as holder:
        if is_pg(db_url):  # release once the run is seen waiting for the lock
            threading.Thread(target=lambda: (wait_for(lambda: pg_waiters(db_url) > 0, 60,
                                                      "the run to wait"),
                                              time.sleep(0.5), holder.release.set()),
                             daemon=True).start()
        else:  # SQLite: the run waits on its busy timeout (30 s) meanwhile
            threading.Timer(2.0, holder.release.set).start()
        started = time.monotonic()
        code, out, err = run(capsys)
        took = time.monotonic() - started
    assert holder.error is None and holder.outbox_at_release == 0  # nothing got past it
    assert (code, err) == (0, []), out
    assert "delivered: 3 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert received_by(cli_smtp) == Counter(emails)
    if not is_pg(db_url):
        assert took >= 1.9


SQLITE_ONLY = pytest.mark.skipif(
    bool(os.environ.get("TINDAK_TEST_DATABASE_URL")),
    reason="SQLite's busy timeout; PostgreSQL waits for a lock without one")


@pytest.fixture
def locked_run(prefect_url: str, smtp_env, db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`tindak run daily` in a child process: run(held=True) while another writer holds the
    lock throughout; returns (exit code, stdout, stderr).

    Tindak waits 30 s for SQLite's lock; the child waits 1 s, and the plan task's retries
    skip Prefect's 2 s and 10 s pauses: the same path to the same failure, sooner."""
    env = {**smtp_env(), "PREFECT_API_URL": prefect_url, "FAULTS_BUSY_TIMEOUT_MS": "1000",
           "FAULTS_NO_RETRY_DELAY": "1"}

    def go(held: bool) -> tuple[int, str, str]:
        with Holder(db_url) if held else _nothing():
            proc = faults.start([str(faults.CLI), *RUN], env, tmp_path)
            try:
                out, err = proc.communicate(timeout=120)
            finally:
                faults.end(proc)
        return proc.returncode, out, err

    return go


@SQLITE_ONLY
def test_a_lock_held_beyond_the_busy_timeout_fails_the_run_writing_nothing(
        locked_run, make, fault_smtp: FaultSink):
    owners(make)
    before = faults.table_counts()
    code, out, err = locked_run(held=True)
    assert code == 1, out + err
    assert "database is locked" in err
    assert faults.table_counts() == before  # nothing half-written
    assert fault_smtp.received == []

    code, out, err = locked_run(held=False)
    assert code == 0, out + err
    assert "delivered: 3 sent, 0 failed (will retry), 0 unknown, 0 still queued" in out
    assert len(fault_smtp.received) == 3


@SQLITE_ONLY
def test_a_lock_held_beyond_the_busy_timeout_is_one_clear_line_without_traceback(
        locked_run, make):
    owners(make)
    code, out, err = locked_run(held=True)
    assert code == 1
    assert "Traceback" not in out + err
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "locked" in line


# ================================================================ 4. two schedulers, one database

def test_two_runs_of_the_same_day_at_the_same_moment_send_each_message_once(
        prefect_url: str, smtp_env, fault_smtp: FaultSink, tmp_path: Path):
    team = faults.build_team("TWIN", 40, AS_OF)
    expected = team["owners"] + team["supervisors"]
    fault_smtp.faults.delay = 0.005
    procs = []
    try:
        for n in range(2):  # two machines: each its own home, one database, one SMTP server
            home = tmp_path / f"scheduler{n}"
            home.mkdir()
            env = {**smtp_env(BATCH_SIZE=5), "TINDAK_HOME": str(home),
                   "PREFECT_API_URL": prefect_url, "FAULTS_WAIT": "1"}
            proc = faults.start([str(faults.CLI), "run", "daily", "--as-of", AS_OF.isoformat()],
                                env, home)
            procs.append((proc, faults.Lines(proc)))
        for _, lines in procs:
            lines.expect("ready")
        for proc, _ in procs:  # both at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc, lines in procs:
            code = proc.wait(timeout=120)
            err = proc.stderr.read() if proc.stderr else ""
            results.append((code, "\n".join(lines.rest()), err))
    finally:
        for proc, _ in procs:
            faults.end(proc)
    for code, out, err in results:
        assert code == 0 and "Traceback" not in err, out + err
    queued = [int(re.search(r"queued (\d+) message", out).group(1)) for _, out, _ in results]
    sent = [int(re.search(r"delivered: (\d+) sent", out).group(1)) for _, out, _ in results]
    assert sum(queued) == expected and sum(sent) == expected, results
    print(f"queued {queued}, sent {sent}")
    rows = faults.outbox()
    assert len(rows) == expected and len({r.key for r in rows}) == expected
    assert Counter((r.recipient, r.kind) for r in rows).most_common(1)[0][1] == 1
    assert {r.status for r in rows} == {"sent"}
    assert sorted(fault_smtp.faults.mids.values()) == [1] * expected
    notices = faults.notices_of(team["unit"])
    assert len(notices) == 3 * team["owners"] and all(n.outbox_id for n in notices)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(url: str, path: str, body: dict | None = None) -> dict | None:
    """One call to a Prefect server's REST API on 127.0.0.1 (None: 404). A busy server
    (503, its own SQLite database locked) is asked again."""
    data = None if body is None else json.dumps(body).encode()
    for _ in range(20):
        req = urllib.request.Request(f"{url}{path}", data=data,
                                     headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return json.loads(res.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code != 503:
                raise AssertionError(f"{path}: {exc.code} {exc.read()[:300]!r}") from None
        time.sleep(0.5)
    raise AssertionError(f"{path}: the Prefect server stayed unavailable")


@pytest.mark.slow
def test_two_tindak_serve_schedulers_triggered_at_once_send_each_message_once(
        smtp_env, fault_smtp: FaultSink, tmp_path: Path):
    team = faults.build_team("SERVE", 20, AS_OF)
    expected = team["owners"] + team["supervisors"]
    fault_smtp.faults.delay = 0.005
    servers: list[tuple[subprocess.Popen, faults.Lines, str]] = []
    deadline = time.monotonic() + 150
    try:
        for n in range(2):  # two machines: each its own home and Prefect server
            home = tmp_path / f"serve{n}"
            home.mkdir()
            port = _free_port()
            env = {k: v for k, v in smtp_env(BATCH_SIZE=4).items()
                   if not k.startswith("PREFECT_")}
            env.update(TINDAK_HOME=str(home), PREFECT_RUNNER_POLL_FREQUENCY="1",
                       PREFECT_LOGGING_LEVEL="WARNING")
            proc = faults.start([str(faults.CLI), "serve", "--port", str(port)], env, home)
            servers.append((proc, faults.Lines(proc), f"http://127.0.0.1:{port}/api"))
        for _, lines, _ in servers:
            lines.expect("Serving;", timeout=max(1, deadline - time.monotonic()))
        deployments = []
        for _, _, url in servers:  # registered by prefect.serve just after it says so
            wait_for(lambda u=url: _api(u, "/deployments/name/daily-follow-up/daily-wib"),
                     60, "the daily deployment", every=0.2)
            deployments.append(_api(url, "/deployments/name/daily-follow-up/daily-wib"))
        runs = [_api(url, f"/deployments/{d['id']}/create_flow_run",  # type: ignore[index]
                     {"parameters": {"as_of": AS_OF.isoformat()}})
                for (_, _, url), d in zip(servers, deployments, strict=True)]

        def finished() -> bool:
            states = [_api(url, f"/flow_runs/{r['id']}")["state"]["type"]  # type: ignore[index]
                      for (_, _, url), r in zip(servers, runs, strict=True)]
            return all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states)

        wait_for(finished, max(1, deadline - time.monotonic()), "both flow runs", every=0.5)
        states = [_api(url, f"/flow_runs/{r['id']}")["state"]  # type: ignore[index]
                  for (_, _, url), r in zip(servers, runs, strict=True)]
    finally:
        for proc, _, _ in servers:
            _stop_serve(proc)
    assert [s["type"] for s in states] == ["COMPLETED", "COMPLETED"], states
    rows = faults.outbox()
    mine = [r for r in rows if r.recipient.startswith("serve-")]  # (a scheduled run may add)
    assert len(mine) == expected and {r.status for r in mine} == {"sent"}
    assert len({r.key for r in rows}) == len(rows)
    assert all(fault_smtp.faults.mids[r.message_id] == 1 for r in mine)
    assert max(fault_smtp.faults.mids.values()) == 1


def _stop_serve(proc: subprocess.Popen) -> None:
    """`tindak serve` stops its Prefect server on SIGTERM; whatever it started and left
    behind (it was SIGKILLed, or stopped too slowly) is killed by id afterwards."""
    below = faults.descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            faults.kill_group(proc)
    faults.end(proc)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
