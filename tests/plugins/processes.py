"""Real processes for journey tests: the `tindak` command, `tindak web`, a Prefect server.

    def test_x(tindak, web_process, prefect_server, smtp_settings):
        web = web_process()                      # `tindak web` on a free port, BASE_URL set
        out = tindak("run", "daily", "--as-of", "2026-12-01", prefect=True)
        assert out.returncode == 0, out.stderr

Each child gets this test's TINDAK_* environment (TINDAK_HOME, the database, the SMTP
settings of `smtp_settings`), read when it starts, so set settings before starting it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tindak.scheduler import stop_server

TINDAK = str(Path(sys.executable).with_name("tindak"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    stop_server(proc, timeout=15)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment as a child sees it (the test's TINDAK_* included)."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # no server unless the test asks for one
    env.update(extra)
    return env


@dataclass
class PrefectServer:
    url: str  # PREFECT_API_URL
    home: str


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A real `prefect server start` (its own home, SQLite), shared by the session."""
    home = tempfile.mkdtemp(prefix="tindak-prefect-server-")
    port = free_port()
    log = Path(home) / "server.log"
    env = child_env(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false",
                    PREFECT_UI_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
             "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_http(url + "/health", proc, log, timeout=180)
        yield PrefectServer(url=url, home=home)
    finally:
        _stop(proc)


@dataclass
class Tindak:
    """Runs the installed `tindak` command in a child process with the test's settings."""

    request: pytest.FixtureRequest
    env: dict[str, str] = field(default_factory=dict)  # added to every child's environment

    def __call__(self, *args: str, prefect: bool = False, timeout: float = 300,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`prefect=True`: the child uses the session's Prefect server (PREFECT_API_URL)."""
        env = child_env(**self.env)
        if prefect:
            server: PrefectServer = self.request.getfixturevalue("prefect_server")
            env["PREFECT_API_URL"] = server.url
        return subprocess.run([TINDAK, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, input=input)


@pytest.fixture
def tindak(home: Path, request: pytest.FixtureRequest) -> Tindak:
    return Tindak(request)


@dataclass
class WebProcess:
    url: str
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def web_process(home: Path, settings_env, tindak: Tindak) -> Iterator[Callable[..., WebProcess]]:  # type: ignore[no-untyped-def]
    """web_process(): `tindak web` in a child on a free port; TINDAK_BASE_URL points at it
    (for this test and for every later `tindak(...)` child)."""
    started: list[WebProcess] = []

    def start(*args: str) -> WebProcess:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings_env(BASE_URL=url)
        log = home / f"web-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([TINDAK, "web", "--host", "127.0.0.1", "--port", str(port),
                                     *args], env=child_env(**tindak.env), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        web = WebProcess(url, proc, log)
        started.append(web)
        _wait_http(url + "/healthz", proc, log, timeout=60)
        return web

    yield start
    for web in started:
        _stop(web.proc)
