"""Mail: render messages (pure functions of the data in `tindak.mailmodel`) and build the
MIME message of an outbox row. Sending lives in `tindak.delivery`.

One Jinja environment for all mail: autoescaped HTML, StrictUndefined, Babel catalogs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tindak.errors import DeliveryError
from tindak.i18n import (
    format_date,
    format_percent,
    get_translations,
    install_jinja,
    normalize_lang,
    status_label,
    translator,
)
from tindak.mailmodel import (
    DecisionMail,
    DigestMail,
    Inline,
    ItemLine,
    NoticeMail,
    PublicUpdateMail,
    Rendered,
)
from tindak.mailtext import tidy_text
from tindak.settings import get_settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
TEXT_LIMIT = 280  # characters of a recommendation's text shown in a message

__all__ = [
    "Prepared", "build_message", "environment", "format_date", "new_message_id", "prepare",
    "render_digest", "render_notice",
]

# Sections of a daily message, most urgent first.
REMINDER_SECTIONS = ("overdue", "due", "before", "stale")
ESCALATION_SECTIONS = ("esc2", "esc1")


# ---------------------------------------------------------------- the environment


def shorten(text: str, limit: int = TEXT_LIMIT) -> str:
    """Whitespace collapsed, cut at a word boundary with '…' when longer than `limit`."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def one_line(text: str) -> str:
    """Any run of whitespace (newlines included) as one space, without bidi controls (an
    override would reverse the rest of a subject): safe in a header or a line."""
    return " ".join(str(text).translate(BIDI_CONTROLS).split())


def web_url(url: str | None) -> str | None:
    """Only http(s) links reach a message; anything else (javascript:, data:) is dropped."""
    if url and re.fullmatch(r"https?://[^\s]+", url):
        return url
    return None


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja environment of Tindak's mail."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    install_jinja(env)
    env.filters["short"] = shorten
    env.filters["one_line"] = one_line
    env.filters["web_url"] = web_url
    return env


def _render(name: str, ctx: dict[str, Any]) -> str:
    return environment().get_template(name).render(**ctx)


# ---------------------------------------------------------------- notices


def section_of(item: ItemLine) -> str:
    """before, due, overdue, stale, esc1 or esc2 (from the stage; the dates when it is empty)."""
    head = item.stage.split(":", 1)[0].split("_", 1)[0]
    # The item's state on the message's day, not at planning: a notice that waited a day
    # (another timezone's run had sent that day's message) may be late by now.
    if head in ("before", "due") and _overdue_days(item) > 0:
        return "overdue"
    if head == "before" and item.days_left == 0:
        return "due"
    if head in ("before", "due", "overdue", "stale", "esc1", "esc2"):
        return head
    if item.days_overdue > 0 or item.days_left < 0:
        return "overdue"
    return "due" if item.days_left == 0 else "before"


def idle_days(item: ItemLine, on: date) -> int | None:
    """Days since the last progress report, from a 'stale_N:<date>' stage; None if unknown."""
    if not item.stage.startswith("stale"):
        return None
    try:
        return (on - date.fromisoformat(item.stage.split(":", 1)[1])).days
    except (IndexError, ValueError):
        return None


def _overdue_days(item: ItemLine) -> int:
    return item.days_overdue or max(0, -item.days_left)


@dataclass(frozen=True)
class ItemView:
    """An item line with every string the item block shows already made: nested macros,
    filters and gettext calls cost ~0.3 ms an item, and a daily run shows a million items."""

    ref: str
    text: str  # shortened, on one line
    forum: str
    unit_name: str
    deadline: str  # '2 Februari 2026 (WITA)'
    when: str  # 'terlambat 3 hari' …, or ''
    when_kind: str  # late | today | left | ''
    status: str  # the label
    progress: int
    bar: int  # width of the filled part of the 120 px progress bar (0: none)
    bar_rest: bool  # the bar has an unfilled part
    idle: str  # 'Last progress report N days ago', or '' (reminders only)
    owner_name: str
    owner_email: str
    link: str | None  # the item's update link, http(s) only


@lru_cache(maxsize=4096)
def _when(lang: str, late: int, days_left: int) -> tuple[str, str]:
    t = translator(lang)
    if late > 0:
        return "late", t.ngettext("overdue by %(num)d day", "overdue by %(num)d days",
                                  late) % {"num": late}
    if days_left == 0:
        return "today", t.gettext("due today")
    if days_left > 0:
        return "left", t.ngettext("%(num)d day left", "%(num)d days left",
                                  days_left) % {"num": days_left}
    return "", ""


@lru_cache(maxsize=4096)
def _idle_text(lang: str, days: int) -> str:
    return translator(lang).ngettext("Last progress report %(num)d day ago",
                                     "Last progress report %(num)d days ago", days) % {
        "num": days}


def item_view(item: ItemLine, lang: str, on: date | None = None, view: bool = False
              ) -> ItemView:
    """The strings of one item block; `on` (the message's date) shows the idle time; `view`:
    the link is the item's page for a superior, never the owner's signed link."""
    kind, when = _when(lang, _overdue_days(item), item.days_left)
    pct = min(max(item.progress, 0), 100)
    idle = idle_days(item, on) if on is not None else None
    return ItemView(
        ref=item.ref, text=shorten(item.text), forum=one_line(item.forum),
        unit_name=one_line(item.unit_name), deadline=format_date(item.deadline, lang, item.tz),
        when=when, when_kind=kind, status=status_label(item.status, lang),
        progress=item.progress, bar=int(round(pct * 1.2)) if pct > 0 else 0,
        bar_rest=pct < 100, idle=_idle_text(lang, idle) if idle is not None else "",
        owner_name=one_line(item.owner_name), owner_email=item.owner_email,
        link=web_url(item.view_url if view else item.update_url),
    )


@dataclass(frozen=True)
class Section:
    key: str
    lines: list[ItemLine]
    items: list[ItemView]  # the same items, as the templates show them


def _sections(items: Iterable[ItemLine], order: tuple[str, ...], lang: str,
              on: date | None, view: bool = False) -> list[Section]:
    groups: dict[str, list[ItemLine]] = {k: [] for k in order}
    for it in items:
        key = section_of(it)
        groups.setdefault(key, []).append(it)
    for key, lst in groups.items():
        if key in ("overdue", "esc1", "esc2"):
            lst.sort(key=lambda i: (-_overdue_days(i), i.deadline, i.ref))
        else:
            lst.sort(key=lambda i: (i.deadline, i.ref))
    keys = [k for k in order if groups[k]] + [k for k in groups if k not in order and groups[k]]
    return [Section(k, groups[k], [item_view(i, lang, on, view) for i in groups[k]])
            for k in keys]


def _reminder_subject(m: NoticeMail, sections: list[Section]) -> str:
    t = translator(m.lang)
    parts = []
    # Every section of the message, listed or not: a capped list must not hide a count.
    keys = [k for k in REMINDER_SECTIONS if m.totals.get(k)] or [sec.key for sec in sections]
    lines = {sec.key: sec.lines for sec in sections}
    for key in keys:
        n = m.totals.get(key) or len(lines[key])
        if key == "overdue":
            parts.append(t.ngettext("%(num)d overdue", "%(num)d overdue", n) % {"num": n})
        elif key == "due":
            parts.append(t.ngettext("%(num)d due today", "%(num)d due today", n) % {"num": n})
        elif key == "before":
            days = m.totals.get("within") or max(i.days_left for i in lines[key])
            parts.append(t.ngettext("%(num)d due within %(days)d days",
                                    "%(num)d due within %(days)d days", n)
                         % {"num": n, "days": days})
        elif key == "stale":
            parts.append(t.ngettext("%(num)d without a progress report",
                                    "%(num)d without a progress report", n) % {"num": n})
    total = len(m.items) + m.omitted
    head = t.ngettext("%(num)d recommendation", "%(num)d recommendations", total) % {
        "num": total}
    return one_line(f"[Tindak] {head}: {', '.join(parts)}")


def _escalation_subject(m: NoticeMail, sections: list[Section]) -> str:
    t = translator(m.lang)
    total = len(m.items) + m.omitted
    owners = sorted({one_line(i.owner_name) for i in m.items})
    every = max(len(owners), m.totals.get("owners", 0))  # owners of unlisted items too
    who = ", ".join(owners[:2]) + (f" +{every - 2}" if every > 2 else "")
    level2 = any(s.key == "esc2" for s in sections)
    head = t.gettext("Escalation level 2") if level2 else t.gettext("Escalation")
    body = t.ngettext("%(num)d overdue recommendation", "%(num)d overdue recommendations",
                      total) % {"num": total}
    return one_line(f"[Tindak] {head}: {body} ({who})")


def render_notice(m: NoticeMail) -> Rendered:
    """A daily reminder (to an owner) or escalation (to a superior), as subject, text and HTML."""
    lang = normalize_lang(m.lang)
    if m.kind == "escalation":
        sections = _sections(m.items, ESCALATION_SECTIONS, lang, None, view=True)
        subject = _escalation_subject(m, sections)
        name = "escalation"
    else:
        sections = _sections(m.items, REMINDER_SECTIONS, lang, m.on_date)
        subject = _reminder_subject(m, sections)
        name = "reminder"
    ctx = {
        "lang": lang, "subject": subject, "m": m, "sections": sections,
        "on_date": m.on_date, "cta_url": web_url(m.update_url),
        "omitted": m.omitted,
        # The opening follows the items' real state: late items are not "before the deadline".
        "late": m.totals.get("overdue", sum(len(s.lines) for s in sections if s.key == "overdue")),
        "total": len(m.items) + m.omitted,
        # Owners' signed links are credentials: only an owner's own reminder shows them.
        "item_links": m.kind != "escalation",
        # The owner's deadlines as a calendar feed (SPEC §8), beside their own page's link.
        "calendar_url": (web_url(f"{m.update_url}/kalender.ics")
                         if m.kind != "escalation" and m.update_url else None),
    }
    return Rendered(
        subject=subject,
        text=tidy_text(_render(f"{name}.txt", ctx)),
        html=_render(f"{name}.html", ctx),
    )


def render_extension_decision(m: DecisionMail) -> Rendered:
    """The answer to a deadline extension request, for the one who asked (SPEC §7)."""
    lang = normalize_lang(m.lang)
    t = get_translations(lang)
    if m.approved:
        subject = t.gettext("[Tindak] Extension of %(ref)s approved: new deadline %(date)s") % {
            "ref": m.ref, "date": format_date(m.until, lang)}
    else:
        subject = t.gettext("[Tindak] Extension of %(ref)s not approved") % {"ref": m.ref}
    ctx = {"lang": lang, "subject": one_line(subject), "m": m, "cta_url": web_url(m.page_url)}
    return Rendered(subject=one_line(subject),
                    text=tidy_text(_render("extension.txt", ctx)),
                    html=_render("extension.html", ctx))


def render_subscribe(lang: str, forum: str, url: str, days: int, invited: bool) -> Rendered:
    """The double opt-in mail (or a participant's invitation) with its signed link."""
    lang = normalize_lang(lang)
    t = get_translations(lang)
    subject = one_line((t.gettext("[Tindak] You are invited to follow up %(forum)s") if invited
                        else t.gettext("[Tindak] Confirm your subscription to %(forum)s"))
                       % {"forum": forum})[:500]
    ctx = {"lang": lang, "subject": subject, "forum": forum, "url": url, "days": days,
           "invited": invited}
    return Rendered(subject=subject, text=tidy_text(_render("subscribe.txt", ctx)),
                    html=_render("subscribe.html", ctx))


def render_public_update(m: PublicUpdateMail) -> Rendered:
    """A subscriber's weekly update (SPEC §7), with the RFC 8058 one-click headers."""
    lang = normalize_lang(m.lang)
    t = get_translations(lang)
    count = sum(len(f.changes) for f in m.forums)
    subject = one_line(t.ngettext("[Tindak] %(num)d change in the follow-up of your forum",
                                  "[Tindak] %(num)d changes in the follow-up of your forums",
                                  count) % {"num": count})
    ctx = {"lang": lang, "subject": subject, "m": m}
    return Rendered(subject=subject, text=tidy_text(_render("update.txt", ctx)),
                    html=_render("update.html", ctx),
                    headers={"List-Unsubscribe": f"<{m.unsubscribe_url}>",
                             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


# ---------------------------------------------------------------- digest

STATUS_ORDER = ("open", "in_progress", "awaiting_verification", "completed", "not_actionable")


def render_digest(d: DigestMail) -> Rendered:
    """The weekly leadership digest, with the chart as an inline PNG."""
    from tindak.charts import digest_chart

    lang = normalize_lang(d.lang)
    t = translator(lang)
    week = f"{format_date(d.week_start, lang)} – {format_date(d.week_end, lang)}"
    subject = one_line(
        "[Tindak] "
        + t.gettext("Weekly digest %(unit)s, %(week)s: %(overdue)s overdue, %(rate)s completed")
        % {"unit": d.unit_name, "week": week, "overdue": d.overdue_count,
           "rate": format_percent(d.completion_rate, lang)}
    )
    png = digest_chart(d.per_unit, lang)
    attachments = []
    chart_cid = None
    if png is not None:
        chart_cid = f"chart.{hashlib.sha256(png).hexdigest()[:16]}@tindak"
        attachments.append(Inline(cid=chart_cid, mime="image/png", data=png))
    counts = [(code, d.counts.get(code, 0)) for code in STATUS_ORDER]
    counts += [(c, n) for c, n in sorted(d.counts.items()) if c not in STATUS_ORDER]
    ctx = {
        "lang": lang, "subject": subject, "d": d, "week": week, "counts": counts,
        "chart_cid": chart_cid, "more_overdue": max(0, d.overdue_count - len(d.overdue)),
        "overdue": [item_view(i, lang) for i in sorted(
            d.overdue, key=lambda i: (-_overdue_days(i), i.deadline, i.ref))],
        "escalations": [item_view(i, lang) for i in d.escalations],
        "at_risk": [item_view(i, lang) for i in d.at_risk],
        "cta_url": web_url(d.dashboard_url),
    }
    return Rendered(
        subject=subject,
        text=tidy_text(_render("digest.txt", ctx)),
        html=_render("digest.html", ctx),
        attachments=attachments,
    )


# ---------------------------------------------------------------- MIME
#
# A message is assembled once, as bytes, from the stdlib email package's encoders
# (RFC 2047 headers, quoted-printable and base64 bodies): delivery sends these bytes as
# they are, and `build_message` parses the very same bytes, so there is one implementation
# and it is fast (the EmailMessage API costs ~1.7 ms a message; this costs ~0.1 ms).

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


def _inline_parts(raw: str | None, row_id: object) -> list[bytes]:
    """The row's JSON attachments [{cid, mime, b64}] (or {cid, mime, path}) as MIME parts."""
    parts = []
    for a in json.loads(raw or "[]"):
        cid, mime = str(a.get("cid", "")), str(a.get("mime", "image/png")).lower()
        if not _CID.fullmatch(cid) or not _MIME.fullmatch(mime):
            raise DeliveryError(f"outbox {row_id}: bad inline attachment {cid!r} {mime!r}")
        data = (base64.b64decode(a["b64"], validate=True) if "b64" in a
                else Path(a["path"]).read_bytes())
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


def _extra_headers(raw: str | None, row_id: object) -> str:
    if not raw:
        return ""
    values = json.loads(raw)
    if not isinstance(values, dict):
        raise DeliveryError(f"outbox {row_id}: headers must be a JSON object")
    out = []
    for name in EXTRA_HEADERS:
        if name in values:
            value = _no_newlines(str(values[name]), f"outbox {row_id} {name}")
            if not value.isascii():
                raise DeliveryError(f"outbox {row_id}: {name} must be ASCII")
            out.append(f"{name}: {value}{CRLF}")
    unknown = set(values) - set(EXTRA_HEADERS)
    if unknown:
        raise DeliveryError(f"outbox {row_id}: header(s) not allowed: {sorted(unknown)}")
    return "".join(out)


@dataclass(frozen=True)
class Prepared:
    """A message ready for SMTP: envelope and bytes (CRLF line ends)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


def prepare(row: Any, mail_from: str | None = None) -> Prepared:
    """Envelope and bytes of an outbox row; the same row always gives the same bytes."""
    sender = _sender(mail_from or get_settings().mail_from)
    to = parse_addresses(row.recipient, f"outbox {row.id} recipient")
    cc = parse_addresses(row.cc or "", f"outbox {row.id} cc")
    if not to:
        raise DeliveryError(f"outbox {row.id}: no recipient")
    message_id = _no_newlines(str(row.message_id), f"outbox {row.id} Message-ID").strip()
    if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id):
        raise DeliveryError(f"outbox {row.id}: bad Message-ID {message_id!r}")
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
    rcpts: list[str] = []
    for box in to + cc:
        if box.addr.lower() not in {r.lower() for r in rcpts}:
            rcpts.append(box.addr)
    return Prepared(sender.addr, rcpts, head.encode("ascii") + body)


def build_message(row: Any, mail_from: str | None = None) -> EmailMessage:
    """The MIME message of an outbox row: multipart/alternative (text, HTML + inline images).

    The row's stored Message-ID is used, so the same row always gives the same message.
    """
    data = prepare(row, mail_from).data.replace(b"\r\n", b"\n")  # str parts with "\n"
    return message_from_bytes(data, policy=policy.default)
