"""Rendering (pure functions) and the MIME message of an outbox row."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from tindak import mail, outbox
from tindak.charts import digest_chart
from tindak.errors import DeliveryError
from tindak.mailmodel import DigestMail, ItemLine, NoticeMail, UnitCount

ON = date(2026, 2, 2)
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'


def item(ref: str = "FKP-1", stage: str = "", days_left: int = 7, **over) -> ItemLine:
    fields = dict(
        ref=ref, text="Menyusun SOP pengaduan\n\n   yang jelas dan  terbuka.",
        forum="FKP Dinsos 2026",
        unit_name="Dinas Sosial", deadline=date.fromordinal(ON.toordinal() + days_left),
        tz="Asia/Makassar", status="in_progress", progress=40, owner_name="Budi Santoso",
        owner_email="budi@example.go.id", stage=stage, days_left=days_left,
        days_overdue=max(0, -days_left), update_url="https://tindak.example.go.id/o/tok?a=1&b=2",
    )
    fields.update(over)
    return ItemLine(**fields)


def reminder(items: list[ItemLine], **over) -> NoticeMail:
    fields = dict(kind="reminder", on_date=ON, recipient_name="Budi Santoso",
                  recipient_email="budi@example.go.id", items=items,
                  update_url="https://tindak.example.go.id/o/tok")
    fields.update(over)
    return NoticeMail(**fields)


def digest(**over) -> DigestMail:
    overdue = [item(f"L-{i}", f"overdue_0:{ON}", -i - 1) for i in range(3)]
    fields = dict(
        leader_name="Kepala Dinas", leader_email="kadis@example.go.id", unit_name="Dinas Sosial",
        week_start=date(2026, 1, 26), week_end=date(2026, 2, 1),
        counts={"open": 4, "in_progress": 6, "awaiting_verification": 2, "completed": 7,
                "not_actionable": 1},
        total=20, completion_rate=7 / 19, overdue_count=5, overdue=overdue,
        escalations=overdue[:1], completions=[item("C-1", status="completed", progress=100)],
        at_risk=[item("R-1", progress=5)],
        per_unit=[UnitCount("Dinas Sosial", {"open": 2, "completed": 5}),
                  UnitCount("UPT Panti", {"open": 2, "in_progress": 6, "completed": 2})],
        dashboard_url="https://tindak.example.go.id/dashboard",
    )
    fields.update(over)
    return DigestMail(**fields)


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# ---------------------------------------------------------------- reminders


def test_reminder_subject_names_count_and_most_urgent_state_first():
    r = mail.render_notice(reminder([
        item("A", f"before_7:{ON}", 7), item("B", f"overdue_0:{ON}", -3),
        item("C", f"before_7:{ON}", 5),
    ]))
    assert r.subject == "[Tindak] 3 rekomendasi: 1 terlambat, 2 jatuh tempo dalam 7 hari"


def test_reminder_lists_items_in_sections_by_stage_most_urgent_first():
    r = mail.render_notice(reminder([
        item("SOON", f"before_14:{ON}", 14), item("TODAY", f"due:{ON}", 0),
        item("LATE", f"overdue_1:{ON}", -9), item("IDLE", "stale_1:2025-12-01", 40),
    ]))
    order = [r.text.index(h) for h in ("MELEWATI TENGGAT", "JATUH TEMPO HARI INI",
                                       "MENDEKATI TENGGAT", "BELUM ADA LAPORAN PERKEMBANGAN")]
    assert order == sorted(order)
    assert [r.text.index(x) for x in ("LATE", "TODAY", "SOON", "IDLE")] == sorted(
        r.text.index(x) for x in ("LATE", "TODAY", "SOON", "IDLE"))
    assert "terlambat 9 hari" in r.text and "jatuh tempo hari ini" in r.text
    assert "sisa 14 hari" in r.text
    assert "Laporan perkembangan terakhir 63 hari yang lalu" in r.text


def test_reminder_item_shows_facts_with_local_date_and_status_label():
    r = mail.render_notice(reminder([item("FKP-7", f"overdue_0:{ON}", -3)]))
    for part in ("FKP-7", "Menyusun SOP pengaduan yang jelas dan terbuka.", "FKP Dinsos 2026",
                 "Dinas Sosial", "30 Januari 2026 (WITA)", "Dalam proses", "40%"):
        assert part in r.text
        assert part in visible_text(r.html)
    assert r.text.startswith("TINDAK\n")
    assert "Yth. Bapak/Ibu Budi Santoso," in r.text


def test_reminder_has_the_call_to_action_and_item_links():
    r = mail.render_notice(reminder([item()]))
    for part in ('href="https://tindak.example.go.id/o/tok"', ">Laporkan perkembangan</a>",
                 'href="https://tindak.example.go.id/o/tok?a=1&amp;b=2"'):
        assert part in r.html
    assert "Laporkan perkembangan: https://tindak.example.go.id/o/tok\n" in r.text


def test_a_reminder_links_the_owners_calendar_feed_and_an_escalation_does_not():
    r = mail.render_notice(reminder([item()]))
    assert 'href="https://tindak.example.go.id/o/tok/kalender.ics"' in r.html
    assert "Tambahkan tenggat saya ke kalender (.ics)" in r.html
    assert "https://tindak.example.go.id/o/tok/kalender.ics" in r.text
    esc = mail.render_notice(reminder([item(stage="esc1", days_left=-9)], kind="escalation"))
    assert "kalender.ics" not in esc.html and "kalender.ics" not in esc.text


def test_without_a_base_url_there_is_no_button_and_no_broken_link():
    r = mail.render_notice(reminder([item(update_url=None)], update_url=None))
    assert "Laporkan perkembangan" not in r.html and "href=" not in r.html
    assert "http" not in r.text


def test_non_http_links_are_dropped():
    r = mail.render_notice(reminder([item(update_url="javascript:alert(1)")],
                                    update_url="javascript:alert(1)"))
    assert "javascript:" not in r.html and "javascript:" not in r.text


def test_long_texts_are_shortened_at_a_word_with_an_ellipsis():
    long = "kata " * 200
    r = mail.render_notice(reminder([item(text=long)]))
    line = next(x for x in r.html.splitlines() if "kata kata" in x)
    assert "kata…" in line and len(visible_text(line)) < 300


def test_hostile_text_is_escaped_in_html_and_verbatim_in_text():
    r = mail.render_notice(reminder(
        [item(ref=HOSTILE, text=HOSTILE, forum=HOSTILE, unit_name=HOSTILE, owner_name=HOSTILE)],
        recipient_name=HOSTILE))
    assert "<script>" not in r.html and "<img src=x" not in r.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in r.html
    assert HOSTILE in r.text


def test_plain_text_part_has_no_markup_and_short_lines():
    r = mail.render_notice(reminder([item("A", f"overdue_0:{ON}", -3), item("B", "", 3)]))
    assert not re.search(r"</?[a-z][^>]*>", r.text)
    assert "&nbsp;" not in r.text and "&amp;" not in r.text
    assert max(len(line) for line in r.text.splitlines() if "http" not in line) <= 76
    assert "\n\n\n" not in r.text


def test_html_is_a_600px_table_layout_with_the_tindak_header_and_automatic_footer():
    r = mail.render_notice(reminder([item()]))
    assert "max-width:600px" in r.html and 'role="presentation"' in r.html
    assert ">Tindak</span>" in r.html
    assert "Pesan ini dikirim secara otomatis oleh Tindak" in r.html
    assert "<style" not in r.html  # inline styles only: Gmail drops style blocks in places


def test_english_by_language():
    r = mail.render_notice(reminder([item("B", f"overdue_0:{ON}", -1), item("A", f"due:{ON}", 0)],
                                    lang="en"))
    assert r.subject == "[Tindak] 2 recommendations: 1 overdue, 1 due today"
    assert "Dear Budi Santoso," in r.text and "overdue by 1 day\n" in r.text
    assert "1 February 2026 (WITA)" in r.text and "In progress" in r.text
    assert ">Report progress</a>" in r.html


def test_escalation_names_owners_levels_and_cc_without_owner_links():
    r = mail.render_notice(NoticeMail(
        kind="escalation", on_date=ON, recipient_name="Siti Aminah",
        recipient_email="siti@example.go.id", cc=["budi@example.go.id"],
        items=[item("E1", f"esc1:{ON}", -8), item("E2", f"esc2:{ON}", -31)]))
    assert r.subject == "[Tindak] Eskalasi tingkat 2: 2 rekomendasi terlambat (Budi Santoso)"
    assert r.text.index("ESKALASI TINGKAT 2") < r.text.index("ESKALASI TINGKAT 1")
    assert "Penanggung jawab: Budi Santoso <budi@example.go.id>" in r.text
    assert "terlambat 31 hari" in r.text and "terlambat 8 hari" in r.text
    assert "Tembusan pesan ini disampaikan kepada budi@example.go.id." in r.text
    assert "/o/tok" not in r.html and "/o/tok" not in r.text  # an owner's link is theirs


def test_rendering_is_pure_and_repeatable():
    m = reminder([item("A", f"overdue_0:{ON}", -3)])
    assert mail.render_notice(m) == mail.render_notice(m)


# ---------------------------------------------------------------- digest


def test_digest_counts_labels_rate_and_chart_inline():
    r = mail.render_digest(digest())
    assert r.subject == ("[Tindak] Ringkasan mingguan Dinas Sosial, 26 Januari 2026 – "
                         "1 Februari 2026: 5 terlambat, 36% selesai")
    for label, n in (("Belum ditindaklanjuti", 4), ("Dalam proses", 6),
                     ("Selesai, menunggu verifikasi", 2), ("Selesai sesuai rekomendasi", 7),
                     ("Tidak dapat ditindaklanjuti", 1)):
        assert re.search(rf"{re.escape(label)}\s+{n}\n", r.text)
        assert label in r.html
    (chart,) = r.attachments
    assert chart.mime == "image/png" and chart.data.startswith(b"\x89PNG")
    assert f'src="cid:{chart.cid}"' in r.html
    assert "cid:" not in r.text


def test_digest_overdue_list_says_how_many_more():
    r = mail.render_digest(digest())
    assert "… dan 2 rekomendasi terlambat lainnya." in r.text
    assert r.text.index("L-2") < r.text.index("L-0")  # most days overdue first
    assert "Penanggung jawab: Budi Santoso" in r.text


def test_digest_sections_and_dashboard_link():
    r = mail.render_digest(digest())
    for heading in ("DIESKALASI MINGGU INI", "BERISIKO TERLAMBAT", "DISELESAIKAN MINGGU INI"):
        assert heading in r.text
    assert 'href="https://tindak.example.go.id/dashboard"' in r.html
    assert "Buka dasbor: https://tindak.example.go.id/dashboard" in r.text


def test_empty_digest_has_no_chart_and_says_nothing_is_overdue():
    r = mail.render_digest(digest(counts={}, total=0, completion_rate=0.0, overdue_count=0,
                                  overdue=[], escalations=[], completions=[], at_risk=[],
                                  per_unit=[], dashboard_url=None, lang="en"))
    assert r.attachments == [] and "cid:" not in r.html
    assert "None. Every recommendation is within its deadline." in r.text


def test_chart_is_deterministic_fast_and_handles_many_units():
    import time

    per = [UnitCount(f"Unit kerja {i} dengan nama yang sangat panjang sekali",
                     {"open": i, "in_progress": 2, "completed": 3}) for i in range(30)]
    digest_chart(per[:2])  # matplotlib's first import is not the chart's cost
    t0 = time.perf_counter()
    png = digest_chart(per, "id")
    elapsed = time.perf_counter() - t0
    assert png == digest_chart(per, "id")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 120_000
    assert elapsed < 1.0  # ~0.13 s measured; generous for busy CI machines
    assert digest_chart([UnitCount("Kosong", {})]) is None


# ---------------------------------------------------------------- MIME


def outbox_row(**over) -> SimpleNamespace:
    fields = dict(id=1, recipient="budi@example.go.id", cc="", subject="[Tindak] tes",
                  body_text="Teks\n", body_html="<p>HTML</p>", message_id="<1.2@example.go.id>",
                  attachments="[]", created_at=datetime(2026, 2, 2, 0, 30, tzinfo=UTC))
    fields.update(over)
    return SimpleNamespace(**fields)


def test_build_message_structure_and_headers(home):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()
    msg = outbox.build_message(outbox_row(
        cc="Siti <siti@example.go.id>",
        attachments=json.dumps([{"cid": "c1@tindak", "mime": "image/png", "b64": png}])))
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    assert msg["Message-ID"] == "<1.2@example.go.id>"
    assert msg["Date"] == "Mon, 02 Feb 2026 00:30:00 +0000"
    assert (msg["Auto-Submitted"], msg["X-Auto-Response-Suppress"]) == ("auto-generated", "All")
    assert msg["Cc"].addresses[0].display_name == "Siti"
    assert msg.get_body(("plain",)).get_content() == "Teks\n"
    assert all(not p.defects for p in msg.walk())


def test_the_same_row_always_gives_the_same_bytes(home):
    assert outbox.prepare(outbox_row()).data == outbox.prepare(outbox_row()).data


def test_new_message_ids_are_unique_and_use_the_sender_domain(settings_env):
    settings_env(MAIL_FROM="Tindak <noreply@pemkot.example.go.id>")
    ids = {outbox.new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("<") and i.endswith("@pemkot.example.go.id>") for i in ids)


@pytest.mark.parametrize("field, value", [
    ("recipient", "a@example.go.id\nBcc: x@evil.example"),
    ("recipient", "a@example.go.id\n"),
    ("cc", "b@example.go.id\r\nX-Evil: 1"),
    ("message_id", "<1@x>\r\nBcc: x@evil.example"),
    ("recipient", "not-an-address"),
    ("attachments", json.dumps([{"cid": "c\n>Bcc: x", "mime": "image/png", "b64": ""}])),
])
def test_line_breaks_and_bad_addresses_are_refused(home, field, value):
    with pytest.raises(DeliveryError):
        outbox.prepare(outbox_row(**{field: value}))


def test_a_subject_with_line_breaks_stays_one_header(home):
    msg = outbox.build_message(outbox_row(subject="A\r\nBcc: x@evil.example"))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "A Bcc: x@evil.example"


def test_sentences_are_separated_in_every_html_message():
    htmls = [
        mail.render_notice(reminder([item("A", f"overdue_0:{ON}", -3)])).html,
        mail.render_notice(NoticeMail(kind="escalation", on_date=ON, recipient_name="Siti",
                                      recipient_email="s@example.go.id", cc=["b@example.go.id"],
                                      items=[item("E", f"esc1:{ON}", -8)])).html,
        mail.render_digest(digest()).html,
    ]
    for html in htmls:
        text = visible_text(html.split("<body", 1)[1])
        joined = re.search(r".{0,30}[a-z][.,:][A-Z].{0,30}", text)
        assert joined is None, joined


def test_a_capped_message_counts_and_mentions_the_items_left_out():
    r = mail.render_notice(reminder([item("A", f"overdue_0:{ON}", -3)], omitted=49))
    assert r.subject.startswith("[Tindak] 50 rekomendasi: ")
    assert "… dan 49 rekomendasi lainnya yang tidak dicantumkan di sini." in r.text
    assert "… dan 49 rekomendasi lainnya yang tidak dicantumkan di sini." in r.html
