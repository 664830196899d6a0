"""The import under hostile files (SPEC §3): random CSV and XLSX content, wrong encodings,
BOMs, huge cells, formulas, control characters, impossible dates, broken quoting, thousands
of columns, empty and header-only files, wrong sheets, zips that are not workbooks and
truncated ones. Whatever the file, `import_files` imports it or raises ImportFailed listing
`FILE:ROW: column: reason` (or `FILE: reason` for a file it cannot read), never another
exception, and a refused import leaves every table exactly as it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlmodel import SQLModel

from models import get_engine
from tindak.errors import ImportFailed
from tindak.importer import import_files

FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

# A row error: `FILE:ROW: column: reason`, FILE being the path as given or, for a workbook,
# `PATH[sheet]`; a file error: `FILE: reason`. One line each: a quoted cell shows its line
# breaks as escapes (other invisible characters: see the xfail tests at the end).
ROW_ERROR = re.compile(r"(?P<file>.+?(?:\[[^\]]*\])?):(?P<row>\d+): (?P<col>[a-z_]+): (?P<why>.+)")
FILE_ERROR = re.compile(r"(?P<file>.+?): (?P<why>.+)")
COLUMNS = {"code", "name", "parent", "timezone", "email", "unit", "role", "supervisor", "ref",
           "forum", "forum_date", "text", "category", "owner", "deadline", "priority", "place",
           "minutes_ref", "header", "row", "file"}

UNITS = "code,name,parent,timezone\nROOT,Pemerintah Kota,,WIB\nDINSOS,Dinas Sosial,ROOT,\n"
PEOPLE = ("email,name,unit,role,supervisor\nkadis@dinsos.example.go.id,Kepala Dinas,ROOT,"
          "planner;leader,\npic@dinsos.example.go.id,Siti,DINSOS,owner,"
          "kadis@dinsos.example.go.id\n")
HEADERS = {
    "units": ["code", "name", "parent", "timezone"],
    "people": ["email", "name", "unit", "role", "supervisor"],
    "recommendations": ["ref", "forum", "forum_date", "unit", "text", "category", "owner",
                        "deadline", "priority", "place", "minutes_ref"],
}
GOOD = {  # a valid value for every column, against the base data
    "code": "BIDANG", "name": "Bidang Perlindungan", "parent": "DINSOS", "timezone": "WITA",
    "email": "staf@dinsos.example.go.id", "unit": "DINSOS", "role": "owner",
    "supervisor": "kadis@dinsos.example.go.id", "ref": "FZ-1", "forum": "FKP Dinsos 2026",
    "forum_date": "05/01/2026", "text": "Perjelas persyaratan layanan", "category": "prosedur",
    "owner": "pic@dinsos.example.go.id", "deadline": "+10 hk", "priority": "tinggi",
    "place": "Aula", "minutes_ref": "BA/01/2026",
}
DATES = ["29/02/2025", "31/04/2026", "2026-02-30", "30/02/2026", "00/00/0000", "2026-13-01",
         "12/31/2026", "1/1/1999", "31/12/2100", "01/01/2101", "2026-1-5", "2026-01-05T07:30",
         "2026-01-05 25:61", "5 Januari 2026", "45292", "+0 hk", "+10hk", "+ 10 HK", "+261 hk",
         "+9999 hk", "-3 hk", "+10 hari", "2025-12-31"]
CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\u2028\u202e\ufeff"


# ---------------------------------------------------------------- the database and the check


@pytest.fixture
def base(home: Path) -> Path:
    """Units and people to refer to; returns a folder for the examples' files."""
    (home / "base").mkdir()
    (home / "base" / "units.csv").write_text(UNITS)
    (home / "base" / "people.csv").write_text(PEOPLE)
    import_files([str(home / "base" / "units.csv"), str(home / "base" / "people.csv")])
    return home


def checksum() -> tuple[dict[str, int], str]:
    """Row counts of every table, and a digest of every row of every table."""
    digest = hashlib.sha256()
    counts = {}
    with get_engine().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            counts[table.name] = len(rows)
            digest.update(f"{table.name}:{rows!r}".encode())
    return counts, digest.hexdigest()


def attempt(folder: Path, files: list[tuple[str, bytes]]) -> list[str] | None:
    """Write the files, import them; None when imported, else the (checked) error lines."""
    sub = Path(tempfile.mkdtemp(dir=folder))
    paths = []
    for i, (name, data) in enumerate(files):
        path = sub / f"{i}-{name}"
        path.write_bytes(data)
        paths.append(str(path))
    before = checksum()
    try:
        report = import_files(paths)
    except ImportFailed as exc:
        assert checksum() == before, "a refused import changed the database"
        assert exc.errors, "refused without a reason"
        for line in exc.errors:
            check_line(line, paths)
        outcome("refused: " + ("rows" if any(map(ROW_ERROR.fullmatch, exc.errors)) else "file"))
        return exc.errors
    written = any(c.created or c.updated for c in report.counts.values())
    outcome("imported: " + ("rows written" if written else "nothing new"))
    return None


def outcome(what: str) -> None:
    """Counted by `pytest --hypothesis-show-statistics` (how deep the examples get)."""
    if currently_in_test_context():
        event(what)


def check_line(line: str, paths: list[str]) -> None:
    assert "\n" not in line and "\r" not in line, f"not one line: {line!r}"
    row = ROW_ERROR.fullmatch(line)
    if row and row["file"].split("[", 1)[0] in paths:
        assert row["col"] in COLUMNS, line
        assert int(row["row"]) >= 1, line
        return
    whole = FILE_ERROR.fullmatch(line)
    assert whole and whole["file"] in paths, f"not an error line: {line!r}"


# ---------------------------------------------------------------- strategies

weird_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
cells = st.one_of(
    weird_text,
    st.sampled_from(DATES),
    st.builds(lambda c, t: c + t, st.sampled_from("=+-@"), weird_text),  # formulas
    st.sampled_from(["=1+1", "=HYPERLINK(\"http://x\")", "@SUM(A1)", "-", "+", "=", "--",
                     "+62 811"]),
    st.builds(lambda n: "x" * n, st.integers(9_990, 10_020)),  # around the 10,000 limit
    st.builds(lambda s: s, st.text(st.sampled_from(CONTROL), min_size=1, max_size=5)),
    st.sampled_from(["", " ", "\t", "A@B", "a@@b.go.id", "pic@DINSOS.example.go.id ",
                     "pic@dinsos.example.go.id\n", "ÄÖ@例え.jp", "ROOT", "dinsos", "wib",
                     "Asia/Jakarta", "Europe/Paris", "perencana;PIMPINAN", "owner;;", "lainnya",
                     "sarana", "Tinggi", "urgent", "FZ-1", "FZ-1 ", "fz-1"]),
)


@st.composite
def rows_for(draw, kind: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """A header (often valid, sometimes odd) and rows of good values with nasty ones mixed in."""
    cols = list(HEADERS[kind])
    if draw(st.booleans()):
        cols = draw(st.permutations(cols))
    cols = cols[: draw(st.integers(1, len(cols)))] if draw(st.integers(0, 9)) == 0 else cols
    header = list(cols)
    if draw(st.integers(0, 3)) == 0:  # one column named oddly (most are still read)
        at = draw(st.integers(0, len(cols) - 1))
        c = cols[at]
        header[at] = draw(st.sampled_from([c.upper(), f" {c} ", c.replace("_", " "), c + "x",
                                           c.replace("_", "-"), "", "roles"]))
    rows = [header]
    tag = draw(st.integers(0, 30))  # keys repeat across files and examples now and then
    for n in range(draw(st.integers(0, 4))):
        # A clean row, a row with one bad cell, or a row of chaos.
        odds = draw(st.sampled_from([0, 0, 0, len(cols), 3]))
        row = []
        for c in cols:
            value = GOOD[c]
            if c in ("ref", "code", "email"):
                value = value.replace("1", f"{tag}-{n}") if c == "ref" else (
                    f"{tag}X{n}{value}" if c == "code" else f"s{tag}.{n}.{value}")
            row.append(draw(cells) if odds and draw(st.integers(1, odds)) == 1 else value)
        if draw(st.integers(0, 7)) == 0:  # cells beyond the header
            row += draw(st.lists(cells, min_size=1, max_size=3))
        rows.append(row)
    return rows


@st.composite
def csv_file(draw) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(sorted(HEADERS)))
    rows = draw(rows_for(kind))
    if draw(st.booleans()):  # a well-formed file (its cells may still be wrong)
        sep, end = draw(st.sampled_from([",", ";"])), draw(st.sampled_from(["\n", "\r\n"]))
        buf = io.StringIO()
        csv.writer(buf, delimiter=sep, lineterminator=end).writerows(rows)
        bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
        return draw(st.sampled_from(["data.csv", "data.CSV"])), bom + buf.getvalue().encode()
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    how = draw(st.sampled_from(["csv", "plain", "mixed"]))
    if how == "csv":
        buf = io.StringIO()
        csv.writer(buf, delimiter=sep, lineterminator=end).writerows(rows)
        text = buf.getvalue()
    elif how == "plain":  # no quoting: separators and line breaks in cells break the rows
        text = end.join(sep.join(r) for r in rows) + end
    else:  # a separator per line
        text = "".join(draw(st.sampled_from([",", ";"])).join(r) + end for r in rows)
    if draw(st.integers(0, 5)) == 0:  # a quote left open
        at = draw(st.integers(0, len(text)))
        text = text[:at] + '"' + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1",
                                     "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 5)) == 0:  # random bytes somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    name = draw(st.sampled_from(["data.csv", "data.txt", "data.tsv", "data"]))
    return name, data


def _safe(value: object) -> object:
    """openpyxl refuses control characters in a cell: drop them (the CSV cases have them)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


xlsx_values = st.one_of(
    cells.map(_safe),
    st.none(),
    st.integers(-10**6, 10**12),
    st.floats(allow_nan=True, allow_infinity=False),
    st.dates(date(1900, 3, 1), date(2200, 1, 1)),
    st.datetimes(datetime(1900, 3, 1), datetime(2200, 1, 1)),
    st.booleans(),
)


@st.composite
def xlsx_file(draw) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    titles = draw(st.lists(st.sampled_from(["units", "people", "recommendations", "Units",
                                            " people ", "RECOMMENDATIONS", "Sheet1",
                                            "rekomendasi", "unit"]),
                           min_size=1, max_size=4, unique_by=lambda t: t.strip().lower()))
    for title in titles:
        ws = wb.create_sheet(title)
        kind = title.strip().lower()
        rows = draw(rows_for(kind)) if kind in HEADERS else [["a", "b"], ["1", "2"]]
        for row in rows:
            ws.append([draw(xlsx_values) if draw(st.integers(0, 4)) == 0 else _safe(v)
                       for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return draw(st.sampled_from(["book.xlsx", "book.XLSX", "book.xlsm"])), buf.getvalue()


@st.composite
def broken_file(draw) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    what = draw(st.sampled_from(["bytes", "truncated", "zip", "renamed", "empty", "header",
                                 "wide", "huge", "xls"]))
    if what == "bytes":
        return draw(st.sampled_from(["x.csv", "x.xlsx"])), draw(st.binary(max_size=300))
    if what == "truncated":
        name, data = draw(xlsx_file())
        return name, data[: draw(st.integers(0, len(data) - 1))]
    if what == "zip":  # a zip, but not a workbook (or a workbook missing a part)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for member in draw(st.lists(st.sampled_from(
                    ["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml",
                     "_rels/.rels", "readme.txt"]), unique=True, max_size=4)):
                z.writestr(member, draw(st.sampled_from(["", "<x/>", "<?xml version='1.0'?>",
                                                          "not xml"])))
        return "x.xlsx", buf.getvalue()
    if what == "renamed":  # a workbook called .csv, a CSV called .xlsx
        name, data = draw(st.one_of(xlsx_file(), csv_file()))
        return ("x.csv" if name.lower().startswith("book") else "x.xlsx"), data
    if what == "empty":
        return "x.csv", draw(st.sampled_from([b"", b"\n", b"\xef\xbb\xbf", b" \r\n \r\n",
                                              b"\xff\xfe", b",,,\n"]))
    if what == "header":
        kind = draw(st.sampled_from(sorted(HEADERS)))
        return "x.csv", (",".join(HEADERS[kind]) + draw(st.sampled_from(["", "\n", "\n\n"])
                                                        )).encode()
    if what == "wide":  # thousands of columns in a row
        n = draw(st.integers(1_000, 6_000))
        head = ",".join(HEADERS["recommendations"])
        row = ",".join([GOOD[c] for c in HEADERS["recommendations"]] + ["x"] * n)
        return "x.csv", f"{head}\n{row}\n".encode()
    if what == "huge":  # cells past the limit, some past csv's own field limit
        n = draw(st.sampled_from([10_001, 50_000, 140_000]))
        head = ",".join(HEADERS["recommendations"])
        good = dict(GOOD, text="t" * n)
        return "x.csv", (head + "\n" + ",".join(good[c] for c in HEADERS["recommendations"])
                         + "\n").encode()
    return draw(st.sampled_from(["x.xls", "x.ods", "x.pdf", "x"])), b"PK\x03\x04junk"


# ---------------------------------------------------------------- the properties


@FUZZ
@given(files=st.lists(csv_file(), min_size=1, max_size=3))
def test_random_csv_files_are_imported_or_refused_with_located_errors(base: Path, files):
    attempt(base, files)


@settings(FUZZ, max_examples=70)
@given(files=st.lists(xlsx_file(), min_size=1, max_size=2))
def test_random_workbooks_are_imported_or_refused_with_located_errors(base: Path, files):
    attempt(base, files)


@settings(FUZZ, max_examples=90)
@given(files=st.lists(st.one_of(broken_file(), csv_file()), min_size=1, max_size=3))
@example(files=[("x.csv", b"")])
@example(files=[("x.csv", "\ufeffref;forum\n".encode())])
def test_broken_files_are_refused_naming_the_file(base: Path, files):
    attempt(base, files)


@settings(FUZZ, max_examples=25)
@given(file=st.one_of(csv_file(), xlsx_file(), broken_file()))
def test_the_import_command_never_prints_a_traceback(base: Path, file, capsys):
    from tindak.cli import main

    sub = Path(tempfile.mkdtemp(dir=base))
    path = sub / file[0]
    path.write_bytes(file[1])
    before = checksum()
    code = main(["import", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        assert err == "" and out.strip()
        return
    assert code == 1 and checksum() == before
    *errors, last = err.rstrip("\n").split("\n")
    # The CLI speaks Indonesian by default (TINDAK_LANGUAGE).
    assert re.fullmatch(r"kesalahan: impor ditolak: \d+ kesalahan, tidak ada yang ditulis",
                        last), err
    assert errors, err


# ---------------------------------------------------------------- the cases named in SPEC §3


def _csv(*rows: list[str], sep: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode()


REC_HEAD = HEADERS["recommendations"][:9]


def _rec(**over: str) -> list[str]:
    return [over.get(c, GOOD[c]) for c in REC_HEAD]


@pytest.mark.parametrize("name,data,expect", [
    ("empty.csv", b"", r"empty\.csv: the file is empty"),
    ("head.csv", ",".join(REC_HEAD).encode() + b"\n", None),  # a header alone imports nothing
    ("bom.csv", b"\xef\xbb\xbf" + _csv(REC_HEAD, _rec(), sep=";"), None),
    ("utf16.csv", _csv(REC_HEAD, _rec()).decode().encode("utf-16"),
     r"utf16\.csv:1: file: not UTF-8"),
    ("latin1.csv", _csv(REC_HEAD, _rec(text="Pelayanan café")).decode().encode("latin-1"),
     r"latin1\.csv:2: file: not UTF-8 text \(byte 0xe9\)"),
    ("leap.csv", _csv(REC_HEAD, _rec(forum_date="29/02/2025")),
     r"leap\.csv:2: forum_date: '29/02/2025' is not a real date"),
    ("april.csv", _csv(REC_HEAD, _rec(deadline="31/04/2026")),
     r"april\.csv:2: deadline: '31/04/2026' is not a real date"),
    ("formula.csv", _csv(REC_HEAD, _rec(text="=HYPERLINK(\"http://evil\")")),
     r"formula\.csv:2: text: starts with '=', .*"),
    ("at.csv", _csv(REC_HEAD, _rec(forum="@SUM(A1)")), r"at\.csv:2: forum: starts with '@'.*"),
    ("open.csv", b",".join(x.encode() for x in REC_HEAD) + b'\n"FZ-1,x\n' + b"y" * 200_000,
     r"open\.csv:2: row: unreadable CSV .*"),
    ("wide.csv", _csv(REC_HEAD, _rec() + ["x"] * 5_000),
     r"wide\.csv:2: row: has 5009 or more cells but the header names 9 columns .*"),
    ("huge.csv", _csv(REC_HEAD, _rec(text="t" * 12_000)),
     r"huge\.csv:2: text: is 12000 characters long; at most 10000 are accepted"),
    ("hk.csv", _csv(REC_HEAD, _rec(deadline="+261 hk")),
     r"hk\.csv:2: deadline: '\+261 hk' is more than a year of working days .*"),
    ("notes.pdf", b"%PDF-1.4", r"notes\.pdf: not a \.csv or \.xlsx file"),
    ("fake.xlsx", b"PK\x03\x04 not really", r"fake\.xlsx: not a readable \.xlsx workbook .*"),
])
def test_named_hostile_files(base: Path, name: str, data: bytes, expect: str | None):
    errors = attempt(base, [(name, data)])
    if expect is None:
        assert errors is None
    else:
        assert errors and re.search(expect, errors[0]), errors


def _workbook(**sheets: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_workbook_with_wrong_sheet_names_is_refused_naming_them(base: Path):
    errors = attempt(base, [("book.xlsx", _workbook(Sheet1=[["a"]], rekomendasi=[["b"]]))])
    assert errors and errors[0].endswith(
        "book.xlsx: no sheet named units, people or recommendations (found: Sheet1, rekomendasi)")


def test_workbook_formulas_are_refused_not_evaluated(base: Path):
    book = _workbook(recommendations=[REC_HEAD, _rec(text="=1+1", forum="=A1&\"x\"")])
    errors = attempt(base, [("book.xlsx", book)])
    assert errors and [e.split(": ")[1] for e in errors] == ["forum", "text"], errors
    assert all("[recommendations]:2: " in e for e in errors)


def test_a_truncated_workbook_is_refused_naming_the_file(base: Path):
    book = _workbook(units=[["code", "name"], ["ZZ", "Zeta"]])
    for cut in (10, len(book) // 2, len(book) - 10):
        errors = attempt(base, [("book.xlsx", book[:cut])])
        assert errors and len(errors) == 1 and "not a readable .xlsx workbook" in errors[0]


# ---------------------------------------------------------------- bugs found by the fuzzing


@pytest.mark.parametrize("column", ["text", "forum", "place", "name"])
def test_a_nul_byte_in_any_cell_is_refused_on_both_databases(base: Path, column: str):
    # Found by this fuzzing on PostgreSQL (psycopg's DataError from the COPY), fixed since.
    kind = "people" if column == "name" else "recommendations"
    good = dict(GOOD, email="nul@dinsos.example.go.id")
    errors = attempt(base, [("nul.csv", _csv(HEADERS[kind], [
        good[c] if c != column else "a\x00b" for c in HEADERS[kind]]))])
    assert errors and len(errors) == 1, errors
    row = ROW_ERROR.fullmatch(errors[0])
    assert row and (row["row"], row["col"]) == ("2", column) and "NUL" in row["why"], errors


@pytest.mark.parametrize("column,value", [
    ("forum_date", "2026\n01"), ("category", "a\nb"), ("owner", "\x1b[31mx"),
    ("priority", "urgent\r\n!"), ("deadline", "soon\x08\x08"),
])
def test_every_error_is_one_printable_line(base: Path, column: str, value: str):
    errors = attempt(base, [("ctl.csv", _csv(REC_HEAD, _rec(**{column: value})))])
    assert errors
    for line in errors:
        assert line.isprintable(), repr(line)


def _damaged(part: str, how: str) -> bytes:
    """A workbook of one good units row, with one part emptied, cut short or corrupted."""
    book = _workbook(units=[["code", "name"], *[[f"Z{i}", "Zeta " * 20] for i in range(40)]])
    src = zipfile.ZipFile(io.BytesIO(book))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == part:
                data = b"" if how == "empty" else data[: len(data) // 2]
            dst.writestr(info.filename, data)
    data = bytearray(out.getvalue())
    if how == "inflate":  # a flipped bit in the compressed sheet: zlib cannot inflate it
        info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for pos in range(start + 2, start + info.compress_size):
            trial = bytearray(data)
            trial[pos] ^= 0x55
            try:
                zlib.decompress(bytes(trial[start:start + info.compress_size]), -15)
            except zlib.error:
                return bytes(trial)
        raise AssertionError("no corrupting byte found")
    return bytes(data)


@pytest.mark.parametrize("part,how", [
    ("[Content_Types].xml", "empty"), ("xl/workbook.xml", "cut"), ("xl/styles.xml", "empty"),
    ("xl/worksheets/sheet1.xml", "cut"), ("xl/worksheets/sheet1.xml", "inflate"),
])
def test_a_damaged_workbook_is_refused_naming_the_file(base: Path, part: str, how: str):
    path = base / "damaged.xlsx"
    path.write_bytes(_damaged(part, how))
    before = checksum()
    with pytest.raises(ImportFailed) as exc:
        import_files([str(path)])
    assert checksum() == before
    assert exc.value.errors[0].startswith(f"{path}: not a readable .xlsx workbook")


@pytest.mark.parametrize("name,data", [
    ("dup.csv", "code,name,\x7f,\x7f\nZ1,Zeta,,\n"),
    ("unit.csv", "email,name,unit\nb@dinsos.example.go.id,B,DIN\u2028SOS\n"),
    ("parent.csv", "code,name,parent\nZ2,Zeta,DIN\x85SOS\n"),
    ("rec.csv", ",".join(REC_HEAD) + "\n" + ",".join(_rec(unit="DIN\u202eSOS")) + "\n"),
])
def test_errors_quoting_codes_and_headers_are_printable(base: Path, name: str, data: str):
    errors = attempt(base, [(name, data.encode())])
    assert errors and all(line.isprintable() for line in errors), errors


@pytest.mark.parametrize("code", ["DIN\u200bSOS", "DIN\u202eSOS", "DIN\x85SOS"])
def test_a_code_with_an_invisible_character_is_refused(base: Path, code: str):
    errors = attempt(base, [("units.csv", f"code,name\n{code},Dinas Sosial Kembar\n".encode())])
    assert errors and ROW_ERROR.fullmatch(errors[0])["col"] == "code", errors  # type: ignore[index]
