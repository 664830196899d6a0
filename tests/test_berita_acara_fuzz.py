"""The Berita Acara reader under hostile documents, as tests/test_fuzz_import.py does for
CSV: random headers (variants, case, punctuation), random cells (control characters,
formulas, huge text, dates and times of every kind), merged cells, extra tables, random
bytes and truncated .docx files. Whatever the file, `import_files` imports it or raises
ImportFailed listing `FILE:ROW: column: reason` or `FILE: reason`, never another exception,
and a refused import leaves every table as it was."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import pytest
from docx import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_berita_acara import OPENING, with_directory
from tests.test_fuzz_import import checksum
from tindak.errors import ImportFailed
from tindak.importer import import_files

FUZZ = settings(max_examples=80, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
ROW_ERROR = re.compile(r"(?P<file>.+?):(?P<row>\d+): (?P<col>[^:]+): (?P<why>.+)")
FILE_ERROR = re.compile(r"(?P<file>.+?): (?P<why>.+)")
# XML 1.0 refuses most control characters: python-docx cannot even write them.
XML_SAFE = st.characters(exclude_categories=("Cs",), exclude_characters="".join(
    chr(c) for c in range(32) if c not in (9, 10, 13)) + "\ufffe\uffff")
weird = st.text(XML_SAFE, max_size=40)
HEADS = {
    "no": ["No", "NO.", "Nomor", ""],
    "text": ["Masukan/Usulan", "SARAN", "Rekomendasi", "Masukan / Usulan", "uraian masukan"],
    "plan": ["Rencana Tindak Lanjut", "RENCANA AKSI", "Tindak lanjut"],
    "time": ["Waktu", "Target Waktu", "JANGKA WAKTU", "Batas waktu"],
    "owner": ["Penanggung Jawab", "PIC", "Unit", "Unit Kerja Penanggung Jawab"],
    "junk": ["Keterangan", "", "=SUM(A1)"],
}
TIMES = ["Desember 2024", "Triwulan II 2025", "Semester I 2025", "3 bulan", "30 hari kerja",
         "+10 hk", "Tahun 2025", "31/12/2025", "29/02/2025", "12/31/2025", "Segera",
         "+999 hk", "Juni 2024", "dua bulan", "0 hari", "Triwulan V 2025", ""]
OWNERS = ["Bidang Perlindungan dan Jaminan Sosial", "Tim PST", "Yudi Prasetyo",
          "sitti@dinsos.example.go.id", "nobody@else.example.go.id", "LINJAMSOS", "Bidang",
          "Dinas Sosial Kota Contoh", ""]
cell = st.one_of(weird, st.sampled_from(TIMES), st.sampled_from(OWNERS),
                 st.sampled_from(["=HYPERLINK(\"x\")", "- butir", "@user", "x" * 12_000]))


@pytest.fixture
def base(home: Path) -> Path:
    return with_directory(home)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    doc = Document()
    for line in draw(st.lists(st.one_of(weird, st.sampled_from(
            ["BERITA ACARA", "Nomor: 01/BA/2024", OPENING, "Kegiatan: FKP 2024"])),
            max_size=4)):
        doc.add_paragraph(line)
    kinds = draw(st.permutations(list(HEADS)))[: draw(st.integers(1, len(HEADS)))]
    heads = [draw(st.sampled_from(HEADS[k])) for k in kinds]
    rows = draw(st.lists(st.lists(st.one_of(cell, st.sampled_from(TIMES + OWNERS)),
                                  min_size=len(heads), max_size=len(heads)), max_size=6))
    table = doc.add_table(rows=1, cols=len(heads))
    for j, h in enumerate(heads):
        table.cell(0, j).text = h
    for row in rows:
        cells = table.add_row().cells
        for j, value in enumerate(row):
            cells[j].text = value
    if len(table.rows) > 2 and draw(st.booleans()):
        col = draw(st.integers(0, len(heads) - 1))
        table.cell(1, col).merge(table.cell(len(table.rows) - 1, col))
    if len(heads) > 1 and draw(st.booleans()):
        table.cell(0, 0).merge(table.cell(0, 1))
    if draw(st.booleans()):
        doc.add_table(rows=2, cols=2).cell(0, 0).text = draw(weird)
    buf = io.BytesIO()
    doc.save(buf)
    data = buf.getvalue()
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data if cut is None else data[:cut]


def attempt(folder: Path, data: bytes, name: str = "ba.docx") -> list[str] | None:
    path = Path(tempfile.mkdtemp(dir=folder)) / name
    path.write_bytes(data)
    before = checksum()
    try:
        import_files([str(path)])
    except ImportFailed as exc:
        assert checksum() == before, "a refused import changed the database"
        assert exc.errors
        for line in exc.errors:
            assert "\n" not in line and "\r" not in line, line
            m = ROW_ERROR.fullmatch(line) or FILE_ERROR.fullmatch(line)
            assert m and m["file"] == str(path), line
            if "row" in m.groupdict() and m.groupdict().get("row"):
                assert int(m["row"]) >= 2, line
        return exc.errors
    return None


@FUZZ
@given(data=documents())
def test_any_document_imports_or_is_refused_with_lines(base: Path, data: bytes) -> None:
    attempt(base, data)


@FUZZ
@given(data=st.binary(max_size=2000), name=st.sampled_from(["ba.docx", "ba.doc", "BA.DOCX"]))
def test_any_bytes_are_refused_with_one_line(base: Path, data: bytes, name: str) -> None:
    errors = attempt(base, data, name)
    assert errors is not None and len(errors) == 1
