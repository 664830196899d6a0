"""The working-day calendar over the whole of 2026: national holidays, cuti bersama,
overrides; `+N hk` arithmetic as properties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tindak.calendar import WorkCalendar, parse_hk
from tindak.errors import InvalidInput
from tindak.validators import parse_date

NATIONAL = WorkCalendar()
# Holidays and cuti bersama of 2026 that fall on a weekday (SKB 3 Menteri).
WEEKDAY_HOLIDAYS_2026 = {
    date(2026, 1, 1), date(2026, 1, 16), date(2026, 2, 16), date(2026, 2, 17),
    date(2026, 3, 18), date(2026, 3, 19), date(2026, 3, 20), date(2026, 3, 23),
    date(2026, 3, 24), date(2026, 4, 3), date(2026, 5, 1), date(2026, 5, 14),
    date(2026, 5, 15), date(2026, 5, 27), date(2026, 5, 28), date(2026, 6, 1),
    date(2026, 6, 16), date(2026, 8, 17), date(2026, 8, 25), date(2026, 12, 24),
    date(2026, 12, 25),
}
CUTI_BERSAMA_2026 = {
    date(2026, 2, 16), date(2026, 3, 18), date(2026, 3, 20), date(2026, 3, 23),
    date(2026, 3, 24), date(2026, 5, 15), date(2026, 5, 28), date(2026, 12, 24),
}
YEAR_2026 = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
days_2026 = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))


def test_every_day_of_2026():
    for day in YEAR_2026:
        expected = day.weekday() < 5 and day not in WEEKDAY_HOLIDAYS_2026
        assert NATIONAL.is_working_day(day) is expected, day
    assert sum(NATIONAL.is_working_day(d) for d in YEAR_2026) == 261 - 21


def test_cuti_bersama_are_holidays_by_name():
    for day in CUTI_BERSAMA_2026:
        assert (NATIONAL.holiday_name(day) or "").startswith("Cuti Bersama"), day


def test_idul_fitri_week_of_2026():
    # Tue 17 March; Nyepi (18, 19), cuti bersama (20), Idul Fitri on the weekend (21, 22),
    # cuti bersama (23, 24): the next working day is Wednesday 25 March.
    assert NATIONAL.next_working_day(date(2026, 3, 17)) == date(2026, 3, 25)
    assert NATIONAL.add_working_days(date(2026, 3, 17), 5) == date(2026, 3, 31)
    assert NATIONAL.working_days_between(date(2026, 3, 13), date(2026, 3, 27)) == 5


def test_added_and_cancelled_days():
    cal = WorkCalendar(added={date(2026, 3, 25): "Cuti bersama daerah"},
                       cancelled=frozenset({date(2026, 3, 24)}))
    assert cal.holiday_name(date(2026, 3, 25)) == "Cuti bersama daerah"
    assert cal.is_working_day(date(2026, 3, 24))
    assert cal.next_working_day(date(2026, 3, 17)) == date(2026, 3, 24)
    assert cal.add_working_days(date(2026, 3, 17), 2) == date(2026, 3, 26)
    assert sum(cal.is_working_day(d) for d in YEAR_2026) == 240
    listed = {d: src for d, _, src in cal.holidays_in(2026)}
    assert (listed[date(2026, 3, 24)], listed[date(2026, 3, 25)]) == ("cancelled", "added")


def test_a_cancelled_day_on_a_weekend_stays_a_weekend():
    cal = WorkCalendar(cancelled=frozenset({date(2026, 3, 21)}))
    assert not cal.is_working_day(date(2026, 3, 21))


@given(days_2026, st.integers(min_value=1, max_value=120))
def test_add_working_days_lands_on_a_working_day_and_is_inverted(start, n):
    end = NATIONAL.add_working_days(start, n)
    assert NATIONAL.is_working_day(end)
    assert end > start
    assert NATIONAL.working_days_between(start, end) == n
    assert NATIONAL.working_days_between(end, start) == -n
    # …and it is the first such day: one calendar day earlier is one working day short.
    assert NATIONAL.working_days_between(start, end - timedelta(days=1)) == n - 1


@given(days_2026, st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=60))
def test_add_working_days_composes(start, a, b):
    if a == 0 or b == 0 or NATIONAL.is_working_day(start):
        both = NATIONAL.add_working_days(NATIONAL.add_working_days(start, a), b)
        assert both == NATIONAL.add_working_days(start, a + b)


@given(days_2026, st.sets(days_2026, max_size=10))
def test_an_added_holiday_never_makes_a_deadline_earlier(start, extra):
    cal = WorkCalendar(added=dict.fromkeys(extra, "tambahan"))
    for n in (1, 5, 20):
        assert cal.add_working_days(start, n) >= NATIONAL.add_working_days(start, n)


@pytest.mark.parametrize(("text", "n"), [("+10 hk", 10), ("+ 5 HK", 5), (" +0hk ", 0),
                                         ("+10 hari", None), ("10 hk", None), ("-3 hk", None)])
def test_parse_hk(text, n):
    assert parse_hk(text) == n


def test_parse_date_is_day_first():
    assert parse_date("05/04/2026") == date(2026, 4, 5)
    assert parse_date("2026-04-05") == date(2026, 4, 5)
    for bad in ("04/31/2026", "29/02/2025", "2026/04/05", ""):
        with pytest.raises(InvalidInput):
            parse_date(bad)
