"""`tindak template`: the import workbook, its drop-downs and instructions; it imports as is."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from models import CATEGORIES
from tindak import recs
from tindak.cli import main
from tindak.errors import InvalidInput
from tindak.importer import COLUMNS, import_files
from tindak.workbook import TEMPLATE_KINDS, write_template


def test_template_has_the_sheets_headers_and_an_example_row(home):
    write_template(Path("impor.xlsx"))
    wb = openpyxl.load_workbook("impor.xlsx")
    assert wb.sheetnames == ["petunjuk", "units", "people", "recommendations", "lists"]
    assert wb["lists"].sheet_state == "hidden"
    for kind in TEMPLATE_KINDS:
        ws, columns = wb[kind], COLUMNS[kind]
        assert [c.value for c in ws[1]] == list(columns)
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.column_dimensions["A"].width > 10
        assert ws[2][0].value  # one example row
    assert "tanggal" in " ".join(str(c.value) for row in wb["petunjuk"].iter_rows()
                                 for c in row).lower()


def test_template_has_drop_downs_for_the_coded_columns(home):
    write_template(Path("impor.xlsx"))
    wb = openpyxl.load_workbook("impor.xlsx")
    lists = wb["lists"]
    by_name = {lists.cell(row=1, column=i).value: i for i in range(1, 5)}
    categories = [lists.cell(row=r, column=by_name["category"]).value for r in range(2, 18)]
    assert tuple(categories) == CATEGORIES

    def validated(sheet: str) -> dict[str, str]:
        ws = wb[sheet]
        header = {c.column_letter: c.value for c in ws[1]}
        return {header[str(dv.sqref).split(":")[0].rstrip("0123456789")]: dv.formula1
                for dv in ws.data_validations.dataValidation}

    assert set(validated("recommendations")) == {"category", "priority"}
    assert set(validated("people")) == {"role"}
    assert set(validated("units")) == {"timezone"}
    assert validated("recommendations")["category"].startswith("lists!")


def test_the_template_imports_cleanly(home):
    write_template(Path("impor.xlsx"))
    report = import_files([Path("impor.xlsx")])
    assert report.lines() == [
        "units: 1 created, 0 updated, 0 unchanged",
        "people: 1 created, 0 updated, 0 unchanged",
        "forums: 1 created, 0 updated, 0 unchanged",
        "recommendations: 1 created, 0 updated, 0 unchanged",
    ]
    row = next(recs.list_recs())
    # Forum 15 April 2026, deadline "+30 hk": Labour Day, Ascension and its cuti bersama,
    # Idul Adha and its cuti bersama and Pancasila Day fall in between.
    assert (row["ref"], row["category"], row["deadline"]) == ("FKP-3404-2026-01", "pengaduan",
                                                             "2026-06-04")


def test_template_refuses_an_existing_file_or_another_suffix(home):
    write_template(Path("impor.xlsx"))
    with pytest.raises(InvalidInput, match="already exists"):
        write_template(Path("impor.xlsx"))
    write_template(Path("impor.xlsx"), overwrite=True)
    with pytest.raises(InvalidInput, match=".xlsx"):
        write_template(Path("impor.csv"))


def test_cli_template(home, capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English words of the CLI
    assert main(["template", "baru.xlsx"]) == 0
    assert "tindak import baru.xlsx" in capsys.readouterr().out
    assert main(["template", "baru.xlsx"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: baru.xlsx already exists: choose another name or add "
                                "--force"]
