"""A real local SMTP server (aiosmtpd) that keeps every message it receives, as an .eml file
in a folder and in memory. `tindak demo` sends its mail here; the tests use it too.

    with SmtpSink(folder) as sink:      # or sink.start() / sink.stop()
        ...  TINDAK_SMTP_HOST=127.0.0.1 TINDAK_SMTP_PORT=sink.port TINDAK_SMTP_SECURITY=none
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the envelope and the raw bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    path: Path | None = None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


class SinkHandler:
    """aiosmtpd handler: accept everything, keep it (in memory and as .eml files)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return self.keep(envelope)

    def keep(self, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with self._lock:
            path = None
            if self.folder is not None:
                path = self.folder / f"{len(self.received) + 1:06d}.eml"
                path.write_bytes(data)
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          data, path))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Binds port 0 itself, then reads back the port the system picked."""

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self):
        return self._bind()


class SmtpSink:
    """An SMTP server on 127.0.0.1 in a background thread; port 0 picks a free port."""

    controller_class: type[_Controller] = _Controller
    server_hostname = "tindak-sink.localhost"

    def __init__(self, folder: Path | str | None = None, port: int = 0,
                 handler: SinkHandler | None = None):
        self.handler = handler or SinkHandler(Path(folder) if folder is not None else None)
        self._port = port
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the SMTP sink is not running")
        return self._controller.port

    @property
    def host(self) -> str:
        return HOST

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> Self:
        if self._controller is None:
            controller = self.controller_class(self.handler, hostname=HOST, port=self._port,
                                               server_hostname=self.server_hostname)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
