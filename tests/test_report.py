"""`tindak report` (SPEC §8): the evaluator's follow-up report as PDF and XLSX, from a real
database through the real command; the PDF read back as text with poppler's pdftotext."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tindak import i18n, rates
from tindak.calendar import local_today
from tindak.importer import import_files
from tindak.recs import Evidence, update_rec, verify_rec
from tindak.report import MAX_PDF_ITEMS, build_report, render_xlsx

HOSTILE = '<script>alert("x")</script> & <b>tebal</b>'
FORMULA = '=HYPERLINK("http://contoh.invalid","klik")'
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(make):  # type: ignore[no-untyped-def]
    """A unit tree with five items whose rates are known, relative to today."""
    today = local_today("Asia/Jakarta", datetime.now(UTC))
    top = make.unit(code="DINSOS", name="Dinas Sosial Kota Contoh")
    bidang = make.unit(code="LINJAMSOS", name="Bidang Perlindungan", parent=top)
    other = make.unit(code="LAIN", name="Dinas Lain")
    planner = make.person(email="perencana@dinsos.go.id", unit=top, roles="planner")
    owner = make.person(email="siti@dinsos.go.id", unit=bidang, name="Siti Aminah")
    forum = make.forum(unit=top, title="FKP Dinas Sosial 2026", held_on=today - timedelta(200))
    early = make.rec(ref="FKP-01", owner=owner, forum=forum, text=HOSTILE,
                     deadline=today + timedelta(30))
    late = make.rec(ref="FKP-02", owner=owner, forum=forum, text=FORMULA,
                    deadline=today - timedelta(10))
    make.rec(ref="FKP-03", owner=owner, forum=forum, deadline=today - timedelta(5))
    make.rec(ref="FKP-04", owner=owner, forum=forum, deadline=today - timedelta(100))
    make.rec(ref="FKP-05", owner=owner, forum=forum, status="not_actionable",
             deadline=today - timedelta(100))
    make.rec(ref="LAIN-01", owner=make.person(unit=other), unit=other,
             forum=make.forum(unit=other, title="FKP Lain", held_on=today - timedelta(20)))
    for rec in (early, late):
        update_rec(rec.ref, by=owner.email, progress=100, note="selesai",
                   evidence=Evidence(url=f"https://dinsos.go.id/bukti/{rec.ref}.pdf"))
        verify_rec(rec.ref, by=planner.email)
    return today


def pdf_text(path: Path, layout: bool = True) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def says(page: str, label: str, value: str) -> None:
    """The PDF's summary line that names `label` gives `value` right after it."""
    pattern = re.compile(re.escape(label) + r"\s+" + re.escape(value) + r"(\s|$)")
    assert any(pattern.search(line) for line in page.splitlines()), (label, value)


def test_the_pdf_reads_as_an_evaluator_expects_in_indonesian(tree, tindak, home) -> None:  # type: ignore[no-untyped-def]
    out = home / "laporan.pdf"
    done = tindak("report", str(out), "--unit", "DINSOS")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"wrote {out}: 1 forum(s), 5 recommendation(s), "
                                   "implementation rate 50%")
    page = pdf_text(out)
    text = " ".join(page.split())
    assert "Laporan Tindak Lanjut Hasil Forum Konsultasi Publik" in text
    assert "FKP Dinas Sosial 2026" in text and "FKP Lain" not in text
    # Rates: 2 completed of 4 closable; on time 1 of the 4 that were due, both ways.
    says(page, "Tingkat penyelesaian tindak lanjut", "50%")
    says(page, "Tepat waktu (tenggat awal)", "25% (1/4)")
    says(page, "Tepat waktu (tenggat yang berlaku)", "25% (1/4)")
    says(page, "0–30 hari", "1")  # 5 days late; 100 days late is 91–180
    says(page, "91–180 hari", "1")
    says(page, ">180 hari", "0")
    assert "Selesai sesuai rekomendasi" in text and "terlambat 100 hari" in text
    assert "https://dinsos.go.id/bukti/FKP-01.pdf" in "".join(pdf_text(out, False).split())
    # Hostile text prints as the text it is, not as markup.
    assert '<script>alert("x")</script> & <b>tebal</b>' in " ".join(pdf_text(out, False).split())
    assert i18n.format_date(tree, "id") in text


def test_the_pdf_is_in_english_by_setting(tree, tindak, home) -> None:  # type: ignore[no-untyped-def]
    tindak.env["TINDAK_LANGUAGE"] = "en"
    out = home / "report.pdf"
    assert tindak("report", str(out), "--forum", "1").returncode == 0
    text = " ".join(pdf_text(out).split())
    assert "Follow-up report of the public consultation forums" in text
    says(pdf_text(out), "Implementation rate", "50%")
    assert "Completed as recommended" in text


def test_the_xlsx_has_the_same_numbers_and_neutralised_formulas(tree, tindak, home) -> None:  # type: ignore[no-untyped-def]
    out = home / "laporan.xlsx"
    assert tindak("report", str(out), "--unit", "DINSOS").returncode == 0
    wb = openpyxl.load_workbook(out)
    summary = {r[0]: r[1:] for r in wb["Ringkasan"].iter_rows(min_row=2, values_only=True)}
    assert summary["Tingkat penyelesaian tindak lanjut"][0] == 0.5
    assert summary["Tepat waktu (tenggat awal)"][:2] == (0.25, "1/4")
    assert summary["Terbuka, terlambat 0–30 hari"][0] == 1
    rows = list(wb["Rekomendasi"].iter_rows(values_only=True))
    assert rows[0][:5] == ("Forum", "Tanggal forum", "Berita Acara", "Ref", "Rekomendasi")
    by_ref = {r[3]: r for r in rows[1:]}
    assert sorted(by_ref) == ["FKP-01", "FKP-02", "FKP-03", "FKP-04", "FKP-05"]
    assert by_ref["FKP-02"][4] == "'" + FORMULA  # written as text, never run
    assert by_ref["FKP-01"][4] == HOSTILE
    assert by_ref["FKP-01"][7] == "Selesai sesuai rekomendasi"
    assert by_ref["FKP-01"][9] == by_ref["FKP-01"][10]  # no extensions yet: the same date
    assert by_ref["FKP-01"][11].date() == tree and by_ref["FKP-04"][12] == 100
    assert by_ref["FKP-01"][13] == "https://dinsos.go.id/bukti/FKP-01.pdf"


def test_forum_dates_from_and_to_choose_the_forums(tree, home) -> None:  # type: ignore[no-untyped-def]
    recent = build_report(start=tree - timedelta(30))
    assert [f.title for f in recent.forums] == ["FKP Lain"]
    older = build_report(end=tree - timedelta(30))
    assert [f.title for f in older.forums] == ["FKP Dinas Sosial 2026"]
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(build_report(
        start=tree, end=tree))))
    assert list(book["Rekomendasi"].iter_rows(min_row=2, values_only=True)) == []


@pytest.mark.usefixtures("english")  # reads the English words
def test_wrong_input_is_one_line(tree, tindak, home) -> None:  # type: ignore[no-untyped-def]
    bad = tindak("report", str(home / "laporan.docx"))
    assert (bad.returncode, bad.stderr) == (
        1, f"error: {home / 'laporan.docx'}: the report is written as .pdf or .xlsx\n")
    bad = tindak("report", str(home / "l.pdf"), "--from", "2026-05-01", "--to", "2026-04-01")
    assert bad.stderr == "error: --to 2026-04-01 is before --from 2026-05-01\n"
    assert not (home / "l.pdf").exists()


def test_every_text_of_the_report_has_an_indonesian_translation() -> None:
    found = i18n.extract_msgids([ROOT / "templates" / "report", ROOT / "tindak" / "report.py"])
    t = i18n.get_translations("id")
    untranslated = [m for m in found if isinstance(m, str) and t.gettext(m) == m
                    and m not in ("Berita Acara", "Status", "Forum", "No", "Ref")]
    assert len(found) > 25 and untranslated == []


# --- the rates: one place, pure -----------------------------------------------------------

statuses = st.sampled_from(["open", "in_progress", "awaiting_verification", "completed",
                            "not_actionable"])


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.lists(st.tuples(statuses, st.integers(-400, 400), st.integers(-400, 400)),
                max_size=30))
def test_rates_are_shares_of_what_counts(items: list[tuple[str, int, int]]) -> None:
    today = date(2026, 6, 30)
    rows = [(s, today + timedelta(d), today + timedelta(c) if s == "completed" else None)
            for s, d, c in items]
    counts: dict[str, int] = {}
    for s, _, _ in rows:
        counts[s] = counts.get(s, 0) + 1
    closable = len(rows) - counts.get("not_actionable", 0)
    assert rates.implementation_rate(counts) == (
        counts.get("completed", 0) / closable if closable else 0.0)
    ot = rates.on_time(rows, today)
    assert 0 <= ot.on_time <= ot.due <= closable and 0.0 <= ot.rate <= 1.0
    assert ot.on_time == sum(1 for s, d, c in rows if s == "completed" and c <= d)
    ages = rates.aging((s, max(0, (today - d).days)) for s, d, _ in rows)
    assert sum(ages.values()) == counts.get("open", 0) + counts.get("in_progress", 0)


def test_days_overdue_fall_in_the_evaluators_buckets() -> None:
    assert [rates.age_bucket(d) for d in (0, 30, 31, 90, 91, 180, 181, 5000)] == [
        "0–30", "0–30", "31–90", "31–90", "91–180", "91–180", ">180", ">180"]


@pytest.mark.usefixtures("english")  # reads the English words
def test_a_pdf_too_large_to_list_every_item_gives_the_totals_per_unit(home, tindak) -> None:  # type: ignore[no-untyped-def]
    """Above the PDF's list limit the PDF still answers the evaluator's question (rates,
    overall and per unit) and says where the list is; the XLSX lists every item."""
    n = MAX_PDF_ITEMS + 1
    rows = "".join(f"R-{i},FKP Besar,2026-01-12,Rekomendasi {i},"
                   f"{'pic@dinsos.go.id' if i % 3 else 'ani@dinkes.go.id'},2026-06-30\n"
                   for i in range(n))
    (home / "u.csv").write_text("code,name,parent\nPEMKOT,Pemerintah Kota,\n"
                                "DINSOS,Dinas Sosial,PEMKOT\nDINKES,Dinas Kesehatan,PEMKOT\n")
    (home / "p.csv").write_text("email,name,unit\npic@dinsos.go.id,Siti,DINSOS\n"
                                "ani@dinkes.go.id,Ani,DINKES\n")
    (home / "r.csv").write_text("ref,forum,forum_date,text,owner,deadline\n" + rows)
    import_files([str(home / f) for f in ("u.csv", "p.csv", "r.csv")])
    done = tindak("report", str(home / "semua.pdf"), "--unit", "PEMKOT", "--as-of",
                  "2026-07-01")
    assert done.returncode == 0, done.stderr
    text = " ".join(pdf_text(home / "semua.pdf", layout=False).split())
    assert f"The list of the {n} recommendations, forum by forum, is too long" in text
    assert "Rekomendasi 17 " not in text  # no item rows
    kes, sos = len(range(0, n, 3)), n - len(range(0, n, 3))
    assert f"Dinas Kesehatan {kes} 0 0% 0% (0/{kes}) 0% (0/{kes}) {kes}" in text
    assert f"Dinas Sosial {sos} 0 0% 0% (0/{sos}) 0% (0/{sos}) {sos}" in text
    assert tindak("report", str(home / "semua.xlsx")).returncode == 0
    wb = openpyxl.load_workbook(home / "semua.xlsx", read_only=True)
    assert sum(1 for _ in wb["Recommendations"].iter_rows(min_row=2)) == n
    per_unit = [r[:3] for r in wb["Per unit"].iter_rows(min_row=2, values_only=True)]
    assert per_unit == [("Pemerintah Kota", n, 0)]  # no scope: each top unit
