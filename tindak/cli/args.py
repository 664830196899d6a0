"""Checks of command-line arguments at the edge: each wrong value is one clear line (in the
person's language) before anything runs."""

from __future__ import annotations

from datetime import date

from tindak.calendar import TZ_ABBR
from tindak.errors import N_, InvalidInput
from tindak.settings import TIMEZONES
from tindak.validators import parse_date

FIRST_YEAR, LAST_YEAR = 1990, 2100  # the years the holiday calendar knows
MAX_ID = 2**63 - 1  # the largest id a database column holds
TZ_NAMES = {**{abbr.lower(): tz for tz, abbr in TZ_ABBR.items()},
            **{tz.lower(): tz for tz in TIMEZONES}}


def day(value: str | None, flag: str) -> date | None:
    """A date option: None when not given; an empty or odd value is refused, never 'today'."""
    if value is None:
        return None
    if not value.strip():
        raise InvalidInput(N_("%(flag)s is empty: give a date (YYYY-MM-DD or DD/MM/YYYY)"),
                           flag=flag)
    parsed = parse_date(value)
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidInput(N_("%(flag)s %(value)s is out of range (years %(first)s–%(last)s)"),
                           flag=flag, value=value, first=FIRST_YEAR, last=LAST_YEAR)
    return parsed


def year(value: int | None) -> int | None:
    if value is not None and not FIRST_YEAR <= value <= LAST_YEAR:
        raise InvalidInput(N_("--year %(value)s is out of range (years %(first)s–%(last)s)"),
                           value=value, first=FIRST_YEAR, last=LAST_YEAR)
    return value


def timezones(values: list[str] | None) -> list[str] | None:
    """--timezone: WIB, WITA, WIT or their names (Asia/Jakarta …), any case; else refused."""
    if not values:
        return None
    out = []
    for value in values:
        tz = TZ_NAMES.get(value.strip().lower())
        if tz is None:
            raise InvalidInput(N_("unknown timezone '%(value)s' (one of: %(allowed)s)"),
                               value=value, allowed="WIB, WITA, WIT, " + ", ".join(TIMEZONES))
        out.append(tz)
    return sorted(set(out))


def port(value: int, flag: str = "--port") -> int:
    if not 1 <= value <= 65535:
        raise InvalidInput(N_("%(flag)s %(value)s is not a port (1–65535)"), flag=flag,
                           value=value)
    return value


def outbox_id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(N_("%(value)s is not an outbox message's ID (a whole number from "
                              "1, see `tindak outbox list`)"), value=value)
    return value


def text(value: str | None, flag: str, max_len: int) -> str | None:
    if value is not None and len(value) > max_len:
        raise InvalidInput(N_("%(flag)s is %(length)s characters long; at most %(max)s are "
                              "accepted"), flag=flag, length=len(value), max=max_len)
    return value
