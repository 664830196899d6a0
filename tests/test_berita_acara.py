"""A Berita Acara in Word imported (SPEC §8): each test builds its own .docx with
python-docx, imports it into a real database and checks what the planner sees: the rows
and their deadlines, the refusal lines, or what `tindak import --dry-run` prints."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from docx import Document

from tindak.berita_acara import BeritaAcaraPath, Options
from tindak.errors import ImportFailed
from tindak.importer import import_files
from tindak.recs import RecFilter, list_recs

UNITS = ("code,name,parent,timezone\nPEMKOT,Pemerintah Kota Contoh,,WITA\n"
         "DINSOS,Dinas Sosial Kota Contoh,PEMKOT,\n"
         "LINJAMSOS,Bidang Perlindungan dan Jaminan Sosial,DINSOS,\n"
         "PST,Tim Pelayanan Statistik Terpadu,DINSOS,\n")
PEOPLE = ("email,name,unit,role,supervisor\n"
          "kadis@dinsos.example.go.id,\"Dr. Andi Makkasau, M.Si.\",DINSOS,leader;planner,\n"
          "arfah@dinsos.example.go.id,\"Arfah Rahman, S.Sos.\",LINJAMSOS,owner;leader,"
          "kadis@dinsos.example.go.id\n"
          "sitti@dinsos.example.go.id,\"Hj. Sitti Rahmawati, S.E.\",LINJAMSOS,owner,"
          "arfah@dinsos.example.go.id\n"
          "yudi@dinsos.example.go.id,Yudi Prasetyo,PST,owner,kadis@dinsos.example.go.id\n")
OPENING = ("Pada hari ini Selasa tanggal dua puluh sembilan bulan Oktober tahun dua ribu dua "
           "puluh empat, bertempat di Aula Dinas Sosial, telah dilaksanakan Forum Konsultasi "
           "Publik yang diselenggarakan oleh Dinas Sosial Kota Contoh.")
HEADER = ("No", "Masukan/Usulan", "Rencana Tindak Lanjut", "Waktu", "Penanggung Jawab")


def with_directory(home: Path) -> Path:
    """`home`, its database holding the units and people of the office of the tests."""
    (home / "units.csv").write_text(UNITS)
    (home / "people.csv").write_text(PEOPLE)
    import_files([str(home / "units.csv"), str(home / "people.csv")])
    return home


@pytest.fixture
def base(home: Path) -> Path:
    return with_directory(home)


def berita_acara(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = HEADER,
                 opening: str = OPENING, heading: tuple[str, ...] = (
                     "BERITA ACARA", "FORUM KONSULTASI PUBLIK DINAS SOSIAL KOTA CONTOH 2024"),
                 number: str | None = "Nomor: 045/BA-FKP/DINSOS/X/2024",
                 numbered: bool = False, merge: tuple[int, int, int] | None = None) -> Path:
    """A Berita Acara as offices write it: heading, number, opening paragraph, table.
    `numbered` adds the "(1) (2) …" row under the header; `merge` = (column, first row,
    last row) of the table merges that column's cells (row 1 is the first data row)."""
    doc = Document()
    for line in heading:
        doc.add_paragraph(line)
    if number:
        doc.add_paragraph(number)
    doc.add_paragraph(opening)
    table = doc.add_table(rows=1, cols=len(header))
    for j, name in enumerate(header):
        table.cell(0, j).text = name
    if numbered:
        cells = table.add_row().cells
        for j in range(len(header)):
            cells[j].text = f"({j + 1})"
    first = len(table.rows)
    for row in rows:
        cells = table.add_row().cells
        for j, value in enumerate(row):
            cells[j].text = value
    if merge:
        col, a, b = merge
        top = table.cell(first + a - 1, col)
        keep = top.text
        top.merge(table.cell(first + b - 1, col)).text = keep
    doc.save(str(path))
    return path


def recs() -> dict[str, dict]:
    return {r["ref"]: r for r in list_recs(RecFilter())}


SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_the_sample_berita_acara_gives_the_deadlines_the_forum_agreed(home: Path) -> None:
    """The samples' .docx writes times in words ("Triwulan III 2026", "60 hari kerja"): each
    becomes the deadline the CSV of the same forum gives, and each owner the same person."""
    import csv

    import_files([str(SAMPLES / "units.csv"), str(SAMPLES / "people.csv")])
    report = import_files([str(SAMPLES / "berita-acara-dinsos-sulsel-2026.docx")])
    assert str(report.counts["recommendations"]) == "6 created, 0 updated, 0 unchanged"
    import_files([str(SAMPLES / "recommendations.csv")])
    rows = list(csv.DictReader((SAMPLES / "recommendations.csv").open(encoding="utf-8")))
    title = "Forum Konsultasi Publik Dinas Sosial Provinsi Sulawesi Selatan 2026"
    wanted = [(r["owner"], r["text"]) for r in rows if r["forum"] == title]
    got = recs()
    by_csv = {(got[r["ref"]]["owner"], got[r["ref"]]["text"]): got[r["ref"]]["deadline"]
              for r in rows if r["forum"] == title}
    from_docx = {(r["owner"], r["text"].split("\nRencana")[0]): r["deadline"]
                 for ref, r in got.items() if ref.startswith("BA-")}
    assert len(wanted) == 6 and from_docx == by_csv
    assert {r["forum"] for ref, r in got.items() if ref.startswith("BA-")} == {title}


def test_header_variants_merged_cells_and_a_date_in_words(base: Path) -> None:
    path = berita_acara(base / "ba.docx", [
        ("1.", "Persyaratan surat keterangan miskin disederhanakan", "Revisi SOP",
         "Desember 2024", "Bidang Perlindungan dan Jaminan Sosial"),
        ("2.", "Sediakan loket prioritas", "", "Triwulan I 2025", ""),
        ("3.", "Informasi jadwal layanan di media sosial", "Unggah jadwal mingguan",
         "30 hari kerja", "Hj. Sitti Rahmawati, S.E."),
        ("4.", "Kuliah umum statistik", "", "Semester I 2025", "Tim PST"),
        ("5.", "Survei kepuasan tiap tahun", "", "3 bulan", "yudi@dinsos.example.go.id"),
    ], header=("NO.", "SARAN / MASUKAN", "Rencana Aksi", "Target Waktu Penyelesaian",
               "PIC"), numbered=True, merge=(4, 1, 2))
    report = import_files([str(path)])
    assert str(report.counts["recommendations"]) == "5 created, 0 updated, 0 unchanged"
    got = sorted(recs().values(), key=lambda r: r["ref"])
    assert [r["ref"] for r in got] == [f"BA-045-BA-FKP-DINSOS-X-2024-0{i}" for i in range(1, 6)]
    assert [(r["deadline"], r["owner"]) for r in got] == [
        ("2024-12-31", "arfah@dinsos.example.go.id"),  # the unit's head
        ("2025-03-31", "arfah@dinsos.example.go.id"),  # merged cell: the same owner
        ("2024-12-11", "sitti@dinsos.example.go.id"),  # 30 working days after 29 Oct 2024
        ("2025-06-30", "yudi@dinsos.example.go.id"),
        ("2025-01-29", "yudi@dinsos.example.go.id"),
    ]
    assert got[0]["text"] == ("Persyaratan surat keterangan miskin disederhanakan\n"
                              "Rencana tindak lanjut: Revisi SOP")
    assert got[0]["forum"] == "Forum Konsultasi Publik Dinas Sosial Kota Contoh 2024"


def test_reimporting_the_same_document_updates_and_never_duplicates(base: Path) -> None:
    rows = [("1", "Loket prioritas", "", "Desember 2024", "Bidang Perlindungan dan Jaminan "
             "Sosial"), ("2", "Papan informasi", "", "Tahun 2025", "Tim PST")]
    import_files([str(berita_acara(base / "ba.docx", rows))])
    rows[1] = ("2", "Papan informasi", "", "Semester I 2025", "Tim PST")
    report = import_files([str(berita_acara(base / "ba.docx", rows))])
    assert str(report.counts["recommendations"]) == "0 created, 1 updated, 1 unchanged"
    got = recs()
    assert len(got) == 2 and got["BA-045-BA-FKP-DINSOS-X-2024-02"]["deadline"] == "2025-06-30"


def test_a_wrong_owner_gets_a_hint_and_nothing_is_written(base: Path) -> None:
    path = berita_acara(base / "ba.docx", [
        ("1", "Loket prioritas", "", "Desember 2024", "Bidang Perlindungan dan Jaminan Sosal"),
        ("2", "Papan informasi", "", "Segera", "Tim PST"),
        ("3", "Kanal pengaduan", "", "Semester III 2025", "Yudi Prasetyo"),
        ("4", "Survei", "", "31/02/2025", "LINJAMSSO"),
        ("5", "Jadwal", "", "Juni 2024", "Tim PST"),
    ])
    with pytest.raises(ImportFailed) as refused:
        import_files([str(path)])
    assert refused.value.errors == [
        f"{path}:2: Penanggung Jawab: 'Bidang Perlindungan dan Jaminan Sosal' is not a "
        "registered unit or person (did you mean 'Bidang Perlindungan dan Jaminan Sosial'?)",
        f"{path}:3: Waktu: 'Segera' is not a time this reader knows (write e.g. 31/12/2026, "
        "Desember 2026, Triwulan II 2026, Semester I 2026, Tahun 2026, 3 bulan, 30 hari "
        "kerja or +10 hk)",
        f"{path}:4: Waktu: 'Semester III 2025': a semester of 2025 is numbered 1 to 2 "
        "(I to II)",
        f"{path}:5: Waktu: '31/02/2025' is not a real date",
        f"{path}:5: Penanggung Jawab: 'LINJAMSSO' is not a registered unit or person "
        "(did you mean 'LINJAMSOS'?)",
        f"{path}:6: Waktu: 'Juni 2024' is 2024-06-30, before the forum date 2024-10-29",
    ]
    assert recs() == {}
    # The planner fixes the owners from the hints and the times: the import goes through.
    fixed = berita_acara(base / "ba.docx", [
        ("1", "Loket prioritas", "", "Desember 2024", "Bidang Perlindungan dan Jaminan Sosial"),
        ("2", "Papan informasi", "", "Januari 2025", "Tim PST"),
        ("3", "Kanal pengaduan", "", "Semester II 2025", "Yudi Prasetyo"),
        ("4", "Survei", "", "28/02/2025", "LINJAMSOS"),
        ("5", "Jadwal", "", "Juni 2025", "Tim PST"),
    ])
    assert str(import_files([str(fixed)]).counts["recommendations"]).startswith("5 created")


def test_without_a_date_in_the_document_the_forum_date_comes_from_the_option(
        base: Path) -> None:
    path = berita_acara(base / "ba.docx", [("1", "Loket", "", "+10 hk", "Tim PST")],
                        opening="Forum menyepakati hal-hal berikut.")
    with pytest.raises(ImportFailed) as refused:
        import_files([str(path)])
    assert refused.value.errors == [
        f"{path}: forum date: the document writes no date of the forum (e.g. 'Pada hari ini "
        "Selasa tanggal … bulan … tahun …'); give --forum-date"]
    given = BeritaAcaraPath(str(path), Options(forum_date=date(2026, 1, 5), unit="DINSOS"))
    import_files([given])
    # 10 working days after 5 January 2026, 16 January (Isra Mikraj) being a holiday
    assert [r["deadline"] for r in recs().values()] == ["2026-01-20"]


def test_a_weekday_that_disagrees_with_the_date_is_refused(base: Path) -> None:
    path = berita_acara(base / "ba.docx", [("1", "Loket", "", "Desember 2024", "Tim PST")],
                        opening=OPENING.replace("Selasa", "Senin"))
    with pytest.raises(ImportFailed) as refused:
        import_files([str(path)])
    assert refused.value.errors == [
        f"{path}: forum date: the document says Senin, but 29 Oktober 2024 is a Selasa; "
        "correct it or give --forum-date"]


def test_a_document_without_a_recommendations_table_is_refused(base: Path) -> None:
    path = berita_acara(base / "ba.docx", [("Pimpinan Forum", "Wakil Peserta")],
                        header=("Tanda tangan", "Nama"))
    (base / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 an old Word file")
    with pytest.raises(ImportFailed) as refused:
        import_files([str(path), str(base / "old.doc")])
    assert refused.value.errors == [
        f"{path}: no recommendations table: none has a header with Masukan/Usulan/Saran/"
        "Rekomendasi, Waktu and Penanggung Jawab/PIC/Unit",
        f"{base / 'old.doc'}: .doc files are not read: open it in Word and save it as Word "
        "Document (.docx)"]


def test_dry_run_shows_each_time_as_the_date_it_became(base: Path, tindak, settings_env) -> None:  # type: ignore[no-untyped-def]
    settings_env(LANGUAGE="en")  # the English wording of the counts (Indonesian by default)
    path = berita_acara(base / "ba.docx", [
        ("1", "Loket prioritas", "", "Akhir Desember 2024", "Bidang Perlindungan dan "
         "Jaminan Sosial"),
        ("2", "Papan informasi", "", "+10 hk", "Tim PST")])
    done = tindak("import", str(path), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{path}: Forum Konsultasi Publik Dinas Sosial Kota Contoh 2024 (2024-10-29), "
        "045/BA-FKP/DINSOS/X/2024, organised by DINSOS",
        "  row 2: BA-045-BA-FKP-DINSOS-X-2024-01: 'Akhir Desember 2024' → 2024-12-31; Bidang "
        "Perlindungan dan Jaminan Sosial → arfah@dinsos.example.go.id (LINJAMSOS)",
        "  row 3: BA-045-BA-FKP-DINSOS-X-2024-02: '+10 hk' = +10 hk → 2024-11-12; Tim PST → "
        "yudi@dinsos.example.go.id (PST)",
        "forums: 1 created, 0 updated, 0 unchanged",
        "recommendations: 2 created, 0 updated, 0 unchanged",
        "dry run: every row is valid; nothing was written",
    ]
    assert recs() == {}


def test_the_forum_belongs_to_the_organiser_the_document_names(base: Path) -> None:
    """The forum is the organiser's (Dinas Sosial), not the unit of its first row's owner."""
    from sqlmodel import select

    from models import Forum, Unit, session

    path = berita_acara(base / "ba.docx", [
        ("1", "Loket prioritas", "", "Desember 2024", "Tim PST"),
        ("2", "Papan informasi", "", "Tahun 2025", "Bidang Perlindungan dan Jaminan Sosial")])
    import_files([str(path)])
    with session() as s:
        forum = s.exec(select(Forum)).one()
        assert s.get(Unit, forum.unit_id).code == "DINSOS"
