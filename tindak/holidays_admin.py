"""The editable working-day calendar: list a year's holidays, add one, cancel one.

Overrides live in HolidayOverride (one per day). Adding on a day whose national holiday was
cancelled removes the cancellation; cancelling a day that was added removes the addition;
so an override row always means something. Only planners change the calendar.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from models import HolidayOverride, session, write_session
from tindak import audit
from tindak.calendar import WorkCalendar, load_calendar
from tindak.directory import has_role, person_by_email
from tindak.errors import N_, Forbidden, InvalidInput, Msg
from tindak.settings import get_settings

WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    source: str  # national | added | cancelled
    by: str | None = None  # who added or cancelled it


def list_holidays(year: int) -> list[Holiday]:
    """Every holiday of `year` (national and cuti bersama, added, cancelled), by date."""
    if not 1990 <= year <= 2100:
        raise InvalidInput(N_("year %(year)s is out of range (1990–2100)"), year=year)
    with session() as s:
        cal = load_calendar(s, get_settings().language)
        who = {r.day: r.created_by for r in s.exec(select(HolidayOverride)).all()}
    return [Holiday(d, n, src, who.get(d)) for d, n, src in cal.holidays_in(year)]


def _planner(s: Session, by: str) -> str:
    person = person_by_email(s, by)
    if not has_role(person, "planner"):
        raise Forbidden(N_("%(email)s is not a planner: only a planner may change the "
                           "holiday calendar"), email=person.email)
    return person.email


def _override(s: Session, day: date) -> HolidayOverride | None:
    return s.exec(select(HolidayOverride).where(HolidayOverride.day == day)).first()


def _national_name(cal: WorkCalendar, day: date) -> str | None:
    return WorkCalendar(language=cal.language).holiday_name(day)


@contextmanager
def _changing(day: date, by: str) -> Iterator[tuple[Session, str, WorkCalendar, str | None]]:
    """A change of `day` in the calendar by a planner: the write session, the planner's
    email, the calendar and the holiday's name on that day now (None: a working day).
    A weekend is refused: it is not a working day either way."""
    if day.weekday() >= 5:
        raise InvalidInput(N_("%(date)s is a %(weekday)s: it is not a working day either way"),
                           date=day.isoformat(), weekday=Msg(WEEKDAYS[day.weekday()]))
    with write_session() as s:
        actor = _planner(s, by)
        cal = load_calendar(s, get_settings().language)
        yield s, actor, cal, cal.holiday_name(day)


def add_holiday(day: date, name: str, by: str) -> Msg:
    """Make `day` a holiday; returns one line saying what was done (`str()`: English)."""
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(N_("give the holiday a name, e.g. \"Cuti bersama HUT Kabupaten\""))
    if len(name) > 200:
        raise InvalidInput(N_("the holiday's name is longer than 200 characters"))
    with _changing(day, by) as (s, actor, cal, current):
        if current is not None:
            raise InvalidInput(N_("%(date)s is already a holiday (%(name)s)"),
                               date=day.isoformat(), name=current)
        row = _override(s, day)
        if row is not None:  # a cancelled national holiday: lift the cancellation
            s.delete(row)
            national = _national_name(cal, day)
            audit.record(s, actor, "restore", "holiday", day.isoformat(),
                         {"name": national, "kind": ("cancel", None)})
            return Msg(N_("%(date)s is a holiday again (%(name)s): the cancellation was "
                          "removed"), date=day.isoformat(), name=national)
        s.add(HolidayOverride(day=day, kind="add", name=name, created_by=actor))
        audit.record(s, actor, "add", "holiday", day.isoformat(), {"name": name})
        return Msg(N_("added %(date)s (%(name)s) as a holiday"), date=day.isoformat(), name=name)


def cancel_holiday(day: date, by: str) -> Msg:
    """Make `day` a working day again; returns one line saying what was done."""
    with _changing(day, by) as (s, actor, cal, current):
        if current is None:
            raise InvalidInput(N_("%(date)s is not a holiday: nothing to cancel"),
                               date=day.isoformat())
        row = _override(s, day)
        if row is not None:  # a holiday added here: remove it
            s.delete(row)
            audit.record(s, actor, "remove", "holiday", day.isoformat(),
                         {"name": row.name, "kind": ("add", None)})
            return Msg(N_("removed the added holiday %(date)s (%(name)s); it is a working day"),
                       date=day.isoformat(), name=row.name)
        s.add(HolidayOverride(day=day, kind="cancel", name=current, created_by=actor))
        audit.record(s, actor, "cancel", "holiday", day.isoformat(), {"name": current})
        return Msg(N_("cancelled %(date)s (%(name)s); it is a working day"),
                   date=day.isoformat(), name=current)

