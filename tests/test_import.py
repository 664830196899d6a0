"""The import (SPEC §3): all or nothing, every error located as FILE:ROW: column, bulk and
idempotent re-import, CSV dialects and XLSX workbooks, `+N hk` deadlines, the CLI edge."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import AuditRecord, Forum, Person, Recommendation, Unit, session
from tindak import recs
from tindak.cli import main
from tindak.errors import Forbidden, ImportFailed
from tindak.holidays_admin import add_holiday
from tindak.importer import import_files

D = "dinsos.example.go.id"
UNITS = [
    ("code", "name", "parent", "timezone"),
    ("PROV-73", "Pemerintah Provinsi Sulawesi Selatan", "", "Asia/Makassar"),
    ("DINSOS-73", "Dinas Sosial Provinsi Sulawesi Selatan", "PROV-73", "Asia/Makassar"),
    ("DINSOS-73-LJS", "Bidang Perlindungan dan Jaminan Sosial", "DINSOS-73", "Asia/Makassar"),
    ("BPS-3404", "BPS Kabupaten Sleman", "", ""),
]
PEOPLE = [
    ("email", "name", "unit", "role", "supervisor"),
    (f"kadis@{D}", "Drs. Andi Muhammad Yusuf", "DINSOS-73", "leader;planner", ""),
    (f"sitti@{D}", "Sitti Rahmawati", "DINSOS-73-LJS", "owner", f"kadis@{D}"),
    ("nur.aini@bps3404.example.go.id", "Nur Aini", "BPS-3404", "owner", ""),
]
REC_HEAD = ("ref", "forum", "forum_date", "unit", "text", "category", "owner", "deadline",
            "priority")
FORUM = "Forum Konsultasi Publik Dinas Sosial 2026"


def rec(ref: str = "DS-01", **over: str) -> tuple[str, ...]:
    row = {"ref": ref, "forum": FORUM, "forum_date": "2026-07-08", "unit": "DINSOS-73-LJS",
           "text": "Memperjelas alur dan persyaratan layanan.", "category": "prosedur",
           "owner": f"sitti@{D}", "deadline": "2026-09-30", "priority": "high"}
    row.update(over)
    return tuple(row[c] for c in REC_HEAD)


def write(name: str, rows: list[tuple[str, ...]], sep: str = ",", bom: bool = False,
          encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\r\n").writerows(rows)
    path = Path(name)  # relative: the `home` fixture runs each test in its own folder
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(encoding))
    return path


def base() -> list[Path]:
    return [write("units.csv", UNITS), write("people.csv", PEOPLE)]


def counts() -> dict[str, int]:
    with session() as s:
        return {t.__tablename__: s.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (Unit, Person, Forum, Recommendation, AuditRecord)}


def refused(paths: list[Path], **kw) -> list[str]:  # type: ignore[no-untyped-def]
    """The errors of a refused import, after checking that it wrote nothing."""
    before = counts()
    with pytest.raises(ImportFailed) as exc:
        import_files(paths, **kw)
    assert counts() == before
    return exc.value.errors


def where(errors: list[str]) -> list[str]:
    """FILE:ROW: column of each error."""
    return [": ".join(e.split(": ")[:2]) for e in errors]


def refused_rows(*rows: tuple[str, ...], **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return refused([*base(), write("recs.csv", [REC_HEAD, *rows])], **kw)


# --- a good import -------------------------------------------------------------------------


def test_units_people_and_recommendations_are_created_whatever_the_order(home):
    paths = [write("recs.csv", [REC_HEAD, rec("DS-01"), rec("DS-02", unit="", category="",
                                                            priority="")]), *base()]
    report = import_files(list(reversed(paths)))
    assert report.lines() == [
        "units: 4 created, 0 updated, 0 unchanged",
        "people: 3 created, 0 updated, 0 unchanged",
        "forums: 1 created, 0 updated, 0 unchanged",
        "recommendations: 2 created, 0 updated, 0 unchanged",
    ]
    rows = {r["ref"]: r for r in recs.list_recs()}
    assert rows["DS-01"]["unit"] == "DINSOS-73-LJS"
    # Empty cells take the defaults: the owner's unit, lainnya, normal.
    assert (rows["DS-02"]["unit"], rows["DS-02"]["category"], rows["DS-02"]["priority"]) == (
        "DINSOS-73-LJS", "lainnya", "normal")
    with session() as s:
        tz = dict(s.execute(sa.select(Unit.code, Unit.timezone)).all())
        roles = dict(s.execute(sa.select(Person.email, Person.roles)).all())
        forum = s.execute(sa.select(Forum.unit_id, Unit.code).join(Unit)).one()
    assert tz["BPS-3404"] == "Asia/Jakarta" and tz["DINSOS-73"] == "Asia/Makassar"
    assert roles[f"kadis@{D}"] == "planner;leader"
    assert forum[1] == "DINSOS-73-LJS"  # the organising unit: that of the forum's first row


def test_emails_are_lowercased_and_aliases_accepted(home):
    people = [PEOPLE[0], (" Kadis@DINSOS.example.go.id ", "Kepala", "DINSOS-73", "Pimpinan;PLANNER",
                          "")]
    units = [UNITS[0], UNITS[1], ("DINSOS-73", "Dinas Sosial", "PROV-73", "wita")]
    import_files([write("u.csv", units), write("p.csv", people),
                  write("r.csv", [REC_HEAD, rec(owner="KADIS@dinsos.example.go.id",
                                                unit="DINSOS-73", priority="Tinggi")])])
    row = next(recs.list_recs())
    assert (row["owner"], row["priority"]) == (f"kadis@{D}", "high")


def test_dry_run_checks_and_writes_nothing(home):
    paths = [*base(), write("recs.csv", [REC_HEAD, rec()])]
    report = import_files(paths, dry_run=True)
    assert "recommendations: 1 created, 0 updated, 0 unchanged" in report.lines()
    assert report.lines()[-1] == "dry run: every row is valid; nothing was written"
    assert set(counts().values()) == {0}


def test_reimport_updates_never_duplicates_and_keeps_the_follow_up(home):
    paths = [*base(), write("recs.csv", [REC_HEAD, rec("DS-01"), rec("DS-02")])]
    import_files(paths)
    recs.update_rec("DS-01", by=f"sitti@{D}", progress=40, note="Draf SOP")
    report = import_files(paths)
    assert report.lines() == [
        "units: 0 created, 0 updated, 4 unchanged",
        "people: 0 created, 0 updated, 3 unchanged",
        "forums: 0 created, 0 updated, 1 unchanged",
        "recommendations: 0 created, 0 updated, 2 unchanged",
    ]
    people = [*PEOPLE[:2], (f"sitti@{D}", "Sitti Rahmawati, S.Sos.", "DINSOS-73-LJS", "owner",
                            f"kadis@{D}")]
    report = import_files([write("people.csv", people), write("recs.csv", [
        REC_HEAD, rec("DS-01", text="Teks baru", deadline="2026-10-30"), rec("DS-02"),
        rec("DS-03")])])
    assert report.lines() == [
        "people: 0 created, 1 updated, 1 unchanged",
        "forums: 0 created, 0 updated, 1 unchanged",
        "recommendations: 1 created, 1 updated, 1 unchanged",
    ]
    rows = {r["ref"]: r for r in recs.list_recs()}
    assert len(rows) == 3
    assert (rows["DS-01"]["text"], rows["DS-01"]["deadline"]) == ("Teks baru", "2026-10-30")
    assert (rows["DS-01"]["status"], rows["DS-01"]["progress"]) == ("in_progress", 40)
    assert counts()["unit"] == 4 and counts()["person"] == 3


def test_every_change_leaves_an_audit_record_with_the_actor(home):
    import_files([*base(), write("recs.csv", [REC_HEAD, rec()])])
    import_files([write("recs.csv", [REC_HEAD, rec(text="Diubah")])], by=f"KADIS@{D}")
    with session() as s:
        rows = s.execute(sa.select(AuditRecord.actor, AuditRecord.action, AuditRecord.entity,
                                   AuditRecord.entity_key, AuditRecord.changes)
                         .order_by(AuditRecord.id)).all()
    assert len(rows) == 4 + 3 + 1 + 1 + 1
    assert rows[0][:4] == ("import:units.csv,people.csv,recs.csv", "create", "unit", "PROV-73")
    assert rows[-1][:4] == (f"kadis@{D}", "update", "recommendation", "DS-01")
    assert json.loads(rows[-1][4]) == {"text": ["Memperjelas alur dan persyaratan layanan.",
                                                "Diubah"]}


def test_by_must_be_a_planner(home):
    import_files(base())
    with pytest.raises(Forbidden, match="planner"):
        import_files([write("recs.csv", [REC_HEAD, rec()])], by=f"sitti@{D}")
    with pytest.raises(Forbidden, match="no such person"):
        import_files([write("recs.csv", [REC_HEAD, rec()])], by="nobody@example.go.id")
    assert counts()["recommendation"] == 0


def test_bom_and_semicolon_csv(home):
    paths = [write("units.csv", UNITS, sep=";", bom=True),
             write("people.csv", PEOPLE, sep=";", bom=True),
             write("recs.csv", [tuple(c.upper() for c in REC_HEAD), rec()], sep=";", bom=True)]
    import_files(paths)
    assert next(recs.list_recs())["ref"] == "DS-01"


def test_header_names_ignore_case_and_spaces_and_optional_columns_are_welcome(home):
    head = (" Ref ", "FORUM", "Forum Date", "unit", "text", "category", "owner", "deadline",
            "priority", "place", "minutes_ref")
    import_files([*base(), write("recs.csv", [head, (*rec(), "Aula Dinsos", "BA.045/VII/2026")])])
    with session() as s:
        assert s.execute(sa.select(Forum.place, Forum.minutes_ref)).one() == (
            "Aula Dinsos", "BA.045/VII/2026")


def test_dates_in_indonesian_order_never_mm_dd(home):
    import_files([*base(), write("recs.csv", [REC_HEAD, rec(forum_date="08/07/2026",
                                                            deadline="01/12/2026")])])
    with session() as s:
        assert s.execute(sa.select(Forum.held_on)).scalar_one() == date(2026, 7, 8)
    assert next(recs.list_recs())["deadline"] == "2026-12-01"


def test_xlsx_with_real_date_cells(home):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "units"
    for row in UNITS:
        wb["units"].append(list(row))
    ws = wb.create_sheet("people")
    for row in PEOPLE:
        ws.append(list(row))
    ws = wb.create_sheet("recommendations")
    ws.append(list(REC_HEAD))
    ws.append([*rec()[:2], datetime(2026, 7, 8), *rec()[3:7], date(2026, 9, 30), "high"])
    ws.append([*rec("DS-02")[:7], "+10 hk", "low"])
    wb.save("data.xlsx")
    report = import_files([Path("data.xlsx")])
    assert "recommendations: 2 created, 0 updated, 0 unchanged" in report.lines()
    rows = {r["ref"]: r["deadline"] for r in recs.list_recs()}
    assert rows == {"DS-01": "2026-09-30", "DS-02": "2026-07-22"}


def test_xlsx_errors_name_the_sheet_and_the_excel_row(home):
    import openpyxl

    import_files(base())
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Recommendations"
    ws.append(list(REC_HEAD))
    ws.append(list(rec()))
    ws.append([])  # an empty row is skipped, but rows keep the numbers Excel shows
    ws.append([*rec("DS-02")[:5], "=1+1", *rec()[6:]])
    wb.save("data.xlsx")
    errors = refused([Path("data.xlsx")])
    assert where(errors) == ["data.xlsx[Recommendations]:4: category"]


# --- +N hk deadlines -------------------------------------------------------------------------


def test_hk_deadline_skips_weekends_idul_fitri_and_cuti_bersama(home):
    # Forum Tuesday 17 March 2026; 18–20 and 23–24 March are Nyepi, Idul Fitri and cuti
    # bersama, 21–22 a weekend: the first working day after is Wednesday 25 March.
    import_files([*base(), write("recs.csv", [REC_HEAD, rec(forum_date="2026-03-17",
                                                            deadline="+1 hk"),
                                              rec("DS-02", forum_date="2026-03-17",
                                                  deadline="+5 hk")])])
    rows = {r["ref"]: r["deadline"] for r in recs.list_recs()}
    assert rows == {"DS-01": "2026-03-25", "DS-02": "2026-03-31"}
    with session() as s:
        assert s.execute(sa.select(Recommendation.deadline_rule)
                         .where(Recommendation.ref == "DS-01")).scalar_one() == "+1 hk"


def test_hk_deadline_follows_the_holiday_overrides(home):
    import_files(base())
    add_holiday(date(2026, 3, 25), "Cuti bersama daerah", by=f"kadis@{D}")
    import_files([write("recs.csv", [REC_HEAD, rec(forum_date="2026-03-17",
                                                   deadline="+1 hk")])])
    assert next(recs.list_recs())["deadline"] == "2026-03-26"


# --- refusals: each error located, nothing written ------------------------------------------


def test_unknown_owner(home):
    errors = refused_rows(rec(), rec("DS-02", owner=f"sity@{D}"))
    assert where(errors) == ["recs.csv:3: owner"]
    assert f"unknown person 'sity@{D}'" in errors[0]


def test_unknown_unit_of_a_recommendation_and_of_a_person(home):
    people = [*PEOPLE, (f"baru@{D}", "Baru", "dinsos-73", "owner", "")]
    errors = refused([write("units.csv", UNITS), write("people.csv", people),
                      write("recs.csv", [REC_HEAD, rec(unit="DINSOS-99")])])
    assert where(errors) == ["people.csv:5: unit", "recs.csv:2: unit"]
    assert "did you mean 'DINSOS-73'?" in errors[0]


def test_unit_known_only_in_the_database_is_fine(home):
    import_files(base())
    import_files([write("recs.csv", [REC_HEAD, rec()])])
    assert counts()["recommendation"] == 1


def test_bad_and_impossible_dates(home):
    errors = refused_rows(rec("DS-01", forum_date="29/02/2025"),
                          rec("DS-02", deadline="2026-13-01"),
                          rec("DS-03", deadline="12/31/2026"),
                          rec("DS-04", forum_date="8 Juli 2026"),
                          rec("DS-05", forum_date=""))
    assert where(errors) == ["recs.csv:2: forum_date", "recs.csv:3: deadline",
                             "recs.csv:4: deadline", "recs.csv:5: forum_date",
                             "recs.csv:6: forum_date"]
    assert "'29/02/2025' is not a real date" in errors[0]
    assert "day first" in errors[2]


def test_deadline_before_the_forum(home):
    errors = refused_rows(rec(deadline="2026-07-07"))
    assert errors == ["recs.csv:2: deadline: 2026-07-07 is before the forum date 2026-07-08"]


def test_bad_email(home):
    people = [*PEOPLE, ("budi@dinsos", "Budi", "DINSOS-73", "owner", "kadis at dinsos")]
    errors = refused([write("units.csv", UNITS), write("people.csv", people),
                      write("recs.csv", [REC_HEAD, rec(owner="sitti.dinsos.example.go.id")])])
    assert where(errors) == ["people.csv:5: email", "people.csv:5: supervisor",
                             "recs.csv:2: owner"]


def test_empty_text(home):
    assert where(refused_rows(rec(text="  "))) == ["recs.csv:2: text"]


def test_duplicate_ref_in_a_file_and_across_files(home):
    errors = refused([*base(), write("a.csv", [REC_HEAD, rec("DS-01"), rec("DS-01")]),
                      write("b.csv", [REC_HEAD, rec("DS-01")])])
    assert errors == ["a.csv:3: ref: ref 'DS-01' is given twice (also at row 2)",
                      "b.csv:2: ref: ref 'DS-01' is given twice (also at a.csv:2)"]


def test_duplicate_unit_code_and_email(home):
    errors = refused([write("units.csv", [*UNITS, UNITS[2]]),
                      write("people.csv", [*PEOPLE, PEOPLE[2]])])
    assert where(errors) == ["units.csv:6: code", "people.csv:5: email"]


def test_unknown_category_role_timezone_priority(home):
    errors = refused([write("units.csv", [*UNITS, ("X", "Unit X", "", "Asia/Bangkok")]),
                      write("people.csv", [*PEOPLE, ("x@x.example.go.id", "X", "X", "boss", "")]),
                      write("recs.csv", [REC_HEAD, rec(category="pelayanan"),
                                         rec("DS-02", priority="urgent")])])
    assert where(errors) == ["units.csv:6: timezone", "people.csv:5: role",
                             "recs.csv:2: category", "recs.csv:3: priority"]


def test_supervisor_cycle_in_the_file(home):
    people = [PEOPLE[0], ("a@x.example.go.id", "A", "DINSOS-73", "owner", "b@x.example.go.id"),
              ("b@x.example.go.id", "B", "DINSOS-73", "owner", "a@x.example.go.id"),
              ("c@x.example.go.id", "C", "DINSOS-73", "owner", "c@x.example.go.id")]
    errors = refused([write("units.csv", UNITS), write("people.csv", people)])
    assert where(errors) == ["people.csv:2: supervisor", "people.csv:3: supervisor",
                             "people.csv:4: supervisor"]
    assert "a@x.example.go.id → b@x.example.go.id → a@x.example.go.id" in errors[0]


def test_supervisor_cycle_across_the_file_and_the_database(home):
    import_files(base())  # sitti reports to kadis
    errors = refused([write("people2.csv", [PEOPLE[0], (f"kadis@{D}", "Kadis", "DINSOS-73",
                                                       "leader", f"sitti@{D}")])])
    assert where(errors) == ["people2.csv:2: supervisor"]


def test_unit_parent_cycle_in_the_file_and_across_the_database(home):
    errors = refused([write("units.csv", [UNITS[0], ("A", "A", "B", ""), ("B", "B", "A", "")])])
    assert where(errors) == ["units.csv:2: parent", "units.csv:3: parent"]
    import_files(base())  # DINSOS-73-LJS is below DINSOS-73, below PROV-73
    errors = refused([write("units2.csv", [UNITS[0], ("PROV-73", "Pemprov", "DINSOS-73-LJS",
                                                      "")])])
    assert where(errors) == ["units2.csv:2: parent"]
    assert "PROV-73 → DINSOS-73-LJS → DINSOS-73 → PROV-73" in errors[0]


@pytest.mark.parametrize("cell", ["=1+1", "+62 812", "-2+3", "@SUM(A1)", "  =cmd|' /C calc'!A0"])
def test_formula_injection_is_refused_not_stripped(home, cell):
    errors = refused_rows(rec(text=cell))
    assert where(errors) == ["recs.csv:2: text"]
    assert "formula" in errors[0]


def test_a_plus_cell_that_is_not_an_hk_deadline_is_refused(home):
    errors = refused_rows(rec(deadline="+10 hari"), rec("DS-02", deadline="+10 hk"))
    assert where(errors) == ["recs.csv:2: deadline"]


def test_owner_from_an_unrelated_unit(home):
    errors = refused_rows(rec(owner="nur.aini@bps3404.example.go.id"))
    assert where(errors) == ["recs.csv:2: owner"]
    assert "neither 'DINSOS-73-LJS' nor above or below it" in errors[0]


def test_owner_above_or_below_the_unit_is_fine(home):
    import_files([*base(), write("recs.csv", [REC_HEAD, rec(owner=f"kadis@{D}"),
                                              rec("DS-02", unit="PROV-73")])])
    assert counts()["recommendation"] == 2


def test_forum_details_must_agree_between_rows(home):
    head = (*REC_HEAD, "place")
    errors = refused([*base(), write("recs.csv", [head, (*rec(), "Aula A"),
                                                  (*rec("DS-02"), "Aula B"),
                                                  (*rec("DS-03"), "")])])
    assert errors == ["recs.csv:3: place: 'Aula B' differs from 'Aula A' given for the same "
                      "forum at row 2"]


def test_unknown_and_missing_columns_and_unrecognisable_header(home):
    errors = refused([write("units.csv", [("code", "name", "colour"), ("A", "A", "red")]),
                      write("people.csv", [("email", "name"), ("a@x.example.go.id", "A")]),
                      write("what.csv", [("nama", "alamat"), ("x", "y")])])
    assert where(errors) == ["units.csv:1: header", "people.csv:1: header", "what.csv:1: header"]
    assert "unknown column(s) 'colour'" in errors[0]
    assert "missing column(s) 'unit'" in errors[1]
    assert "cannot tell what this file holds" in errors[2]


def test_file_that_is_not_utf8(home):
    path = write("units.csv", [*UNITS, ("KEC-01", "Kecamatan Pondok Aren, Pelayanan Terpadu Café",
                                        "", "")], encoding="cp1252")
    errors = refused([path])
    assert where(errors) == ["units.csv:6: file"]
    assert "CSV UTF-8" in errors[0]


def test_absurdly_big_cell_and_too_many_columns(home):
    errors = refused_rows(rec(text="a" * 10_001), (*rec("DS-02"), "extra", "cells"))
    assert where(errors) == ["recs.csv:2: text", "recs.csv:3: row"]
    assert "10001 characters" in errors[0]


def test_every_error_is_listed_not_only_the_first(home):
    errors = refused_rows(rec("DS-01", owner="x@x.example.go.id", category="?", text=""),
                          rec("DS-02", unit="NOPE", priority="urgent"))
    assert where(errors) == ["recs.csv:2: text", "recs.csv:2: category", "recs.csv:2: owner",
                             "recs.csv:3: unit", "recs.csv:3: priority"]


def test_missing_file_and_other_formats(home):
    Path("old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    Path("broken.xlsx").write_bytes(b"not a zip")
    errors = refused([Path("nope.csv"), Path("old.xls"), Path("broken.xlsx")])
    assert [e.split(": ")[0] for e in errors] == ["nope.csv", "old.xls", "broken.xlsx"]


# --- the command line ------------------------------------------------------------------------


def test_cli_import_prints_counts(home, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    paths = [*base(), write("recs.csv", [REC_HEAD, rec()])]
    assert main(["import", *map(str, paths)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "units: 4 created, 0 updated, 0 unchanged",
        "people: 3 created, 0 updated, 0 unchanged",
        "forums: 1 created, 0 updated, 0 unchanged",
        "recommendations: 1 created, 0 updated, 0 unchanged",
    ]
    assert out.err == ""


def test_cli_refusal_lists_errors_on_stderr_without_traceback(home, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    paths = [*base(), write("recs.csv", [REC_HEAD, rec(owner="x@x.example.go.id"),
                                         rec("DS-02", deadline="2026-01-01")])]
    assert main(["import", *map(str, paths)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        "recs.csv:2: owner: unknown person 'x@x.example.go.id' (not in this import nor "
        "registered before)",
        "recs.csv:3: deadline: 2026-01-01 is before the forum date 2026-07-08",
        "error: import refused: 2 error(s), nothing was written",
    ]
    assert "Traceback" not in out.err


def test_cli_dry_run_and_by(home, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    paths = [*base(), write("recs.csv", [REC_HEAD, rec()])]
    assert main(["import", "--dry-run", *map(str, paths)]) == 0
    assert "nothing was written" in capsys.readouterr().out
    assert counts()["unit"] == 0
    assert main(["import", "--by", f"sitti@{D}", *map(str, paths)]) == 1
    assert capsys.readouterr().err.startswith("error: --by sitti@")


def test_bulk_written_rows_read_back_like_any_other(home):
    from datetime import UTC, timedelta

    import_files([*base(), write("recs.csv", [REC_HEAD, rec()])])
    with session() as s:
        row = s.get(Recommendation, 1)
        audit = s.get(AuditRecord, 1)
    now = datetime.now(UTC)
    assert row is not None and audit is not None
    for at in (row.created_at, row.updated_at, row.last_progress_at, audit.at):
        assert at.tzinfo is not None and now - timedelta(minutes=1) < at <= now
    assert (row.deadline, row.status, row.progress) == (date(2026, 9, 30), "open", 0)


def test_hk_beyond_a_year_is_refused(home):
    assert where(refused_rows(rec(deadline="+300 hk"))) == ["recs.csv:2: deadline"]


def test_cli_names_the_file_as_typed(home, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    base()
    write("recs.csv", [REC_HEAD, rec(text="")])
    assert main(["import", "./units.csv", "./people.csv", "./recs.csv"]) == 1
    assert capsys.readouterr().err.startswith("./recs.csv:2: text: is empty\n")


def test_rows_are_numbered_by_the_line_where_they_start(home):
    # A cell with line breaks (a Berita Acara quoted as is) spans lines 2–4; the next
    # record starts on line 5 of the file.
    errors = refused_rows(rec(text="Poin 1: SOP.\nPoin 2: pelatihan.\nPoin 3: survei."),
                          rec("DS-02", category="?"))
    assert where(errors) == ["recs.csv:5: category"]


def test_empty_file_and_header_only(home):
    Path("empty.csv").write_text("")
    assert refused([Path("empty.csv")]) == ["empty.csv: the file is empty"]
    report = import_files([write("recs.csv", [REC_HEAD])])
    assert report.lines() == ["forums: 0 created, 0 updated, 0 unchanged",
                              "recommendations: 0 created, 0 updated, 0 unchanged"]
