"""Checking each row on its own (no database): its cells cleaned and refused where a
spreadsheet would run them, each field parsed into a `UnitIn`, `PersonIn` or `RecIn`. A field
is None when its cell was empty or wrong (and reported), never a guess."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models import CATEGORIES, Role
from tindak.calendar import HK_RULE
from tindak.errors import N_, Msg
from tindak.importer.problems import At, Problems
from tindak.importer.readers import Source
from tindak.itemrules import MAX_HK, PRIORITIES, PRIORITY_ALIASES, TEXT_MAX, choice_key
from tindak.settings import TIMEZONES
from tindak.validators import CODE_MAX, FORMULA_START, REF_MAX, is_email, parse_day, short

MAX_CELL = TEXT_MAX  # a recommendation's longest text, and so any cell's
ROLES = tuple(r.value for r in Role)
ROLE_ALIASES = {"perencana": "planner", "pic": "owner", "penanggung_jawab": "owner",
                "pimpinan": "leader"}
TZ_ALIASES = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD: Any = object()  # a cell already reported by the generic checks


@dataclass(slots=True)
class UnitIn:
    at: At
    code: str | None
    name: str | None
    parent: str | None | object  # ABSENT: no such column, keep what is stored
    timezone: str | None  # None: not given


@dataclass(slots=True)
class PersonIn:
    at: At
    email: str | None
    name: str | None
    unit: str | None
    roles: str | None
    supervisor: str | None | object


@dataclass(slots=True)
class RecIn:
    at: At
    ref: str | None
    forum: str | None
    forum_date: date | None
    unit: str | None
    text: str | None
    category: str | None
    owner: str | None
    deadline: date | None  # None when given as +N hk
    hk: int | None
    rule: str | None
    priority: str | None
    place: str | None
    minutes_ref: str | None


ABSENT: Any = object()


@dataclass
class Parsed:
    """The units and people of the files (few: kept whole) and the kinds of file read."""

    units: dict[str, UnitIn] = field(default_factory=dict)
    people: dict[str, PersonIn] = field(default_factory=dict)
    # Rows without a usable key, or repeating one: checked, never planned.
    others: list[UnitIn | PersonIn] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    # Participants to invite: (email, forum title, forum date); nothing else is kept.
    participants: list[tuple[str, str, date]] = field(default_factory=list)

    def all_units(self) -> list[UnitIn]:
        return [*self.units.values(), *(o for o in self.others if isinstance(o, UnitIn))]

    def all_people(self) -> list[PersonIn]:
        return [*self.people.values(), *(o for o in self.others if isinstance(o, PersonIn))]


def _cells(sheet: Source, at: At, cells: list[Any], p: Problems) -> dict[str, Any]:
    """Column → cleaned value ('' when empty, a date for Excel date cells, _BAD if refused)."""
    width = len(sheet.columns)
    if sheet.sheet is None and len(cells) <= width:  # a CSV row: text cells only
        values = [c.strip() for c in cells]
        joined = "\n".join(values)
        # The usual row: nothing that the checks below would refuse (a cell starting like a
        # formula, or with NUL, or too long, sends the row the long way, which says why).
        if not ("\x00" in joined or joined.startswith(FORMULA_START) or "\n=" in joined
                or "\n+" in joined or "\n-" in joined or "\n@" in joined
                or (len(joined) > MAX_CELL and max(map(len, values)) > MAX_CELL)):
            out: dict[str, Any] = dict(zip(sheet.columns, values, strict=False))
            for col in sheet.columns[len(cells):]:
                out[col] = ""
            return out
    if len(cells) > width:
        extra = [c for c in cells[width:] if c is not None and str(c).strip()]
        if extra:
            p.add(at, "row", Msg(N_("has %(cells)s or more cells but the header names "
                                    "%(width)s columns (a separator inside a cell must be "
                                    "quoted)"), cells=width + len(extra), width=width),
                  sheet.kind)
    out = {}
    for col, raw in zip(sheet.columns, cells, strict=False):
        if raw is None:
            out[col] = ""
            continue
        if isinstance(raw, date):
            out[col] = raw
            continue
        value = raw.strip()
        if "\x00" in value:  # no database keeps it faithfully (PostgreSQL refuses it)
            p.add(at, col, Msg(N_("contains a NUL character (\\x00); remove it")), sheet.kind)
            value = _BAD
        elif len(value) > MAX_CELL:
            p.add(at, col, too_long(len(value), MAX_CELL), sheet.kind)
            value = _BAD
        elif value.startswith(FORMULA_START) and not (col == "deadline" and HK_RULE.match(value)):
            fix = (Msg(N_("leave the cell empty instead")) if value.strip("-") == "" else
                   Msg(N_("remove that first character")))
            p.add(at, col, Msg(N_("starts with '%(first)s', which spreadsheets run as a formula "
                                  "('%(value)s'); %(fix)s"),
                               first=value[0], value=short(value, 30), fix=fix), sheet.kind)
            value = _BAD
        out[col] = value
    for col in sheet.columns[len(cells):]:
        out[col] = ""
    return out


class _Row:
    """The cells of one row and the checks shared by every kind."""

    __slots__ = ("at", "kind", "v", "p")

    def __init__(self, at: At, kind: str, values: dict[str, Any], p: Problems) -> None:
        self.at, self.kind, self.v, self.p = at, kind, values, p

    def bad(self, col: str, reason: Msg) -> None:
        self.p.add(self.at, col, reason, self.kind)

    def has(self, col: str) -> bool:
        return col in self.v

    def text(self, col: str, *, required: bool = False, max_len: int | None = None,
             ident: bool = False) -> str | None:
        value = self.v.get(col, "")
        if value is _BAD:
            return None
        if isinstance(value, date):
            value = value.isoformat()
        if not value:
            if required:
                self.bad(col, EMPTY)
            return None
        if max_len is not None and len(value) > max_len:
            self.bad(col, too_long(len(value), max_len))
            return None
        if ident and CONTROL.search(value):
            self.bad(col, Msg(N_("must not contain line breaks or tabs")))
            return None
        if ident and not value.isprintable():  # 'DIN\u200bSOS' would look like DINSOS
            self.bad(col, Msg(N_("'%(value)s' contains an invisible character; type it again"),
                              value=short(value)))
            return None
        return value

    def email(self, col: str, *, required: bool = False) -> str | None:
        value = self.text(col, required=required, max_len=254)
        if value is None:
            return None
        value = value.lower()
        if not is_email(value):
            self.bad(col, Msg(N_("'%(value)s' is not an email address"), value=short(value)))
            return None
        return value

    def day(self, col: str) -> date | None:
        value = self.v.get(col, "")
        if value is _BAD:
            return None
        if value == "":
            self.bad(col, EMPTY)
            return None
        result = parse_day(value)
        if isinstance(result, Msg):
            self.bad(col, result)
            return None
        return result

    def choice(self, col: str, allowed: tuple[str, ...], aliases: dict[str, str],
               what: Msg) -> str | None:
        value = self.text(col)
        if value is None:
            return None
        key = _choice_keys.get(value)
        if key is None:  # a handful of spellings over a million rows: normalise each once
            key = choice_key(value)
            if len(_choice_keys) < 10_000:
                _choice_keys[value] = key
        key = aliases.get(key, key)
        if key not in allowed:
            self.bad(col, Msg(N_("unknown %(what)s '%(value)s' (one of: %(allowed)s)"),
                              what=what, value=short(value), allowed=", ".join(allowed)))
            return None
        return key


EMPTY = Msg(N_("is empty"))
# The words of `choice`'s "unknown %(what)s", as the reader's language has them.
CATEGORY, PRIORITY = Msg(N_("category")), Msg(N_("priority"))


def too_long(length: int, most: int) -> Msg:
    return Msg(N_("is %(length)s characters long; at most %(max)s are accepted"),
               length=length, max=most)


_choice_keys: dict[str, str] = {}


def _roles(row: _Row) -> str | None:
    value = row.text("role")
    if value is None:
        return None
    roles: list[str] = []
    for part in value.split(";"):
        key = re.sub(r"[\s-]+", "_", part.strip().lower())
        if not key:
            continue
        key = ROLE_ALIASES.get(key, key)
        if key not in ROLES:
            row.bad("role", Msg(N_("unknown role '%(value)s' (one or more of: %(allowed)s, "
                                   "joined with ';')"),
                                value=short(part.strip()), allowed=", ".join(ROLES)))
            return None
        roles.append(key)
    return ";".join(r for r in ROLES if r in roles) or None


def row_word(label: str, row: int, at: At, order: int = 0) -> Msg | str:
    """Where an earlier row is, from an error at `at`: 'row 2' in the same file, else FILE:2."""
    return Msg(N_("row %(row)s"), row=row) if label == at.label else str(At(label, row, order))


def _dup(row: _Row, col: str, key: str, first: At, what: Msg) -> None:
    where = row_word(first.label, first.row, row.at, first.order)
    row.bad(col, Msg(N_("%(what)s '%(value)s' is given twice (also at %(where)s)"),
                     what=what, value=short(key), where=where))


def parse_unit(row: _Row, out: Parsed) -> None:
    code = row.text("code", required=True, max_len=CODE_MAX, ident=True)
    name = row.text("name", required=True, max_len=300)
    parent: Any = ABSENT
    if row.has("parent"):
        parent = row.text("parent", max_len=CODE_MAX, ident=True)
        if parent is not None and parent == code:
            row.bad("parent", Msg(N_("a unit cannot be its own parent")))
            parent = None  # reported once, not again as a cycle
    tz = row.text("timezone")
    if tz is not None:
        tz = {t.lower(): t for t in TIMEZONES}.get(tz.lower()) or TZ_ALIASES.get(tz.lower())
        if tz is None:
            row.bad("timezone", Msg(N_("unknown timezone '%(value)s' (one of: %(allowed)s, or "
                                       "WIB, WITA, WIT)"),
                                    value=short(row.v["timezone"]),
                                    allowed=", ".join(TIMEZONES)))
    _keep(row, "code", code, UnitIn(row.at, code, name, parent, tz), out.units, out.others,
          Msg(N_("unit code")))


def parse_person(row: _Row, out: Parsed) -> None:
    email = row.email("email", required=True)
    name = row.text("name", required=True, max_len=200)
    unit = row.text("unit", required=True, max_len=CODE_MAX, ident=True)
    roles = _roles(row)
    supervisor: Any = ABSENT
    if row.has("supervisor"):
        supervisor = row.email("supervisor")
        if supervisor is not None and supervisor == email:
            row.bad("supervisor", Msg(N_("a person cannot be their own supervisor")))
            supervisor = None  # reported once, not again as a cycle
    _keep(row, "email", email, PersonIn(row.at, email, name, unit, roles, supervisor),
          out.people, out.others, Msg(N_("email")))


def _keep(row: _Row, col: str, key: str | None, item: Any, kept: dict[str, Any],
          others: list[Any], what: Msg) -> None:
    """A unit or person under its key; without a key, or repeating one, among the others
    (checked, never planned)."""
    if key is not None and key in kept:
        _dup(row, col, key, kept[key].at, what)
    if key is None or key in kept:
        others.append(item)
    else:
        kept[key] = item


def parse_rec(row: _Row) -> RecIn:
    ref = row.text("ref", required=True, max_len=REF_MAX, ident=True)
    forum = row.text("forum", required=True, max_len=500)
    held = row.day("forum_date")
    unit = row.text("unit", max_len=CODE_MAX, ident=True)
    text = row.text("text", required=True)
    category = row.choice("category", CATEGORIES, {}, CATEGORY)
    owner = row.email("owner", required=True)
    priority = row.choice("priority", PRIORITIES, PRIORITY_ALIASES, PRIORITY)
    place = row.text("place", max_len=300)
    minutes = row.text("minutes_ref", max_len=500)
    deadline, hk, rule = None, None, None
    raw = row.v.get("deadline", "")
    if isinstance(raw, str) and (m := HK_RULE.match(raw)):
        hk = int(m.group(1))
        rule = raw if len(raw) <= 20 else f"+{hk} hk"
        if hk > MAX_HK:
            row.bad("deadline", Msg(N_("'%(value)s' is more than a year of working days (at "
                                       "most +%(max)s hk)"), value=short(raw), max=MAX_HK))
            hk = None
    elif raw is not _BAD:
        deadline = row.day("deadline")
        if deadline is not None and held is not None and deadline < held:
            row.bad("deadline", Msg(N_("%(deadline)s is before the forum date %(forum_date)s"),
                                    deadline=deadline.isoformat(), forum_date=held.isoformat()))
    return RecIn(row.at, ref, forum, held, unit, text, category, owner, deadline, hk, rule,
                 priority, place, minutes)


def read_rows(src: Source, p: Problems) -> Iterator[_Row]:
    """The rows of a file or sheet, each with its cells cleaned (and the cells' problems)."""
    for num, cells in src.rows():
        at = At(src.label, num, src.order)
        yield _Row(at, src.kind, _cells(src, at, cells, p), p)
