"""The import (SPEC §3): CSV files and XLSX workbooks of units, people and recommendations.

All or nothing, and streamed: no step holds every row. A first pass reads the files row by
row and checks each row, keeping only what checks across rows need (units and people, which
are few; each recommendation's ref and where it was given; the forums) and spooling the
checked recommendations to a temporary file. Only when no row is wrong does the second pass
read that spool back in batches of `BATCH_SIZE`, compare each batch with the rows stored
under the same refs and write it with bulk Core statements, all inside one transaction: a
failure half-way rolls every batch back. The checks that need the database (known codes and
emails, cycles) run against units, people and forums loaded whole (small maps); stored
recommendations are only ever read a batch at a time.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import marshal
import operator
import re
import sqlite3
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from tindak.errors import N_, Forbidden, ImportFailed, Msg
from tindak.itemrules import (
    FORMULA_START,
    MAX_HK,
    PRIORITIES,
    PRIORITY_ALIASES,
    TEXT_MAX,
    YEARS,
    choice_key,
    lineage,
    owner_fits,
)
from tindak.settings import TIMEZONES, get_settings

KINDS = ("units", "people", "recommendations", "participants")
# Every column a file of each kind may have, in the order errors are listed.
COLUMNS: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "parent", "timezone"),
    "people": ("email", "name", "unit", "role", "supervisor"),
    "recommendations": (
        "ref", "forum", "forum_date", "unit", "text", "category", "owner", "deadline",
        "priority", "place", "minutes_ref",
    ),
    # A Berita Acara's participants, each invited to follow the forum (SPEC §7); their
    # name and organisation are checked but never stored.
    "participants": ("forum", "forum_date", "name", "email", "organisation"),
}
# Columns without a sensible default; the others may be left out of a file altogether.
REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("code", "name"),
    "people": ("email", "name", "unit"),
    "recommendations": ("ref", "forum", "forum_date", "text", "owner", "deadline"),
    "participants": ("forum", "forum_date", "email"),
}
HEADER_ALIASES = {"roles": "role", "organization": "organisation", "instansi": "organisation",
                  "nama": "name"}
MAX_CELL = TEXT_MAX  # a recommendation's longest text, and so any cell's
ROLES = tuple(r.value for r in Role)
ROLE_ALIASES = {"perencana": "planner", "pic": "owner", "penanggung_jawab": "owner",
                "pimpinan": "leader"}
TZ_ALIASES = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}
EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                   r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
ID_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CHUNK = 900  # below SQLite's bound-parameter limit on any version
BATCH_SIZE = 10_000  # recommendations compared and written per batch (bounds the memory)
SPOOL_CHUNK = 1_000  # checked recommendations per record of the spool file
MAX_ERRORS = 1_000  # errors listed; beyond that they are counted, not kept
READ_CHUNK = 1 << 20  # bytes read at a time when checking a CSV file's encoding
_BAD: Any = object()  # a cell already reported by the generic checks


class At(NamedTuple):
    """Where a row is, as the user sees it."""

    label: str  # FILE, or FILE[sheet] for a workbook
    row: int  # header = 1
    order: int  # position of the sheet among all those read, to list errors in order

    def __str__(self) -> str:
        return f"{self.label}:{self.row}"


class Problems:
    """Every error found, listed in file order as `FILE:ROW: column: reason`.

    All are counted; only the first MAX_ERRORS (in file order) are kept, so that a file
    wrong on every one of a million rows does not fill the memory with messages.
    """

    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int, int, int], Msg]] = []
        self.total = 0

    def _keep(self, key: tuple[int, int, int, int], text: Msg) -> None:
        self.total += 1
        self._items.append((key, text))
        if len(self._items) >= 2 * MAX_ERRORS:
            self._items.sort()
            del self._items[MAX_ERRORS:]

    def add(self, at: At, column: str, reason: Msg, kind: str = "") -> None:
        cols = COLUMNS.get(kind, ())
        pos = cols.index(column) if column in cols else -1
        self._keep((at.order, at.row, pos, self.total),
                   Msg("%(where)s: %(column)s: %(reason)s", where=str(at), column=column,
                       reason=reason))

    def file(self, label: str, order: int, reason: Msg) -> None:
        self._keep((order, 0, -1, self.total),
                   Msg("%(where)s: %(reason)s", where=label, reason=reason))

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[Msg]:
        """The errors as lines to word in the reader's language (`str()` gives English)."""
        out = [text for _, text in sorted(self._items, key=operator.itemgetter(0))
               [:MAX_ERRORS]]
        if self.total > len(out):
            out.append(Msg(N_("… and %(count)s more error(s), not listed: correct these "
                              "first"), count=self.total - len(out)))
        return out

    def refusal(self) -> ImportFailed:
        return ImportFailed(self.lines(), count=self.total)


@dataclass
class Source:
    """One CSV file or one workbook sheet: its header, read once; its rows, read on demand."""

    index: int  # of the file among the paths given
    label: str  # FILE, or FILE[sheet]
    kind: str
    order: int
    columns: list[str]
    path: Path
    sheet: str | None = None  # the worksheet's title, for a workbook
    delimiter: str = ","
    file_label: str = ""  # the workbook's own label, for an error about the whole file
    file_order: int = 0
    book: Any = None  # the open workbook (read-only: rows are parsed as they are read)
    reader: Callable[[], Iterator[tuple[int, list[Any]]]] | None = None  # e.g. a Berita Acara
    forum_unit: str | None = None  # the organiser a Berita Acara names, over its first row's unit

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cells) of every row below the header that is not blank."""
        if self.reader is not None:
            return self.reader()
        return _xlsx_rows(self) if self.sheet is not None else _csv_rows(self)


class _Unreadable(Exception):
    """A file found unreadable part-way through its rows: it is reported and left out."""

    def __init__(self, index: int, report: Callable[[Problems], None]) -> None:
        super().__init__(index)
        self.index, self.report = index, report


# --- reading files ------------------------------------------------------------------------


def _norm_header(value: Any) -> str:
    name = re.sub(r"[\s-]+", "_", str(value if value is not None else "").strip().lower())
    return HEADER_ALIASES.get(name, name)


def _guess_kind(columns: list[str]) -> str | None:
    if "ref" in columns:
        return "recommendations"
    if "email" in columns and ("forum" in columns or "organisation" in columns):
        return "participants"
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
        p.add(at, "header", Msg(N_("cannot tell what this file holds: the first line must "
                                   "name the columns, e.g. %(example)s"),
                                example="; ".join(f"{k}: {','.join(COLUMNS[k][:5])}…"
                                                  for k in KINDS)))
        return None
    known = COLUMNS[kind]
    bits = []
    unnamed = [str(i + 1) for i, n in enumerate(names) if not n]
    if unnamed:
        bits.append(Msg(N_("column(s) %(columns)s have no name"), columns=", ".join(unnamed)))
    unknown = [n for n in names if n and n not in known]
    if unknown:
        bits.append(Msg(N_("unknown column(s) %(columns)s"),
                        columns=", ".join(f"'{_short(n, 30)}'" for n in unknown)))
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        bits.append(Msg(N_("repeated column(s) %(columns)s"),
                        columns=", ".join(f"'{_short(n, 30)}'" for n in dupes)))
    missing = [c for c in REQUIRED[kind] if c not in names]
    if missing:
        bits.append(Msg(N_("missing column(s) %(columns)s"),
                        columns=", ".join(f"'{c}'" for c in missing)))
    if bits:
        p.add(at, "header", Msg(N_("%(problems)s (a %(kind)s file has: %(columns)s)"),
                                problems=bits, kind=kind, columns=", ".join(known)))
        return None
    return kind, names


def _sniff(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _scan_csv(path: Path) -> tuple[tuple[int, int] | None, bool]:
    """Read the file once, a chunk at a time: (line, byte) of the first byte that is not
    UTF-8, if any, and whether the text is blank (empty or only white space)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0  # line breaks before the chunk
    blank, start = True, True
    with path.open("rb") as f:
        while True:
            chunk = f.read(READ_CHUNK)
            held = decoder.getstate()[0]  # the start of a character cut by the last chunk
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = held + chunk
                return (lines + data.count(b"\n", 0, exc.start) + 1, data[exc.start]), blank
            if start and text:
                text, start = text.removeprefix("\ufeff"), False
            if blank and text.strip():
                blank = False
            if not chunk:
                return None, blank
            lines += chunk.count(b"\n")


def _csv_text(raw: Any) -> io.TextIOWrapper:
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _first_line(path: Path) -> str:
    """The text up to the first line break (at most a megabyte of it), to tell the separator."""
    with path.open("rb") as raw, _csv_text(raw) as text:
        got = ""
        while "\n" not in got and len(got) < READ_CHUNK:
            more = text.read(65_536)
            if not more:
                break
            got += more
    return got.split("\n", 1)[0]


def _not_utf8(label: str, order: int, line: int, byte: int) -> Callable[[Problems], None]:
    def report(p: Problems) -> None:
        p.add(At(label, line, order), "file",
              Msg(N_("not UTF-8 text (byte 0x%(byte)s); in Excel choose Save As → "
                     "'CSV UTF-8 (Comma delimited) (*.csv)' and import that file"),
                  byte=f"{byte:02x}"))
    return report


def _unreadable_csv(label: str, order: int, line: int,
                    exc: csv.Error) -> Callable[[Problems], None]:
    def report(p: Problems) -> None:
        p.add(At(label, line, order), "row",
              Msg(N_("unreadable CSV (%(detail)s): a cell is far too long or a quote \" is not "
                     "closed"), detail=str(exc)))
    return report


def open_csv(path: Path, label: str, index: int, order: int, p: Problems) -> Source | None:
    """The file's header and separator (rows are read later, by `Source.rows`)."""
    try:
        bad, blank = _scan_csv(path)
        if bad is None and not blank:
            delimiter = _sniff(_first_line(path))
    except OSError as exc:
        p.file(label, order, Msg(N_("cannot read the file: %(detail)s"),
                                 detail=str(exc.strerror or exc)))
        return None
    if bad is not None:
        _not_utf8(label, order, *bad)(p)
        return None
    if blank:
        p.file(label, order, Msg(N_("the file is empty")))
        return None
    with path.open("rb") as raw, _csv_text(raw) as text:
        reader = csv.reader(text, delimiter=delimiter)
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            _unreadable_csv(label, order, 1, exc)(p)
            return None
    if cells is None:
        p.add(At(label, 1, order), "header", Msg(N_("the first line must name the columns")))
        return None
    head = _header(cells, label, order, None, p)
    if head is None:
        return None
    return Source(index, label, head[0], order, head[1], path, delimiter=delimiter)


def _csv_rows(src: Source) -> Iterator[tuple[int, list[Any]]]:
    with src.path.open("rb") as raw, _csv_text(raw) as text:
        reader = csv.reader(text, delimiter=src.delimiter)
        line = 0
        try:
            for cells in reader:
                start, line = line + 1, reader.line_num
                if start > 1 and any(c.strip() for c in cells):
                    yield start, cells
        except csv.Error as exc:
            raise _Unreadable(src.index, _unreadable_csv(src.label, src.order, line + 1,
                                                         exc)) from exc
        except UnicodeDecodeError as exc:  # changed since it was checked
            bad = _scan_csv(src.path)[0] or (line + 1, 0)
            raise _Unreadable(src.index, _not_utf8(src.label, src.order, *bad)) from exc


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


def _not_a_workbook(label: str, order: int, exc: BaseException) -> Callable[[Problems], None]:
    def report(p: Problems) -> None:
        p.file(label, order, Msg(N_("not a readable .xlsx workbook (%(detail)s)"),
                                 detail=_short(exc, 80)))
    return report


def _load_workbook(path: Path) -> Any:
    import openpyxl

    # data_only=False: a formula comes back as its text, so it is refused, not evaluated.
    return openpyxl.load_workbook(path, read_only=True, data_only=False)


def open_xlsx(path: Path, label: str, index: int, order: int, p: Problems) -> list[Source]:
    """The headers of the workbook's sheets units, people, recommendations (rows come later)."""
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = _load_workbook(path)
    except FileNotFoundError:
        p.file(label, order, Msg(N_("no such file")))
        return []
    except (*XLSX_DAMAGE, InvalidFileException) as exc:
        _not_a_workbook(label, order, exc)(p)
        return []
    sources: list[Source] = []
    try:
        sources = _sheet_headers(wb, path, label, index, order, p)
    # Rows are parsed lazily: a damaged part (bad XML, a corrupt deflate stream) shows here.
    except (*XLSX_DAMAGE, InvalidFileException) as exc:
        _not_a_workbook(label, order, exc)(p)
        sources = []
    if not sources:
        wb.close()
    return sources  # the workbook stays open for their rows: see `close_sources`


def _sheet_headers(wb: Any, path: Path, label: str, index: int, order: int,
                   p: Problems) -> list[Source]:
    sources: list[Source] = []
    found = {ws.title.strip().lower(): ws for ws in wb.worksheets}
    wanted = [k for k in KINDS if k in found]
    if not wanted:
        p.file(label, order, Msg(N_("no sheet named units, people or recommendations "
                                    "(found: %(sheets)s)"),
                                 sheets=", ".join(ws.title for ws in wb.worksheets)))
    for i, kind in enumerate(wanted):
        ws = found[kind]
        sub = f"{label}[{ws.title}]"
        first = next(iter(ws.iter_rows(values_only=True)), None)
        if first is None:  # a sheet left wholly empty is simply skipped
            continue
        head = _header([_xlsx_value(v) for v in first], sub, order + i, kind, p)
        if head is not None:
            sources.append(Source(index, sub, kind, order + i, head[1], path, sheet=ws.title,
                                  file_label=label, file_order=order, book=wb))
    return sources


def _xlsx_rows(src: Source) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        rows = enumerate(src.book[src.sheet].iter_rows(values_only=True), 1)
        next(rows, None)  # the header
        for num, raw in rows:
            cells = [_xlsx_value(v) for v in raw]
            if any(c is not None and str(c).strip() for c in cells):
                yield num, cells
    except (*XLSX_DAMAGE, InvalidFileException) as exc:
        report = _not_a_workbook(src.file_label, src.file_order, exc)
        raise _Unreadable(src.index, report) from exc


def close_sources(sources: list[Source]) -> None:
    """Close the workbooks opened by `open_sources`."""
    for book in {id(src.book): src.book for src in sources if src.book is not None}.values():
        book.close()


def open_sources(paths: Iterable[Path | str], p: Problems,
                 broken: dict[int, Callable[[Problems], None]] | None = None) -> list[Source]:
    """Every sheet of every file, its header read; problems with the files go to `p`.
    `broken` holds the files found unreadable part-way on an earlier reading: their error."""
    sources: list[Source] = []
    broken = broken or {}
    try:
        _open_each(paths, p, broken, sources)
    except BaseException:
        close_sources(sources)
        raise
    return sources


def _open_each(paths: Iterable[Path | str], p: Problems,
               broken: dict[int, Callable[[Problems], None]], sources: list[Source]) -> None:
    for i, given in enumerate(paths):
        label, order, path = str(given), i * 100, Path(given)
        suffix = path.suffix.lower()
        if i in broken:
            broken[i](p)
        elif not path.exists():
            p.file(label, order, Msg(N_("no such file")))
        elif path.is_dir():
            p.file(label, order, Msg(N_("is a folder, not a file")))
        elif suffix in (".csv", ".txt", ".tsv"):
            source = open_csv(path, label, i, order, p)
            if source is not None:
                sources.append(source)
        elif suffix in (".xlsx", ".xlsm"):
            sources.extend(open_xlsx(path, label, i, order, p))
        elif suffix in (".docx", ".doc", ".odt", ".rtf"):  # a Berita Acara (SPEC §8)
            from tindak.berita_acara import open_docx

            sources.extend(open_docx(given, path, label, i, order, p))
        elif suffix in (".xls", ".ods"):
            p.file(label, order, Msg(N_("%(suffix)s files are not read: save it as Excel "
                                        "Workbook (.xlsx) or as CSV UTF-8 (.csv)"),
                                     suffix=suffix))
        else:
            p.file(label, order, Msg(N_("not a .csv or .xlsx file")))


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
            out = dict(zip(sheet.columns, values, strict=False))
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
                               first=value[0], value=_short(value, 30), fix=fix), sheet.kind)
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
                              value=_short(value)))
            return None
        return value

    def email(self, col: str, *, required: bool = False) -> str | None:
        value = self.text(col, required=required, max_len=254)
        if value is None:
            return None
        value = value.lower()
        if not EMAIL.match(value):
            self.bad(col, Msg(N_("'%(value)s' is not an email address"), value=_short(value)))
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
                              what=what, value=_short(value), allowed=", ".join(allowed)))
            return None
        return key


_day_cache: dict[str, date | Msg] = {}
EMPTY = Msg(N_("is empty"))
# The words of `choice`'s "unknown %(what)s", as the reader's language has them.
CATEGORY, PRIORITY = Msg(N_("category")), Msg(N_("priority"))


def too_long(length: int, most: int) -> Msg:
    return Msg(N_("is %(length)s characters long; at most %(max)s are accepted"),
               length=length, max=most)
_choice_keys: dict[str, str] = {}


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
                       value=_short(value))
        y, mo, d = (int(x) for x in parts)
        try:
            day = date(y, mo, d)
        except ValueError:
            if ID_DATE.match(value) and mo > 12 >= d:
                return Msg(N_("'%(value)s' is not a real date (dates are DD/MM/YYYY: day "
                              "first, then month)"), value=_short(value))
            return Msg(N_("'%(value)s' is not a real date"), value=_short(value))
        if len(_day_cache) < 100_000:
            _day_cache[value] = day
    if not YEARS[0] <= day.year <= YEARS[1]:
        return Msg(N_("%(date)s is out of range (years %(first)s–%(last)s)"),
                   date=day.isoformat(), first=YEARS[0], last=YEARS[1])
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
            row.bad("role", Msg(N_("unknown role '%(value)s' (one or more of: %(allowed)s, "
                                   "joined with ';')"),
                                value=_short(part.strip()), allowed=", ".join(ROLES)))
            return None
        roles.append(key)
    return ";".join(r for r in ROLES if r in roles) or None


def _row_word(label: str, row: int, at: At, order: int = 0) -> Msg | str:
    """Where an earlier row is, from an error at `at`: 'row 2' in the same file, else FILE:2."""
    return Msg(N_("row %(row)s"), row=row) if label == at.label else str(At(label, row, order))


def _dup(row: _Row, col: str, key: str, first: At, what: Msg) -> None:
    where = _row_word(first.label, first.row, row.at, first.order)
    row.bad(col, Msg(N_("%(what)s '%(value)s' is given twice (also at %(where)s)"),
                     what=what, value=_short(key), where=where))


def _parse_unit(row: _Row, out: Parsed) -> None:
    code = row.text("code", required=True, max_len=64, ident=True)
    name = row.text("name", required=True, max_len=300)
    parent: Any = ABSENT
    if row.has("parent"):
        parent = row.text("parent", max_len=64, ident=True)
        if parent is not None and parent == code:
            row.bad("parent", Msg(N_("a unit cannot be its own parent")))
            parent = None  # reported once, not again as a cycle
    tz = row.text("timezone")
    if tz is not None:
        tz = {t.lower(): t for t in TIMEZONES}.get(tz.lower()) or TZ_ALIASES.get(tz.lower())
        if tz is None:
            row.bad("timezone", Msg(N_("unknown timezone '%(value)s' (one of: %(allowed)s, or "
                                       "WIB, WITA, WIT)"),
                                    value=_short(row.v["timezone"]),
                                    allowed=", ".join(TIMEZONES)))
    unit = UnitIn(row.at, code, name, parent, tz)
    if code is not None and code in out.units:
        _dup(row, "code", code, out.units[code].at, Msg(N_("unit code")))
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
            row.bad("supervisor", Msg(N_("a person cannot be their own supervisor")))
            supervisor = None  # reported once, not again as a cycle
    person = PersonIn(row.at, email, name, unit, roles, supervisor)
    if email is not None and email in out.people:
        _dup(row, "email", email, out.people[email].at, Msg(N_("email")))
    if email is None or email in out.people:
        out.others.append(person)
    else:
        out.people[email] = person


def _parse_rec(row: _Row) -> RecIn:
    ref = row.text("ref", required=True, max_len=100, ident=True)
    forum = row.text("forum", required=True, max_len=500)
    held = row.day("forum_date")
    unit = row.text("unit", max_len=64, ident=True)
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
                                       "most +%(max)s hk)"), value=_short(raw), max=MAX_HK))
            hk = None
    elif raw is not _BAD:
        deadline = row.day("deadline")
        if deadline is not None and held is not None and deadline < held:
            row.bad("deadline", Msg(N_("%(deadline)s is before the forum date %(forum_date)s"),
                                    deadline=deadline.isoformat(), forum_date=held.isoformat()))
    return RecIn(row.at, ref, forum, held, unit, text, category, owner, deadline, hk, rule,
                 priority, place, minutes)


def _rows(src: Source, p: Problems) -> Iterator[_Row]:
    """The rows of a file or sheet, each with its cells cleaned (and the cells' problems)."""
    for num, cells in src.rows():
        at = At(src.label, num, src.order)
        yield _Row(at, src.kind, _cells(src, at, cells, p), p)


# --- checking against the database, planning the write --------------------------------------


@dataclass
class Stored:
    """What the database holds of units, people and forums (a few per hundred items), loaded
    whole: natural keys → ids and registered fields. Recommendations are read by batch."""

    units: dict[str, tuple[int, str, int | None, str]]  # code → id, name, parent id, tz
    unit_code: dict[int, str]
    people: dict[str, tuple[int, str, int, str, int | None]]  # email → id, name, unit, roles, sup
    person_email: dict[int, str]
    forums: dict[tuple[str, date], tuple[int, int, str | None, str | None]]
    forum_key: dict[int, tuple[str, date]]

    @classmethod
    def load(cls, s: Session) -> Stored:
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
        return cls(
            units=units, unit_code={v[0]: k for k, v in units.items()},
            people=people, person_email={v[0]: k for k, v in people.items()},
            forums=forums, forum_key={v[0]: k for k, v in forums.items()},
        )

    def same(self, other: Stored) -> bool:
        """Whether the checks of a file hold for both (they depend on units and people)."""
        return (self.units, self.people) == (other.units, other.people)


@dataclass
class Change:
    """One row to create or update, in natural keys; `changes` is what the audit records."""

    key: Any
    values: dict[str, Any]
    changes: dict[str, Any]
    created: bool


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return str(self.words())

    def words(self) -> Msg:
        return Msg(N_("%(created)s created, %(updated)s updated, %(unchanged)s unchanged"),
                   created=self.created, updated=self.updated, unchanged=self.unchanged)


@dataclass
class Plan:
    """The units and people to create or update (forums and recommendations are compared and
    written a batch at a time), and the counts of every kind."""

    units: list[Change] = field(default_factory=list)
    people: list[Change] = field(default_factory=list)
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


def _by_lower(codes: Iterable[str]) -> dict[str, str]:
    """Each code by its lower case, for `_hint` (one look-up per wrong row, not a scan)."""
    lower: dict[str, str] = {}
    for code in codes:
        lower.setdefault(code.lower(), code)
    return lower


def _unknown_unit(value: str, lower: dict[str, str]) -> Msg:
    found = lower.get(value.lower())
    if found is not None:
        return Msg(N_("unknown unit '%(value)s' (did you mean '%(found)s'?)"),
                   value=_short(value), found=found)
    return Msg(N_("unknown unit '%(value)s'"), value=_short(value))


def _unknown_person(email: str) -> Msg:
    return Msg(N_("unknown person '%(email)s' (not in this import nor registered before)"),
               email=email)


def _hint(value: str, lower: dict[str, str]) -> str:
    """' (did you mean 'X'?)' when `value` is a known code in other case (the .docx reader)."""
    found = lower.get(value.lower())
    return f" (did you mean '{found}'?)" if found is not None else ""


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [_plain(before.get(k)), _plain(v)] for k, v in after.items()
            if before.get(k) != v}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _check_units(parsed: Parsed, db: Stored, p: Problems) -> None:
    known = set(db.units) | set(parsed.units)
    lower = _by_lower(known)
    for u in parsed.all_units():
        if isinstance(u.parent, str) and u.parent not in known:
            p.add(u.at, "parent", _unknown_unit(u.parent, lower), "units")
    _report_cycles(parsed.units, _unit_parents(parsed, db), "parent",
                   Msg(N_("the units' parents go round in a circle: %(circle)s")), "units", p)


def _report_cycles(rows: dict[str, Any], links: dict[str, str | None], column: str,
                   what: Msg, file: str, p: Problems) -> None:
    """One error per row of a circle of links (parents, supervisors)."""
    safe: set[str] = set()
    for key, row in rows.items():
        loop = _cycle(key, links, safe)
        if loop:
            p.add(row.at, column, Msg(what.msgid, circle=" → ".join([*loop, loop[0]])), file)


def _plan_units(parsed: Parsed, db: Stored, plan: Plan) -> None:
    parent = _unit_parents(parsed, db)
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


def _check_people(parsed: Parsed, db: Stored, p: Problems) -> None:
    units = set(db.units) | set(parsed.units)
    lower = _by_lower(units)
    for person in parsed.all_people():
        if person.unit is not None and person.unit not in units:
            p.add(person.at, "unit", _unknown_unit(person.unit, lower), "people")
        s = person.supervisor
        if isinstance(s, str) and s not in parsed.people and s not in db.people:
            p.add(person.at, "supervisor", _unknown_person(s), "people")
    _report_cycles(parsed.people, _supervisors(parsed, db), "supervisor",
                   Msg(N_("supervisors go round in a circle: %(circle)s")), "people", p)


def _supervisors(parsed: Parsed, db: Stored) -> dict[str, str | None]:
    """Every person's email → their supervisor's, as it will be after this import."""
    sup: dict[str, str | None] = {
        email: db.person_email.get(row[4]) if row[4] is not None else None
        for email, row in db.people.items()
    }
    for email, person in parsed.people.items():
        if person.supervisor is not ABSENT:
            sup[email] = person.supervisor  # type: ignore[assignment]
        else:
            sup.setdefault(email, None)
    return sup


def _plan_people(parsed: Parsed, db: Stored, plan: Plan) -> None:
    sup = _supervisors(parsed, db)
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


class Spool:
    """The checked recommendations, in a temporary file between the two passes: written in
    records of SPOOL_CHUNK rows (marshal: plain tuples, dates as ordinals), read back in
    batches. The file is unlinked as soon as it is made, and closed with the import."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="tindak-import-")
        self._rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= SPOOL_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            data = marshal.dumps(self._rows)
            self._file.write(struct.pack("<Q", len(data)) + data)
            self._rows = []

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        self._flush()
        self._file.seek(0)
        batch: list[tuple[Any, ...]] = []
        while head := self._file.read(8):
            (length,) = struct.unpack("<Q", head)
            batch.extend(marshal.loads(self._file.read(length)))
            while len(batch) >= size:
                yield batch[:size]
                del batch[:size]
        if batch:
            yield batch

    def close(self) -> None:
        self._file.close()


def _pack(at: At) -> int:
    """Where a row is, in one int (the label is found again by the order)."""
    return at.order << 32 | at.row


class RecChecks:
    """The checks of each recommendation against the others and the units and people, one
    row at a time: what it keeps grows by a ref per row, and a little per forum."""

    def __init__(self, parsed: Parsed, db: Stored, p: Problems, spool: Spool,
                 labels: dict[int, str]) -> None:
        self.p, self.spool, self.labels = p, spool, labels
        self.units = set(db.units) | set(parsed.units)
        self.lower = _by_lower(self.units)
        self.parent = _unit_parents(parsed, db)
        self.lineage: dict[str, set[str]] = {}
        self.owner_unit = {e: db.unit_code.get(r[2]) for e, r in db.people.items()}
        self.owner_unit.update({e: person.unit for e, person in parsed.people.items()})
        self.refs: dict[str, int] = {}  # ref → where it was first given
        # (title, date) → [unit, place, minutes_ref, where place and minutes_ref were given]
        self.forums: dict[tuple[str, date], list[Any]] = {}

    def where(self, packed: int, at: At) -> Msg | str:
        """Where a row packed by `_pack` is, as an error at `at` names it."""
        order, row = packed >> 32, packed & 0xFFFFFFFF
        return _row_word(self.labels[order], row, at, order)

    def line_of(self, code: str) -> set[str]:
        if code not in self.lineage:
            seen: list[str] = []
            node: str | None = code
            while node is not None and node not in seen:
                seen.append(node)
                node = self.parent.get(node)
            self.lineage[code] = set(seen)
        return self.lineage[code]

    def add(self, r: RecIn, forum_unit: str | None = None) -> None:
        p, at = self.p, r.at
        keyed = False
        if r.ref is not None:
            first = self.refs.get(r.ref)
            if first is None:
                self.refs[r.ref] = _pack(at)
                keyed = True
            else:
                p.add(at, "ref", Msg(N_("%(what)s '%(value)s' is given twice (also at "
                                        "%(where)s)"), what="ref", value=_short(r.ref),
                                     where=self.where(first, at)), "recommendations")
        ounit = None
        if r.owner is not None:
            if r.owner not in self.owner_unit:
                p.add(at, "owner", _unknown_person(r.owner), "recommendations")
            ounit = self.owner_unit.get(r.owner)
        unit = r.unit or ounit
        if r.unit is not None and r.unit not in self.units:
            p.add(at, "unit", _unknown_unit(r.unit, self.lower), "recommendations")
        elif (unit is not None and ounit is not None and ounit in self.units
              and not owner_fits(ounit, unit, self.line_of)):
            p.add(at, "owner", Msg(N_("%(owner)s belongs to unit '%(owner_unit)s', which is "
                                      "neither '%(unit)s' nor above or below it"),
                                   owner=r.owner, owner_unit=ounit, unit=unit),
                  "recommendations")
        if r.forum is None or r.forum_date is None:
            return
        fkey = (r.forum, r.forum_date)
        forum = self.forums.get(fkey)
        if forum is None:
            forum = self.forums[fkey] = [forum_unit or unit, None, None, None, None]
        for i, col, value in ((1, "place", r.place), (2, "minutes_ref", r.minutes_ref)):
            if value is None:
                continue
            if forum[i] is None:
                forum[i], forum[i + 2] = value, _pack(at)
            elif forum[i] != value:
                p.add(at, col, Msg(N_("'%(value)s' differs from '%(first)s' given for the "
                                      "same forum at %(where)s"), value=_short(value),
                                   first=_short(forum[i]), where=self.where(forum[i + 2], at)),
                      "recommendations")
        if keyed and not p:  # once anything is wrong nothing is written: stop spooling
            self.spool.add((r.ref, r.forum, r.forum_date.toordinal(), unit, r.owner, r.text,
                            r.category, r.priority,
                            r.deadline.toordinal() if r.deadline is not None else None, r.hk,
                            r.rule))


@dataclass
class Checked:
    """What the first pass leaves for the second: every problem, the units and people, the
    forums and the spooled recommendations."""

    p: Problems
    parsed: Parsed
    spool: Spool
    forums: dict[tuple[str, date], list[Any]] = field(default_factory=dict)

    def close(self) -> None:
        self.spool.close()


def check_files(paths: Sequence[Path | str], db: Stored, scope: str | None = None) -> Checked:
    """The first pass: every row of every file read once and checked. A file found unreadable
    part-way (a broken quote, a damaged workbook) is reported alone and the pass starts again
    without it, so that none of its rows counts."""
    broken: dict[int, Callable[[Problems], None]] = {}
    while True:
        p = Problems()
        checked = Checked(p, Parsed(), Spool())
        sources: list[Source] = []
        try:
            sources = open_sources(paths, p, broken)
            _check_sources(sources, db, checked, scope)
            return checked
        except _Unreadable as exc:
            checked.close()
            broken[exc.index] = exc.report
        except BaseException:
            checked.close()
            raise
        finally:
            close_sources(sources)


def _check_sources(sources: list[Source], db: Stored, checked: Checked,
                   scope_of: str | None = None) -> None:
    p, parsed = checked.p, checked.parsed
    parsed.kinds.update(src.kind for src in sources)
    # Units, then people, then recommendations, whatever the order of the files: each kind
    # is checked against the kinds before it, complete.
    for kind, parse in (("units", _parse_unit), ("people", _parse_person)):
        for src in sources:
            if src.kind == kind:
                for row in _rows(src, p):
                    parse(row, parsed)
    _check_units(parsed, db, p)
    _check_people(parsed, db, p)
    scope = Scope.of(scope_of, parsed, db, p) if scope_of is not None else None
    if scope is not None:
        scope.check_units()
        scope.check_people()
    if "recommendations" not in parsed.kinds:
        _check_participants(sources, db, parsed, {}, p)
        return
    recs = RecChecks(parsed, db, p, checked.spool, {src.order: src.label for src in sources})
    for src in sources:
        if src.kind == "recommendations":
            # A planner's import names its organiser only inside the planner's tree.
            organiser = (src.forum_unit if scope is None or scope.inside(src.forum_unit)
                         else None)
            for row in _rows(src, p):
                rec = _parse_rec(row)
                recs.add(rec, organiser)
                if scope is not None:
                    scope.check_rec(rec)
    if scope is not None:
        labels = {src.order: src.label for src in sources}
        scope.check_refs(recs.refs, lambda packed: At(labels[packed >> 32],
                                                      packed & 0xFFFFFFFF, packed >> 32))
    checked.forums = recs.forums
    _check_participants(sources, db, parsed, recs.forums, p)


def _check_participants(sources: list[Source], db: Stored, parsed: Parsed,
                        forums: dict[tuple[str, date], list[Any]], p: Problems) -> None:
    """Participants of a forum registered before or in this import; the invitations are
    queued only once every row of every file is right."""
    for src in sources:
        if src.kind != "participants":
            continue
        for row in _rows(src, p):
            title = row.text("forum", required=True, max_len=500)
            held_on = row.day("forum_date")
            row.text("name", max_len=200)
            row.text("organisation", max_len=300)
            email = row.email("email", required=True)
            if title is None or held_on is None or email is None:
                continue
            if (title, held_on) not in db.forums and (title, held_on) not in forums:
                row.bad("forum", Msg(N_("no forum '%(title)s' held on %(date)s: register it "
                                        "first, or in this import"),
                                     title=_short(title), date=held_on.isoformat()))
                continue
            parsed.participants.append((email, title, held_on))


# --- the importing person's tree (web imports) ----------------------------------------------


def _stored_parents(db: Stored) -> dict[str, str | None]:
    return {k: db.unit_code.get(v[2]) if v[2] else None for k, v in db.units.items()}


class Scope:
    """An import bounded to one unit tree (the importing planner's): every row must write
    inside it, as the tree will be after the import; a row reaching elsewhere is refused,
    row by row. The CLI (an administrator at the server) imports without a scope."""

    def __init__(self, root: str, parsed: Parsed, db: Stored, p: Problems) -> None:
        self.root, self.parsed, self.db, self.p = root, parsed, db, p
        self.parent = _unit_parents(parsed, db)
        stored = _stored_parents(db)
        self.was_inside = {c for c in db.units if root in lineage(c, stored)}
        for code in db.units.keys() - self.was_inside:  # their rows are refused: judge by the
            self.parent[code] = stored[code]            # others' as they are stored
        if self.parent.get(root) is not None:  # so is putting the top unit under another
            self.parent[root] = None
        self._inside: dict[str, bool] = {}

    @classmethod
    def of(cls, email: str, parsed: Parsed, db: Stored, p: Problems) -> Scope:
        """The tree of the top unit above the importing person's unit, as stored now."""
        person = db.people.get(email.strip().lower())
        if person is None:
            raise Forbidden(f"{email}: no such person")
        code: str | None = db.unit_code[person[2]]
        parents = _stored_parents(db)
        while code is not None and parents.get(code) is not None:
            code = parents[code]
        return cls(code, parsed, db, p)  # type: ignore[arg-type]

    def inside(self, code: str | None) -> bool:
        """Whether unit `code` is in the tree after the import."""
        if code is None:
            return False
        if code not in self._inside:
            self._inside[code] = self.root in lineage(code, self.parent)
        return self._inside[code]

    def outside(self, what: str) -> str:
        return f"{what} is outside your organisation's unit tree ('{self.root}'); an import " \
               "on the web writes only inside it"

    def check_units(self) -> None:
        for u in self.parsed.all_units():
            if u.code is None:
                continue
            if u.code in self.db.units and u.code not in self.was_inside:
                self.p.add(u.at, "code", self.outside(f"unit '{_short(u.code)}'"), "units")
            elif u.code == self.root and u.parent not in (ABSENT, None):
                self.p.add(u.at, "parent", f"'{self.root}' is your organisation's top unit: "
                           "it cannot be put under another unit", "units")
            elif not self.inside(u.code):
                self.p.add(u.at, "parent", self.outside(f"parent '{_short(u.parent)}'")
                           if isinstance(u.parent, str) else self.outside("a unit without a "
                                                                          "parent"), "units")

    def check_people(self) -> None:
        for person in self.parsed.all_people():
            if person.email is None:
                continue
            stored = self.db.people.get(person.email)
            if stored is not None and self.db.unit_code.get(stored[2]) not in self.was_inside:
                self.p.add(person.at, "email", self.outside(f"{person.email}'s unit"), "people")
            elif person.unit is not None and not self.inside(person.unit):
                self.p.add(person.at, "unit", self.outside(f"unit '{_short(person.unit)}'"),
                           "people")
            elif isinstance(person.supervisor, str) and not self.inside(
                    self.person_unit(person.supervisor)):
                self.p.add(person.at, "supervisor",
                           self.outside(f"{person.supervisor}'s unit"), "people")

    def person_unit(self, email: str) -> str | None:
        if email in self.parsed.people:
            return self.parsed.people[email].unit
        stored = self.db.people.get(email)
        return self.db.unit_code.get(stored[2]) if stored else None

    def check_rec(self, r: RecIn) -> None:
        unit = r.unit or (self.person_unit(r.owner) if r.owner else None)
        if r.unit is not None and r.unit in self.parent and not self.inside(r.unit):
            self.p.add(r.at, "unit", self.outside(f"unit '{_short(r.unit)}'"),
                       "recommendations")
        elif r.owner is not None and unit is not None and not self.inside(
                self.person_unit(r.owner)):
            self.p.add(r.at, "owner", self.outside(f"{r.owner}'s unit"), "recommendations")
        if r.forum is not None and r.forum_date is not None:
            stored = self.db.forums.get((r.forum, r.forum_date))
            if stored is not None and self.db.unit_code.get(stored[1]) not in self.was_inside:
                self.p.add(r.at, "forum", self.outside(f"forum '{_short(r.forum)}'"),
                           "recommendations")

    def check_refs(self, refs: dict[str, int], where: Callable[[int], At]) -> None:
        """Refs already stored for an item of another tree: an import may not overwrite it."""
        keys = list(refs)
        rc = Recommendation.__table__.c  # type: ignore[attr-defined]
        with session() as s:
            for i in range(0, len(keys), CHUNK):
                for ref, unit_id in s.execute(sa.select(rc.ref, rc.unit_id).where(
                        rc.ref.in_(keys[i:i + CHUNK]))):
                    if self.db.unit_code.get(unit_id) not in self.was_inside:
                        self.p.add(where(refs[ref]), "ref", self.outside(
                            f"the item '{_short(ref)}' already registered"), "recommendations")


# --- writing ---------------------------------------------------------------------------------


def _ids(conn: sa.Connection, table: sa.Table, key: str) -> dict[Any, int]:
    return {r[1]: r[0] for r in conn.execute(sa.select(table.c.id, table.c[key]))}


def _memo(proc: Any, adapt: bool) -> Any:
    """A converter of each distinct value, run once per value (dates and times repeat): the
    column's bind processor, then (`adapt`, SQLite) the driver's adapter, e.g. a datetime's
    isoformat, which sqlite3 would otherwise run on every row."""
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        hit = seen.get(value, seen)
        if hit is not seen:
            return hit
        out = proc(value) if proc is not None else value
        if adapt and (adapter := sqlite3.adapters.get((type(out), sqlite3.PrepareProtocol))):
            out = adapter(out)
        if len(seen) < 100_000:
            seen[value] = out
        return out

    return convert


def _python_type(kind: Any) -> Any:
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows: executemany on SQLite, COPY on PostgreSQL (whose executemany sends
    one statement per row)."""
    if not rows:
        return
    cols = list(rows[0])
    sqlite = conn.dialect.name == "sqlite"
    convert = []
    for i, c in enumerate(cols):
        kind = table.c[c].type
        proc = kind.bind_processor(conn.dialect)
        if proc is not None or (sqlite and _python_type(kind) in (date, datetime)):
            convert.append((i, _memo(proc, sqlite)))
    get = operator.itemgetter(*cols)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in cols)

    def values(row: dict[str, Any]) -> Sequence[Any]:
        out = get(row)
        if len(cols) == 1:
            out = (out,)
        if not convert:
            return out
        out = list(out)
        for i, proc in convert:
            out[i] = proc(out[i])
        return tuple(out)

    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(values(row))
    elif sqlite:  # the DBAPI's executemany, without per-row compiling
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


def _write_small(conn: sa.Connection, plan: Plan, now: datetime,
                 actor: str) -> tuple[dict[Any, int], dict[Any, int]]:
    """Write the units and people of the plan with their audit records; the ids of every unit
    and person by natural key (lookup maps), for the forums and recommendations."""
    ut = Unit.__table__  # type: ignore[attr-defined]
    pt = Person.__table__  # type: ignore[attr-defined]

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

    audit = AuditRecord.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, Any]] = []
    for entity, changes in (("unit", plan.units), ("person", plan.people)):
        for c in changes:
            batch.append(_audit_row(now, actor, c.created, entity, c.key, c.changes))
            if len(batch) == BATCH_SIZE:
                _insert(conn, audit, batch)
                batch = []
    _insert(conn, audit, batch)
    return unit_id, person_id


def write_forums(conn: sa.Connection, forums: dict[tuple[str, date], list[Any]], db: Stored,
                 counts: Counts, unit_id: dict[Any, int] | None, now: datetime,
                 actor: str) -> dict[tuple[str, date], int]:
    """The forums of the recommendations compared with the stored ones and written (unless
    `unit_id` is None: a dry run) BATCH_SIZE at a time, audit included; the ids of every
    forum by title and date (a lookup map), for the recommendations."""
    ft = Forum.__table__  # type: ignore[attr-defined]
    audit_table = AuditRecord.__table__  # type: ignore[attr-defined]
    created: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []

    def flush() -> None:
        _insert(conn, ft, created)
        _bulk_update(conn, ft, updated)
        _insert(conn, audit_table, audit)
        del created[:], updated[:], audit[:]

    for (title, held), (unit, place, minutes, *_) in forums.items():
        old = db.forums.get((title, held))
        if old is None:
            counts.created += 1
            values = {"title": title, "held_on": held, "unit": unit, "place": place,
                      "minutes_ref": minutes}
            changes: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
            if unit_id is not None:
                created.append({"title": title, "held_on": held, "unit_id": unit_id[unit],
                                "place": place, "minutes_ref": minutes})
        else:
            # Metadata is only ever filled in or corrected by an import, never erased.
            after = {k: v for k, v in (("place", place), ("minutes_ref", minutes))
                     if v is not None}
            changes = _diff({"place": old[2], "minutes_ref": old[3]}, after)
            if not changes:
                counts.unchanged += 1
                continue
            counts.updated += 1
            if unit_id is not None:
                updated.append({"id": old[0], "place": after.get("place", old[2]),
                                "minutes_ref": after.get("minutes_ref", old[3])})
        if unit_id is not None:
            audit.append(_audit_row(now, actor, old is None, "forum",
                                    f"{title} ({held.isoformat()})", changes))
            if len(audit) == BATCH_SIZE:
                flush()
    if unit_id is None:
        return {}
    flush()
    fc = ft.c
    return {(r[1], r[2]): r[0] for r in conn.execute(sa.select(fc.id, fc.title, fc.held_on))}


# One encoder for every audit record (json.dumps with options makes one per call); a date
# is written as its isoformat, like _plain does.
_AUDIT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=_plain)


def _audit_row(now: datetime, actor: str, created: bool, entity: str, key: str,
               changes: dict[str, Any]) -> dict[str, Any]:
    """One audit record of a created or updated row."""
    return {"at": now, "actor": actor, "action": "create" if created else "update",
            "entity": entity, "entity_key": key[:254], "changes": _AUDIT_JSON.encode(changes)}


REC_COLUMNS = ("id", "forum_id", "unit_id", "owner_id", "text", "category", "priority",
               "deadline", "deadline_rule", "ref", "original_deadline")


def _stored_recs(conn: sa.Connection, refs: list[str]) -> dict[str, tuple[Any, ...]]:
    """The stored recommendations of these refs (a batch), by ref."""
    rc = Recommendation.__table__.c  # type: ignore[attr-defined]
    cols = [rc[c] for c in REC_COLUMNS]
    out: dict[str, tuple[Any, ...]] = {}
    if conn.dialect.name == "postgresql":  # one array parameter, one statement
        from sqlalchemy.dialects.postgresql import ARRAY

        wanted = sa.bindparam("refs", refs, type_=ARRAY(rc.ref.type))
        for r in conn.execute(sa.select(*cols).where(rc.ref == sa.any_(wanted))):
            out[r[9]] = (*r[:9], r[10])
        return out
    for i in range(0, len(refs), CHUNK):
        for r in conn.execute(sa.select(*cols).where(rc.ref.in_(refs[i:i + CHUNK]))):
            out[r[9]] = (*r[:9], r[10])
    return out


def write_recs(conn: sa.Connection, spool: Spool, db: Stored, cal: WorkCalendar,
               counts: Counts, ids: tuple[dict[Any, int], ...] | None, now: datetime,
               actor: str) -> None:
    """The second pass: the spooled recommendations compared with the stored ones and
    written (unless `ids` is None: a dry run), BATCH_SIZE at a time, audit included."""
    rt = Recommendation.__table__  # type: ignore[attr-defined]
    audit_table = AuditRecord.__table__  # type: ignore[attr-defined]
    unit_id, person_id, forum_id = ids or ({}, {}, {})
    ahead: dict[date, list[date]] = {}  # forum date → the working days after it, as needed

    def plus_hk(start: date, n: int) -> date:
        days = ahead.setdefault(start, [])
        day = days[-1] if days else start
        while len(days) < n:
            day += timedelta(days=1)
            if cal.is_working_day(day):
                days.append(day)
        return days[n - 1] if n else start

    # An import into an empty table (the first, usually the largest) has nothing to compare.
    empty = conn.execute(sa.select(rt.c.id).limit(1)).first() is None
    for batch in spool.batches(BATCH_SIZE):
        stored = {} if empty else _stored_recs(conn, [row[0] for row in batch])
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for ref, forum, held, unit, owner, text, category, priority, due, hk, rule in batch:
            held = date.fromordinal(held)
            new = {"forum": forum, "forum_date": held, "unit": unit, "owner": owner,
                   "text": text, "category": category, "priority": priority,
                   "deadline": plus_hk(held, hk) if hk is not None else date.fromordinal(due),
                   "deadline_rule": rule}
            old = stored.get(ref)
            if old is None:
                new["category"] = category or "lainnya"
                new["priority"] = priority or "normal"
                counts.created += 1
                changes = {k: v for k, v in new.items() if v is not None}
            else:
                title, day = db.forum_key[old[1]]
                new["category"] = category or old[5]
                new["priority"] = priority or old[6]
                # The file says the Berita Acara's deadline: once an approved extension
                # moved the one in force, the file is compared with (and may correct) the
                # original, and the deadline in force stays the approved one (SPEC §7).
                before = {"forum": title, "forum_date": day, "unit": db.unit_code.get(old[2]),
                          "owner": db.person_email.get(old[3]), "text": old[4],
                          "category": old[5], "priority": old[6],
                          "deadline": old[9] or old[7], "deadline_rule": old[8]}
                changes = _diff(before, new)
                if not changes:
                    counts.unchanged += 1
                    continue
                counts.updated += 1
            if ids is None:
                continue
            row = {"forum_id": forum_id[(forum, held)], "unit_id": unit_id[new["unit"]],
                   "owner_id": person_id[owner], "text": text, "category": new["category"],
                   "priority": new["priority"], "deadline": new["deadline"],
                   "deadline_rule": rule}
            if old is None:
                created.append({"ref": ref, **row, "status": Status.open.value, "progress": 0,
                                "created_at": now, "updated_at": now, "last_progress_at": now})
            else:
                if old[9] is not None:  # extended: the file's date is the original
                    row["deadline"] = old[7]
                updated.append({"id": old[0], **row, "original_deadline": (
                    new["deadline"] if old[9] is not None else None), "updated_at": now})
            audit.append(_audit_row(now, actor, old is None, "recommendation", ref, changes))
        _insert(conn, rt, created)
        _bulk_update(conn, rt, updated)
        _insert(conn, audit_table, audit)


# --- the entry point -------------------------------------------------------------------------


KIND_WORDS = {"units": Msg(N_("units")), "people": Msg(N_("people")),
              "forums": Msg(N_("forums")), "recommendations": Msg(N_("recommendations")),
              "participants": Msg(N_("invitations (created: queued now; unchanged: invited "
                                     "or subscribed before)"))}


@dataclass
class ImportReport:
    """How many rows of each kind were (or, on a dry run, would be) created, updated, unchanged."""

    counts: dict[str, Counts]
    dry_run: bool = False
    invitations: list[int] = field(default_factory=list)  # outbox ids, to send at once

    def lines(self) -> list[Msg]:
        """Worded by the edge in the reader's language (`str()` of each is English)."""
        out = [Msg("%(kind)s: %(counts)s", kind=KIND_WORDS[kind], counts=self.counts[kind]
                   .words()) for kind in KIND_WORDS if kind in self.counts]
        if self.dry_run:
            out.append(Msg(N_("dry run: every row is valid; nothing was written")))
        return out


def _check_actor(by: str, parsed: Parsed, db: Stored) -> str:
    email = by.strip().lower()
    if email in parsed.people:
        roles = parsed.people[email].roles or (db.people[email][3] if email in db.people
                                               else "owner")
    elif email in db.people:
        roles = db.people[email][3]
    else:
        raise Forbidden(N_("--by %(email)s: no such person (register them first, or in this "
                           "import)"), email=by)
    if "planner" not in roles.split(";"):
        raise Forbidden(N_("--by %(email)s: only a person with the planner role may import"),
                        email=email)
    return email


def import_files(paths: Sequence[Path | str], dry_run: bool = False,
                 by: str | None = None, scope: str | None = None,
                 link_base: str | None = None) -> ImportReport:
    """Import every file as one change: all rows are written, or none (ImportFailed lists why).

    `scope` (an email): every row must write inside that person's organisation (the tree of
    the top unit above their unit); the web's upload passes the importing planner.

    Participants are invited (a confirmation mail each, queued in the same transaction;
    `link_base`, else TINDAK_BASE_URL, is where its link points): the report's
    `invitations` are their outbox ids, for the edge to send at once.

    Errors name each file as given here (a str keeps the user's spelling, e.g. './a.csv').
    The files are checked before the write lock is taken; if units or people changed in the
    database meanwhile, they are checked again under the lock.
    """
    if not paths:
        raise ImportFailed([Msg(N_("no files given"))])
    actor = by or "import:" + ",".join(Path(path).name for path in paths)
    with session() as s:
        db = Stored.load(s)
    checked = check_files(paths, db) if scope is None else check_files(paths, db, scope)
    try:
        if by is not None:
            actor = _check_actor(by, checked.parsed, db)
        base = link_base or get_settings().base_url
        if checked.parsed.participants and not base:
            raise ImportFailed([Msg(N_("participants are invited by a link to the web app: "
                                       "set TINDAK_BASE_URL first"))])
        if checked.p:
            raise checked.p.refusal()
        invitations: list[int] = []
        with (session if dry_run else write_session)() as s:
            fresh = Stored.load(s)
            changed, db = not fresh.same(db), fresh
            if changed:
                checked.close()
                checked = (check_files(paths, db) if scope is None
                           else check_files(paths, db, scope))
                if by is not None:
                    actor = _check_actor(by, checked.parsed, db)
                if checked.p:
                    raise checked.p.refusal()
            conn, now, actor = s.connection(), utcnow(), actor[:254]
            plan = Plan()
            _plan_units(checked.parsed, db, plan)
            _plan_people(checked.parsed, db, plan)
            ids = None if dry_run else _write_small(conn, plan, now, actor)
            counts = plan.counts
            del plan  # the units' and people's changes: written, and not needed any more
            if "recommendations" in checked.parsed.kinds:
                forum_id = write_forums(conn, checked.forums, db,
                                        counts.setdefault("forums", Counts()),
                                        ids[0] if ids else None, now, actor)
                cal = load_calendar(s, get_settings().language)
                write_recs(conn, checked.spool, db, cal,
                           counts.setdefault("recommendations", Counts()),
                           (*ids, forum_id) if ids else None, now, actor)
            if checked.parsed.participants:
                invitations = _invite(s, checked.parsed.participants, base, dry_run,  # type: ignore[arg-type]
                                      counts.setdefault("participants", Counts()))
    finally:
        checked.close()
    kinds = checked.parsed.kinds
    shown = kinds | ({"forums"} if "recommendations" in kinds else set())
    return ImportReport({k: c for k, c in counts.items() if k in shown}, dry_run, invitations)


def _invite(s: Session, people: list[tuple[str, str, date]], base: str, dry_run: bool,
            counts: Counts) -> list[int]:
    from tindak.public_loop import queue_invitations

    if dry_run:  # (a forum of this import is not written, so count the rows)
        counts.created = len(set(people))
        return []
    keys = {(title, held_on) for _, title, held_on in people}
    forum_ids = {(t, d): i for i, t, d in s.execute(
        sa.select(Forum.id, Forum.title, Forum.held_on).where(
            sa.tuple_(Forum.title, Forum.held_on).in_(sorted(keys))))}  # type: ignore[arg-type]
    wanted = list(dict.fromkeys((email, forum_ids[(title, held_on)])
                                for email, title, held_on in people
                                if (title, held_on) in forum_ids))
    ids = queue_invitations(s, wanted, base, get_settings().language)
    counts.created, counts.unchanged = len(ids), len(wanted) - len(ids)
    return ids
