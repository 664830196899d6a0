"""The rules a recommendation keeps however it is registered: the import (CLI and web upload)
and the planner's add and edit forms call these, so no way in accepts what another refuses.

| rule | here |
|---|---|
| the owner belongs to the item's unit, a unit above it or a unit below it | `owner_fits` |
| a `+N hk` deadline is at most a year of working days | `MAX_HK` |
| dates fall in the years 2000–2100 | `YEARS` (of `tindak.validators`), `year_ok` |
| the deadline is not before the forum | `deadline_ok` |
| category and priority codes (case, spaces, Indonesian priority names forgiven) | `choice_key` |
| the text is at most `TEXT_MAX` characters | `TEXT_MAX` |
| a cell may not start like a spreadsheet formula | `FORMULA_START` (of `tindak.validators`) |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from datetime import date
from typing import TypeVar

from models import CATEGORIES
from tindak.calendar import MAX_HK  # noqa: F401 - one bound, beside the +N hk parser
from tindak.validators import FORMULA_START, YEARS  # noqa: F401 - their one home

K = TypeVar("K", bound=Hashable)

TEXT_MAX = 10_000
PRIORITIES = ("high", "normal", "low")
PRIORITY_ALIASES = {"tinggi": "high", "sedang": "normal", "rendah": "low"}


def lineage(unit: K, parent: Mapping[K, K | None]) -> set[K]:
    """The unit and every unit above it."""
    seen: list[K] = []
    node: K | None = unit
    while node is not None and node not in seen:
        seen.append(node)
        node = parent.get(node)
    return set(seen)


def owner_fits(owner_unit: K, item_unit: K, line: Callable[[K], set[K]]) -> bool:
    """Whether a person of `owner_unit` may own an item of `item_unit`: the same unit, one
    above it or one below it (`line(u)`: u and the units above it, e.g. `lineage`)."""
    return owner_unit in line(item_unit) or item_unit in line(owner_unit)


def year_ok(day: date) -> bool:
    return YEARS[0] <= day.year <= YEARS[1]


def deadline_ok(deadline: date, held_on: date) -> bool:
    return deadline >= held_on


def choice_key(value: str, aliases: Mapping[str, str] = {}) -> str:
    """'Jangka Waktu', 'jangka-waktu' → 'jangka_waktu'; an alias to its code."""
    key = re.sub(r"[\s-]+", "_", value.strip().lower())
    return aliases.get(key, key)


def category_code(value: str) -> str | None:
    key = choice_key(value)
    return key if key in CATEGORIES else None


def priority_code(value: str) -> str | None:
    key = choice_key(value, PRIORITY_ALIASES)
    return key if key in PRIORITIES else None
