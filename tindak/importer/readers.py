"""Reading the files: CSV (its encoding checked, its separator sniffed) and XLSX sheets, each
a `Source` whose header is read once and whose rows are streamed on demand, never held. A
file found unreadable part-way raises `Unreadable`, for the check to start again without it."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tindak.errors import N_, Msg
from tindak.importer.columns import COLUMNS, HEADER_ALIASES, KINDS, REQUIRED
from tindak.importer.problems import At, Problems
from tindak.validators import short

READ_CHUNK = 1 << 20  # bytes read at a time when checking a CSV file's encoding


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


class Unreadable(Exception):
    """A file found unreadable part-way through its rows: it is reported and left out."""

    def __init__(self, index: int, report: Callable[[Problems], None]) -> None:
        super().__init__(index)
        self.index, self.report = index, report


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
                        columns=", ".join(f"'{short(n, 30)}'" for n in unknown)))
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        bits.append(Msg(N_("repeated column(s) %(columns)s"),
                        columns=", ".join(f"'{short(n, 30)}'" for n in dupes)))
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
            raise Unreadable(src.index, _unreadable_csv(src.label, src.order, line + 1,
                                                         exc)) from exc
        except UnicodeDecodeError as exc:  # changed since it was checked
            bad = _scan_csv(src.path)[0] or (line + 1, 0)
            raise Unreadable(src.index, _not_utf8(src.label, src.order, *bad)) from exc


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
                                 detail=short(exc, 80)))
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
        raise Unreadable(src.index, report) from exc


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
