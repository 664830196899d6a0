"""The door `tindak serve` opens to `tindak run`: only its owner's token, only the two
flows, only with the same settings; a run's error comes back worded, nothing runs twice."""

from __future__ import annotations

import http.client
import json
import socket
from datetime import date

import pytest

from tindak import control
from tindak.errors import N_, InvalidInput, TindakError

SETTINGS = "f" * 64


@pytest.fixture
def door():
    """A control endpoint whose runner records what it was asked and answers like a run."""
    asked: list[tuple] = []

    def run(flow, as_of, timezones, lang):  # type: ignore[no-untyped-def]
        asked.append((flow, as_of, timezones, lang))
        if as_of == date(2026, 1, 1):
            raise InvalidInput(N_("progress must be between 0 and 100, not %(value)s"),
                               value=150)
        return {"items": 3, "notices": 2, "messages": 1, "on": as_of}

    server, url, token = control.start(run, SETTINGS)
    yield url, token, asked
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/run", body, headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_the_owner_of_the_token_gets_the_run_and_its_summary(door):
    url, token, asked = door
    summary = control.ask(url, token, "daily", date(2026, 3, 9), ["Asia/Jakarta"], "id",
                          SETTINGS)
    assert summary == {"items": 3, "notices": 2, "messages": 1, "on": "2026-03-09"}
    assert asked == [("daily", date(2026, 3, 9), ["Asia/Jakarta"], "id")]


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
def test_a_wrong_token_runs_nothing(door, token):
    url, _, asked = door
    with pytest.raises(control.Unreachable, match="403"):
        control.ask(url, token, "daily", None, None, "id", SETTINGS)
    assert asked == []


@pytest.mark.parametrize("body", [
    b'{"flow": "backup"}', b'{"flow": "daily", "as_of": "kemarin"}', b"not json",
    b'{"flow": "daily", "timezones": 5}', b"[]",
])
def test_a_request_that_is_not_a_run_of_the_two_flows_is_refused(door, body):
    url, token, asked = door
    status, answer = post(url, body, {"Authorization": f"Bearer {token}",
                                       "Content-Length": str(len(body))})
    assert (status, answer) == (400, {"error": "bad request"})
    assert asked == []


def test_a_request_too_big_is_refused_unread(door):
    url, token, asked = door
    body = json.dumps({"flow": "daily", "pad": "x" * 20_000}).encode()
    status, _ = post(url, body, {"Authorization": f"Bearer {token}"})
    assert status == 400 and asked == []


def test_a_process_with_other_settings_is_declined_and_runs_the_flow_itself(door):
    url, token, asked = door
    with pytest.raises(control.Unreachable, match="409"):
        control.ask(url, token, "digest", None, None, "id", "0" * 64)
    assert asked == []


def test_the_runs_error_comes_back_in_the_askers_language_once(door):
    url, token, asked = door
    with pytest.raises(TindakError) as err:
        control.ask(url, token, "daily", date(2026, 1, 1), None, "id", SETTINGS)
    assert str(err.value) == "progres harus antara 0 dan 100, bukan 150"
    assert len(asked) == 1  # not retried: the run was taken, it failed


def test_nobody_listening_means_run_here():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(control.Unreachable):
        control.ask(f"http://127.0.0.1:{port}", "t", "daily", None, None, "id", SETTINGS)
