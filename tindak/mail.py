"""Mail: render messages (pure functions of the data in `tindak.mailmodel`). The MIME
message of an outbox row, and its sending, live in `tindak.outbox`.

One Jinja environment for all mail: autoescaped HTML, StrictUndefined, Babel catalogs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

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

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
TEXT_LIMIT = 280  # characters of a recommendation's text shown in a message

__all__ = ["environment", "format_date", "render_digest", "render_notice"]

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
