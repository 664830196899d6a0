"""The import (SPEC §3): CSV files and XLSX workbooks of units, people and recommendations.

All or nothing. Reading the files and checking each row are pure; the checks that need the
database (known codes and emails, cycles, the working-day calendar) run on rows loaded in
bulk inside the write transaction, and the write is a handful of bulk Core statements.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from models import (
    CATEGORIES,
    AuditRecord,
    Forum,
    Person,
    Recommendation,
    Role,
    Status,
    Unit,
    session,
    utcnow,
    write_session,
)
from tindak.calendar import HK_RULE, WorkCalendar, load_calendar
from tindak.errors import Forbidden, ImportFailed
from tindak.settings import TIMEZONES, get_settings

KINDS = ("units", "people", "recommendations")
# Every column a file of each kind may have, in the order errors are listed.
COLUMNS: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "parent", "timezone"),
    "people": ("email", "name", "unit", "role", "supervisor"),
    "recommendations": (
        "ref", "forum", "forum_date", "unit", "text", "category", "owner", "deadline",
        "priority", "place", "minutes_ref",
    ),
}
# Columns without a sensible default; the others may be left out of a file altogether.
REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("code", "name"),
    "people": ("email", "name", "unit"),
    "recommendations": ("ref", "forum", "forum_date", "text", "owner", "deadline"),
}
HEADER_ALIASES = {"roles": "role"}
MAX_CELL = 10_000
FORMULA_START = ("=", "+", "-", "@")
ROLES = tuple(r.value for r in Role)
ROLE_ALIASES = {"perencana": "planner", "pic": "owner", "penanggung_jawab": "owner",
                "pimpinan": "leader"}
PRIORITIES = ("high", "normal", "low")
PRIORITY_ALIASES = {"tinggi": "high", "sedang": "normal", "rendah": "low"}
TZ_ALIASES = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}
EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                   r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
ID_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
YEARS = (2000, 2100)
MAX_HK = 260  # a year of working days; more is surely a typo
CHUNK = 900  # below SQLite's bound-parameter limit on any version
BULK_READ = 5_000  # above this many refs, read the whole table rather than by chunks
_BAD: Any = object()  # a cell already reported by the generic checks


class At(NamedTuple):
    """Where a row is, as the user sees it."""

    label: str  # FILE, or FILE[sheet] for a workbook
    row: int  # header = 1
    order: int  # position of the sheet among all those read, to list errors in order

    def __str__(self) -> str:
        return f"{self.label}:{self.row}"


class Problems:
    """Every error found, listed in file order as `FILE:ROW: column: reason`."""

    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int, int, int], str]] = []

    def add(self, at: At, column: str, reason: str, kind: str = "") -> None:
        cols = COLUMNS.get(kind, ())
        pos = cols.index(column) if column in cols else -1
        key = (at.order, at.row, pos, len(self._items))
        self._items.append((key, f"{at}: {column}: {reason}"))

    def file(self, label: str, order: int, reason: str) -> None:
        self._items.append(((order, 0, -1, len(self._items)), f"{label}: {reason}"))

    def __bool__(self) -> bool:
        return bool(self._items)

    def lines(self) -> list[str]:
        return [text for _, text in sorted(self._items)]


@dataclass
class Sheet:
    """The rows of one CSV file or one workbook sheet, with its header normalised."""

    label: str
    kind: str
    order: int
    columns: list[str]
    rows: list[tuple[int, list[Any]]]


# --- reading files ------------------------------------------------------------------------


def _norm_header(value: Any) -> str:
    name = re.sub(r"[\s-]+", "_", str(value if value is not None else "").strip().lower())
    return HEADER_ALIASES.get(name, name)


def _guess_kind(columns: list[str]) -> str | None:
    if "ref" in columns:
        return "recommendations"
    if "email" in columns:
        return "people"
    if "code" in columns:
        return "units"
    return None


def _short(value: Any, n: int = 40) -> str:
    """A cell quoted in an error: shortened, control characters shown as escapes (an error
    stays one line, and carries no terminal escapes)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= n else text[: n - 1] + "…"


def _header(cells: list[Any], label: str, order: int, kind: str | None,
            p: Problems) -> tuple[str, list[str]] | None:
    """The kind and normalised column names, or None (with one error naming the file)."""
    names = [_norm_header(c) for c in cells]
    while names and not names[-1]:
        names.pop()
    at = At(label, 1, order)
    kind = kind or _guess_kind(names)
    if kind is None:
        p.add(at, "header", "cannot tell what this file holds: the first line must name the "
              "columns, e.g. " + "; ".join(f"{k}: {','.join(COLUMNS[k][:5])}…" for k in KINDS))
        return None
    known = COLUMNS[kind]
    bits = []
    unnamed = [str(i + 1) for i, n in enumerate(names) if not n]
    if unnamed:
        bits.append(f"column(s) {', '.join(unnamed)} have no name")
    unknown = [n for n in names if n and n not in known]
    if unknown:
        bits.append("unknown column(s) " + ", ".join(f"'{_short(n, 30)}'" for n in unknown))
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        bits.append("repeated column(s) " + ", ".join(f"'{_short(n, 30)}'" for n in dupes))
    missing = [c for c in REQUIRED[kind] if c not in names]
    if missing:
        bits.append("missing column(s) " + ", ".join(f"'{c}'" for c in missing))
    if bits:
        p.add(at, "header", "; ".join(bits) + f" (a {kind} file has: {', '.join(known)})")
        return None
    return kind, names


def _sniff(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, label: str, order: int, p: Problems) -> Sheet | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        p.file(label, order, f"cannot read the file: {exc.strerror or exc}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        p.add(At(label, line, order), "file",
              f"not UTF-8 text (byte 0x{data[exc.start]:02x}); in Excel choose Save As → "
              "'CSV UTF-8 (Comma delimited) (*.csv)' and import that file")
        return None
    if not text.strip():
        p.file(label, order, "the file is empty")
        return None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff(text.split("\n", 1)[0]))
    rows: list[tuple[int, list[Any]]] = []
    head: tuple[str, list[str]] | None = None
    line = 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if start == 1:
                head = _header(cells, label, order, None, p)
                if head is None:
                    return None
            elif any(c.strip() for c in cells):
                rows.append((start, cells))
    except csv.Error as exc:
        p.add(At(label, line + 1, order), "row",
              f"unreadable CSV ({exc}): a cell is far too long or a quote \" is not closed")
        return None
    if head is None:
        p.add(At(label, 1, order), "header", "the first line must name the columns")
        return None
    return Sheet(label, head[0], order, head[1], rows)


def _xlsx_value(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return str(getattr(value, "text", value))  # array formulas and the like: their text


# What a damaged workbook raises: bad zip, missing part, bad XML (lxml's and ElementTree's
# errors are SyntaxErrors), a corrupt deflate stream.
XLSX_DAMAGE = (OSError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError, zlib.error)


def read_xlsx(path: Path, label: str, order: int, p: Problems) -> list[Sheet]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # data_only=False: a formula comes back as its text, so it is refused, not evaluated.
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except FileNotFoundError:
        p.file(label, order, "no such file")
        return []
    except (*XLSX_DAMAGE, InvalidFileException) as exc:
        p.file(label, order, f"not a readable .xlsx workbook ({_short(exc, 80)})")
        return []
    sheets: list[Sheet] = []
    try:
        sheets = _read_sheets(wb, label, order, p)
    # Rows are parsed lazily: a damaged part (bad XML, a corrupt deflate stream) shows here.
    except (*XLSX_DAMAGE, InvalidFileException) as exc:
        p.file(label, order, f"not a readable .xlsx workbook ({_short(exc, 80)})")
        sheets = []
    finally:
        wb.close()
    return sheets


def _read_sheets(wb: Any, label: str, order: int, p: Problems) -> list[Sheet]:
    sheets: list[Sheet] = []
    found = {ws.title.strip().lower(): ws for ws in wb.worksheets}
    wanted = [k for k in KINDS if k in found]
    if not wanted:
        p.file(label, order, "no sheet named units, people or recommendations (found: "
               + ", ".join(ws.title for ws in wb.worksheets) + ")")
    for i, kind in enumerate(wanted):
        ws = found[kind]
        sub = f"{label}[{ws.title}]"
        rows: list[tuple[int, list[Any]]] = []
        head = None
        for num, raw in enumerate(ws.iter_rows(values_only=True), 1):
            cells = [_xlsx_value(v) for v in raw]
            if num == 1:
                head = _header(cells, sub, order + i, kind, p)
                if head is None:
                    break
            elif any(c is not None and str(c).strip() for c in cells):
                rows.append((num, cells))
        if head is not None:  # a sheet left wholly empty is simply skipped
            sheets.append(Sheet(sub, kind, order + i, head[1], rows))
    return sheets


def read_sources(paths: Iterable[Path | str], p: Problems) -> list[Sheet]:
    """Every sheet of every file; problems with the files themselves go to `p`."""
    sheets: list[Sheet] = []
    for i, given in enumerate(paths):
        label, order, path = str(given), i * 100, Path(given)
        suffix = path.suffix.lower()
        if not path.exists():
            p.file(label, order, "no such file")
        elif path.is_dir():
            p.file(label, order, "is a folder, not a file")
        elif suffix in (".csv", ".txt", ".tsv"):
            sheet = read_csv(path, label, order, p)
            if sheet is not None:
                sheets.append(sheet)
        elif suffix in (".xlsx", ".xlsm"):
            sheets.extend(read_xlsx(path, label, order, p))
        elif suffix in (".xls", ".ods"):
            p.file(label, order, f"{suffix} files are not read: save it as Excel Workbook "
                   "(.xlsx) or as CSV UTF-8 (.csv)")
        else:
            p.file(label, order, "not a .csv or .xlsx file")
    return sheets


# --- checking each row (no database) ---------------------------------------------------------


# A field is None when its cell was empty or wrong (and reported); rows with any problem
# are still checked against the others so that every error is listed, never written.


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
    units: dict[str, UnitIn] = field(default_factory=dict)
    people: dict[str, PersonIn] = field(default_factory=dict)
    recs: dict[str, RecIn] = field(default_factory=dict)
    # Rows without a usable key, or repeating one: checked, never planned.
    others: list[UnitIn | PersonIn | RecIn] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def all_units(self) -> list[UnitIn]:
        return [*self.units.values(), *(o for o in self.others if isinstance(o, UnitIn))]

    def all_people(self) -> list[PersonIn]:
        return [*self.people.values(), *(o for o in self.others if isinstance(o, PersonIn))]

    def all_recs(self) -> list[RecIn]:
        return [*self.recs.values(), *(o for o in self.others if isinstance(o, RecIn))]


def _cells(sheet: Sheet, at: At, cells: list[Any], p: Problems) -> dict[str, Any]:
    """Column → cleaned value ('' when empty, a date for Excel date cells, _BAD if refused)."""
    width = len(sheet.columns)
    if len(cells) > width:
        extra = [c for c in cells[width:] if c is not None and str(c).strip()]
        if extra:
            p.add(at, "row", f"has {width + len(extra)} or more cells but the header names "
                  f"{width} columns (a separator inside a cell must be quoted)", sheet.kind)
    out: dict[str, Any] = {}
    for col, raw in zip(sheet.columns, cells, strict=False):
        if raw is None:
            out[col] = ""
            continue
        if isinstance(raw, date):
            out[col] = raw
            continue
        value = raw.strip()
        if "\x00" in value:  # no database keeps it faithfully (PostgreSQL refuses it)
            p.add(at, col, "contains a NUL character (\\x00); remove it", sheet.kind)
            value = _BAD
        elif len(value) > MAX_CELL:
            p.add(at, col, f"is {len(value)} characters long; at most {MAX_CELL} are accepted",
                  sheet.kind)
            value = _BAD
        elif value.startswith(FORMULA_START) and not (col == "deadline" and HK_RULE.match(value)):
            fix = ("leave the cell empty instead" if value.strip("-") == "" else
                   "remove that first character")
            p.add(at, col, f"starts with '{value[0]}', which spreadsheets run as a formula "
                  f"('{_short(value, 30)}'); {fix}", sheet.kind)
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

    def bad(self, col: str, reason: str) -> None:
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
                self.bad(col, "is empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.bad(col, f"is {len(value)} characters long; at most {max_len} are accepted")
            return None
        if ident and CONTROL.search(value):
            self.bad(col, "must not contain line breaks or tabs")
            return None
        if ident and not value.isprintable():  # 'DIN\u200bSOS' would look like DINSOS
            self.bad(col, f"'{_short(value)}' contains an invisible character; type it again")
            return None
        return value

    def email(self, col: str, *, required: bool = False) -> str | None:
        value = self.text(col, required=required, max_len=254)
        if value is None:
            return None
        value = value.lower()
        if not EMAIL.match(value):
            self.bad(col, f"'{_short(value)}' is not an email address")
            return None
        return value

    def day(self, col: str) -> date | None:
        value = self.v.get(col, "")
        if value is _BAD:
            return None
        if value == "":
            self.bad(col, "is empty")
            return None
        result = parse_day(value)
        if isinstance(result, str):
            self.bad(col, result)
            return None
        return result

    def choice(self, col: str, allowed: tuple[str, ...], aliases: dict[str, str],
               what: str) -> str | None:
        value = self.text(col)
        if value is None:
            return None
        key = re.sub(r"[\s-]+", "_", value.lower())
        key = aliases.get(key, key)
        if key not in allowed:
            self.bad(col, f"unknown {what} '{_short(value)}' (one of: {', '.join(allowed)})")
            return None
        return key


_day_cache: dict[str, date | str] = {}


def parse_day(value: Any) -> date | str:
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
            return f"'{_short(value)}' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"
        y, mo, d = (int(x) for x in parts)
        try:
            day = date(y, mo, d)
        except ValueError:
            reason = f"'{_short(value)}' is not a real date"
            if ID_DATE.match(value) and mo > 12 >= d:
                reason += " (dates are DD/MM/YYYY: day first, then month)"
            return reason
        if len(_day_cache) < 100_000:
            _day_cache[value] = day
    if not YEARS[0] <= day.year <= YEARS[1]:
        return f"{day.isoformat()} is out of range (years {YEARS[0]}–{YEARS[1]})"
    return day


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
            row.bad("role", f"unknown role '{_short(part.strip())}' (one or more of: "
                    f"{', '.join(ROLES)}, joined with ';')")
            return None
        roles.append(key)
    return ";".join(r for r in ROLES if r in roles) or None


def _dup(row: _Row, col: str, key: str, first: At, what: str) -> None:
    where = f"row {first.row}" if first.label == row.at.label else f"{first}"
    row.bad(col, f"{what} '{_short(key)}' is given twice (also at {where})")


def parse_sheets(sheets: list[Sheet], p: Problems) -> Parsed:
    """Typed rows of every kind, with every row-level problem reported to `p`."""
    out = Parsed()
    for sheet in sheets:
        out.kinds.add(sheet.kind)
        parse = {"units": _parse_unit, "people": _parse_person,
                 "recommendations": _parse_rec}[sheet.kind]
        for num, cells in sheet.rows:
            at = At(sheet.label, num, sheet.order)
            parse(_Row(at, sheet.kind, _cells(sheet, at, cells, p), p), out)
    return out


def _parse_unit(row: _Row, out: Parsed) -> None:
    code = row.text("code", required=True, max_len=64, ident=True)
    name = row.text("name", required=True, max_len=300)
    parent: Any = ABSENT
    if row.has("parent"):
        parent = row.text("parent", max_len=64, ident=True)
        if parent is not None and parent == code:
            row.bad("parent", "a unit cannot be its own parent")
            parent = None  # reported once, not again as a cycle
    tz = row.text("timezone")
    if tz is not None:
        tz = {t.lower(): t for t in TIMEZONES}.get(tz.lower()) or TZ_ALIASES.get(tz.lower())
        if tz is None:
            row.bad("timezone", f"unknown timezone '{_short(row.v['timezone'])}' (one of: "
                    f"{', '.join(TIMEZONES)}, or WIB, WITA, WIT)")
    unit = UnitIn(row.at, code, name, parent, tz)
    if code is not None and code in out.units:
        _dup(row, "code", code, out.units[code].at, "unit code")
    if code is None or code in out.units:
        out.others.append(unit)
    else:
        out.units[code] = unit


def _parse_person(row: _Row, out: Parsed) -> None:
    email = row.email("email", required=True)
    name = row.text("name", required=True, max_len=200)
    unit = row.text("unit", required=True, max_len=64, ident=True)
    roles = _roles(row)
    supervisor: Any = ABSENT
    if row.has("supervisor"):
        supervisor = row.email("supervisor")
        if supervisor is not None and supervisor == email:
            row.bad("supervisor", "a person cannot be their own supervisor")
            supervisor = None  # reported once, not again as a cycle
    person = PersonIn(row.at, email, name, unit, roles, supervisor)
    if email is not None and email in out.people:
        _dup(row, "email", email, out.people[email].at, "email")
    if email is None or email in out.people:
        out.others.append(person)
    else:
        out.people[email] = person


def _parse_rec(row: _Row, out: Parsed) -> None:
    ref = row.text("ref", required=True, max_len=100, ident=True)
    forum = row.text("forum", required=True, max_len=500)
    held = row.day("forum_date")
    unit = row.text("unit", max_len=64, ident=True)
    text = row.text("text", required=True)
    category = row.choice("category", CATEGORIES, {}, "category")
    owner = row.email("owner", required=True)
    priority = row.choice("priority", PRIORITIES, PRIORITY_ALIASES, "priority")
    place = row.text("place", max_len=300)
    minutes = row.text("minutes_ref", max_len=500)
    deadline, hk, rule = None, None, None
    raw = row.v.get("deadline", "")
    if isinstance(raw, str) and (m := HK_RULE.match(raw)):
        hk = int(m.group(1))
        rule = raw if len(raw) <= 20 else f"+{hk} hk"
        if hk > MAX_HK:
            row.bad("deadline", f"'{_short(raw)}' is more than a year of working days (at most "
                    f"+{MAX_HK} hk)")
            hk = None
    elif raw is not _BAD:
        deadline = row.day("deadline")
        if deadline is not None and held is not None and deadline < held:
            row.bad("deadline", f"{deadline.isoformat()} is before the forum date "
                    f"{held.isoformat()}")
    rec = RecIn(row.at, ref, forum, held, unit, text, category, owner, deadline, hk, rule,
                priority, place, minutes)
    if ref is not None and ref in out.recs:
        _dup(row, "ref", ref, out.recs[ref].at, "ref")
    if ref is None or ref in out.recs:
        out.others.append(rec)
    else:
        out.recs[ref] = rec


# --- checking against the database, planning the write --------------------------------------


@dataclass
class Stored:
    """What the database holds, loaded in bulk: natural keys → ids and registered fields."""

    units: dict[str, tuple[int, str, int | None, str]]  # code → id, name, parent id, tz
    unit_code: dict[int, str]
    people: dict[str, tuple[int, str, int, str, int | None]]  # email → id, name, unit, roles, sup
    person_email: dict[int, str]
    forums: dict[tuple[str, date], tuple[int, int, str | None, str | None]]
    forum_key: dict[int, tuple[str, date]]
    recs: dict[str, tuple[Any, ...]]  # ref → id, forum id, unit id, owner id, text, category,
    #                                     priority, deadline, deadline rule

    @classmethod
    def load(cls, s: Session, refs: Iterable[str]) -> Stored:
        conn = s.connection()
        u = Unit.__table__.c  # type: ignore[attr-defined]
        units = {r[1]: (r[0], r[2], r[3], r[4]) for r in conn.execute(
            sa.select(u.id, u.code, u.name, u.parent_id, u.timezone))}
        pc = Person.__table__.c  # type: ignore[attr-defined]
        people = {r[1]: (r[0], r[2], r[3], r[4], r[5]) for r in conn.execute(
            sa.select(pc.id, pc.email, pc.name, pc.unit_id, pc.roles, pc.supervisor_id))}
        fc = Forum.__table__.c  # type: ignore[attr-defined]
        forums = {(r[1], r[2]): (r[0], r[3], r[4], r[5]) for r in conn.execute(
            sa.select(fc.id, fc.title, fc.held_on, fc.unit_id, fc.place, fc.minutes_ref))}
        rc = Recommendation.__table__.c  # type: ignore[attr-defined]
        cols = (rc.id, rc.forum_id, rc.unit_id, rc.owner_id, rc.text, rc.category, rc.priority,
                rc.deadline, rc.deadline_rule, rc.ref)
        recs: dict[str, tuple[Any, ...]] = {}
        wanted = list(refs)
        if len(wanted) > BULK_READ:  # one scan beats many IN (…) look-ups
            keep = set(wanted)
            recs = {r[9]: tuple(r[:9]) for r in conn.execute(sa.select(*cols)) if r[9] in keep}
        else:
            for i in range(0, len(wanted), CHUNK):
                for r in conn.execute(sa.select(*cols).where(rc.ref.in_(wanted[i:i + CHUNK]))):
                    recs[r[9]] = tuple(r[:9])
        return cls(
            units=units, unit_code={v[0]: k for k, v in units.items()},
            people=people, person_email={v[0]: k for k, v in people.items()},
            forums=forums, forum_key={v[0]: k for k, v in forums.items()}, recs=recs,
        )


@dataclass
class Change:
    """One row to create or update, in natural keys; `changes` is what the audit records."""

    key: Any
    values: dict[str, Any]
    changes: dict[str, Any]
    created: bool
    row_id: int | None = None  # of an updated recommendation


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class Plan:
    units: list[Change] = field(default_factory=list)
    people: list[Change] = field(default_factory=list)
    forums: list[Change] = field(default_factory=list)
    recs: list[Change] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)


def _cycle(start: str, parent: dict[str, str | None], safe: set[str]) -> list[str] | None:
    """The cycle through `start` when following `parent` comes back to it; marks safe nodes."""
    path: list[str] = []
    seen: set[str] = set()
    node: str | None = start
    while node is not None and node not in safe:
        if node in seen:
            loop = path[path.index(node):]
            return loop if start in loop else None
        seen.add(node)
        path.append(node)
        node = parent.get(node)
    safe.update(path)
    return None


def _hint(value: str, known: Iterable[str]) -> str:
    low = value.lower()
    for k in known:
        if k.lower() == low:
            return f" (did you mean '{k}'?)"
    return ""


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [_plain(before.get(k)), _plain(v)] for k, v in after.items()
            if before.get(k) != v}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def plan_import(parsed: Parsed, db: Stored, cal: WorkCalendar, p: Problems) -> Plan:
    """Check the rows against each other and the database; decide what to create and update."""
    plan = Plan()
    _plan_units(parsed, db, p, plan)
    _plan_people(parsed, db, p, plan)
    _plan_recs(parsed, db, cal, p, plan)
    return plan


def _plan_units(parsed: Parsed, db: Stored, p: Problems, plan: Plan) -> None:
    known = set(db.units) | set(parsed.units)
    for u in parsed.all_units():
        if isinstance(u.parent, str) and u.parent not in known:
            p.add(u.at, "parent", f"unknown unit '{_short(u.parent)}'" + _hint(u.parent, known),
                  "units")
    parent = _unit_parents(parsed, db)
    safe: set[str] = set()
    for code, u in parsed.units.items():
        loop = _cycle(code, parent, safe)
        if loop:
            p.add(u.at, "parent", "the units' parents go round in a circle: "
                  + " → ".join([*loop, loop[0]]), "units")
    default_tz = get_settings().default_timezone
    counts = plan.counts.setdefault("units", Counts())
    for code, u in parsed.units.items():
        old = db.units.get(code)
        new = {"name": u.name, "parent": parent[code],
               "timezone": u.timezone or (old[3] if old else default_tz)}
        if old is None:
            counts.created += 1
            plan.units.append(Change(code, new, {k: v for k, v in new.items() if v is not None},
                                     True))
            continue
        before = {"name": old[1], "parent": db.unit_code.get(old[2]) if old[2] else None,
                  "timezone": old[3]}
        changes = _diff(before, new)
        if changes:
            counts.updated += 1
            plan.units.append(Change(code, new, changes, False))
        else:
            counts.unchanged += 1


def _unit_parents(parsed: Parsed, db: Stored) -> dict[str, str | None]:
    """Every unit code → its parent code, as it will be after this import."""
    parent: dict[str, str | None] = {
        code: db.unit_code.get(row[2]) if row[2] is not None else None
        for code, row in db.units.items()
    }
    for code, u in parsed.units.items():
        if u.parent is not ABSENT:
            parent[code] = u.parent  # type: ignore[assignment]
        else:
            parent.setdefault(code, None)
    return parent


def _plan_people(parsed: Parsed, db: Stored, p: Problems, plan: Plan) -> None:
    units = set(db.units) | set(parsed.units)
    for person in parsed.all_people():
        if person.unit is not None and person.unit not in units:
            p.add(person.at, "unit", f"unknown unit '{_short(person.unit)}'"
                  + _hint(person.unit, units), "people")
        s = person.supervisor
        if isinstance(s, str) and s not in parsed.people and s not in db.people:
            p.add(person.at, "supervisor", f"unknown person '{s}' (not in this import nor "
                  "registered before)", "people")
    sup: dict[str, str | None] = {
        email: db.person_email.get(row[4]) if row[4] is not None else None
        for email, row in db.people.items()
    }
    for email, person in parsed.people.items():
        if person.supervisor is not ABSENT:
            sup[email] = person.supervisor  # type: ignore[assignment]
        else:
            sup.setdefault(email, None)
    safe: set[str] = set()
    for email, person in parsed.people.items():
        loop = _cycle(email, sup, safe)
        if loop:
            p.add(person.at, "supervisor", "supervisors go round in a circle: "
                  + " → ".join([*loop, loop[0]]), "people")
    counts = plan.counts.setdefault("people", Counts())
    for email, person in parsed.people.items():
        old = db.people.get(email)
        new = {"name": person.name, "unit": person.unit,
               "roles": person.roles or (old[3] if old else Role.owner.value),
               "supervisor": sup[email]}
        if old is None:
            counts.created += 1
            plan.people.append(Change(email, new, {k: v for k, v in new.items()
                                                   if v is not None}, True))
            continue
        before = {"name": old[1], "unit": db.unit_code.get(old[2]), "roles": old[3],
                  "supervisor": db.person_email.get(old[4]) if old[4] else None}
        changes = _diff(before, new)
        if changes:
            counts.updated += 1
            plan.people.append(Change(email, new, changes, False))
        else:
            counts.unchanged += 1


def _plan_recs(parsed: Parsed, db: Stored, cal: WorkCalendar, p: Problems, plan: Plan) -> None:
    if "recommendations" not in parsed.kinds:
        return
    units = set(db.units) | set(parsed.units)
    parent = _unit_parents(parsed, db)
    lineage: dict[str, set[str]] = {}

    def line_of(code: str) -> set[str]:
        if code not in lineage:
            seen: list[str] = []
            node: str | None = code
            while node is not None and node not in seen:
                seen.append(node)
                node = parent.get(node)
            lineage[code] = set(seen)
        return lineage[code]

    owner_unit = {e: db.unit_code.get(r[2]) for e, r in db.people.items()}
    owner_unit.update({e: person.unit for e, person in parsed.people.items()})
    ahead: dict[date, list[date]] = {}  # forum date → the working days after it, as needed

    def plus_hk(start: date, n: int) -> date:
        days = ahead.setdefault(start, [])
        day = days[-1] if days else start
        while len(days) < n:
            day += timedelta(days=1)
            if cal.is_working_day(day):
                days.append(day)
        return days[n - 1] if n else start

    forums: dict[tuple[str, date], dict[str, Any]] = {}
    forum_at: dict[tuple[str, date], dict[str, At]] = {}
    finals: dict[str, dict[str, Any]] = {}
    for r in parsed.all_recs():
        ounit = None
        if r.owner is not None:
            if r.owner not in owner_unit:
                p.add(r.at, "owner", f"unknown person '{r.owner}' (not in this import nor "
                      "registered before)", "recommendations")
            ounit = owner_unit.get(r.owner)
        unit = r.unit or ounit
        if r.unit is not None and r.unit not in units:
            p.add(r.at, "unit", f"unknown unit '{_short(r.unit)}'" + _hint(r.unit, units),
                  "recommendations")
        elif (unit is not None and ounit is not None and ounit in units
              and not (ounit in line_of(unit) or unit in line_of(ounit))):
            p.add(r.at, "owner", f"{r.owner} belongs to unit '{ounit}', which is neither "
                  f"'{unit}' nor above or below it", "recommendations")
        deadline = r.deadline
        if r.hk is not None and r.forum_date is not None:
            deadline = plus_hk(r.forum_date, r.hk)
        if r.forum is None or r.forum_date is None:
            continue
        fkey = (r.forum, r.forum_date)
        forum = forums.get(fkey)
        if forum is None:
            forum = forums[fkey] = {"unit": unit, "place": None, "minutes_ref": None}
            forum_at[fkey] = {}
        for col, value in (("place", r.place), ("minutes_ref", r.minutes_ref)):
            if value is None:
                continue
            if forum[col] is None:
                forum[col], forum_at[fkey][col] = value, r.at
            elif forum[col] != value:
                first = forum_at[fkey][col]
                where = f"row {first.row}" if first.label == r.at.label else str(first)
                p.add(r.at, col, f"'{_short(value)}' differs from '{_short(forum[col])}' "
                      f"given for the same forum at {where}", "recommendations")
        if r.ref is not None and parsed.recs.get(r.ref) is r:
            finals[r.ref] = {"forum": r.forum, "forum_date": r.forum_date, "unit": unit,
                             "owner": r.owner, "text": r.text, "category": r.category,
                             "priority": r.priority, "deadline": deadline,
                             "deadline_rule": r.rule}
    if p:
        return  # nothing will be written: skip the comparison
    _plan_forums(forums, db, plan)
    counts = plan.counts.setdefault("recommendations", Counts())
    for ref, new in finals.items():
        old = db.recs.get(ref)
        if old is None:
            new["category"] = new["category"] or "lainnya"
            new["priority"] = new["priority"] or "normal"
            counts.created += 1
            plan.recs.append(Change(ref, new, {k: v for k, v in new.items() if v is not None},
                                    True))
            continue
        title, held = db.forum_key[old[1]]
        new["category"] = new["category"] or old[5]
        new["priority"] = new["priority"] or old[6]
        before = {"forum": title, "forum_date": held, "unit": db.unit_code.get(old[2]),
                  "owner": db.person_email.get(old[3]), "text": old[4], "category": old[5],
                  "priority": old[6], "deadline": old[7], "deadline_rule": old[8]}
        changes = _diff(before, new)
        if changes:
            counts.updated += 1
            plan.recs.append(Change(ref, new, changes, False, old[0]))
        else:
            counts.unchanged += 1


def _plan_forums(forums: dict[tuple[str, date], dict[str, Any]], db: Stored, plan: Plan) -> None:
    counts = plan.counts.setdefault("forums", Counts())
    for key, new in forums.items():
        old = db.forums.get(key)
        if old is None:
            counts.created += 1
            values = {"title": key[0], "held_on": key[1], **new}
            plan.forums.append(Change(key, values, {k: v for k, v in values.items()
                                                    if v is not None}, True))
            continue
        # Metadata is only ever filled in or corrected by an import, never erased.
        after = {k: new[k] for k in ("place", "minutes_ref") if new[k] is not None}
        changes = _diff({"place": old[2], "minutes_ref": old[3]}, after)
        if changes:
            counts.updated += 1
            plan.forums.append(Change(key, {"place": after.get("place", old[2]),
                                            "minutes_ref": after.get("minutes_ref", old[3])},
                                      changes, False))
        else:
            counts.unchanged += 1


# --- writing ---------------------------------------------------------------------------------


def _ids(conn: sa.Connection, table: sa.Table, key: str) -> dict[Any, int]:
    return {r[1]: r[0] for r in conn.execute(sa.select(table.c.id, table.c[key]))}


def _memo(proc: Any) -> Any:
    """A bind processor that converts each distinct value once (dates and times repeat)."""
    if proc is None:
        return None
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value not in seen:
            seen[value] = proc(value)
        return seen[value]

    return convert


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows: executemany on SQLite, COPY on PostgreSQL (whose executemany sends
    one statement per row)."""
    if not rows:
        return
    cols = list(rows[0])
    procs = [_memo(table.c[c].type.bind_processor(conn.dialect)) for c in cols]
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in cols)

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(proc(row[c]) if proc else row[c] for c, proc in zip(cols, procs, strict=True))

    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(values(row))
    elif conn.dialect.name == "sqlite":  # the DBAPI's executemany, without per-row compiling
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(cols))})"
        for i in range(0, len(rows), 20_000):
            conn.exec_driver_sql(sql, [values(row) for row in rows[i:i + 20_000]])
    else:
        conn.execute(table.insert(), rows)


def _bulk_update(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE … WHERE id = :b_id for many rows at once (the same columns in every row)."""
    if not rows:
        return
    cols = [k for k in rows[0] if k != "id"]
    stmt = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in cols}))
    conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} | {"b_id": r["id"]} for r in rows])


def write_plan(s: Session, plan: Plan, actor: str) -> None:
    """Apply the plan inside the caller's transaction with bulk statements, audit included."""
    conn = s.connection()
    now = utcnow()
    ut = Unit.__table__  # type: ignore[attr-defined]
    pt = Person.__table__  # type: ignore[attr-defined]
    ft = Forum.__table__  # type: ignore[attr-defined]
    rt = Recommendation.__table__  # type: ignore[attr-defined]

    _insert(conn, ut, [{"code": c.key, "name": c.values["name"],
                        "timezone": c.values["timezone"], "parent_id": None}
                       for c in plan.units if c.created])
    unit_id = _ids(conn, ut, "code")
    # Parents after every unit exists: a file may name a parent further down.
    _bulk_update(conn, ut, [{"id": unit_id[c.key], "name": c.values["name"],
                             "timezone": c.values["timezone"],
                             "parent_id": unit_id.get(c.values["parent"])}
                            for c in plan.units if not c.created or c.values["parent"]])

    _insert(conn, pt, [{"email": c.key, "name": c.values["name"], "roles": c.values["roles"],
                        "unit_id": unit_id[c.values["unit"]], "supervisor_id": None}
                       for c in plan.people if c.created])
    person_id = _ids(conn, pt, "email")
    _bulk_update(conn, pt, [{"id": person_id[c.key], "name": c.values["name"],
                             "roles": c.values["roles"], "unit_id": unit_id[c.values["unit"]],
                             "supervisor_id": person_id.get(c.values["supervisor"])}
                            for c in plan.people if not c.created or c.values["supervisor"]])

    _insert(conn, ft, [{"title": c.key[0], "held_on": c.key[1],
                        "unit_id": unit_id[c.values["unit"]], "place": c.values["place"],
                        "minutes_ref": c.values["minutes_ref"]}
                       for c in plan.forums if c.created])
    fc = ft.c
    forum_id = {(r[1], r[2]): r[0] for r in conn.execute(sa.select(fc.id, fc.title, fc.held_on))}
    _bulk_update(conn, ft, [{"id": forum_id[c.key], "place": c.values["place"],
                             "minutes_ref": c.values["minutes_ref"]}
                            for c in plan.forums if not c.created])

    def rec_row(c: Change) -> dict[str, Any]:
        v = c.values
        return {"forum_id": forum_id[(v["forum"], v["forum_date"])],
                "unit_id": unit_id[v["unit"]], "owner_id": person_id[v["owner"]],
                "text": v["text"], "category": v["category"], "priority": v["priority"],
                "deadline": v["deadline"], "deadline_rule": v["deadline_rule"]}

    _insert(conn, rt, [{"ref": c.key, **rec_row(c), "status": Status.open.value, "progress": 0,
                        "created_at": now, "updated_at": now, "last_progress_at": now}
                       for c in plan.recs if c.created])
    _bulk_update(conn, rt, [{"id": c.row_id, **rec_row(c), "updated_at": now}
                            for c in plan.recs if not c.created])
    _audit(conn, now, actor, plan)


def _audit(conn: sa.Connection, now: datetime, actor: str, plan: Plan) -> None:
    """One audit record per created or updated row, written in bulk like the rows."""
    at = AuditRecord.__table__  # type: ignore[attr-defined]

    def rows() -> Iterator[dict[str, Any]]:
        for entity, changes in (("unit", plan.units), ("person", plan.people),
                                ("forum", plan.forums), ("recommendation", plan.recs)):
            for c in changes:
                key = f"{c.key[0]} ({c.key[1].isoformat()})" if entity == "forum" else c.key
                body = {k: _plain(v) for k, v in c.changes.items()}
                yield {"at": now, "actor": actor, "action": "create" if c.created else "update",
                       "entity": entity, "entity_key": key[:254],
                       "changes": json.dumps(body, ensure_ascii=False, sort_keys=True)}

    batch: list[dict[str, Any]] = []
    for row in rows():
        batch.append(row)
        if len(batch) == 20_000:
            _insert(conn, at, batch)
            batch = []
    _insert(conn, at, batch)


# --- the entry point -------------------------------------------------------------------------


@dataclass
class ImportReport:
    """How many rows of each kind were (or, on a dry run, would be) created, updated, unchanged."""

    counts: dict[str, Counts]
    dry_run: bool = False

    def lines(self) -> list[str]:
        order = ("units", "people", "forums", "recommendations")
        out = [f"{kind}: {self.counts[kind]}" for kind in order if kind in self.counts]
        if self.dry_run:
            out.append("dry run: every row is valid; nothing was written")
        return out


def _check_actor(by: str, parsed: Parsed, db: Stored) -> str:
    email = by.strip().lower()
    if email in parsed.people:
        roles = parsed.people[email].roles or (db.people[email][3] if email in db.people
                                               else "owner")
    elif email in db.people:
        roles = db.people[email][3]
    else:
        raise Forbidden(f"--by {by}: no such person (register them first, or in this import)")
    if "planner" not in roles.split(";"):
        raise Forbidden(f"--by {email}: only a person with the planner role may import")
    return email


def import_files(paths: Sequence[Path | str], dry_run: bool = False,
                 by: str | None = None) -> ImportReport:
    """Import every file as one change: all rows are written, or none (ImportFailed lists why).

    Errors name each file as given here (a str keeps the user's spelling, e.g. './a.csv').
    """
    p = Problems()
    if not paths:
        raise ImportFailed(["no files given"])
    sheets = read_sources(paths, p)
    parsed = parse_sheets(sheets, p)
    actor = by or "import:" + ",".join(Path(path).name for path in paths)
    opener = session if dry_run else write_session
    with opener() as s:
        db = Stored.load(s, parsed.recs.keys())
        if by is not None:
            actor = _check_actor(by, parsed, db)
        cal = load_calendar(s, get_settings().language)
        plan = plan_import(parsed, db, cal, p)
        if p:
            raise ImportFailed(p.lines())
        if not dry_run:
            write_plan(s, plan, actor[:254])
    shown = parsed.kinds | ({"forums"} if "recommendations" in parsed.kinds else set())
    return ImportReport({k: c for k, c in plan.counts.items() if k in shown}, dry_run)
