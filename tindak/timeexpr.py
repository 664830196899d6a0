"""Times as a Berita Acara writes them (SPEC §8), and dates in Indonesian words.

Pure functions: text and the forum's date in, a deadline (or the reason there is none) out.
`+N hk` / `N hari kerja` stay a working-day rule (`Deadline.hk`), resolved by the importer
against the office's calendar exactly as a CSV's `+N hk` is.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from tindak.calendar import MAX_HK
from tindak.validators import YEARS

MONTHS = {
    "januari": 1, "februari": 2, "pebruari": 2, "maret": 3, "april": 4, "mei": 5, "juni": 6,
    "juli": 7, "agustus": 8, "september": 9, "oktober": 10, "november": 11, "nopember": 11,
    "desember": 12,
    "jan": 1, "feb": 2, "peb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "agu": 8,
    "agt": 8, "agus": 8, "ags": 8, "sep": 9, "sept": 9, "okt": 10, "nov": 11, "nop": 11,
    "des": 12,
}
MONTH_NAMES = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
               "September", "Oktober", "November", "Desember")
WEEKDAYS = ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")
UNITS = {"nol": 0, "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6,
         "tujuh": 7, "delapan": 8, "sembilan": 9}
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
# Words around a time that say nothing about it ("paling lambat Desember 2026").
NOISE = frozenset("""paling lambat selambat lambatnya sebelum akhir s d sd sampai dengan
    hingga maks maksimal target pada bulan dalam waktu jangka setelah sesudah sejak fkp forum
    dilaksanakan kegiatan tanggal tgl periode tahap ke di selesai batas tenggat mulai
    berjalan ini""".split())
NUMBER_WORDS = frozenset({*UNITS, "sepuluh", "sebelas", "seratus", "seribu", "belas",
                          "puluh", "ratus", "ribu"})


@dataclass(frozen=True)
class Deadline:
    """A resolved time: a date, or a working-day rule `+hk hk` after the forum."""

    day: date | None = None
    hk: int | None = None

    def rule(self) -> str:
        return f"+{self.hk} hk"

    def cell(self) -> str:
        """As the import's deadline cell: the rule, or the ISO date."""
        if self.hk:
            return self.rule()
        assert self.day is not None  # neither a rule nor a day is never made
        return self.day.isoformat()


def words_to_int(tokens: list[str]) -> int | None:
    """'dua puluh sembilan' → 29, 'dua ribu dua puluh empat' → 2024; None if not a number."""
    if not tokens:
        return None
    total = group = 0
    unit: int | None = None
    for tok in tokens:
        if tok in UNITS:
            if unit is not None:
                return None
            unit = UNITS[tok]
        elif tok in ("sepuluh", "sebelas", "seratus"):
            if unit is not None:
                return None
            group += {"sepuluh": 10, "sebelas": 11, "seratus": 100}[tok]
        elif tok == "seribu":
            if unit is not None or group or total:
                return None
            total = 1000
        elif tok in ("belas", "puluh", "ratus"):
            if not unit:
                return None
            group += unit * {"belas": 1, "puluh": 10, "ratus": 100}[tok] + (tok == "belas") * 10
            unit = None
        elif tok == "ribu":
            value = group + (unit or 0)
            if not value or total:
                return None
            total, group, unit = value * 1000, 0, None
        else:
            return None
    return total + group + (unit or 0)


def int_to_words(n: int) -> str:
    """29 → 'dua puluh sembilan' (terbilang), for 0 <= n < 1,000,000."""
    names = list(UNITS)
    if n < 10:
        return names[n]
    if n < 20:
        return {10: "sepuluh", 11: "sebelas"}.get(n) or f"{names[n - 10]} belas"
    if n < 100:
        rest = f" {int_to_words(n % 10)}" if n % 10 else ""
        return f"{names[n // 10]} puluh{rest}"
    if n < 1000:
        head = "seratus" if n // 100 == 1 else f"{names[n // 100]} ratus"
        return head + (f" {int_to_words(n % 100)}" if n % 100 else "")
    head = "seribu" if n // 1000 == 1 else f"{int_to_words(n // 1000)} ribu"
    return head + (f" {int_to_words(n % 1000)}" if n % 1000 else "")


def date_in_words(day: date, weekday: bool = True) -> str:
    """The way a Berita Acara opens: 'Selasa tanggal dua puluh sembilan bulan Oktober tahun
    dua ribu dua puluh empat'."""
    text = (f"tanggal {int_to_words(day.day)} bulan {MONTH_NAMES[day.month - 1]} tahun "
            f"{int_to_words(day.year)}")
    return f"{WEEKDAYS[day.weekday()].capitalize()} {text}" if weekday else text


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers; '(tiga)' after a number and punctuation dropped."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(\d)\s*\(\s*[a-z ]+\)", r"\1", text)  # "3 (tiga) bulan"
    return re.findall(r"[a-z]+|\d+", text)


def _number(tok: list[str]) -> int | None:
    if len(tok) == 1 and tok[0].isdigit():
        return int(tok[0])
    return words_to_int(tok)


def find_date(text: str) -> tuple[date | None, str | None]:
    """The first date a text writes with a month name (in digits or in words), and any
    problem with it: (date, None), (None, reason) or (None, None) when there is none."""
    toks = tokens(text)
    for m, tok in enumerate(toks):
        if tok not in MONTHS or len(tok) < 3:
            continue
        before = toks[:m]
        if before and before[-1] == "bulan":
            before = before[:-1]
        day = None
        for width in (1, 2, 3, 4):
            if len(before) < width:
                break
            value = _number(before[-width:])
            if value is not None and 1 <= value <= 31:
                day, start = value, m - width - (toks[m - 1] == "bulan")
        after = toks[m + 1:]
        if after and after[0] == "tahun":
            after = after[1:]
        year = None
        for width in range(min(len(after), 6), 0, -1):
            value = _number(after[:width])
            if value is not None and YEARS[0] <= value <= YEARS[1]:
                year = value
                break
        if day is None or year is None:
            continue
        try:
            found = date(year, MONTHS[tok], day)
        except ValueError:
            return None, f"'{day} {MONTH_NAMES[MONTHS[tok] - 1]} {year}' is not a real date"
        said = [w for w in toks[max(0, start - 3):start] if w in WEEKDAYS]
        if said and said[-1] != WEEKDAYS[found.weekday()]:
            return None, (f"the document says {said[-1].capitalize()}, but {found.day} "
                          f"{MONTH_NAMES[found.month - 1]} {found.year} is a "
                          f"{WEEKDAYS[found.weekday()].capitalize()}")
        return found, None
    return None, None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _plus_months(start: date, n: int) -> date:
    month0 = start.month - 1 + n
    year, month = start.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


PERIODS = {"triwulan": 3, "tw": 3, "kuartal": 3, "kwartal": 3, "q": 3, "caturwulan": 4,
           "cawu": 4, "semester": 6, "smt": 6}
DURATIONS = {"hari": 1, "minggu": 7, "pekan": 7, "bulan": 0, "tahun": 0}
NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def _year(tok: str) -> int | None:
    if tok.isdigit() and len(tok) == 4 and YEARS[0] <= int(tok) <= YEARS[1]:
        return int(tok)
    return None


def parse_time(text: str, forum: date | None) -> Deadline | str:
    """The deadline a Waktu cell gives, or the reason it gives none.

    A date (`31/12/2026`, `2026-12-31`, `31 Desember 2026`), a month (`Desember 2026`: its
    last day), a period (`Triwulan II 2026`, `Semester I 2026`: its last day), a year
    (`Tahun 2026`: 31 December), or a duration after the forum (`3 bulan`, `2 minggu`,
    `14 hari`, `30 hari kerja` / `+10 hk`: working days).
    """
    raw = (text or "").strip()
    if not raw:
        return "is empty"
    if m := ISO_DATE.match(raw):
        return _real(int(m[1]), int(m[2]), int(m[3]), raw)
    if m := NUMERIC_DATE.match(raw):
        return _real(int(m[3]), int(m[2]), int(m[1]), raw)
    if "hk" in raw.lower() and (m := re.fullmatch(r"\s*\+?\s*(\d{1,4})\s*hk\s*", raw, re.I)):
        return _hk(int(m[1]), raw)
    found, problem = find_date(raw)
    if problem:
        return problem
    if found is not None:
        return Deadline(found)
    toks = [t for t in tokens(raw) if t not in NOISE]
    if not toks:
        return f"'{raw}' says no time: write a date, a month, a period or a duration"
    # The last of a range counts ("Januari s.d. Maret 2026", "Triwulan I-II 2026").
    years = [i for i, t in enumerate(toks) if _year(t)]
    if years:
        year = int(toks[years[-1]])
        head = [t for t in toks[:years[-1]] if t not in ("tahun", "anggaran", "ta")]
        if not head:
            return Deadline(date(year, 12, 31))
        months = [t for t in head if t in MONTHS]
        if months and all(t in MONTHS or t in NUMBER_WORDS for t in head):
            return Deadline(_month_end(year, MONTHS[months[-1]]))
        for i, t in enumerate(head):
            glued = re.fullmatch(r"(tw|q|s|smt)(\d)", t)
            size = PERIODS.get(glued[1] if glued else t)
            if size is None:
                continue
            rest = [glued[2]] if glued else head[i + 1:]
            n = None
            if rest:
                last = rest[-1]
                n = ROMAN.get(last) or (int(last) if last.isdigit() else _number(rest))
            if n is None or not 1 <= n <= 12 // size:
                return (f"'{raw}': a {t if not glued else glued[1]} of {year} is numbered 1 to "
                        f"{12 // size} (I to {('I', 'II', 'III', 'IV')[12 // size - 1]})")
            return Deadline(_month_end(year, n * size))
        return f"'{raw}' is not a time this reader knows ({_known()})"
    # A duration after the forum: "3 bulan", "tiga bulan", "30 hari kerja", "2 minggu".
    toks = [t for t in tokens(raw) if t not in NOISE or t == "bulan"]
    for i, t in enumerate(toks):
        if t not in DURATIONS:
            continue
        n = _number(toks[:i])
        if n is None:
            break
        if t == "hari" and toks[i + 1:i + 2] == ["kerja"]:
            return _hk(n, raw)
        if forum is None:
            return f"'{raw}' counts from the forum date, which is not known (give --forum-date)"
        if n < 1 or n > 120:
            return f"'{raw}': {n} {t} is not a plausible time"
        if t == "bulan":
            return Deadline(_plus_months(forum, n))
        if t == "tahun":
            return Deadline(_plus_months(forum, 12 * n))
        return Deadline(forum + timedelta(days=n * DURATIONS[t]))
    return f"'{raw}' is not a time this reader knows ({_known()})"


def _known() -> str:
    return ("write e.g. 31/12/2026, Desember 2026, Triwulan II 2026, Semester I 2026, "
            "Tahun 2026, 3 bulan, 30 hari kerja or +10 hk")


def _real(y: int, m: int, d: int, raw: str) -> Deadline | str:
    try:
        day = date(y, m, d)
    except ValueError:
        reason = f"'{raw}' is not a real date"
        if "/" in raw and m > 12 >= d:
            reason += " (dates are DD/MM/YYYY: day first, then month)"
        return reason
    if not YEARS[0] <= day.year <= YEARS[1]:
        return f"{day.isoformat()} is out of range (years {YEARS[0]}–{YEARS[1]})"
    return Deadline(day)


def _hk(n: int, raw: str) -> Deadline | str:
    if n < 1:
        return f"'{raw}': give at least 1 working day"
    if n > MAX_HK:
        return f"'{raw}' is more than a year of working days (at most +{MAX_HK} hk)"
    return Deadline(hk=n)
