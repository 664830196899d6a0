"""An owner's deadlines as an iCalendar feed (SPEC §8, RFC 5545), for `/o/{token}/kalender.ics`.

Each active item (open, in progress) is an all-day event on its deadline in force (the date
in its unit's timezone), with an alarm 7 days before. Its UID never changes; its SEQUENCE
counts the times its deadline moved (from the audit trail) and DTSTAMP is its last change,
so a calendar that subscribed updates the event instead of adding a second one. Items
done or closed leave the feed, and so leave the calendar at its next refresh.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from icalendar import Alarm, Calendar, Event
from sqlmodel import Session, col

from models import ACTIVE_STATUSES, AuditRecord, Forum, Recommendation, Unit, session
from tindak import i18n
from tindak.calendar import tz_abbr
from tindak.errors import N_
from tindak.settings import get_settings

ALARM_DAYS = 7
SUMMARY = N_("Follow-up deadline: %(ref)s")


def _moves(s: Session, refs: list[str]) -> dict[str, int]:
    """How many times each item's deadline was changed after it was created."""
    out: dict[str, int] = {}
    a = AuditRecord
    for i in range(0, len(refs), 900):
        q = (sa.select(col(a.entity_key), col(a.changes))
             .where(col(a.entity) == "recommendation", col(a.action) != "create",
                    col(a.entity_key).in_(refs[i:i + 900])))
        for key, changes in s.execute(q):
            try:
                moved = "deadline" in json.loads(changes or "{}")
            except ValueError:
                moved = False
            out[key] = out.get(key, 0) + moved
    return out


def owner_feed(owner_id: int, owner_name: str, page_url: str | None = None,
               lang: str | None = None) -> bytes:
    """The .ics of one owner's active items."""
    settings = get_settings()
    t = i18n.translator(lang or settings.language)
    domain = urlsplit(settings.base_url or "").hostname or "tindak.invalid"
    r = Recommendation
    with session() as s:
        rows = s.execute(
            sa.select(col(r.id), col(r.ref), col(r.text), col(r.deadline), col(r.status),
                      col(r.progress), col(r.updated_at), col(Forum.title), col(Unit.name),
                      col(Unit.timezone))
            .join(Forum, col(Forum.id) == r.forum_id).join(Unit, col(Unit.id) == r.unit_id)
            .where(col(r.owner_id) == owner_id, col(r.status).in_(ACTIVE_STATUSES))
            .order_by(col(r.deadline), col(r.ref))).all()
        moves = _moves(s, [row[1] for row in rows])
    cal = Calendar()
    cal.add("prodid", "-//Tindak//Tindak lanjut FKP//ID")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Tindak: {owner_name}")
    for rid, ref, text, deadline, status, progress, updated, forum, unit, tz in rows:
        ev = Event()
        ev.add("uid", f"rec-{rid}@{domain}")
        ev.add("summary", t.gettext(SUMMARY) % {"ref": ref})
        ev.add("dtstart", deadline)
        ev.add("dtend", deadline + timedelta(days=1))
        stamp = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
        ev.add("dtstamp", stamp.astimezone(UTC))
        ev.add("last-modified", stamp.astimezone(UTC))
        ev.add("sequence", moves.get(ref, 0))
        ev.add("transp", "TRANSPARENT")
        lines = [text, "", f"{forum}", f"{unit} ({tz_abbr(tz)})",
                 f"{t.status(status)}, {progress}%"]
        if page_url:
            lines.append(page_url)
            ev.add("url", page_url)
        ev.add("description", "\n".join(lines))
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", t.gettext(SUMMARY) % {"ref": ref})
        alarm.add("trigger", timedelta(days=-ALARM_DAYS))
        ev.add_component(alarm)
        cal.add_component(ev)
    return cal.to_ical()
