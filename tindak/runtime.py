"""Prefect's own settings, derived from Tindak's: set before Prefect is first imported.

Which Prefect API a run uses, in this order: an explicit `PREFECT_API_URL`; the server of
a `tindak serve` running on this TINDAK_HOME (it leaves its address in `SERVER_FILE` while
it runs) when that server answers; else an ephemeral API started in-process, which costs
15-45 s on a small machine.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tindak.settings import get_settings

SERVER_FILE = "server.json"  # under TINDAK_HOME/prefect, while `tindak serve` runs
HEALTH_TIMEOUT_S = 1.0  # a local server answers /health in milliseconds


def configure_prefect(quiet: bool = False, find_server: bool = False) -> str | None:
    """Keep Prefect's home under TINDAK_HOME and run it offline, unless already configured.

    Returns the API URL of the Prefect server in use, or None for the ephemeral API. With
    `find_server`, a running `tindak serve` of this TINDAK_HOME is used when there is one.
    """
    settings = get_settings()
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    if quiet:
        # The command prints its own summary; Prefect's records (the API) keep every log.
        defaults["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    api = os.environ.get("PREFECT_API_URL") or None
    if api is None and find_server:
        api = running_server(settings.prefect_home)
        if api is not None:
            defaults["PREFECT_API_URL"] = api
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if quiet and "prefect" in sys.modules:
        _quiet_console()
    return api


def no_heartbeat() -> Any:
    """Prefect's settings for a run someone watches (`tindak run`, or the serve running it for
    them): no flow heartbeat, whose thread wakes once a second and whose join holds the end of
    every run up to a second. Call once Prefect is configured."""
    from prefect.settings import temporary_settings

    return temporary_settings(updates={"flows.heartbeat_frequency": None})


def server_file(prefect_home: Path) -> Path:
    return prefect_home / SERVER_FILE


def announce_server(prefect_home: Path, url: str, control: tuple[str, str] | None = None
                    ) -> Path:
    """Tell later `tindak run` commands where this process's server is (atomic write), and
    where this process takes their runs (`control`: its URL and token; the file is the
    owner's alone, mode 0600, since the token lets one start a run)."""
    path = server_file(prefect_home)
    tmp = path.with_suffix(".tmp")
    info: dict[str, object] = {"api_url": url, "pid": os.getpid()}
    if control is not None:
        info["control_url"], info["control_token"] = control
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(info))
    os.replace(tmp, path)
    return path


def withdraw_server(prefect_home: Path) -> None:
    """Remove the address file, if it is this process's."""
    path = server_file(prefect_home)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_server(prefect_home: Path) -> str | None:
    """The API URL of this home's `tindak serve`, if it runs and its server answers."""
    info = running_serve(prefect_home)
    return str(info["api_url"]) if info else None


def running_serve(prefect_home: Path) -> dict | None:
    """What this home's `tindak serve` announced (api_url, pid, control_url and
    control_token), if it runs and its server answers."""
    path = server_file(prefect_home)
    try:
        info = json.loads(path.read_text())
        url, pid = str(info["api_url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:  # a `tindak serve` killed without its clean-up
        path.unlink(missing_ok=True)
        return None
    except PermissionError:  # alive, another user's: still worth asking the server
        pass
    return info if server_answers(url) else None


def server_answers(api_url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def ui_url(api_url: str, flow_run_id: object) -> str:
    """Where a flow run is shown in the UI of a server whose API is at `api_url`."""
    return f"{api_url.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run_id}"


def _quiet_console() -> None:
    """Prefect was imported (so its logging set up) before us: lower its console handlers."""
    from prefect.logging.handlers import PrefectConsoleHandler  # only once prefect is loaded

    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)
