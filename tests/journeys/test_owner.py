"""The owner's journey: a reminder arrives whose words fit the item's state; its link opens
that very item on a phone; the owner reports progress with an evidence file and sees it in
the item's history."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
from icalendar import Calendar

AS_OF = "2026-03-09"  # a Monday


@pytest.mark.browser
def test_owner_follows_the_reminder_to_the_item_and_reports_with_evidence(
        make, tindak, smtp_settings, web_process, browsers, shots, tmp_path):
    unit = make.unit(code="DISPENDUK", name="Dinas Kependudukan")
    boss = make.person(unit=unit, name="Kepala Bidang")
    owner = make.person(email="rina@dispenduk.example.go.id", unit=unit, supervisor=boss,
                        name="Rina Wulandari")
    forum = make.forum(unit=unit, title="FKP Adminduk 2026")
    old = make.rec(ref="ADM-01", owner=owner, forum=forum, deadline=date(2025, 12, 5),
                   text="Perpanjang jam layanan perekaman KTP-el pada hari Sabtu")
    soon = make.rec(ref="ADM-02", owner=owner, forum=forum, deadline=date(2026, 3, 16),
                    text="Pasang papan informasi persyaratan akta kelahiran")
    web = web_process()

    run = tindak("run", "daily", "--as-of", AS_OF)
    assert run.returncode == 0, run.stderr + run.stdout
    [got] = smtp_settings.wait_for(lambda r: list(r.rcpt_tos) == [owner.email])
    text = got.message.get_body(("plain",)).get_content()
    # The words fit the state: 94 days late is late, not "before the deadline".
    assert "terlambat 94 hari" in text and "sebelum tenggat" not in text
    assert "Tenggat waktu sudah lewat" not in text  # one of the two is not late yet...
    assert "Sebagian tenggat waktu sudah lewat" in text  # ... so: some have passed
    assert "sisa 7 hari" in text
    links = dict(re.findall(r"(ADM-0\d)[\s\S]*?Laporkan perkembangan rekomendasi ini:\s+(\S+)",
                            text))
    assert links["ADM-01"].endswith(f"#r{old.id}") and links["ADM-02"].endswith(f"#r{soon.id}")
    assert links["ADM-01"].startswith(web.url + "/o/")
    # The reminder also links the owner's deadlines as a calendar feed, which a calendar
    # application subscribes to: both items, on their deadlines.
    [feed] = re.findall(r"Tambahkan tenggat saya ke kalender \(\.ics\):\s+(\S+)", text)
    assert feed.startswith(web.url + "/o/") and feed.endswith("/kalender.ics")
    cal = Calendar.from_ical(httpx.get(feed, timeout=10).content)
    due = {str(ev["summary"]): ev.decoded("dtstart") for ev in cal.walk("VEVENT")}
    assert due == {"Tenggat tindak lanjut: ADM-01": date(2025, 12, 5),
                   "Tenggat tindak lanjut: ADM-02": date(2026, 3, 16)}

    phone = browsers.open("rina", phone=True)
    phone.goto(links["ADM-01"])
    card = phone.locator(f"#r{old.id}")
    assert "ADM-01" in card.inner_text()
    shots(phone, "owner-item-from-mail")
    evidence = tmp_path / "foto-layanan-sabtu.pdf"
    evidence.write_bytes(b"%PDF-1.4 foto layanan Sabtu")
    card.locator(f"#progress-{old.id}").fill("60")
    card.locator(f"#note-{old.id}").fill("Layanan Sabtu dibuka mulai 7 Maret")
    card.locator(f"#evidence-{old.id}").set_input_files(str(evidence))
    card.locator("form[action*='/r/'] button[type=submit]").click()  # the report's form
    phone.wait_for_url(re.compile(rf"/o/[^#]+#r{old.id}$"))
    card = phone.locator(f"#r{old.id}")
    card.locator("details.hist summary").click()
    history = card.locator("details.hist").inner_text()
    shots(phone, "owner-history")
    assert "Layanan Sabtu dibuka mulai 7 Maret" in history
    assert "foto-layanan-sabtu.pdf" in history and "Rina Wulandari" in history
    assert "60%" in card.inner_text()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
