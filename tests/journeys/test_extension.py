"""The extension journey (SPEC §7), with `tindak web` alone: a late owner asks for more time
from the reminder's link on a phone; another planner approves it in the browser; the owner's
decision mail arrives within seconds; the next daily run follows the new deadline (a
reminder, no escalation); the public page says the deadline moved, when, why and by which
unit's planner."""

from __future__ import annotations

import json
import re
import time
from datetime import date

import pytest


@pytest.mark.browser
def test_owner_asks_another_planner_decides_and_the_ladder_moves(
        make, tindak, web_process, smtp_settings, browsers, shots):
    unit = make.unit(code="DISHUB", name="Dinas Perhubungan")
    boss = make.person(email="kabid@dishub.example.go.id", unit=unit, name="Kepala Bidang")
    owner = make.person(email="agus@dishub.example.go.id", unit=unit, supervisor=boss,
                        name="Agus Salim")
    planner = make.person(email="perencana@dishub.example.go.id", unit=unit, roles="planner",
                          name="Wulan Perencana")
    forum = make.forum(unit=unit, title="FKP Layanan Perizinan Angkutan 2026")
    late = make.rec(ref="DISHUB-01", owner=owner, forum=forum, deadline=date(2026, 2, 27),
                    text="Sediakan loket daring untuk izin trayek")
    web = web_process()

    # 10 days late on Monday: the owner is reminded, the supervisor escalated to.
    run = tindak("run", "daily", "--as-of", "2026-03-09")
    assert run.returncode == 0, run.stderr + run.stdout
    [reminder] = smtp_settings.wait_for(lambda r: list(r.rcpt_tos) == [owner.email])
    smtp_settings.wait_for(lambda r: boss.email in r.rcpt_tos)
    text = reminder.message.get_body(("plain",)).get_content()
    [link] = re.findall(r"Laporkan perkembangan rekomendasi ini:\s+(\S+)", text)

    phone = browsers.open("agus", phone=True)
    phone.goto(link)
    card = phone.locator(f"#r{late.id}")
    card.locator("details.extend summary").click()
    card.locator(f"#until-{late.id}").fill("2026-03-16")
    card.locator(f"#reason-{late.id}").fill("Server perizinan daring baru terpasang 13 Maret")
    shots(phone, "extension-asked")
    card.locator("details.extend button[type=submit]").click()
    phone.wait_for_url(re.compile(rf"/o/[^#]+#r{late.id}$"))
    card = phone.locator(f"#r{late.id}")
    assert "perencana yang memutuskan" in card.inner_text()
    assert "27 Februari 2026" in card.inner_text()  # the deadline in force has not moved

    desk = browsers.open("wulan")
    desk.goto(web.url + "/masuk")
    desk.fill("#email", planner.email)
    desk.click("text=Kirimi saya tautan masuk")
    [mail] = smtp_settings.wait_for(lambda r: planner.email in r.rcpt_tos, timeout=10)
    [signin] = re.findall(r"\S+/masuk/\S+", mail.message.get_body(("plain",)).get_content())
    desk.goto(signin)
    desk.click("button:has-text('Masuk')")
    desk.wait_for_url(re.compile(r"/kelola"))
    desk.goto(web.url + "/kelola/verifikasi")
    request = desk.locator(f"#x{late.id}")
    assert "Server perizinan daring baru terpasang 13 Maret" in request.inner_text()
    asked = time.monotonic()
    request.locator("button:has-text('Setujui tenggat waktu baru')").click()
    desk.wait_for_url(re.compile(r"/kelola/verifikasi"))
    shots(desk, "extension-approved")
    assert "Perpanjangan DISHUB-01 disetujui" in desk.inner_text("main")

    [decision] = smtp_settings.wait_for(
        lambda r: list(r.rcpt_tos) == [owner.email] and "Perpanjangan" in r.message["Subject"],
        timeout=10)
    assert time.monotonic() - asked < 10
    body = decision.message.get_body(("plain",)).get_content()
    assert "Wulan Perencana menyetujui" in body and "16 Maret 2026" in body

    # The next working day follows the deadline in force: a reminder of the new date (6 days
    # left), no escalation, no "late" words.
    before = len(smtp_settings.received)
    run = tindak("run", "daily", "--as-of", "2026-03-10")
    assert run.returncode == 0, run.stderr + run.stdout
    [nxt] = smtp_settings.wait_for(lambda r: list(r.rcpt_tos) == [owner.email]
                                   and r in smtp_settings.received[before:])
    assert [r.rcpt_tos for r in smtp_settings.received[before:]] == [(owner.email,)]
    words = nxt.message.get_body(("plain",)).get_content()
    assert "sisa 6 hari" in words and "terlambat" not in words

    listed = tindak("recs", "list", "--format", "json")
    [item] = json.loads(listed.stdout)
    assert (item["deadline"], item["original_deadline"]) == ("2026-03-16", "2026-02-27")
    assert item["extension"]["decided_by"] == planner.email

    visitor = browsers.open("warga", phone=True)
    visitor.goto(f"{web.url}/forum/{forum.id}")
    public = visitor.inner_text("main")
    shots(visitor, "extension-public")
    assert "Tenggat waktu diperpanjang" in public
    assert "Server perizinan daring baru terpasang 13 Maret" in public
    assert "oleh perencana Dinas Perhubungan" in public
    assert "Wulan" not in public and owner.email not in public
