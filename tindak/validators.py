"""How a value a person typed is judged: dates, email addresses, refs and codes, spreadsheet
cells. One home, so the import, the planner's forms, the public's forms and the command line
accept and refuse the same values, in the same words.

| value | here |
|---|---|
| a date as planners type it (YYYY-MM-DD or DD/MM/YYYY, never MM/DD) | `parse_date`, `parse_day` |
| the years a date may fall in | `YEARS` |
| an email address (one pattern, lower case) | `EMAIL`, `is_email` |
| a ref or a unit code: its longest | `REF_MAX`, `CODE_MAX` |
| a cell a spreadsheet would run as a formula | `FORMULA_START` |
| a value quoted in an error: short, one line | `short` |
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from tindak.errors import N_, InvalidInput, Msg

YEARS = (2000, 2100)  # of a forum or a deadline
REF_MAX = 100
CODE_MAX = 64
EMAIL_MAX = 254  # RFC 5321's longest path
# What a spreadsheet runs as a formula (OWASP's list); a trimmed cell never starts with the
# last two, so only exports, which write text as it is, meet them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                   r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
# A time of day after the date is what a spreadsheet saving a date cell as text adds.
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})([ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
ID_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_day_cache: dict[str, date | Msg] = {}


def short(value: Any, n: int = 40) -> str:
    """A value quoted in an error: shortened, control characters shown as escapes (an error
    stays one line, and carries no terminal escapes)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= n else text[: n - 1] + "…"


def is_email(value: str) -> bool:
    """Whether a trimmed, lower-cased value is an email address."""
    return len(value) <= EMAIL_MAX and EMAIL.match(value) is not None


def parse_day(value: Any) -> date | Msg:
    """A date from an Excel date cell, YYYY-MM-DD or DD/MM/YYYY; else the reason it is not."""
    if isinstance(value, date):
        day = value
    else:
        hit = _day_cache.get(value)
        if hit is not None:
            return hit
        m = ISO_DATE.match(value)
        parts = (m.group(1), m.group(2), m.group(3)) if m else None
        if parts is None and (m := ID_DATE.match(value)):
            parts = (m.group(3), m.group(2), m.group(1))
        if parts is None:
            return Msg(N_("'%(value)s' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
                       value=short(value))
        y, mo, d = (int(x) for x in parts)
        try:
            day = date(y, mo, d)
        except ValueError:
            if ID_DATE.match(value) and mo > 12 >= d:
                return Msg(N_("'%(value)s' is not a real date (dates are DD/MM/YYYY: day "
                              "first, then month)"), value=short(value))
            return Msg(N_("'%(value)s' is not a real date"), value=short(value))
        if len(_day_cache) < 100_000:
            _day_cache[value] = day
    if not YEARS[0] <= day.year <= YEARS[1]:
        return Msg(N_("%(date)s is out of range (years %(first)s–%(last)s)"),
                   date=day.isoformat(), first=YEARS[0], last=YEARS[1])
    return day


def parse_date(value: str) -> date:
    """YYYY-MM-DD or DD/MM/YYYY (the Indonesian order, never MM/DD), as typed in a form or
    an option: no time of day, any year (the caller bounds it)."""
    text = (value or "").strip()
    m = ISO_DATE.match(text)
    parts = (m.group(1), m.group(2), m.group(3)) if m and m.group(4) is None else None
    if parts is None and (m := ID_DATE.match(text)):
        parts = (m.group(3), m.group(2), m.group(1))
    if parts is not None:
        try:
            return date(*(int(x) for x in parts))
        except ValueError:
            pass
    raise InvalidInput(N_("'%(value)s' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
                       value=value)
