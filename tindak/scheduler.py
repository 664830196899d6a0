"""`tindak serve`: the scheduler on one machine.

Starts a local Prefect server (SQLite under TINDAK_HOME, bound to 127.0.0.1), then serves
the deployments prefect.yaml declares (the daily follow-up and the weekly digest, with their
cron schedules) for every timezone that has units. While it runs, its API address is in
TINDAK_HOME/prefect (see tindak.runtime), so `tindak run` uses this server instead of
starting an ephemeral one.
Ctrl-C or SIGTERM stops both, server included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlmodel import col

from models import Unit, session
from tindak.control import Runner
from tindak.control import start as start_control
from tindak.database import migrate
from tindak.errors import TindakError
from tindak.runtime import (
    announce_server,
    configure_prefect,
    no_heartbeat,
    ui_url,
    withdraw_server,
)
from tindak.settings import fingerprint, get_settings

# The deployments and their cron schedules are declared once, here; `prefect deploy --all`
# reads the same file on a server with workers.
PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


@dataclass(frozen=True)
class Declared:
    """One deployment of prefect.yaml: its flow's entrypoint and its one cron schedule."""

    name: str
    entrypoint: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    concurrency_limit: int | None
    description: str


def declared(path: Path = PREFECT_YAML) -> list[Declared]:
    """The deployments prefect.yaml declares, in its order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for d in doc["deployments"]:
        [schedule] = d["schedules"]
        out.append(Declared(
            name=d["name"], entrypoint=d["entrypoint"], cron=schedule["cron"],
            timezone=schedule["timezone"], parameters=dict(d.get("parameters") or {}),
            concurrency_limit=d.get("concurrency_limit"), description=d.get("description", "")))
    return out


def entrypoint(kind: str, path: Path = PREFECT_YAML) -> str:
    """The entrypoint prefect.yaml gives the `daily` or `digest` flow (its definitions)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return str(doc["definitions"][kind]["entrypoint"])


def load_flow(entrypoint: str) -> Any:
    """The flow of a prefect.yaml entrypoint (`flows/daily.py:daily_followup`), imported
    as its module (`flows.daily`) so its functions pickle for process pools."""
    from prefect.flows import load_flow_from_entrypoint  # prefect costs ~1 s to import

    path, name = entrypoint.rsplit(":", 1)
    return load_flow_from_entrypoint(f"{path.removesuffix('.py').replace('/', '.')}:{name}")


def timezones_in_use() -> list[str]:
    with session() as s:
        tzs = sorted(set(s.execute(sa.select(col(Unit.timezone))).scalars()))
    return tzs or [get_settings().default_timezone]


def deployments(tzs: list[str]) -> list:
    """prefect.yaml's deployments for the timezones in use (each declares one timezone),
    timezone by timezone, each limited to one run at a time."""
    from prefect.schedules import Cron  # prefect costs ~1 s to import

    found = declared()
    flows: dict[str, Any] = {}
    out = []
    for tz in tzs:
        mine = [d for d in found if d.parameters.get("timezones") == [tz]]
        if not mine:
            raise TindakError(f"prefect.yaml declares no deployment for the units in {tz}")
        for d in mine:
            if d.entrypoint not in flows:
                flows[d.entrypoint] = load_flow(d.entrypoint)
            flow = flows[d.entrypoint]
            out.append(flow.to_deployment(
                name=d.name, schedules=[Cron(d.cron, timezone=d.timezone)],
                parameters=d.parameters, concurrency_limit=d.concurrency_limit,
                description=d.description))
    return out


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise TindakError("the Prefect server stopped at start: " + " | ".join(tail))
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TindakError(f"the Prefect server did not answer within {timeout:.0f} s (log: {log})")


def start_server(port: int) -> tuple[subprocess.Popen, str, Path]:
    """A Prefect server in its own process group, on 127.0.0.1 only."""
    settings = get_settings()
    configure_prefect()
    log = settings.home / "prefect-server.log"
    url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": url,
    })
    env.pop("PREFECT_API_URL", None)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port), "--analytics-off"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _wait_healthy(url, proc, log)
    return proc, url, log


def stop_server(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a child started in its own session (and its children): SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve(port: int = 4200) -> None:
    migrate()
    home = get_settings().prefect_home
    proc, url, log = start_server(port)
    control = None
    os.environ["PREFECT_API_URL"] = url  # this process and the flow runs it starts
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        import prefect  # after configure_prefect: prefect reads its settings once, on import
        from prefect.settings import PREFECT_API_URL, temporary_settings

        tzs = timezones_in_use()
        served = deployments(tzs)
        for line in instructions(url, log, served):
            print(line)
        control, control_url, token = start_control(runs_for_cli(url),
                                                    fingerprint(get_settings()))
        announce_server(home, url, (control_url, token))
        print("Serving; Ctrl-C stops the scheduler and the server.", flush=True)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            prefect.serve(*served, print_starting_message=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        withdraw_server(home)
        if control is not None:
            control.shutdown()
        stop_server(proc)
        print("stopped: scheduler and Prefect server", flush=True)


def runs_for_cli(api_url: str) -> Runner:
    """How this serve runs a flow that `tindak run` asked for: here, warm, on its server,
    without a heartbeat (the one who asked watches it, and learns if this process dies)."""
    flows: dict[str, Any] = {}

    def run(name: str, as_of: date | None, timezones: list[str] | None,
            lang: str | None) -> dict:
        if name not in flows:
            flows[name] = load_flow(entrypoint(name))
        with no_heartbeat():
            state = flows[name](as_of=as_of, timezones=timezones, return_state=True)
        summary: dict = state.result()
        summary["prefect_run_url"] = ui_url(api_url, state.state_details.flow_run_id)
        return summary
    return run


def instructions(url: str, log: Path, served: list) -> list[str]:
    """What `tindak serve` prints: where the UI is, what is scheduled, how to run it now."""
    names = [f"{d.flow_name}/{d.name}" for d in served]
    width = max(map(len, names), default=0)
    lines = [f"Prefect server: {url} (log: {log})",
             f"Prefect UI:     {url.removesuffix('/api')}",
             "Deployments (flow/deployment, schedule, timezone):"]
    for name, d in zip(names, served, strict=True):
        cron = d.schedules[0].schedule
        lines.append(f"  {name:{width}}  '{cron.cron}' {cron.timezone}")
    if names:
        lines += ["Run one now (this scheduler runs it), with the prefect command:",
                  f"  PREFECT_API_URL={url} prefect deployment run '{names[0]}' "
                  "--param as_of=YYYY-MM-DD"]
    lines.append("`tindak run daily` and `tindak run digest` use this server while it runs: "
                 "their runs show in the UI too.")
    return lines
