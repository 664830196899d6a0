"""`tindak serve`: a local Prefect server with both flows as scheduled deployments."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from tindak import followup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url: str, path: str, body: dict | None = None) -> object:
    req = urllib.request.Request(f"{url}{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = check()
            if got:
                return got
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_serve_schedules_both_flows_per_timezone_runs_them_and_stops_cleanly(
        make, home: Path, tmp_path: Path):
    wib = make.unit(code="KAB", timezone="Asia/Jakarta")
    wita = make.unit(code="KOTA", timezone="Asia/Makassar")
    make.rec(ref="LATE", owner=make.person(unit=wib), unit=wib, deadline=date(2026, 3, 2))
    make.rec(ref="LATER", owner=make.person(unit=wita), unit=wita, deadline=date(2026, 3, 2))
    followup.active_id_ranges()  # the schema exists before the child starts
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["TINDAK_HOME"] = str(home)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tindak.cli", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=tmp_path)
    try:
        deployments = wait_for(
            lambda: (d := api(url, "/deployments/filter", {})) and len(d) == 4 and d,
            180, "four deployments")
        by_name = {d["name"]: d for d in deployments}
        assert set(by_name) == {"daily-wib", "digest-wib", "daily-wita", "digest-wita"}
        sched = by_name["daily-wita"]["schedules"][0]["schedule"]
        assert (sched["cron"], sched["timezone"]) == ("30 7 * * 1-5", "Asia/Makassar")
        sched = by_name["digest-wib"]["schedules"][0]["schedule"]
        assert (sched["cron"], sched["timezone"]) == ("0 7 * * 1", "Asia/Jakarta")
        assert by_name["daily-wib"]["parameters"] == {"timezones": ["Asia/Jakarta"]}

        run = api(url, f"/deployments/{by_name['daily-wib']['id']}/create_flow_run",
                  {"parameters": {"as_of": "2026-03-09", "timezones": ["Asia/Jakarta"]}})
        state = wait_for(
            lambda: (s := api(url, f"/flow_runs/{run['id']}")["state"]["type"])
            in ("COMPLETED", "FAILED", "CRASHED") and s, 120, "the flow run")
        assert state == "COMPLETED"
        emls = list((home / "outbox").glob("*.eml"))
        assert len(emls) == 1  # the WIB owner's reminder; WITA units were not in this run
        assert "LATE" in emls[0].read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    out = (tmp_path / "serve.log").read_text()
    assert proc.returncode == 0, out[-2000:]
    assert f"Prefect UI:     http://127.0.0.1:{port}" in out
    assert "stopped: scheduler and Prefect server" in out
    with pytest.raises(OSError):  # the server is gone too
        urllib.request.urlopen(f"{url}/health", timeout=2)
