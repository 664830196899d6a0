"""Times as a Berita Acara writes them, and dates in words (tindak/timeexpr.py): pure
functions, checked over many inputs with hypothesis."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tindak.timeexpr import (
    MONTH_NAMES,
    WEEKDAYS,
    Deadline,
    date_in_words,
    find_date,
    int_to_words,
    parse_time,
    words_to_int,
)

MANY = settings(max_examples=300, deadline=None, database=None, derandomize=True)
days = st.dates(date(2000, 1, 1), date(2099, 12, 31))
ROMAN = ("I", "II", "III", "IV")


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@MANY
@given(st.integers(0, 999_999))
def test_numbers_in_words_read_back(n: int) -> None:
    assert words_to_int(int_to_words(n).split()) == n


@MANY
@given(days, st.sampled_from(["Pada hari ini {w}, bertempat di Aula", "{w}", "Hari ini, {w}."]))
def test_a_date_in_words_is_read_back(day: date, frame: str) -> None:
    text = frame.format(w=date_in_words(day))
    assert find_date(text) == (day, None)
    assert find_date(text.upper()) == (day, None)


@MANY
@given(days)
def test_a_date_with_digits_and_its_weekday_is_read(day: date) -> None:
    name = WEEKDAYS[day.weekday()].capitalize()
    assert find_date(f"{name}, {day.day} {MONTH_NAMES[day.month - 1]} {day.year}") == (day, None)
    wrong = WEEKDAYS[(day.weekday() + 1) % 7].capitalize()
    found, problem = find_date(f"{wrong}, {day.day} {MONTH_NAMES[day.month - 1]} {day.year}")
    assert found is None and problem and f"the document says {wrong}" in problem


@MANY
@given(days, days)
def test_a_written_date_is_that_date(day: date, forum: date) -> None:
    for text in (day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%d-%m-%Y"),
                 f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}",
                 f"paling lambat {day.day} {MONTH_NAMES[day.month - 1][:3]} {day.year}"):
        assert parse_time(text, forum) == Deadline(day), text


@MANY
@given(st.integers(2000, 2100), st.integers(1, 12), st.sampled_from(["", "Akhir ", "bulan ",
                                                                      "Paling lambat "]))
def test_a_month_is_its_last_day(year: int, month: int, prefix: str) -> None:
    name = MONTH_NAMES[month - 1]
    assert parse_time(f"{prefix}{name} {year}", None) == Deadline(month_end(year, month))
    assert parse_time(f"{prefix}{name.upper()} {year}", None) == Deadline(month_end(year, month))


@MANY
@given(st.integers(2000, 2100), st.integers(1, 4), st.booleans(),
       st.sampled_from(["Triwulan", "TW", "triwulan", "Kuartal"]))
def test_a_quarter_or_semester_is_its_last_day(year: int, n: int, roman: bool,
                                              word: str) -> None:
    num = ROMAN[n - 1] if roman else str(n)
    assert parse_time(f"{word} {num} {year}", None) == Deadline(month_end(year, 3 * n))
    if n <= 2:
        assert parse_time(f"Semester {num} Tahun {year}", None) == Deadline(
            month_end(year, 6 * n))
    else:
        assert isinstance(parse_time(f"Semester {num} {year}", None), str)
    assert parse_time(f"Tahun {year}", None) == Deadline(date(year, 12, 31))


@MANY
@given(days, st.integers(1, 120), st.booleans())
def test_a_duration_counts_from_the_forum(forum: date, n: int, in_words: bool) -> None:
    count = int_to_words(n) if in_words else str(n)
    months = parse_time(f"{count} bulan", forum)
    assert isinstance(months, Deadline) and months.day is not None
    assert months.day > forum and months.day.day <= forum.day
    assert (months.day.year - forum.year) * 12 + months.day.month - forum.month == n
    assert parse_time(f"{count} hari", forum) == Deadline(forum + timedelta(days=n))
    assert parse_time(f"{count} minggu", forum) == Deadline(forum + timedelta(weeks=n))
    assert parse_time(f"{n} hari kerja", forum) == Deadline(hk=n)
    assert parse_time(f"+{n} hk", forum) == Deadline(hk=n)
    assert parse_time(f"{n} ({int_to_words(n)}) bulan setelah FKP", forum) == months


@MANY
@given(st.text(max_size=60), st.one_of(st.none(), days))
def test_any_text_gives_a_deadline_or_one_line_why_not(text: str, forum: date | None) -> None:
    result = parse_time(text, forum)
    if isinstance(result, str):
        assert result and "\n" not in result.replace(text, "")
    else:
        assert (result.day is None) != (result.hk is None)
        assert result.hk is None or 1 <= result.hk <= 260


def test_words_offices_write_that_are_not_times_say_what_to_write() -> None:
    for text in ("Segera", "Berkelanjutan", "Rutin setiap tahun", "-", "Semester V 2026"):
        reason = parse_time(text, date(2026, 1, 5))
        assert isinstance(reason, str) and text in reason
    assert parse_time("3 bulan", None) == ("'3 bulan' counts from the forum date, which is "
                                          "not known (give --forum-date)")
