"""The MIME message of an outbox row, built once as bytes (SPEC §6).

Guarantees:
- the same row always gives the same bytes (boundaries come from the stored Message-ID), so a
  message sent twice by a retry is the same message;
- nothing from the data can add a header: a line break in an address, a Message-ID or an
  extra header is refused (`DeliveryError`), and a subject or a name is one line, RFC 2047
  encoded when it is not ASCII;
- only the extra headers of `EXTRA_HEADERS` are ever written (RFC 2369 / RFC 8058);
- the message is 7-bit: quoted-printable text, base64 HTML and inline images.

Two builders stand side by side. `prepare` assembles the bytes by hand from the stdlib email
package's encoders; delivery sends these bytes as they are, and `build_message` parses the
very same bytes. It is kept for speed (~0.1 ms a message; the EmailMessage API costs
~1.7 ms). `reference_message` builds the same message with `email.message.EmailMessage`,
plainly: tests/test_mime.py checks that both give the same headers, text, HTML and
attachments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from tindak.errors import DeliveryError
from tindak.mail import one_line
from tindak.settings import get_settings

__all__ = ["EXTRA_HEADERS", "Prepared", "build_message", "new_message_id", "parse_addresses",
           "prepare", "reference_message"]


CRLF = "\r\n"
_CID = re.compile(r"[A-Za-z0-9.@_+-]{1,200}")  # used with fullmatch: "$" allows a "\n"
_MIME = re.compile(r"[a-z]+/[a-z0-9.+-]+")


def _no_newlines(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise DeliveryError(f"{what} contains a line break: refused ({value[:60]!r})")
    return value


@dataclass(frozen=True)
class Mailbox:
    name: str
    addr: str

    def header(self) -> str:
        """'Name <addr>' with the name RFC 2047-encoded when it is not ASCII."""
        return formataddr((self.name, self.addr), charset="utf-8")


_PLAIN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+")


def parse_addresses(value: str, what: str) -> list[Mailbox]:
    """'a@x, Budi <b@y>' → mailboxes; a line break or an address without '@' is refused."""
    if not value:
        return []
    if _PLAIN.fullmatch(value):  # the usual case, a bare address: skip the full parser
        return [Mailbox("", value)]
    _no_newlines(value, what)
    out = []
    for name, addr in getaddresses([value]):
        if not addr:
            continue
        local, _, domain = addr.rpartition("@")
        if not local or not domain or any(c.isspace() or c in '<>,;"' for c in addr):
            raise DeliveryError(f"{what}: '{addr}' is not an email address")
        if not addr.isascii():
            raise DeliveryError(f"{what}: '{addr}' is not an ASCII address (not supported)")
        out.append(Mailbox(one_line(name), addr))
    return out


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> Mailbox:
    boxes = parse_addresses(mail_from, "TINDAK_MAIL_FROM")
    if len(boxes) != 1:
        raise DeliveryError(f"TINDAK_MAIL_FROM must be one address, not '{mail_from}'")
    return boxes[0]


def _sender_domain() -> str:
    domain = _sender(get_settings().mail_from).addr.rpartition("@")[2]
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "tindak.localhost"


def new_message_id() -> str:
    """A Message-ID unique to one message ('<…@domain of TINDAK_MAIL_FROM>')."""
    return make_msgid(domain=_sender_domain())


def _header(name: str, value: str) -> str:
    """One header line, folded and RFC 2047-encoded as needed; never more than one header."""
    value = one_line(value)
    if value.isascii() and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}{CRLF}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    return f"{name}: {Header(value, charset, header_name=name).encode(linesep=CRLF)}{CRLF}"


@lru_cache(maxsize=8)
def _from_header(sender: Mailbox) -> str:
    return _address_header("From", [sender])


def _address_header(name: str, boxes: list[Mailbox]) -> str:
    return f"{name}: {(',' + CRLF + ' ').join(b.header() for b in boxes)}{CRLF}"


def _aware(dt: datetime | None) -> datetime:
    if dt is None:
        return datetime.now(UTC)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _text_part(body: str, subtype: str) -> bytes:
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    data = body.replace("\n", CRLF).encode("utf-8")
    if subtype == "plain":
        # Quoted-printable: 7-bit, short lines, and still readable in the raw message.
        head, payload = "quoted-printable", binascii.b2a_qp(data, istext=True)
    else:
        # Base64 for the (larger) HTML: also 7-bit, and ~5x cheaper to encode than QP.
        head, payload = "base64", base64.encodebytes(data).replace(b"\n", CRLF.encode())
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {head}{CRLF}{CRLF}").encode("ascii") + payload


def _inlines(raw: str | None, row_id: object) -> list[tuple[str, str, bytes]]:
    """The row's JSON attachments [{cid, mime, b64}] (or {cid, mime, path}), checked."""
    out = []
    for a in json.loads(raw or "[]"):
        cid, mime = str(a.get("cid", "")), str(a.get("mime", "image/png")).lower()
        if not _CID.fullmatch(cid) or not _MIME.fullmatch(mime):
            raise DeliveryError(f"outbox {row_id}: bad inline attachment {cid!r} {mime!r}")
        data = (base64.b64decode(a["b64"], validate=True) if "b64" in a
                else Path(a["path"]).read_bytes())
        out.append((cid, mime, data))
    return out


def _inline_parts(raw: str | None, row_id: object) -> list[bytes]:
    """The row's attachments as MIME parts."""
    parts = []
    for cid, mime, data in _inlines(raw, row_id):
        b64 = base64.encodebytes(data).replace(b"\n", CRLF.encode())
        head = (f"Content-Type: {mime}{CRLF}Content-Transfer-Encoding: base64{CRLF}"
                f"Content-ID: <{cid}>{CRLF}Content-Disposition: inline{CRLF}{CRLF}")
        parts.append(head.encode("ascii") + b64)
    return parts


def _multipart(subtype: str, boundary: str, parts: list[bytes], extra: str = "") -> bytes:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}{CRLF}{CRLF}'
    sep = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
    body = f"--{boundary}{CRLF}".encode("ascii") + sep.join(parts)
    return head.encode("ascii") + body + f"{CRLF}--{boundary}--{CRLF}".encode("ascii")


# The only extra headers a queued message may carry (a weekly update to the public: RFC 2369
# and RFC 8058 one-click unsubscribe); anything else stored is refused, never written.
EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


def _extra_values(raw: str | None, row_id: object) -> list[tuple[str, str]]:
    """The row's extra headers (name, value), in `EXTRA_HEADERS` order; others refused."""
    if not raw:
        return []
    values = json.loads(raw)
    if not isinstance(values, dict):
        raise DeliveryError(f"outbox {row_id}: headers must be a JSON object")
    out = []
    for name in EXTRA_HEADERS:
        if name in values:
            value = _no_newlines(str(values[name]), f"outbox {row_id} {name}")
            if not value.isascii():
                raise DeliveryError(f"outbox {row_id}: {name} must be ASCII")
            out.append((name, value))
    unknown = set(values) - set(EXTRA_HEADERS)
    if unknown:
        raise DeliveryError(f"outbox {row_id}: header(s) not allowed: {sorted(unknown)}")
    return out


def _extra_headers(raw: str | None, row_id: object) -> str:
    return "".join(f"{name}: {value}{CRLF}" for name, value in _extra_values(raw, row_id))


@dataclass(frozen=True)
class Prepared:
    """A message ready for SMTP: envelope and bytes (CRLF line ends)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


def _envelope(row: Any, mail_from: str | None) -> tuple[Mailbox, list[Mailbox],
                                                        list[Mailbox], str]:
    """Sender, To, Cc and Message-ID of a row, checked (both builders start here)."""
    sender = _sender(mail_from or get_settings().mail_from)
    to = parse_addresses(row.recipient, f"outbox {row.id} recipient")
    cc = parse_addresses(row.cc or "", f"outbox {row.id} cc")
    if not to:
        raise DeliveryError(f"outbox {row.id}: no recipient")
    message_id = _no_newlines(str(row.message_id), f"outbox {row.id} Message-ID").strip()
    if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id):
        raise DeliveryError(f"outbox {row.id}: bad Message-ID {message_id!r}")
    return sender, to, cc, message_id


def _rcpt_tos(boxes: list[Mailbox]) -> list[str]:
    """The envelope's recipients: each address once (case aside), in header order."""
    rcpts: list[str] = []
    for box in boxes:
        if box.addr.lower() not in {r.lower() for r in rcpts}:
            rcpts.append(box.addr)
    return rcpts


def prepare(row: Any, mail_from: str | None = None) -> Prepared:
    """Envelope and bytes of an outbox row; the same row always gives the same bytes."""
    sender, to, cc, message_id = _envelope(row, mail_from)
    # Boundaries from the Message-ID: stable per row, and QP/base64 bodies cannot hold "=_".
    tag = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    head = (
        _from_header(sender)
        + _address_header("To", to)
        + (_address_header("Cc", cc) if cc else "")
        + _header("Subject", row.subject)
        + f"Date: {format_datetime(_aware(row.created_at))}{CRLF}"
        + f"Message-ID: {message_id}{CRLF}"
        + f"Auto-Submitted: auto-generated{CRLF}"
        + f"X-Auto-Response-Suppress: All{CRLF}"
        + _extra_headers(getattr(row, "headers", None), row.id)
        + f"MIME-Version: 1.0{CRLF}"
    )
    html = _text_part(row.body_html, "html")
    inlines = _inline_parts(row.attachments, row.id)
    if inlines:
        html = _multipart("related", f"=_rel_{tag}", [html, *inlines], '; type="text/html"')
    body = _multipart("alternative", f"=_alt_{tag}", [_text_part(row.body_text, "plain"), html])
    return Prepared(sender.addr, _rcpt_tos(to + cc), head.encode("ascii") + body)


def build_message(row: Any, mail_from: str | None = None) -> EmailMessage:
    """The MIME message of an outbox row: multipart/alternative (text, HTML + inline images).

    The row's stored Message-ID is used, so the same row always gives the same message.
    """
    data = prepare(row, mail_from).data.replace(b"\r\n", b"\n")  # str parts with "\n"
    return message_from_bytes(data, policy=policy.default)


# ---------------------------------------------------------------- the plain reference


_UNFOLDED = policy.SMTP.clone(max_line_length=1_000_000, cte_type="7bit")


def _address(box: Mailbox) -> Address:
    local, _, domain = box.addr.rpartition("@")
    return Address(display_name=box.name, username=local, domain=domain)


def reference_message(row: Any, mail_from: str | None = None) -> EmailMessage:
    """The same message as `prepare`, built plainly with `email.message.EmailMessage` (the
    reference tests/test_mime.py holds the fast path to; not used to send)."""
    sender, to, cc, message_id = _envelope(row, mail_from)
    # Headers unfolded: the stdlib's folder puts a space into a long non-ASCII display name
    # when it splits it into encoded words (it would not be the same name any more).
    msg = EmailMessage(policy=_UNFOLDED)
    msg["From"] = _address(sender)
    msg["To"] = [_address(b) for b in to]
    if cc:
        msg["Cc"] = [_address(b) for b in cc]
    msg["Subject"] = one_line(row.subject)
    msg["Date"] = format_datetime(_aware(row.created_at))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in _extra_values(getattr(row, "headers", None), row.id):
        msg[name] = value
    msg.set_content(_lf(row.body_text), subtype="plain", charset="utf-8",
                    cte="quoted-printable")
    msg.add_alternative(_lf(row.body_html), subtype="html", charset="utf-8", cte="base64")
    inlines = _inlines(row.attachments, row.id)
    if inlines:
        parts = msg.get_payload()
        assert isinstance(parts, list)  # multipart/alternative: text, then HTML
        html = parts[1]
        assert isinstance(html, MIMEPart)
        for cid, mime, data in inlines:
            maintype, subtype = mime.split("/", 1)
            html.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                             disposition="inline")
    return msg


def _lf(body: str) -> str:
    return body.replace("\r\n", "\n").replace("\r", "\n")
