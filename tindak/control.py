"""`tindak run` on a running `tindak serve`: the serve process runs the flow, warm.

Prefect's start-up is most of a run's cost (15-45 s for the ephemeral API, 5-20 s to import
Prefect and reach a server). `tindak serve` has paid it once: it listens on 127.0.0.1 for
run requests, each signed with a token that only the owner of TINDAK_HOME can read (the
serve's address file, mode 0600), and runs the flow in its own process, on its own Prefect
server: the run shows in the UI with its logs and artifact, as any other. The command that
asked imports no Prefect; it waits for the run's summary and words it.

One run at a time: a second request waits for the first (runs of one database would only
queue behind each other's locks).
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tindak.errors import N_, TindakError

log = logging.getLogger(__name__)

FLOWS = ("daily", "digest")
MAX_REQUEST = 16_384  # a run request is a few dozen bytes


class Unreachable(Exception):
    """The serve process did not take the request (gone, or not listening): run here."""


# The serve side ------------------------------------------------------------------------

Runner = Callable[[str, date | None, list[str] | None, str | None], dict]


def start(run: Runner, settings: str) -> tuple[ThreadingHTTPServer, str, str]:
    """Listen on 127.0.0.1 (a free port) in a daemon thread; returns (server, url, token).
    `run(flow, as_of, timezones, lang)` runs one flow and returns its summary. A request
    from a process whose settings differ (`settings`: their fingerprint) is declined: the
    asker runs the flow itself, with its own settings."""
    token = secrets.token_urlsafe(32)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/run":
                return self._answer(404, {"error": "not found"})
            given = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return self._answer(403, {"error": "wrong token"})
            try:
                size = int(self.headers.get("Content-Length") or 0)
                if not 0 < size <= MAX_REQUEST:
                    raise ValueError("size")
                req = json.loads(self.rfile.read(size))
                flow = req["flow"]
                if flow not in FLOWS:
                    raise ValueError("flow")
                as_of = date.fromisoformat(req["as_of"]) if req.get("as_of") else None
                tzs = [str(z) for z in req["timezones"]] if req.get("timezones") else None
                lang = str(req["lang"]) if req.get("lang") else None
            except (ValueError, KeyError, TypeError):
                return self._answer(400, {"error": "bad request"})
            if req.get("settings") != settings:
                return self._answer(409, {"error": "other settings"})
            with lock:
                try:
                    summary = run(flow, as_of, tzs, lang)
                except TindakError as exc:
                    from tindak.i18n import error_text

                    return self._answer(200, {"error": error_text(exc, lang, "cli")})
                except Exception as exc:  # the run failed: its Prefect run has the traceback
                    log.exception("run of %s asked by `tindak run` failed", flow)
                    return self._answer(200, {"error": f"{type(exc).__name__}: {exc}"})
            self._answer(200, {"summary": summary})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # the serve's output is its own
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="tindak-control", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", token


# The asking side -----------------------------------------------------------------------

def ask(url: str, token: str, flow: str, as_of: date | None, timezones: list[str] | None,
        lang: str | None, settings: str) -> dict:
    """Have the serve process at `url` run `flow`; its summary. Raises Unreachable when the
    request was not taken (then nothing ran: a serve gone, or one with other settings),
    TindakError when the run failed."""
    parts = urlsplit(url)
    body = json.dumps({"flow": flow, "as_of": as_of.isoformat() if as_of else None,
                       "timezones": timezones, "lang": lang, "settings": settings}).encode()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=None)
    try:
        try:
            conn.request("POST", "/run", body, {"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/json"})
        except OSError as exc:  # refused: the serve is gone or not yet listening
            raise Unreachable(str(exc)) from exc
        try:
            resp = conn.getresponse()
            answer: dict[str, Any] = json.loads(resp.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Taken, then lost: the run may have happened in part; never run it twice here.
            raise TindakError(N_("`tindak serve` stopped during the run (%(detail)s): see "
                                 "its Prefect run and `tindak outbox list`"),
                              detail=str(exc) or type(exc).__name__) from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise Unreachable(f"{resp.status}: {answer.get('error')}")
    if "error" in answer:
        raise TindakError(str(answer["error"]))
    return dict(answer["summary"])
