"""Transports: where a built message goes, behind one interface (`open`, `send`, `close`),
like Django's mail backends. Delivery (`tindak.outbox.loop`) runs the same loop over
either; `transport_for(settings)` picks one.

- `SMTPTransport`: one connection through yagmail (TLS verified against the system's CAs,
  login), used for a whole batch; Tindak builds the messages itself and hands yagmail's
  connection the bytes. `send` returns the recipients the server refused (RFC 5321
  §4.5.4: the others took the message) and raises smtplib's exceptions as they come: a
  definite refusal (`SMTPResponseException`, `SMTPRecipientsRefused`) or a broken
  connection (anything else), which delivery tells apart;
- `EmlTransport` (no SMTP host configured): each message becomes
  `<id>-<recipient>.eml` under the outbox folder, written whole (a temporary file renamed),
  so a rerun rewrites the same file and never makes a second one. A file that cannot be
  written is a refusal (451), retried by the next run.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from pathlib import Path
from typing import Any, Protocol

import yagmail

from tindak.errors import DeliveryError
from tindak.outbox.mime import Prepared
from tindak.settings import Settings, get_settings

Refused = dict[str, tuple[int, bytes]]  # recipient → (code, reply) of those who refused


class Transport(Protocol):
    name: str  # "smtp" | "eml": the report's mode
    where: str  # for messages: the server, or the folder
    path: str | None  # the file the last `send` wrote (.eml only)

    def open(self) -> None:
        """Connect (log in); a DeliveryError when it cannot be used."""

    @property
    def alive(self) -> bool:
        """Still usable: open, and not closed by the other side."""

    def send(self, p: Prepared, oid: int, recipient: str) -> Refused:
        """Hand over one message; the recipients that refused it (the others took it)."""

    def close(self) -> None:
        """Let go of the connection; never raises."""


def transport_for(s: Settings) -> Transport:
    """SMTP when a host is configured, else .eml files."""
    return SMTPTransport(s) if s.smtp_host else EmlTransport(s.outbox_dir)


def mode_of(s: Settings) -> str:
    return "smtp" if s.smtp_host else "eml"


# ---------------------------------------------------------------- SMTP


def smtp_options(s: Settings) -> dict[str, Any]:
    """yagmail.SMTP keyword arguments for the settings (TLS verified against system CAs)."""
    if not s.smtp_host:
        raise DeliveryError("no SMTP host configured (TINDAK_SMTP_HOST)")
    opts: dict[str, Any] = {
        # As a one-entry dict: yagmail appends "@gmail.com" to a plain name without "@".
        "user": {s.smtp_user: s.smtp_user} if s.smtp_user else None,
        # Always a password when there is a user: yagmail would otherwise prompt on the tty.
        "password": s.smtp_password.get_secret_value() if s.smtp_password else None,
        "host": s.smtp_host,
        "port": s.port,
        "smtp_ssl": s.smtp_security == "ssl",
        "smtp_starttls": False,
        "smtp_skip_login": not s.smtp_user,
        "soft_email_validation": False,
        "timeout": s.smtp_timeout,
    }
    if s.smtp_user and not opts["password"]:
        raise DeliveryError("TINDAK_SMTP_PASSWORD is required when TINDAK_SMTP_USER is set")
    if s.smtp_security == "ssl":
        opts["context"] = ssl.create_default_context()
    elif s.smtp_security == "starttls":
        opts["smtp_starttls"] = {"context": ssl.create_default_context()}
    return opts


class SMTPTransport:
    """One yagmail SMTP connection, used for a whole batch."""

    name = "smtp"
    path: str | None = None  # never a file

    def __init__(self, s: Settings):
        self.where = f"{s.smtp_host}:{s.port} ({s.smtp_security})"
        self.settings = s
        self.client: Any = None

    def open(self) -> None:
        opts = smtp_options(self.settings)
        try:
            self.client = yagmail.SMTP(**opts)
            self.client.set_logging(None)  # no yagmail log lines (and never the password)
            self.client.login()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"cannot use SMTP server {self.where}: {describe(exc)}") from None

    @property
    def alive(self) -> bool:
        smtp = getattr(self.client, "smtp", None)
        return smtp is not None and getattr(smtp, "sock", None) is not None

    def send(self, p: Prepared, oid: int, recipient: str) -> Refused:
        return self.client.smtp.sendmail(p.mail_from, p.rcpt_tos, p.data)

    def close(self) -> None:
        client = self.client
        if client is None:
            return
        client.is_closed = True  # yagmail's __del__ must not try again
        smtp = client.smtp
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the connection is gone either way
        finally:
            smtp.close()


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {reply_text(code, msg)}" for rcpt, (code, msg)
                         in exc.recipients.items()) or "recipients refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return reply_text(exc.smtp_code, exc.smtp_error)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def reply_text(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"


# ---------------------------------------------------------------- .eml files


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text)[:80].strip("._") or "message"


class EmlTransport:
    """No SMTP host: each message becomes `<id>-<recipient>.eml` under the outbox folder."""

    name = "eml"

    def __init__(self, folder: Path):
        self.folder, self.where = folder, str(folder)
        self.path: str | None = None
        self.opened = False

    def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot write .eml files to {self.folder}: {exc}") from None
        self.opened = True

    @property
    def alive(self) -> bool:
        return self.opened

    def send(self, p: Prepared, oid: int, recipient: str) -> Refused:
        path = self.folder / f"{oid:07d}-{_safe_name(recipient)}.eml"
        tmp = path.with_suffix(".eml.tmp")
        try:
            tmp.write_bytes(p.data)
            os.replace(tmp, path)  # a rerun rewrites the same file, never a second one
        except OSError as exc:  # nothing was written: a refusal, retried by the next run
            raise smtplib.SMTPResponseException(
                451, f"cannot write {path.name}: {exc}".encode()) from None
        self.path = str(path)
        return {}

    def close(self) -> None:
        self.opened = False


def eml_files(folder: Path | None = None) -> list[Path]:
    """The .eml files written so far (demo and tests)."""
    folder = folder or get_settings().outbox_dir
    return sorted(folder.glob("*.eml")) if folder.exists() else []
