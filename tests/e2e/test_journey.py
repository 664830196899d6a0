"""The whole journey in a real browser: a planner signs in with a link and registers a
forum with two recommendations; the daily run emails the owner; the owner opens the link
on a phone and reports done with an evidence file; the planner verifies; the public page
shows it completed. Screenshots of each step go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from models import Outbox, messages, session
from tindak.calendar import WorkCalendar, local_today
from tindak.cli import main

OWNER_LINK = re.compile(r"https?://[^\s<>\"]+/o/[A-Za-z0-9_.\-]+")


def _dates() -> tuple[date, date, date]:
    """A forum last week, a working day to run on, a deadline seven days after it."""
    cal = WorkCalendar()
    today = local_today("Asia/Jakarta", datetime.now(UTC))
    run_on = today if cal.is_working_day(today) else cal.next_working_day(today)
    return today - timedelta(days=7), run_on, run_on + timedelta(days=7)


def _owner_link_from_outbox(email: str) -> str:
    with session() as s:
        bodies = [m.body_text for m in messages(s, Outbox.recipient == email,
                                                Outbox.kind == "reminder")]
    links = [m.group(0) for body in bodies for m in OWNER_LINK.finditer(body)]
    assert links, f"no owner link in the reminders to {email}: {bodies!r}"
    return links[0]


@pytest.mark.browser
def test_forum_to_public_completion(make, live_server, browsers, shots, capsys, tmp_path,
                                    home):
    unit = make.unit(code="DINSOS", name="Dinas Sosial Kabupaten Contoh")
    planner = make.person(email="perencana@dinsos.go.id", unit=unit, roles="planner",
                          name="Rina Perencana")
    owner = make.person(email="pic.layanan@dinsos.go.id", unit=unit, name="Siti Aminah")
    other = make.person(email="pic.data@dinsos.go.id", unit=unit, name="Budi Santoso")
    held_on, run_on, deadline = _dates()

    # 1. The planner signs in with a one-time link printed by `tindak login-link`.
    assert main(["login-link", planner.email]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith(live_server.url + "/masuk/")
    desk = browsers.open("planner")
    desk.goto(link)
    shots(desk, "planner-sign-in-link")
    desk.click("main form button[type=submit]")
    desk.wait_for_url(re.compile(r"/kelola/rekomendasi$"))

    # 2. … registers the forum …
    desk.goto(live_server.url + "/kelola/forum/baru")
    desk.fill("#title", "FKP Layanan Bantuan Sosial 2026")
    desk.fill("#held_on", held_on.isoformat())
    desk.fill("#place", "Aula Dinas Sosial")
    desk.fill("#minutes_ref", "BA-07/FKP/2026")
    shots(desk, "planner-new-forum")
    desk.click("main form button[type=submit]")
    desk.wait_for_url(re.compile(r"/kelola/forum/\d+$"))

    # 3. … and its two recommendations, with owners and deadlines.
    for text, who, due, category in [
        ("Sediakan jalur layanan khusus bagi penyandang disabilitas dan lansia",
         owner.email, deadline.isoformat(), "sarana"),
        ("Publikasikan SOP penanganan pengaduan di loket dan laman resmi",
         other.email, "+20 hk", "pengaduan"),
    ]:
        desk.fill("#a-text", text)
        desk.fill("#a-owner", who)
        desk.fill("#a-deadline", due)
        desk.select_option("#a-category", category)
        desk.click("form[action$='/rekomendasi'] button[type=submit]")
        desk.wait_for_load_state()
        assert text in desk.content()
    shots(desk, "planner-forum-with-two-recommendations")

    # 4. The daily run emails the owner a link to their page.
    from tindak.followup import run_daily

    result = run_daily(as_of=run_on)
    assert result["messages"] >= 1
    owner_link = _owner_link_from_outbox(owner.email)
    assert owner_link.startswith(live_server.url + "/o/")
    assert list((home / "outbox").glob("*.eml")), "the mail was written as .eml files"

    # 5. The owner opens it on a phone, no password, and reports done with evidence.
    phone = browsers.open("owner", phone=True)
    phone.goto(owner_link)
    body = phone.content()
    assert "Sediakan jalur layanan khusus" in body
    assert "Publikasikan SOP" not in body  # another owner's item
    shots(phone, "owner-page-on-phone")
    evidence = tmp_path / "foto-loket-disabilitas.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% foto loket\n")
    card = phone.locator("li.card").filter(has_text="Sediakan jalur layanan khusus")
    card.locator("select[name=status]").select_option("awaiting_verification")
    card.locator("textarea[name=note]").fill("Loket prioritas dan kursi roda tersedia sejak "
                                             "Senin.")
    card.locator("input[name=public]").check()
    card.locator("input[name=evidence]").set_input_files(str(evidence))
    shots(phone, "owner-report-filled")
    card.locator("form[action*='/r/'] button[type=submit]").click()  # the report's form
    phone.wait_for_load_state()
    assert phone.locator("p.notice.ok").is_visible()
    card = phone.locator("li.card").filter(has_text="Sediakan jalur layanan khusus")
    assert "100%" in card.inner_text()
    shots(phone, "owner-reported-done")

    # 6. The planner verifies it, with the evidence at hand.
    desk.goto(live_server.url + "/kelola/verifikasi")
    item = desk.locator("li.card").filter(has_text="Sediakan jalur layanan khusus")
    assert item.locator("a.evidence").inner_text() == "foto-loket-disabilitas.pdf"
    with desk.expect_download() as dl:
        item.locator("a.evidence").click()
    assert dl.value.suggested_filename == "foto-loket-disabilitas.pdf"
    shots(desk, "planner-verification-queue")
    item.locator("button[value=accept]").click()
    desk.wait_for_load_state()
    queue = desk.locator("main ol").first.inner_text()  # the verification queue
    assert "Sediakan jalur layanan khusus" not in queue
    shots(desk, "planner-verified")

    # 7. Anyone sees it completed on the public page.
    public = browsers.open("public", phone=True)
    public.goto(live_server.url + "/")
    assert "FKP Layanan Bantuan Sosial 2026" in public.content()
    shots(public, "public-index")
    public.click("text=FKP Layanan Bantuan Sosial 2026")
    public.wait_for_url(re.compile(r"/forum/\d+$"))
    done = public.locator("li.card").filter(has_text="Sediakan jalur layanan khusus")
    assert "Selesai sesuai rekomendasi" in done.inner_text()
    assert "Loket prioritas dan kursi roda" in done.inner_text()  # the public note
    assert "100%" in done.inner_text()
    page = public.content()
    assert "@" not in page and "foto-loket" not in page and "/bukti/" not in page
    shots(public, "public-forum-completed")
    assert browsers.dialogs == []
