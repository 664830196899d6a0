"""Secrets (the SMTP password, TINDAK_SECRET_KEY) never leave the settings: not in logs at
DEBUG, not in Prefect's records of runs, not in mail, .eml files, CLI output or error lines.

The SMTP server is a real aiosmtpd server that demands the password (AUTH over a plain
connection, as on a local relay), the flows run through real Prefect, and the CLI is
`tindak.cli.main`."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tindak.cli import main
from tindak.settings import get_settings
from tindak.smtp_sink import SinkHandler

USER = "tindak@relay.pemkot.example.go.id"
PASSWORD = "Pw-only-in-env-7c1e9b2f"
SECRET_KEY = "Sk-never-logged-5a2f84d0e3"
SECRETS = (PASSWORD, SECRET_KEY)
MONDAY = date(2026, 3, 9)


class AuthHandler(SinkHandler):
    """Keeps what it receives, but only from a client that logged in."""

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


class AuthServer:
    """A real SMTP server on 127.0.0.1 that accepts `user` with `password` only."""

    def __init__(self) -> None:
        self.user, self.password = USER, PASSWORD
        self.logins: list[bytes] = []
        self.handler = AuthHandler()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port,
            server_hostname="relay.tindak.test", authenticator=self.check,
            auth_require_tls=False)

    def check(self, server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        self.logins.append(auth_data.login)
        ok = (auth_data.login == self.user.encode()
              and auth_data.password == self.password.encode())
        return AuthResult(success=ok, handled=False)

    @property
    def raw(self) -> bytes:
        return b"".join(r.data for r in self.handler.received)


@pytest.fixture
def relay(settings_env) -> Iterator[AuthServer]:  # type: ignore[no-untyped-def]
    server = AuthServer()
    server.controller.start()
    settings_env(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="none",
                 SMTP_USER=USER, SMTP_PASSWORD=PASSWORD, SECRET_KEY=SECRET_KEY,
                 SMTP_TIMEOUT=5, DELIVERY_RETRIES=0, BASE_URL="https://tindak.example.go.id",
                 MAIL_FROM="Tindak <tindak@pemkot.example.go.id>")
    yield server
    server.controller.stop()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, Prefect's included (its loggers may not propagate)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="prefect")
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.addHandler(caplog.handler)
    yield caplog
    prefect_logger.removeHandler(caplog.handler)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """The records as text, with their unformatted arguments and exception text too."""
    parts = [caplog.text]
    for r in caplog.records:
        parts += [str(r.msg), repr(r.args), r.exc_text or "", repr(r.__dict__)]
    return "\n".join(parts)


def team(make: Any) -> None:
    unit = make.unit(code="DISDUKCAPIL", name="Dinas Kependudukan dan Pencatatan Sipil")
    head = make.person(email="kadis@disdukcapil.go.id", unit=unit, roles="leader;planner")
    owner = make.person(email="kasi@disdukcapil.go.id", unit=unit, supervisor=head)
    make.rec(ref="DUK-1", owner=owner, deadline=date(2026, 3, 1), unit=unit)  # 8 days late
    make.rec(ref="DUK-2", owner=owner, deadline=date(2026, 3, 10), unit=unit)  # due tomorrow


def prefect_records() -> str:
    """Everything the Prefect API keeps about runs: flow and task runs (parameters,
    states, results), their state histories, every log line and every artifact."""
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    out: list[str] = []
    with get_client(sync_client=True) as client:
        for read in (client.read_flow_runs, client.read_task_runs):
            offset = 0
            while batch := read(limit=200, offset=offset):
                out += [run.model_dump_json() for run in batch]
                offset += len(batch)
                if read is client.read_flow_runs:
                    for run in batch:
                        out += [s.model_dump_json() for s in client.read_flow_run_states(run.id)]
        offset = 0
        while logs := client.read_logs(limit=200, offset=offset):
            out += [log.model_dump_json() for log in logs]
            offset += len(logs)
        out += [a.model_dump_json() for a in client.read_artifacts()]  # each run's story
    text = "\n".join(out)
    assert "daily-follow-up" in text or "daily-" in text  # we did read this session's runs
    return text


def assert_clean(where: str, text: str | bytes) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in text, f"a secret appears in {where}"


def test_flows_and_cli_keep_the_secrets_out_of_logs_prefect_mail_and_output(
        flows, make, relay, debug_logs, capsys):
    team(make)
    daily = flows.daily(as_of=MONDAY)
    assert daily["delivery"]["sent"] == 2  # we logged in: the server only takes mail after AUTH
    assert flows.digest(as_of=MONDAY)["delivery"]["sent"] == 1
    assert main(["run", "daily", "--as-of", "2026-03-16"]) == 0
    assert main(["outbox", "list"]) == 0
    assert main(["outbox", "list", "--format", "json"]) == 0
    assert main(["login-link", "kadis@disdukcapil.go.id"]) == 0
    out = capsys.readouterr()
    assert "https://tindak.example.go.id/masuk/" in out.out

    assert len(relay.handler.received) >= 3
    assert b"https://tindak.example.go.id/o/" in relay.raw  # owner links, signed with the key
    assert_clean("the mail sent", relay.raw)
    assert_clean("stdout", out.out)
    assert_clean("stderr", out.err)
    logs = logged(debug_logs)
    assert "AUTH" in logs and "Finished in state" in logs  # SMTP and Prefect at DEBUG, caught
    assert_clean("the logs", logs)
    assert_clean("Prefect's records", prefect_records())


def test_eml_files_and_the_outbox_hold_no_secret(flows, make, settings_env, debug_logs, capsys):
    settings_env(SMTP_USER=USER, SMTP_PASSWORD=PASSWORD, SECRET_KEY=SECRET_KEY,
                 BASE_URL="https://tindak.example.go.id")  # no SMTP host: .eml files
    team(make)
    assert main(["run", "daily", "--as-of", "2026-03-09"]) == 0
    assert main(["outbox", "list", "--format", "json"]) == 0
    out = capsys.readouterr()
    emls = sorted(get_settings().outbox_dir.rglob("*.eml"))
    assert len(emls) == 2
    for path in emls:
        assert_clean(path.name, path.read_bytes())
    rows = json.loads(out.out[out.out.index("["):])
    assert len(rows) == 2
    assert_clean("stdout", out.out)
    assert_clean("the logs", logged(debug_logs))


def test_a_refused_login_says_so_in_one_line_without_the_password(
        flows, make, relay, debug_logs, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    relay.password = "the-server-expects-another-one"
    team(make)
    assert main(["run", "daily", "--as-of", "2026-03-09"]) == 1
    out = capsys.readouterr()
    assert "535" in out.out and "Authentication credentials invalid" in out.out
    assert out.err.count("\n") == 1 and out.err.startswith("error: ")
    assert relay.handler.received == []
    assert main(["outbox", "list"]) == 0
    listing = capsys.readouterr().out
    assert "pending" in listing
    assert_clean("stdout", out.out + listing)
    assert_clean("stderr", out.err)
    assert_clean("the logs", logged(debug_logs))
    records = prefect_records()
    assert "Authentication credentials invalid" in records  # the failure is on record
    assert_clean("Prefect's records", records)


def test_settings_never_show_their_secrets(settings_env, capsys):
    settings_env(SMTP_HOST="127.0.0.1", SMTP_USER=USER, SMTP_PASSWORD=PASSWORD,
                 SECRET_KEY=SECRET_KEY)
    s = get_settings()
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == PASSWORD
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump()),
                  repr(s.smtp_password), repr(s.secret_key)):
        assert_clean("the settings' text", shown)
    # A refused setting names the field, never the values around it.
    settings_env(SMTP_PORT="not-a-port")
    assert main(["outbox", "list"]) == 1
    err = capsys.readouterr().err
    assert "TINDAK_SMTP_PORT" in err
    assert_clean("a settings error", err)


def test_the_key_file_made_without_tindak_secret_key_is_private(home, monkeypatch):
    monkeypatch.delenv("TINDAK_SECRET_KEY")
    from tindak.settings import reset_settings

    reset_settings()
    key = get_settings().signing_key()
    path = Path(get_settings().home) / "secret_key"
    assert path.read_text().strip() == key and len(key) >= 32
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_a_user_name_without_an_at_sign_logs_in_as_given(flows, make, relay, settings_env):
    relay.user = "apikey"  # as relays such as SendGrid name their users
    settings_env(SMTP_USER="apikey")
    team(make)
    flows.daily(as_of=MONDAY)
    assert relay.logins and set(relay.logins) == {b"apikey"}


def test_the_database_password_never_goes_on_a_command_line():
    from sqlalchemy.engine import make_url

    from tindak.backup import _conninfo

    url = make_url(f"postgresql+psycopg://tindak:{PASSWORD}@db.example.go.id:5433/tindak"
                   "?sslmode=require&options=-csearch_path%3Dtindak")
    info, env = _conninfo(url)
    assert_clean("pg_dump's command line", info)
    assert "host='db.example.go.id'" in info and "sslmode='require'" in info
    assert env is not None and env["PGPASSWORD"] == PASSWORD  # given to pg_dump privately
    assert _conninfo(make_url("postgresql+psycopg://postgres@127.0.0.1/test"))[1] is None
