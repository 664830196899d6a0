"""A real SMTP server (aiosmtpd) for tests, with knobs to make it misbehave.

    def test_x(smtp_server, smtp_settings):
        smtp_server.refuse.add("nobody@example.go.id")  # 550 at RCPT
        smtp_server.temp_refuse.add("full@example.go.id")  # 452 at RCPT (mailbox full)
        smtp_server.temp_fail = True                     # 451 at MAIL FROM
        smtp_server.drop_data = True                     # hang up after the data, no reply
        smtp_server.delay = 0.2                          # answer DATA this much later
        smtp_server.delay_after = 5                      # ... but only after 5 messages
        smtp_server.before_reply = lambda n: ...         # run before answering the n-th DATA
        smtp_server.stop(); smtp_server.start()          # down, and up again on the same port
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tindak.smtp_sink import Received, SinkHandler, SmtpSink


class MisbehavingHandler(SinkHandler):
    """The sink's handler, with switches for refusals, failures, hang-ups and slowness."""

    def __init__(self) -> None:
        super().__init__(None)
        self.refuse: set[str] = set()
        self.temp_refuse: set[str] = set()
        self.temp_fail = False
        self.drop_data = False
        self.delay = 0.0
        self.delay_after = 0  # the first this many messages are answered at once
        self.dropped: list[Received] = []  # taken in, but the connection was cut before "250"
        self.before_reply: Callable[[int], None] | None = None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if self.temp_fail:
            return "451 4.3.0 Temporary failure, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address.lower() in {a.lower() for a in self.refuse}:
            return "550 5.1.1 No such user here"
        if address.lower() in {a.lower() for a in self.temp_refuse}:
            return "452 4.2.2 Mailbox full, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay and len(self.received) >= self.delay_after:
            await asyncio.sleep(self.delay)
        if self.before_reply is not None:
            self.before_reply(len(self.received) + 1)
        if self.drop_data:
            data = envelope.original_content or envelope.content
            self.dropped.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), data))
            server.transport.abort()
            return "250 never seen by the client"
        return self.keep(envelope)


class SmtpServer:
    """What a test sees: the port, the messages received, and the knobs."""

    def __init__(self) -> None:
        self.handler = MisbehavingHandler()
        self._sink = SmtpSink(handler=self.handler)
        self.port = 0

    def start(self) -> None:
        self._sink = SmtpSink(port=self.port, handler=self.handler).start()
        self.port = self._sink.port

    def stop(self) -> None:
        self._sink.stop()

    host = "127.0.0.1"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.handler.received]

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]

    def wait_for(self, match: Callable[[Received], bool], count: int = 1,
                 timeout: float = 15) -> list[Received]:
        """The received messages that `match`, once there are `count` of them (or fail)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in list(self.handler.received) if match(r)]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, (
                    f"{len(found)} of {count} expected message(s) arrived in {timeout} s; "
                    f"received: {[(r.rcpt_tos, r.message['Subject']) for r in self.received]}")
                return found
            time.sleep(0.05)

    def __getattr__(self, name: str) -> Any:  # the knobs live on the handler
        return getattr(self.handler, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("refuse", "temp_refuse", "temp_fail", "drop_data", "delay", "delay_after",
                    "before_reply"):
            setattr(self.handler, name, value)
        else:
            super().__setattr__(name, value)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(smtp_server: SmtpServer, settings_env):  # type: ignore[no-untyped-def]
    """TINDAK_SMTP_* pointing at `smtp_server`, no TLS, a short timeout."""
    settings_env(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port, SMTP_SECURITY="none",
                 SMTP_TIMEOUT=5, MAIL_FROM="Tindak Pemkot <tindak@pemkot.example.go.id>")
    return smtp_server
