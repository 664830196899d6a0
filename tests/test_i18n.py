"""Translations: every msgid has Indonesian, the catalog is clean, dates and labels are right."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tindak import i18n
from tindak.mail import render_notice
from tindak.mailmodel import ItemLine, NoticeMail
from tindak.status import STATUS_LABELS_EN, STATUS_LABELS_ID

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "tindak" / "locale" / "id" / "LC_MESSAGES" / "messages.po"
# The mail part of Tindak; the web app adds templates/web and its modules to this list.
SOURCES = [ROOT / "templates" / "email", ROOT / "tindak" / "cli"] + [
    ROOT / "tindak" / f for f in ("i18n.py", "mail.py", "charts.py", "outbox",
                                  # what the CLI and the import say (words: issue 10.6)
                                  "errors.py", "recs.py", "importer", "workbook.py",
                                  "holidays_admin.py", "forums.py", "backup",
                                  "settings.py", "flowrun.py", "directory.py", "calendar.py",
                                  "links.py", "extensions.py", "public_loop.py", "validators.py")
]


def catalog():
    with PO.open("rb") as fh:
        return read_po(fh, locale="id")


def test_every_msgid_has_an_indonesian_translation():
    found = i18n.extract_msgids(SOURCES)
    assert len(found) > 40
    cat = catalog()
    missing = []
    for msgid, where in found.items():
        key = msgid if isinstance(msgid, str) else msgid[0]
        msg = cat.get(key)
        strings = [] if msg is None else (
            list(msg.string) if isinstance(msg.string, tuple) else [msg.string])
        if not strings or not all(s.strip() for s in strings):
            missing.append(f"{where[0]}: {msgid!r}")
    assert missing == []


def test_catalog_has_no_fuzzy_or_obsolete_entries_and_placeholders_match():
    cat = catalog()
    assert not cat.fuzzy
    assert [m.id for m in cat if m.id and m.fuzzy] == []
    assert list(cat.obsolete) == []
    assert [(m.id, errs) for m, errs in cat.check()] == []


def test_extract_msgids_reads_python_and_templates(tmp_path):
    (tmp_path / "a.py").write_text('from tindak.i18n import N_\nX = N_("Hello")\n'
                                   'def f(_): return _("Bye")\n')
    (tmp_path / "t.html").write_text('{% trans %}  Hi   {{ name }}\n there{% endtrans %}'
                                     '{{ ngettext("%(num)d day", "%(num)d days", n) }}')
    found = i18n.extract_msgids([tmp_path])
    # Line breaks are trimmed as the environments trim them ("ext.i18n.trimmed").
    assert set(found) == {"Hello", "Bye", "Hi   %(name)s there", ("%(num)d day", "%(num)d days")}


def test_status_labels_are_spec_labels_in_indonesian_and_english():
    assert i18n.STATUS_MSGIDS == STATUS_LABELS_EN
    for code, label in STATUS_LABELS_ID.items():
        assert i18n.status_label(code, "id") == label
        assert i18n.status_label(code, "en") == STATUS_LABELS_EN[code]
    assert i18n.status_label("awaiting_verification", "id") == "Selesai, menunggu verifikasi"
    assert i18n.status_label("open", "id") == "Belum ditindaklanjuti"


@pytest.mark.parametrize("lang, tz, expected", [
    ("id", None, "2 Februari 2026"),
    ("id", "Asia/Makassar", "2 Februari 2026 (WITA)"),
    ("id", "Asia/Jakarta", "2 Februari 2026 (WIB)"),
    ("id", "Asia/Jayapura", "2 Februari 2026 (WIT)"),
    ("en", "Asia/Jayapura", "2 February 2026 (WIT)"),
])
def test_dates_in_indonesian_and_english(lang, tz, expected):
    assert i18n.format_date(date(2026, 2, 2), lang, tz) == expected


def test_month_names():
    months = [i18n.format_date(date(2026, m, 1), "id").split()[1] for m in range(1, 13)]
    assert months == ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli",
                      "Agustus", "September", "Oktober", "November", "Desember"]


def test_translator_for_the_web_app_and_plurals():
    t = i18n.translator("id")
    assert t.gettext("Report progress") == "Laporkan perkembangan"
    assert t.ngettext("overdue by %(num)d day", "overdue by %(num)d days", 3) % {"num": 3} == (
        "terlambat 3 hari")
    en = i18n.translator("en")
    assert en.ngettext("overdue by %(num)d day", "overdue by %(num)d days", 1) % {"num": 1} == (
        "overdue by 1 day")
    assert en.gettext("Report progress") == "Report progress"
    assert t.status("completed") == "Selesai sesuai rekomendasi"
    assert t.date(date(2026, 8, 17), "Asia/Jakarta") == "17 Agustus 2026 (WIB)"


def test_language_codes_fall_back_to_indonesian():
    assert [i18n.normalize_lang(x) for x in (None, "", "id_ID", "en-US", "EN", "fr")] == [
        "id", "id", "id", "en", "en", "id"]


def test_the_setting_chooses_the_language(settings_env):
    from tindak.settings import get_settings

    assert i18n.translator(get_settings().language).lang == "id"
    settings_env(LANGUAGE="en")
    assert i18n.translator(get_settings().language).gettext("Deadline") == "Deadline"


def test_one_environment_renders_both_languages_at_once():
    line = ItemLine(ref="R-1", text="Teks", forum="FKP", unit_name="Dinas",
                    deadline=date(2026, 2, 2), tz="Asia/Jakarta", status="open", progress=0,
                    owner_name="Budi", owner_email="budi@example.go.id", stage="due:2026-02-02",
                    days_left=0)

    def render(lang: str) -> str:
        return render_notice(NoticeMail(kind="reminder", on_date=date(2026, 2, 2),
                                        recipient_name="Budi", recipient_email="b@x.go.id",
                                        items=[line], lang=lang)).text

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(render, ["id", "en"] * 40))
    assert all("Yth. Bapak/Ibu Budi," in t and "Belum ditindaklanjuti" in t for t in texts[::2])
    assert all("Dear Budi," in t and "Not yet followed up" in t for t in texts[1::2])
