"""Working days: Monday–Friday, minus Indonesia's national holidays and cuti bersama
(the `holidays` package), adjusted by the admin-editable override table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlmodel import Session, select

from models import HolidayOverride

HK_RULE = re.compile(r"^\s*\+\s*(\d{1,4})\s*hk\s*$", re.IGNORECASE)
TZ_ABBR = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


@lru_cache(maxsize=64)
def _national(year: int, language: str) -> dict[date, str]:
    cal = holidays.country_holidays(
        "ID", categories=("public", "government"), years=year, language=language
    )
    return dict(cal.items())


@dataclass(frozen=True)
class WorkCalendar:
    """A pure calendar: national holidays plus `added`, minus `cancelled`."""

    added: dict[date, str] = field(default_factory=dict)
    cancelled: frozenset[date] = frozenset()
    language: str = "id"

    def holiday_name(self, day: date) -> str | None:
        if day in self.cancelled:
            return None
        if day in self.added:
            return self.added[day]
        return _national(day.year, self.language).get(day)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (n >= 0; 0 gives `start` itself)."""
        day = start
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        return self.add_working_days(day, 1)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(
            1 for i in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=i))
        )

    def holidays_in(self, year: int) -> list[tuple[date, str, str]]:
        """(day, name, source) for every holiday of the year, source national|added|cancelled."""
        rows = [(d, n, "national") for d, n in _national(year, self.language).items()]
        rows = [
            (d, n, "cancelled" if d in self.cancelled else s)
            for d, n, s in rows
            if d not in self.added
        ]
        rows += [(d, n, "added") for d, n in self.added.items() if d.year == year]
        return sorted(rows)


MAX_HK = 260  # a year of working days; more is surely a typo (the import and the forms)


def parse_hk(value: str) -> int | None:
    """The N of a '+N hk' deadline, or None when the text is not of that form."""
    m = HK_RULE.match(value or "")
    return int(m.group(1)) if m else None


def local_today(tz: str, now: datetime) -> date:
    """The calendar date in timezone `tz` at the aware instant `now`."""
    return now.astimezone(ZoneInfo(tz)).date()


def today_for(tz: str, as_of: date | None = None, now: datetime | None = None) -> date:
    """The run's date in a unit's timezone: --as-of when given, else the local date now."""
    return as_of or (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()


def tz_abbr(tz: str) -> str:
    return TZ_ABBR.get(tz, tz)


def load_calendar(session: Session, language: str = "id") -> WorkCalendar:
    """The calendar with the overrides stored in the database."""
    rows = session.exec(select(HolidayOverride)).all()
    return WorkCalendar(
        added={r.day: r.name for r in rows if r.kind == "add"},
        cancelled=frozenset(r.day for r in rows if r.kind == "cancel"),
        language=language,
    )

