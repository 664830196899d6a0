"""The citizen's journey (SPEC §7), with `tindak web` and `tindak run digest` as real
processes: a participant subscribes on a phone from the forum's page, confirms from the
mailed link, hears in the week's update that an item was completed, answers "belum sesuai"
from the update's link, sees the tally on the public page, and leaves with one click (RFC
8058: a POST with no cookie and no token), after which nothing of them is stored."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from models import Subscriber, session


def _plain(received) -> str:  # type: ignore[no-untyped-def]
    return received.message.get_body(("plain",)).get_content()


def _links(text: str, part: str) -> list[str]:
    return [w for w in text.split() if f"/{part}/" in w]


@pytest.mark.browser
def test_a_citizen_subscribes_hears_answers_and_leaves_with_one_click(
        make, tindak, web_process, smtp_settings, browsers, shots):
    unit = make.unit(code="DPMPTSP", name="Dinas Penanaman Modal dan PTSP")
    owner = make.person(email="rudi@dpmptsp.example.go.id", unit=unit, name="Rudi Hartono")
    planner = make.person(email="perencana@dpmptsp.example.go.id", unit=unit, roles="planner")
    forum = make.forum(unit=unit, title="FKP Perizinan Berusaha 2026")
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta")).date()
    item = make.rec(ref="PTSP-01", owner=owner, forum=forum, deadline=today + timedelta(days=60),
                    text="Tampilkan standar waktu layanan izin di loket dan laman")
    web = web_process()

    phone = browsers.open("warga", phone=True)
    phone.goto(f"{web.url}/forum/{forum.id}")
    phone.click(f"a[href='/forum/{forum.id}/langganan']")
    phone.fill("#sub-email", "sari.warga@example.com")
    phone.click("main form button[type=submit]")
    assert "tautan konfirmasi" in phone.inner_text("main")
    [invite] = smtp_settings.wait_for(lambda r: "sari.warga@example.com" in r.rcpt_tos,
                                      timeout=10)
    [confirm] = _links(_plain(invite), "langganan")
    phone.goto(confirm)
    phone.click("main form button[type=submit]")
    assert "dikonfirmasi" in phone.inner_text("main")
    shots(phone, "citizen-subscribed")

    # The item is done and verified, by its people, on the command line.
    done = tindak("recs", "update", item.ref, "--progress", "100", "--note",
                  "Standar waktu dipasang", "--public", "--by", owner.email)
    assert done.returncode == 0, done.stderr
    ok = tindak("recs", "verify", item.ref, "--by", planner.email)
    assert ok.returncode == 0, ok.stderr
    # The week's run, dated tomorrow so that today's changes are in its window (a test
    # database is the scratch database --allow-future is for).
    run = tindak("run", "digest", "--as-of", (today + timedelta(days=1)).isoformat(),
                 "--allow-future")
    assert run.returncode == 0, run.stderr + run.stdout
    [update] = smtp_settings.wait_for(
        lambda r: "sari.warga@example.com" in r.rcpt_tos and r is not invite, timeout=15)
    text = _plain(update)
    assert "PTSP-01" in text and "Selesai sesuai rekomendasi" in text
    assert update.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [one_click] = re.findall(r"<(https?://[^>]+)>", str(update.message["List-Unsubscribe"]))
    sesuai, belum = _links(text, "tanggapan")

    phone.goto(belum)
    phone.fill("textarea[name=comment]", "Di loket belum ada papan standar waktu")
    phone.click("main form button[type=submit]")
    shots(phone, "citizen-answered")
    public = httpx.get(f"{web.url}/forum/{forum.id}", timeout=10).text
    assert "sesuai 0 · belum sesuai 1" in public
    assert "sari.warga" not in public and "papan standar waktu" not in public

    # A mail client's one-click unsubscribe: a bare POST to the header's address.
    left = httpx.post(one_click, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert left.status_code == 200
    with session() as s:
        assert s.execute(sa.select(Subscriber)).first() is None  # forgotten
    assert "sesuai 0 · belum sesuai 1" in httpx.get(f"{web.url}/forum/{forum.id}",
                                                    timeout=10).text  # counts stay, unlinked
