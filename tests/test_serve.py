"""`tindak serve`: a local Prefect server with both flows as scheduled deployments."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from tests.plugins.prefect import api
from tests.plugins.processes import free_port
from tindak import followup

pytestmark = pytest.mark.usefixtures("english")  # these read the English words


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

        # What a Prefect user does: the command `tindak serve` printed, with a date.
        out = (tmp_path / "serve.log").read_text()
        command = next(line.strip() for line in out.splitlines()
                       if "prefect deployment run" in line)
        assert command == (f"PREFECT_API_URL={url} prefect deployment run "
                           "'daily-follow-up/daily-wib' --param as_of=YYYY-MM-DD")
        args = shlex.split(command.replace("YYYY-MM-DD", "2026-03-09"))
        prefect_cli = str(Path(sys.executable).with_name("prefect"))
        started = subprocess.run([prefect_cli, *args[2:]], capture_output=True, text=True,
                                 timeout=120, env={**env, "PREFECT_API_URL": url})
        assert started.returncode == 0, started.stdout + started.stderr
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)[1]  # type: ignore[index]
        state = wait_for(
            lambda: (s := api(url, f"/flow_runs/{run_id}")["state"]["type"])
            in ("COMPLETED", "FAILED", "CRASHED") and s, 120, "the flow run")
        assert state == "COMPLETED"
        emls = list((home / "outbox").glob("*.eml"))
        assert len(emls) == 1  # the WIB owner's reminder; WITA units were not in this run
        assert "LATE" in emls[0].read_text()

        # `tindak run` finds this server (no PREFECT_API_URL given) and runs on it.
        assert (home / "prefect" / "server.json").exists()
        ran = subprocess.run([sys.executable, "-m", "tindak.cli", "run", "daily", "--as-of",
                              "2026-03-10"], env=env, capture_output=True, text=True,
                             timeout=300, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        run_url = re.search(r"Prefect flow run: (\S+)", ran.stdout)[1]  # type: ignore[index]
        assert run_url.startswith(f"http://127.0.0.1:{port}/runs/flow-run/")
        seen = api(url, f"/flow_runs/{run_url.rsplit('/', 1)[1]}")
        assert seen["name"] == "daily-2026-03-10" and seen["state"]["type"] == "COMPLETED"
        # The serve process ran it, warm: its output has the run's log (Prefect's console).
        assert "Flow run 'daily-2026-03-10'" in (tmp_path / "serve.log").read_text()

        # A command with other settings is declined by the serve and runs the flow itself
        # (still on this server): it would not have its settings applied otherwise.
        other = subprocess.run([sys.executable, "-m", "tindak.cli", "run", "daily",
                                "--as-of", "2026-03-11"], env={**env, "TINDAK_LANGUAGE": "id"},
                               capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert other.returncode == 0, other.stderr
        assert "diperiksa" in other.stdout  # its own language (the serve's is English)
        other_url = re.search(r"Run flow Prefect: (\S+)", other.stdout)[1]  # type: ignore[index]
        assert api(url, f"/flow_runs/{other_url.rsplit('/', 1)[1]}")["name"] == "daily-2026-03-11"
        assert "Flow run 'daily-2026-03-11'" not in (tmp_path / "serve.log").read_text()
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
    assert not (home / "prefect" / "server.json").exists()  # later runs start their own


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_run_uses_a_running_serve_and_falls_back_when_it_is_gone(home: Path, monkeypatch):
    from tindak import runtime

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prefect_home = home / "prefect"
    prefect_home.mkdir()
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        runtime.announce_server(prefect_home, url)
        assert runtime.running_server(prefect_home) == url
        server.shutdown()
    assert runtime.running_server(prefect_home) is None  # no answer: ephemeral, file kept
    assert (prefect_home / "server.json").exists()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (prefect_home / "server.json").write_text(json.dumps({"api_url": url, "pid": gone.pid}))
    assert runtime.running_server(prefect_home) is None  # a killed serve's file is removed
    assert not (prefect_home / "server.json").exists()
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    assert runtime.configure_prefect(find_server=True) == "http://prefect.example:4200/api"
