"""Holiday overrides: list a year, add and cancel (planners only), each with an audit record."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from models import AuditRecord, HolidayOverride, session
from tindak.calendar import load_calendar
from tindak.cli import main
from tindak.errors import Forbidden, InvalidInput, NotFound
from tindak.holidays_admin import add_holiday, cancel_holiday, list_holidays


@pytest.fixture
def planner(make) -> str:  # type: ignore[no-untyped-def]
    return make.person(email="perencana@setda.example.go.id", roles="planner;owner").email


def calendar():  # type: ignore[no-untyped-def]
    with session() as s:
        return load_calendar(s)


def test_list_has_national_holidays_and_cuti_bersama(home):
    rows = {h.day: (h.name, h.source) for h in list_holidays(2026)}
    assert rows[date(2026, 8, 17)] == ("Hari Kemerdekaan Republik Indonesia", "national")
    assert rows[date(2026, 3, 23)] == ("Cuti Bersama Hari Raya Idul Fitri", "national")
    assert rows[date(2026, 12, 24)] == ("Cuti Bersama Hari Raya Natal", "national")
    assert all(d.year == 2026 for d in rows)


def test_add_a_holiday(home, planner):
    line = add_holiday(date(2026, 11, 26), "Cuti bersama HUT Kabupaten", by=planner)
    assert line == "added 2026-11-26 (Cuti bersama HUT Kabupaten) as a holiday"
    assert not calendar().is_working_day(date(2026, 11, 26))
    rows = {h.day: h for h in list_holidays(2026)}
    assert (rows[date(2026, 11, 26)].source, rows[date(2026, 11, 26)].by) == ("added", planner)


def test_cancel_a_cuti_bersama(home, planner):
    line = cancel_holiday(date(2026, 12, 24), by=planner)
    assert line == "cancelled 2026-12-24 (Cuti Bersama Hari Raya Natal); it is a working day"
    assert calendar().is_working_day(date(2026, 12, 24))
    assert {h.day: h.source for h in list_holidays(2026)}[date(2026, 12, 24)] == "cancelled"


def test_adding_back_a_cancelled_holiday_removes_the_cancellation(home, planner):
    cancel_holiday(date(2026, 12, 24), by=planner)
    line = str(add_holiday(date(2026, 12, 24), "Natal", by=planner))
    assert "cancellation was removed" in line
    assert not calendar().is_working_day(date(2026, 12, 24))
    add_holiday(date(2026, 11, 26), "HUT", by=planner)
    assert "removed the added holiday" in str(cancel_holiday(date(2026, 11, 26), by=planner))
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(HolidayOverride)).scalar() == 0
        actions = s.execute(sa.select(AuditRecord.action, AuditRecord.entity_key)
                            .order_by(AuditRecord.id)).all()
    assert actions == [("cancel", "2026-12-24"), ("restore", "2026-12-24"),
                       ("add", "2026-11-26"), ("remove", "2026-11-26")]


def test_refusals(home, planner, make):
    owner = make.person(email="pemilik@setda.example.go.id", roles="owner").email
    with pytest.raises(InvalidInput, match="already a holiday"):
        add_holiday(date(2026, 8, 17), "Lagi", by=planner)
    with pytest.raises(InvalidInput, match="not a holiday"):
        cancel_holiday(date(2026, 8, 18), by=planner)
    with pytest.raises(InvalidInput, match="Saturday"):
        add_holiday(date(2026, 11, 28), "Sabtu", by=planner)
    with pytest.raises(InvalidInput, match="name"):
        add_holiday(date(2026, 11, 26), "  ", by=planner)
    with pytest.raises(Forbidden, match="not a planner"):
        add_holiday(date(2026, 11, 26), "HUT", by=owner)
    with pytest.raises(NotFound):
        cancel_holiday(date(2026, 8, 17), by="siapa@example.go.id")
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(HolidayOverride)).scalar() == 0


def _cells(lines):
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_cli_holidays(home, planner, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["holidays", "add", "26/11/2026", "Cuti bersama HUT Kabupaten",
                 "--by", planner]) == 0
    assert capsys.readouterr().out == (
        "2026-11-26 (Cuti bersama HUT Kabupaten) ditambahkan sebagai hari libur\n")
    assert main(["holidays", "cancel", "2026-03-20", "--by", planner]) == 0
    capsys.readouterr()
    assert main(["holidays", "list", "--year", "2026"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = _cells(out)
    assert rows[0] == ["TANGGAL", "HARI", "SUMBER", "NAMA", "OLEH"]
    assert ["2026-03-20", "Jum", "dibatalkan", "Cuti Bersama Hari Raya Idul Fitri",
            planner] in rows
    assert ["2026-11-26", "Kam", "ditambahkan", "Cuti bersama HUT Kabupaten", planner] in rows
    assert out[-1] == "(26 hari libur pada 2026)"  # 25 national (one cancelled) and 1 added


def test_cli_holidays_in_english(home, planner, capsys, settings_env, monkeypatch):
    settings_env(LANGUAGE="en")
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["holidays", "add", "26/11/2026", "HUT Kabupaten", "--by", planner]) == 0
    assert capsys.readouterr().out == "added 2026-11-26 (HUT Kabupaten) as a holiday\n"
    assert main(["holidays", "list", "--year", "2026"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert ["2026-11-26", "Thu", "added", "HUT Kabupaten", planner] in _cells(out)
    assert out[-1] == "(26 holiday(s) in 2026)"


def test_cli_holidays_refusals_are_one_line(home, planner, capsys):
    assert main(["holidays", "add", "2026-08-17", "Lagi", "--by", planner]) == 1
    err = capsys.readouterr().err
    assert err == "kesalahan: 2026-08-17 sudah hari libur (Hari Kemerdekaan Republik " \
                  "Indonesia)\n"
    assert main(["holidays", "cancel", "31/02/2026", "--by", planner]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["holidays", "add", "2026-11-26", "HUT", "--by", "x@example.go.id"]) == 1
    assert capsys.readouterr().err == "kesalahan: tidak ada orang dengan surel " \
                                      "'x@example.go.id'\n"
