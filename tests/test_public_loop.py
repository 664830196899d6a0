"""The public's loop (SPEC §7): subscribe by double opt-in, invitations of participants,
the weekly update with RFC 8058 headers, one-click unsubscribe, sesuai / belum sesuai."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

import itsdangerous
import pytest
import sqlalchemy as sa

from models import Outbox, PublicAnswer, Subscriber, messages, session
from tindak import links, public_loop, recs

BASE = "https://tindak.example.go.id"


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _subscribers() -> list[tuple[str, int]]:
    with session() as s:
        return sorted((r.email, r.forum_id) for r in s.execute(sa.select(Subscriber)).scalars())


def _link(text: str, prefix: str) -> str:
    return next(w for w in text.split() if f"/{prefix}/" in w)


def _plain(received) -> str:  # type: ignore[no-untyped-def]
    return received.message.get_body(("plain",)).get_content()


def subscribe(client, forum_id: int, email: str):  # type: ignore[no-untyped-def]
    return client.post_form(f"/forum/{forum_id}/langganan", {"email": email},
                            csrf_from=f"/forum/{forum_id}/langganan")


def confirm(client, url: str):  # type: ignore[no-untyped-def]
    path = _path(url)
    return client.post_form(path, csrf_from=path)


def test_a_citizen_subscribes_confirms_by_the_mailed_link_and_is_stored_with_nothing_else(
        org, client, smtp_settings):
    res = subscribe(client, org.forum_a.id, "Warga@Example.com")
    assert res.status_code == 200 and "tautan konfirmasi" in res.text
    assert _subscribers() == []  # nothing stored before the click
    [got] = smtp_settings.wait_for(lambda r: "warga@example.com" in r.rcpt_tos, timeout=10)
    assert "FKP Dinas Sosial 2026" in got.message["Subject"]
    url = _link(_plain(got), "langganan")
    page = client.get(_path(url))  # opening it (a mail scanner) subscribes nobody
    assert page.status_code == 200 and "warga@example.com" in page.text
    assert _subscribers() == []
    res = confirm(client, url)
    assert res.status_code == 200 and "dikonfirmasi" in res.text
    assert _subscribers() == [("warga@example.com", org.forum_a.id)]
    with session() as s:
        [sub] = s.execute(sa.select(Subscriber)).scalars()
        assert sub.consented_at is not None and sub.told_until is None
    again = client.post_form(_path(url), csrf_from=f"/forum/{org.forum_a.id}/langganan")
    assert again.status_code == 200  # a second click changes nothing
    assert _subscribers() == [("warga@example.com", org.forum_a.id)]


def test_the_page_answers_the_same_for_an_address_already_subscribed(org, client):
    public_loop.confirm_subscription(links.subscribe_token("ada@example.com", org.forum_a.id))
    known = subscribe(client, org.forum_a.id, "ada@example.com")
    unknown = subscribe(client, org.forum_a.id, "baru@example.com")
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.text.replace(e, "EMAIL")  # noqa: E731
    assert strip(known, "ada@example.com") == strip(unknown, "baru@example.com")
    with session() as s:
        assert [m.recipient for m in messages(s, Outbox.kind == "subscribe")] == [
            "baru@example.com"]


@pytest.mark.parametrize("how", ["forged", "expired", "other salt"])
def test_a_forged_or_expired_confirmation_link_is_refused_in_indonesian_and_changes_nothing(
        org, client, monkeypatch, how):
    token = links.subscribe_token("warga@example.com", org.forum_a.id)
    if how == "forged":
        token = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    elif how == "other salt":  # an owner's or sign-in link's signature is no confirmation
        token = links.owner_token(org.forum_a.id, "warga@example.com")
    else:
        real = time.time
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 8 * 86400)
        token = links.subscribe_token("warga@example.com", org.forum_a.id)
        monkeypatch.setattr(itsdangerous.timed.time, "time", real)
    page = client.get(f"/langganan/{token}")
    assert page.status_code == 403
    word = "kedaluwarsa" if how == "expired" else "tidak sah"
    assert word in page.text
    res = client.post_form(f"/langganan/{token}",
                           csrf_from=f"/forum/{org.forum_a.id}/langganan")
    assert res.status_code == 403 and word in res.text
    assert _subscribers() == []


def test_confirming_needs_the_csrf_token(org, client):
    token = links.subscribe_token("warga@example.com", org.forum_a.id)
    assert client.post(f"/langganan/{token}", data={}).status_code == 403
    assert _subscribers() == []


def test_subscribing_is_rate_limited_per_address_asked_for_and_per_client(org, client):
    codes = [subscribe(client, org.forum_a.id, "x@example.com").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "terlalu banyak" in subscribe(client, org.forum_a.id, "x@example.com").text.lower()
    codes = [subscribe(client, org.forum_b.id, f"u{i}@example.com").status_code
             for i in range(16)]
    # 20 a quarter of an hour from one client, refused requests included
    assert codes == [200] * 15 + [429]


def test_a_bad_address_is_refused(org, client):
    res = subscribe(client, org.forum_a.id, "bukan-email")
    assert res.status_code == 422 and "bukan alamat surel" in res.text


# ---------------------------------------------------------------- participants


def test_participants_of_a_berita_acara_are_invited_and_subscribed_only_by_their_click(
        org, client, smtp_settings, settings_env, tmp_path, capsys):
    from tindak.cli import main

    settings_env(BASE_URL="http://testserver")
    path = tmp_path / "peserta.csv"
    path.write_text("forum;forum_date;name;email;organisation\n"
                    "FKP Dinas Sosial 2026;12/01/2026;Ibu Rina;rina@lsm.example.org;LSM Peduli\n"
                    "FKP Dinas Sosial 2026;2026-01-12;Pak Joko;JOKO@kampus.example.ac.id;"
                    "Politeknik\n", encoding="utf-8")
    assert main(["import", str(path)]) == 0
    assert "undangan" in capsys.readouterr().out
    got = smtp_settings.wait_for(lambda r: True, count=2, timeout=10)
    assert sorted(r.rcpt_tos[0] for r in got) == ["joko@kampus.example.ac.id",
                                                   "rina@lsm.example.org"]
    assert all("diundang" in r.message["Subject"] for r in got)
    assert _subscribers() == []  # an invitation subscribes nobody
    with session() as s:  # nor is the name or organisation kept anywhere
        dump = repr([tuple(r) for t in ("outbox", "outbox_body", "subscriber", "audit_record")
                     for r in s.execute(sa.text(f"SELECT * FROM {t}"))])
    assert "Rina" not in dump.replace("rina@", "") and "LSM Peduli" not in dump
    rina = next(r for r in got if "rina@lsm.example.org" in r.rcpt_tos)
    assert confirm(client, _link(_plain(rina), "langganan")).status_code == 200
    assert _subscribers() == [("rina@lsm.example.org", org.forum_a.id)]
    # The same file again invites nobody twice.
    assert main(["import", str(path)]) == 0
    with session() as s:
        assert len(messages(s, Outbox.kind == "subscribe")) == 2


def test_a_participants_file_with_a_wrong_row_writes_nothing(org, settings_env, tmp_path,
                                                             capsys):
    from tindak.cli import main

    settings_env(BASE_URL="http://testserver")
    path = tmp_path / "peserta.csv"
    path.write_text("forum,forum_date,name,email,organisation\n"
                    "FKP Dinas Sosial 2026,2026-01-12,Ibu Rina,rina@lsm.example.org,LSM\n"
                    "FKP Tidak Ada,2026-01-12,Pak Joko,joko@kampus.example.ac.id,Kampus\n"
                    "FKP Dinas Sosial 2026,31/02/2026,Bu Ani,bukan-email,Warga\n",
                    encoding="utf-8")
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: forum: tidak ada forum 'FKP Tidak Ada'" in err
    assert f"{path}:4: forum_date:" in err and f"{path}:4: email:" in err
    with session() as s:
        assert messages(s, Outbox.kind == "subscribe") == []
    assert _subscribers() == []


# ---------------------------------------------------------------- the weekly update

WEEK = date(2026, 11, 16)  # a Monday
SUNDAY_NIGHT = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def _subscribed(email: str, forum_id: int) -> None:
    public_loop.confirm_subscription(links.subscribe_token(email, forum_id),
                                     now=datetime(2026, 11, 2, 3, 0, tzinfo=UTC))


@pytest.fixture
def week_of_changes(org, make, settings_env):  # type: ignore[no-untyped-def]
    """In the week before WEEK, forum_a's items: one completed, one closed as not actionable,
    one extended, one with a public note; forum_b: nothing."""
    from tests.plugins.web import FAR
    from tindak import extensions

    settings_env(BASE_URL=BASE)
    at = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    closed = make.rec(owner=org.owner_a, forum=org.forum_a, ref="DINSOS-02", deadline=FAR,
                      text="Tambah loket di kecamatan")
    moved = make.rec(owner=org.owner_a, forum=org.forum_a, ref="DINSOS-03", deadline=FAR,
                     text="Survei kepuasan setiap triwulan")
    noted = make.rec(owner=org.owner_a, forum=org.forum_a, ref="DINSOS-04", deadline=FAR,
                     text="Buka kanal pengaduan daring")
    recs.update_rec("DINSOS-01", org.owner_a.email, progress=100, note="SOP terbit", at=at)
    recs.verify_rec("DINSOS-01", org.planner_a.email, at=at)
    recs.update_rec("DINSOS-02", org.owner_a.email, status="not_actionable",
                    note="Anggaran daerah tidak tersedia", at=at)
    extensions.request_extension("DINSOS-03", date(2030, 12, 31), "Menunggu hasil survei BPS",
                                 org.owner_a.email, at=at)
    extensions.decide_extension("DINSOS-03", org.planner_a.email, approve=True, at=at)
    recs.update_rec("DINSOS-04", org.owner_a.email, progress=30,
                    note="Kanal WhatsApp sudah diuji coba", public=True, at=at)
    return {"closed": closed, "moved": moved, "noted": noted}


@pytest.fixture
def web(week_of_changes):  # type: ignore[no-untyped-def]
    """A visitor of the app served under https (TINDAK_BASE_URL is https: Secure cookies)."""
    from tests.plugins.web import WebClient
    from tindak.web import create_app

    with WebClient(create_app(), base_url="https://testserver") as c:
        yield c


def _updates(smtp, email: str) -> list:  # type: ignore[no-untyped-def]
    return [r for r in smtp.received if email in r.rcpt_tos
            and "perubahan" in str(r.message["Subject"])]


def _send_week(as_of: date, now: datetime | None = None):  # type: ignore[no-untyped-def]
    from tindak import outbox

    report = public_loop.plan_updates(as_of, now=now or datetime.combine(
        as_of, datetime.min.time(), UTC).replace(hour=1))
    outbox.deliver()
    return report


def test_the_weekly_update_tells_each_change_and_carries_both_rfc_8058_headers(
        org, week_of_changes, smtp_settings):
    _subscribed("warga@example.com", org.forum_a.id)
    _subscribed("warga@example.com", org.forum_b.id)  # nothing changed there
    _subscribed("tetangga@example.com", org.forum_b.id)
    report = _send_week(WEEK)
    assert (report.messages, report.unchanged) == (1, 1)
    [got] = _updates(smtp_settings, "warga@example.com")
    assert _updates(smtp_settings, "tetangga@example.com") == []  # no change, no message
    msg = got.message
    unsub = str(msg["List-Unsubscribe"])
    assert re.fullmatch(r"<https://tindak\.example\.go\.id/berhenti/[^<>\s]+>", unsub)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = _plain(got)
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "FKP Dinas Sosial 2026" in body and "FKP Dukcapil 2026" not in body
        assert "DINSOS-01" in body and "Selesai sesuai rekomendasi" in body
        assert "Anggaran daerah tidak tersedia" in body  # not actionable, with its reason
        assert "31 Desember 2030" in body and "Menunggu hasil survei BPS" in body  # extended
        assert "Kanal WhatsApp sudah diuji coba" in body  # the public note
        assert "/berhenti/" in body
    assert text.count("/tanggapan/") == 2  # sesuai and belum sesuai, for the completed item
    assert "SOP terbit" not in text  # a private note stays private


def test_the_update_is_sent_once_a_week_and_the_next_week_tells_only_whats_new(
        org, week_of_changes, smtp_settings):
    _subscribed("warga@example.com", org.forum_a.id)
    _send_week(WEEK)
    assert len(_updates(smtp_settings, "warga@example.com")) == 1
    recs.update_rec("DINSOS-04", org.owner_a.email, progress=60, note="Sudah dibuka untuk umum",
                    public=True, at=datetime(2026, 11, 16, 5, 0, tzinfo=UTC))
    # A re-run on Wednesday of the same ISO week sends nothing new.
    report = _send_week(date(2026, 11, 18))
    assert report.messages == 0 and report.skipped == 1
    _send_week(WEEK)  # and the Monday again
    assert len(_updates(smtp_settings, "warga@example.com")) == 1
    _send_week(date(2026, 11, 23))
    [_, second] = _updates(smtp_settings, "warga@example.com")
    text = _plain(second)
    assert "Sudah dibuka untuk umum" in text
    assert "DINSOS-01" not in text and "Anggaran daerah" not in text  # told last week


def test_the_weekly_digest_flow_sends_the_public_updates(org, week_of_changes, smtp_settings,
                                                         flows):
    _subscribed("warga@example.com", org.forum_a.id)
    summary = flows.digest(as_of=WEEK)
    assert summary["public_updates"] == 1
    assert len(_updates(smtp_settings, "warga@example.com")) == 1
    assert flows.digest(as_of=date(2026, 11, 19))["public_updates"] == 0


def test_one_click_unsubscribe_works_without_a_token_or_cookie_and_forgets_the_subscriber(
        org, week_of_changes, smtp_settings, web, home):
    from tests.plugins.web import WebClient
    from tindak.web import create_app

    _subscribed("warga@example.com", org.forum_a.id)
    _subscribed("warga@example.com", org.forum_b.id)
    _send_week(WEEK)
    [got] = _updates(smtp_settings, "warga@example.com")
    url = str(got.message["List-Unsubscribe"]).strip("<>")
    answer = _link(_plain(got), "tanggapan")
    assert web.post_form(_path(answer), {"verdict": "belum_sesuai"},
                            csrf_from=_path(answer)).status_code == 200
    page = web.get(_path(url))  # the body's link: a page with a button, nothing done yet
    assert page.status_code == 200 and "Berhenti berlangganan" in page.text
    assert len(_subscribers()) == 2
    with WebClient(create_app(), base_url="https://testserver") as mail_client:  # no cookie
        res = mail_client.post(_path(url), content=b"List-Unsubscribe=One-Click",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert res.status_code == 200
    assert _subscribers() == []  # forgotten, in every forum that update told about
    with session() as s:
        [kept] = s.execute(sa.select(PublicAnswer)).scalars()
    assert kept.subscriber_id is None and kept.verdict == "belum_sesuai"  # counted, anonymous
    assert web.post(_path(url)).status_code == 200  # again: the same answer, nothing left
    assert "sudah berakhir" in web.get(_path(url)).text
    with session() as s:
        assert "warga@example.com" not in repr(
            [tuple(r) for r in s.execute(sa.text("SELECT * FROM subscriber"))])


def test_a_forged_unsubscribe_link_is_refused(org, client):
    _subscribed("warga@example.com", org.forum_a.id)
    token = links.unsubscribe_token(1, "warga@example.com")
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    res = client.post(f"/berhenti/{forged}")
    assert res.status_code == 403 and "tidak sah" in res.text
    assert len(_subscribers()) == 1


# ---------------------------------------------------------------- sesuai / belum sesuai


def _answer_links(smtp, email: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    [got] = _updates(smtp, email)
    found = [w for w in _plain(got).split() if "/tanggapan/" in w]
    return _path(found[0]), _path(found[1])


def test_answering_changing_the_answer_and_the_public_tally(org, week_of_changes,
                                                            smtp_settings, web):
    _subscribed("warga@example.com", org.forum_a.id)
    _subscribed("tetangga@example.com", org.forum_a.id)
    _send_week(WEEK)
    sesuai, belum = _answer_links(smtp_settings, "warga@example.com")
    page = web.get(belum)
    assert page.status_code == 200 and "Perjelas prosedur" in page.text
    assert 'value="belum_sesuai" checked' in page.text
    hostile = '<script>alert("x")</script> belum ada papan informasi'
    res = web.post_form(belum, {"verdict": "belum_sesuai", "comment": hostile},
                           csrf_from=belum)
    assert res.status_code == 200 and "tersimpan" in res.text.replace("disimpan", "tersimpan")
    assert "<script>alert" not in res.text and "&lt;script&gt;" in res.text
    _, other = _answer_links(smtp_settings, "tetangga@example.com")
    web.post_form(other, {"verdict": "belum_sesuai"}, csrf_from=other)
    forum = web.get(f"/forum/{org.forum_a.id}").text
    assert "sesuai 0 · belum sesuai 2" in forum
    # Changing the answer replaces it: one answer per subscriber and item.
    web.post_form(sesuai, {"verdict": "sesuai", "comment": "Sudah ada"}, csrf_from=sesuai)
    forum = web.get(f"/forum/{org.forum_a.id}").text
    assert "sesuai 1 · belum sesuai 1" in forum
    for secret in ("warga@", "tetangga@", "Sudah ada", "papan informasi"):
        assert secret not in forum  # counts only
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PublicAnswer)).scalar() == 2


def test_an_answer_needs_the_csrf_token_and_a_completed_item(org, week_of_changes,
                                                             smtp_settings, web):
    _subscribed("warga@example.com", org.forum_a.id)
    _send_week(WEEK)
    sesuai, _ = _answer_links(smtp_settings, "warga@example.com")
    assert web.post(sesuai, data={"verdict": "sesuai"}).status_code == 403
    with session() as s:
        sub = s.execute(sa.select(Subscriber)).scalars().one()
    open_item = links.answer_token(sub.id, sub.email, week_of_changes["noted"].id, "sesuai")
    res = web.post_form(f"/tanggapan/{open_item}", {"verdict": "sesuai"},
                           csrf_from=f"/forum/{org.forum_a.id}/langganan")
    assert res.status_code == 422 and "belum selesai" in res.text
    other_forum = links.answer_token(sub.id, sub.email, org.rec_b.id, "sesuai")
    assert web.get(f"/tanggapan/{other_forum}").status_code == 403
    with session() as s:
        assert s.execute(sa.select(PublicAnswer)).first() is None


def test_planners_see_each_answer_and_the_disputed_filter(org, week_of_changes,
                                                          smtp_settings, web, client_for,
                                                          settings_env):
    _subscribed("warga@example.com", org.forum_a.id)
    _send_week(WEEK)
    _, belum = _answer_links(smtp_settings, "warga@example.com")
    web.post_form(belum, {"verdict": "belum_sesuai",
                             "comment": "<b>Loket</b> masih tutup"}, csrf_from=belum)
    settings_env(BASE_URL="http://testserver")  # signed-in clients of a plain-http app
    planner = client_for(org.planner_a)
    page = planner.get(f"/kelola/rekomendasi/{org.rec_a.id}").text
    assert "Jawaban masyarakat" in page and "belum sesuai" in page
    assert "warga@example.com" in page  # a planner of the tree sees who answered
    assert "&lt;b&gt;Loket&lt;/b&gt; masih tutup" in page and "<b>Loket" not in page
    leader = client_for(org.leader).get(f"/kelola/rekomendasi/{org.rec_a.id}").text
    assert "masih tutup" in leader and "warga@example.com" not in leader
    listed = planner.get("/kelola/rekomendasi?disputed=1").text
    assert "DINSOS-01" in listed and "DINSOS-02" not in listed and "dipersoalkan" in listed
    assert "DINSOS-02" in planner.get("/kelola/rekomendasi").text
    other = client_for(org.planner_b).get("/kelola/rekomendasi?disputed=1").text
    assert "DINSOS-01" not in other  # another tree's disputes are not theirs


def test_the_leaders_digest_shows_a_disputed_completion(org, week_of_changes, smtp_settings):
    from tindak import digest

    _subscribed("warga@example.com", org.forum_a.id)
    _send_week(WEEK)
    _, belum = _answer_links(smtp_settings, "warga@example.com")
    public_loop.record_answer(belum.rsplit("/", 1)[1], "belum_sesuai", "Belum terlihat",
                              now=datetime(2026, 11, 18, 3, 0, tzinfo=UTC))
    digest.plan_digests(date(2026, 11, 23), [org.leader.id])
    with session() as s:
        [row] = messages(s, Outbox.kind == "digest")
    for body in (row.body_text, row.body_html):
        assert "penyelesaian yang dipersoalkan masyarakat" in body.lower()
        assert "DINSOS-01" in body and "belum sesuai" in body
    digest.plan_digests(date(2026, 11, 16), [org.leader.id])  # the week before: no dispute
    with session() as s:
        older = [m for m in messages(s, Outbox.kind == "digest") if m.id != row.id]
    assert older and "dipersoalkan" not in older[0].body_text


def test_english_by_setting_for_the_pages_and_the_update(org, week_of_changes, smtp_settings,
                                                         web, settings_env):
    forum = web.get(f"/forum/{org.forum_a.id}?lang=en").text
    assert "Follow this forum" in forum and f'href="/forum/{org.forum_a.id}/langganan"' in forum
    assert "Subscribe" in web.get(f"/forum/{org.forum_a.id}/langganan").text  # remembered
    settings_env(LANGUAGE="en")
    _subscribed("warga@example.com", org.forum_a.id)
    _send_week(WEEK)
    [got] = [r for r in smtp_settings.received if "warga@example.com" in r.rcpt_tos]
    assert "changes in the follow-up of your forum" in str(got.message["Subject"])
    text = _plain(got)
    assert "Completed as recommended" in text and "Unsubscribe" in text
    assert "Deadline extended to 31 December 2030" in text


def test_participants_of_a_forum_registered_in_the_same_import_are_invited(org, settings_env,
                                                                           tmp_path):
    from tindak.importer import import_files

    settings_env(BASE_URL="http://testserver")
    recs_csv = tmp_path / "rekomendasi.csv"
    recs_csv.write_text("ref,forum,forum_date,unit,text,owner,deadline\n"
                        f"BARU-01,FKP Baru 2026,2026-03-02,DINSOS,Teks,{org.owner_a.email},"
                        "+10 hk\n", encoding="utf-8")
    people = tmp_path / "peserta.csv"
    people.write_text("forum,forum_date,email\nFKP Baru 2026,02/03/2026,warga@example.com\n",
                      encoding="utf-8")
    dry = import_files([people, recs_csv], dry_run=True)
    assert dry.counts["participants"].created == 1 and dry.invitations == []
    with session() as s:
        assert messages(s, Outbox.kind == "subscribe") == []
    report = import_files([people, recs_csv])
    assert report.counts["participants"].created == 1 and len(report.invitations) == 1
    with session() as s:
        [row] = messages(s, Outbox.kind == "subscribe")
    assert row.recipient == "warga@example.com" and "FKP Baru 2026" in row.subject
    assert "/langganan/" in row.body_text and "/langganan/" in row.body_html
