"""The leader's journey: the weekly digest by mail, then the live dashboard on a phone.

Real parts throughout: `tindak run digest` through a real Prefect server, mail to a real SMTP
server, `tindak login-link` and `tindak web` as child processes, the page in Chromium at a
phone's 390 px."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tindak.recs import update_rec, verify_rec


def _plain(message) -> str:  # type: ignore[no-untyped-def]
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
    raise AssertionError("no plain-text part")


@pytest.mark.browser
def test_leader_reads_the_weekly_digest_and_the_dashboard_on_a_phone(
        make, tindak, web_process, smtp_settings, browsers, shots):
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    # The digest is run for today (its week: the seven days before); DONE-1 was verified three
    # days ago, so both the mail's week and the dashboard's live seven days hold it, whatever
    # weekday the test runs on.
    root = make.unit(code="PEMKOT", name="Pemerintah Kota Contoh")
    disduk = make.unit(code="DISDUK", parent=root,
                       name="Dinas Kependudukan dan Pencatatan Sipil Kota Contoh")
    dinsos = make.unit(code="DINSOS", parent=root, name="Dinas Sosial")
    leader = make.person(email="walikota@pemkot.go.id", unit=root, roles="leader",
                         name="Wali Kota")
    planner = make.person(email="perencana@pemkot.go.id", unit=root, roles="planner")
    siti = make.person(email="siti@disduk.go.id", unit=disduk, name="Siti Aminah")
    budi = make.person(email="budi@dinsos.go.id", unit=dinsos, name="Budi Santoso")
    forum = make.forum(unit=root, title="FKP Kota 2026", held_on=today - timedelta(days=90))
    make.rec(owner=siti, forum=forum, unit=disduk, ref="LATE-1",
             text="Sediakan loket prioritas lansia", deadline=today - timedelta(days=20))
    make.rec(owner=budi, forum=forum, unit=dinsos, ref="OPEN-1",
             text="Publikasikan SOP bansos", deadline=today + timedelta(days=200))
    make.rec(owner=budi, forum=forum, unit=dinsos, ref="DONE-1",
             text="Buka kanal pengaduan daring", deadline=today + timedelta(days=30))
    make.rec(owner=siti, forum=forum, unit=disduk, ref="TODAY-1",
             text="Pasang papan alur layanan KTP-el", deadline=today + timedelta(days=30))
    last_week = datetime.combine(today - timedelta(days=3), time(10),
                                 ZoneInfo("Asia/Jakarta")).astimezone(UTC)
    update_rec("DONE-1", by=budi.email, progress=100, note="Kanal dibuka", at=last_week)
    verify_rec("DONE-1", by=planner.email, at=last_week + timedelta(hours=2))

    web = web_process()
    res = tindak("run", "digest", "--as-of", today.isoformat(), prefect=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (mail,) = smtp_settings.wait_for(lambda r: leader.email in r.rcpt_tos)
    text = _plain(mail.message)
    assert "Wali Kota" in text
    assert re.search(r"\b4\b", text)  # four recommendations in the tree
    assert "LATE-1" in text and "Siti Aminah" in text  # overdue, with its owner
    assert "DONE-1" in text  # verified completed in the past week
    assert "OPEN-1" not in text.split("LATE-1", 1)[0][-200:]  # not listed as overdue

    # A completion made today, after the digest: the dashboard shows it live.
    update_rec("TODAY-1", by=siti.email, progress=100, note="Papan terpasang")
    verify_rec("TODAY-1", by=planner.email)

    link = tindak("login-link", leader.email)
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip().splitlines()[-1]
    assert url.startswith(web.url + "/masuk/")
    phone = browsers.open("walikota", phone=True)
    phone.goto(url)
    phone.click("button[type=submit]")
    phone.wait_for_url(re.compile(r"/pimpinan$"))
    shots(phone, "leader-dashboard")
    main = phone.inner_text("main")
    done = main.split("Diselesaikan minggu ini", 1)[1]
    assert "TODAY-1" in done and "DONE-1" in done
    assert "LATE-1" in main and "Siti Aminah" in main
    # Nothing is cut: the page is no wider than the phone, and so are the chart's labels.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    labels = phone.evaluate("""[...document.querySelectorAll('.bar-name, .bar-num')].map(e => {
        const r = e.getBoundingClientRect();
        return [e.textContent.trim(), parseFloat(getComputedStyle(e).fontSize),
                r.left >= 0 && r.right <= 390 && e.scrollWidth <= e.clientWidth + 1];
    })""")
    names = [name for name, _size, _fits in labels]
    assert "Dinas Kependudukan dan Pencatatan Sipil Kota Contoh" in names
    for name, size, fits in labels:
        assert size >= 12 and fits, (name, size, fits)
