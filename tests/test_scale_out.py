"""Scale-out on one machine, with the commands of docs/several-machines.md: a Prefect server
on PostgreSQL, the `tindak` process work pool, `prefect deploy --all` from prefect.yaml, two
workers, and the daily flow triggered for two dates at once in every timezone over an
application database on PostgreSQL. A real SMTP server must receive every planned message
exactly once.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from models import Notice, Outbox, session

PG_URL = os.environ.get("TINDAK_TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TINDAK_TEST_DATABASE_URL): a "
                       "Prefect server with workers shares the database with them"),
]
DATES = (date(2026, 3, 9), date(2026, 3, 10))  # a Monday and a Tuesday
TIMEZONES = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}
DEADLINE_S = 180  # the whole test, server start to last message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """What the test starts, each in its own process group, stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append((name, proc))
        return proc

    def run(self, name: str, args: list[str], env: dict[str, str], timeout: float = 90) -> str:
        out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for _, proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.started):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def prefect_database() -> str:
    """A fresh PostgreSQL database for the Prefect server (asyncpg), dropped afterwards."""
    name = f"prefect_{secrets.token_hex(4)}"
    url = sa.engine.make_url(PG_URL)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def national_data(make) -> None:  # type: ignore[no-untyped-def]
    """Units in WIB, WITA and WIT, each with a leader, a supervisor and owners whose items
    are due or late on both dates (so both runs plan reminders and escalations)."""
    for abbr, tz in TIMEZONES.items():
        unit = make.unit(code=f"PEMPROV-{abbr.upper()}", timezone=tz)
        head = make.person(unit=unit, roles="leader", email=f"kepala.{abbr}@example.go.id")
        boss = make.person(unit=unit, supervisor=head, email=f"kabid.{abbr}@example.go.id")
        for i in range(12):
            owner = make.person(unit=unit, supervisor=boss, email=f"staf{i}.{abbr}@example.go.id")
            for k, days in enumerate((1, 2, 7, 8, -8, -31)):
                make.rec(ref=f"{abbr}-{i}-{k}", owner=owner,
                         deadline=DATES[0] + timedelta(days=days + i % 3))


def test_two_workers_deliver_every_message_of_two_dates_exactly_once(
        make, home, db_url, smtp_server, prefect_database, tmp_path):
    national_data(make)
    began = time.monotonic()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TINDAK_"))}
    prefect = [sys.executable, "-m", "prefect"]
    procs = Processes(tmp_path)
    server_env = dict(base, PREFECT_HOME=str(tmp_path / "server-home"),
                      PREFECT_API_DATABASE_CONNECTION_URL=prefect_database,
                      PREFECT_SERVER_ANALYTICS_ENABLED="false",
                      # A second run of one deployment waits for the first: retry soon.
                      PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2")
    client_env = dict(base, PREFECT_HOME=str(tmp_path / "client-home"), PREFECT_API_URL=api,
                      TINDAK_APP_DIR=str(ROOT))
    worker_env = dict(client_env, TINDAK_HOME=str(home), TINDAK_DATABASE_URL=db_url,
                      TINDAK_SECRET_KEY="scale-out-test-key", TINDAK_SMTP_HOST="127.0.0.1",
                      TINDAK_SMTP_PORT=str(smtp_server.port), TINDAK_SMTP_SECURITY="none",
                      TINDAK_MAIL_FROM="Tindak <tindak@example.go.id>",
                      TINDAK_BATCH_SIZE="10",  # small batches: both workers' runs claim some
                      PREFECT_WORKER_QUERY_SECONDS="1")
    try:
        server = procs.start("server", [*prefect, "server", "start", "--host", "127.0.0.1",
                                        "--port", str(port)], server_env)
        with httpx.Client(base_url=api, timeout=10) as http:
            while True:
                assert server.poll() is None, procs.tail("server")
                assert time.monotonic() - began < 90, "server not up:\n" + procs.tail("server")
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            procs.run("work-pool", [*prefect, "work-pool", "create", "tindak", "--type",
                                    "process"], client_env)
            procs.run("deploy", [*prefect, "--no-prompt", "deploy", "--all"], client_env)
            for n in (1, 2):
                procs.start(f"worker{n}", [*prefect, "worker", "start", "--pool", "tindak",
                                           "--name", f"worker-{n}"], worker_env)
            triggers = [subprocess.Popen(
                [*prefect, "deployment", "run", f"daily-follow-up/daily-{abbr}", "--params",
                 json.dumps({"as_of": day.isoformat()})], env=client_env, cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for day in DATES for abbr in TIMEZONES]
            for t in triggers:
                out, _ = t.communicate(timeout=60)
                assert t.returncode == 0, out.decode()[-2000:]
            runs: list[dict] = []
            while time.monotonic() - began < DEADLINE_S:
                # Only the runs triggered here: the deployments' cron schedules add others.
                runs = [r for r in http.post("/flow_runs/filter", json={}).json()
                        if r["parameters"].get("as_of")]
                states = [r["state"]["type"] for r in runs]
                assert not {"FAILED", "CRASHED", "CANCELLED"} & set(states), (
                    states, procs.tail("worker1"), procs.tail("worker2"))
                if len(runs) == 6 and set(states) == {"COMPLETED"}:
                    break
                time.sleep(1)
            else:
                pytest.fail(f"flow runs not done in {DEADLINE_S} s: "
                            f"{[(r['name'], r['state']['type']) for r in runs]}\n"
                            + procs.tail("worker1") + procs.tail("worker2"))
    finally:
        procs.stop_all()

    with session() as s:
        rows = s.execute(sa.select(Outbox.message_id, Outbox.status, Outbox.on_date,
                                   Outbox.recipient)).all()
        unlinked = s.execute(sa.select(sa.func.count()).select_from(Notice)
                             .where(Notice.outbox_id.is_(None))).scalar_one()
        notices = dict(s.execute(sa.select(Notice.on_date, sa.func.count())
                                 .group_by(Notice.on_date)).all())
    received = Counter(smtp_server.message_ids())
    assert set(notices) == set(DATES) and unlinked == 0  # both dates planned, all queued
    assert {r.status for r in rows} == {"sent"}
    assert [mid for mid, n in received.items() if n > 1] == []  # nothing twice
    assert set(received) == {r.message_id for r in rows}  # nothing lost
    assert len(received) == len(rows)
    # How many depends on which date ran first (a back-fill sees the other's notices).
    per_date = Counter(r.on_date for r in rows)
    assert set(per_date) == set(DATES)
    assert time.monotonic() - began < DEADLINE_S
