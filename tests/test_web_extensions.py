"""Deadline extensions on the pages (SPEC §7): the owner asks on their link page, another
planner of the tree decides beside the verification queue, the owner hears by mail and the
public page says the deadline moved, when and why."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from models import Extension, Recommendation, session
from tindak import extensions, recs
from tindak.links import owner_token

from .plugins.web import FAR


def _page(person) -> str:  # type: ignore[no-untyped-def]
    return f"/o/{owner_token(person.id, person.email)}"


def _deadline(ref: str) -> tuple[date, date | None]:
    with session() as s:
        rec = s.execute(sa.select(Recommendation).where(Recommendation.ref == ref)).scalar_one()
        return rec.deadline, rec.original_deadline


def test_owner_asks_another_planner_approves_and_everyone_sees_it(org, client, client_for,
                                                                  smtp_settings, settings_env):
    planner = client_for(org.planner_a)  # signed in on this test server's own address
    settings_env(BASE_URL="https://tindak.example.go.id")  # the address mail links carry
    page = _page(org.owner_a)
    assert "Minta tambahan waktu" in client.get(page).text
    res = client.post_form(f"{page}/perpanjangan/{org.rec_a.id}",
                           {"until": "2030-12-30", "reason": "Menunggu APBD Perubahan"},
                           csrf_from=page)
    assert res.status_code == 303 and res.headers["location"].endswith(f"#r{org.rec_a.id}")
    shown = client.get(page).text
    assert "30 Desember 2030" in shown and "perencana yang memutuskan" in shown
    assert "Minta tambahan waktu" not in shown  # one request waits at a time
    assert _deadline("DINSOS-01") == (FAR, None)

    queue = planner.get("/kelola/verifikasi").text
    assert "Menunggu APBD Perubahan" in queue and "30 Desember 2030" in queue
    res = planner.post_form(f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan",
                            {"decision": "approve"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 303
    assert _deadline("DINSOS-01") == (date(2030, 12, 30), FAR)
    assert "disetujui" in planner.get("/kelola/verifikasi").text  # the flash

    [mail] = smtp_settings.wait_for(lambda r: org.owner_a.email in r.rcpt_tos)
    body = mail.message.get_body(("plain",)).get_content()
    assert "Perencana Dinsos menyetujui" in body and "30 Desember 2030" in body
    assert "https://tindak.example.go.id/o/" in body  # back to their own page

    shown = client.get(page).text
    assert "diperpanjang; Berita Acara: 28 Juni 2030" in shown
    assert "mengajukan perpanjangan sampai 30 Desember 2030" in shown  # the history
    public = client.get(f"/forum/{org.forum_a.id}").text
    assert "Tenggat waktu diperpanjang" in public and "Menunggu APBD Perubahan" in public
    assert "28 Juni 2030" in public and "30 Desember 2030" in public
    assert "oleh perencana Dinas Sosial" in public and "Perencana Dinsos" not in public
    assert org.owner_a.email not in public


def test_a_wrong_request_on_the_page_says_why_in_the_owners_words(org, client):
    page = _page(org.owner_a)
    url = f"{page}/perpanjangan/{org.rec_a.id}"
    for data, words in (({"until": "2030-06-01", "reason": "x"}, "harus sesudah"),
                        ({"until": "2030-12-30", "reason": " "}, "memerlukan alasan"),
                        ({"until": "", "reason": "x"}, "pilih tenggat waktu yang baru"),
                        ({"until": "31/02/2031", "reason": "x"}, "bukan tanggal")):
        res = client.post_form(url, data, csrf_from=page)
        assert res.status_code == 422, data
        shown = re.sub(r"<[^>]*>", " ", res.text.split("<main", 1)[-1])  # text, not tokens
        assert words in res.text and "--" not in shown, data
    with session() as s:
        assert s.execute(sa.select(Extension)).first() is None
    # Another owner's link may not ask for this item.
    other = _page(org.owner_b)
    res = client.post_form(f"{other}/perpanjangan/{org.rec_a.id}",
                           {"until": "2030-12-30", "reason": "x"}, csrf_from=other)
    assert res.status_code == 403


def test_nobody_decides_their_own_request_on_the_page(org, client_for, make):
    """A planner who asked for the owner sees the request as waiting for another planner,
    and a forged decision is refused; a planner of another tree sees nothing of it."""
    extensions.request_extension("DINSOS-01", date(2030, 12, 30), "Cuaca ekstrem",
                                 org.planner_a.email)
    asker = client_for(org.planner_a)
    queue = asker.get("/kelola/verifikasi").text
    assert "Anda yang mengajukan" in queue
    assert f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan" not in queue
    res = asker.post_form(f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan",
                          {"decision": "approve"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 403 and "perencana lain" in res.text
    assert "Cuaca ekstrem" not in client_for(org.planner_b).get("/kelola/verifikasi").text
    res = client_for(org.planner_b).post_form(
        f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan", {"decision": "approve"},
        csrf_from="/kelola/verifikasi")
    assert res.status_code == 403
    assert _deadline("DINSOS-01") == (FAR, None)
    # The planner above the tree decides; a rejection needs a note.
    admin = client_for(org.admin)
    url = f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan"
    res = admin.post_form(url, {"decision": "reject"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 422 and "alasan" in res.text
    res = admin.post_form(url, {"decision": "reject", "note": "Tidak ada kaitan dengan cuaca"},
                          csrf_from="/kelola/verifikasi")
    assert res.status_code == 303 and _deadline("DINSOS-01") == (FAR, None)
    assert recs.history("DINSOS-01")[-1]["kind"] == "extend_reject"


def test_a_hostile_reason_prints_as_text(org, client, client_for):
    extensions.request_extension("DINSOS-01", date(2030, 12, 30),
                                 '<script>alert("x")</script>', org.owner_a.email)
    extensions.decide_extension("DINSOS-01", org.planner_a.email, approve=True)
    for text in (client.get(f"/forum/{org.forum_a.id}").text,
                 client.get(_page(org.owner_a)).text):
        assert "<script>alert" not in text and "&lt;script&gt;alert" in text


def test_the_edit_form_does_not_move_an_extended_deadline_silently(org, client_for):
    extensions.request_extension("DINSOS-01", date(2030, 12, 30), "APBD-P", org.owner_a.email)
    extensions.decide_extension("DINSOS-01", org.planner_a.email, approve=True)
    admin = client_for(org.admin)
    url = f"/kelola/rekomendasi/{org.rec_a.id}"
    assert "diperpanjang; Berita Acara: 28 Juni 2030" in admin.get(url).text
    fields = {"text": "Perjelas prosedur layanan bantuan sosial", "owner": org.owner_a.email,
              "unit": "DINSOS", "category": "lainnya", "priority": "normal"}
    res = admin.post_form(url, {**fields, "deadline": "2031-03-31"}, csrf_from=url)
    assert res.status_code == 422 and "perpanjangan baru" in res.text
    assert _deadline("DINSOS-01") == (date(2030, 12, 30), FAR)
    res = admin.post_form(url, {**fields, "deadline": "2030-12-30", "text": "Diubah"},
                          csrf_from=url)
    assert res.status_code == 303  # the rest of the item still edits
