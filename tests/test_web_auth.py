"""Sign-in by one-time link: single use, expiry, forgery, neutral answers, rate limits,
cookies, CSRF, and who may open the signed-in pages."""

from __future__ import annotations

import time

import itsdangerous
import pytest
import sqlalchemy as sa

from models import LoginNonce, Outbox, messages, session
from tindak.cli import main
from tindak.links import login_token
from tindak.web.signin import login_url


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_login_link_command_prints_a_link_that_signs_in_once(org, client, capsys,
                                                             settings_env):
    settings_env(BASE_URL="https://tindak.example.go.id")
    assert main(["login-link", org.admin.email]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://tindak.example.go.id/masuk/")
    path = _path(url)
    page = client.get(path)  # opening the link (or a mail scanner doing so) burns nothing
    assert page.status_code == 200 and org.admin.email in page.text
    res = client.post_form(path, csrf_from=path)
    assert res.status_code == 303 and res.headers["location"] == "/kelola"
    assert client.get("/kelola/rekomendasi").status_code == 200
    again = client.post_form(path)
    assert again.status_code == 403 and "sudah dipakai" in again.text
    assert client.get(path).status_code == 403


def test_login_link_command_refuses_an_unknown_person(home, capsys):
    assert main(["login-link", "nobody@example.go.id"]) == 1
    assert "tidak ada orang" in capsys.readouterr().err


def test_a_forged_sign_in_link_is_refused(org, client):
    url = login_url(org.admin.email, "http://testserver")
    forged = _path(url)[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert client.get(forged).status_code == 403
    res = client.post_form(forged)
    assert res.status_code == 403
    assert client.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303


def test_a_link_with_an_unknown_nonce_is_refused(org, client):
    token = login_token(org.admin.email, "0" * 32)  # validly signed but never issued
    assert client.post_form(f"/masuk/{token}").status_code == 403


def test_an_expired_sign_in_link_is_refused(org, client, monkeypatch):
    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 31 * 60)
    url = login_url(org.admin.email, "http://testserver")
    monkeypatch.setattr(itsdangerous.timed.time, "time", real)
    res = client.post_form(_path(url))
    assert res.status_code == 403 and "kedaluwarsa" in res.text


def _login_rows() -> list:
    with session() as s:
        return messages(s, Outbox.kind == "login")


def test_asking_for_a_link_answers_the_same_whether_or_not_the_email_exists(org, client):
    known = client.post_form("/masuk", {"email": org.admin.email.upper()})
    unknown = client.post_form("/masuk", {"email": "stranger@example.com"})
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.text.replace(e, "EMAIL")  # noqa: E731
    assert strip(known, org.admin.email) == strip(unknown, "stranger@example.com")
    rows = _login_rows()
    assert [r.recipient for r in rows] == [org.admin.email]
    # No SMTP host here: written as an .eml file at once, like a run would.
    assert rows[0].status == "sent" and rows[0].eml_path and "/masuk/" in rows[0].body_text
    assert "/masuk/" in rows[0].body_html and rows[0].message_id.startswith("<")
    link = next(w for w in rows[0].body_text.split() if "/masuk/" in w)
    assert client.post_form(_path(link)).status_code == 303  # the mailed link works


def test_mailed_links_never_point_to_a_host_from_the_request(org, home):
    from tindak.web.signin import link_base

    assert link_base("http://evil.example.com/") is None
    assert link_base("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"


def test_sign_in_requests_are_rate_limited_per_email(org, client):
    for _ in range(5):
        assert client.post_form("/masuk", {"email": org.admin.email}).status_code == 200
    assert client.post_form("/masuk", {"email": org.admin.email}).status_code == 429
    assert client.post_form("/masuk", {"email": "other@y.id"}).status_code == 200
    assert len(_login_rows()) == 5


def test_unknown_emails_are_limited_the_same_way(org, client):
    codes = [client.post_form("/masuk", {"email": "ghost@y.id"}).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


def test_sign_in_requests_are_rate_limited_per_address(org, client):
    codes = [client.post_form("/masuk", {"email": f"u{i}@y.id"}).status_code for i in range(21)]
    assert codes == [200] * 20 + [429]


def test_posting_without_the_csrf_token_is_refused(org, client):
    res = client.post("/masuk", data={"email": org.admin.email}, follow_redirects=False)
    assert res.status_code == 403
    res = client.post("/masuk", data={"email": org.admin.email, "csrf": "forged"})
    assert res.status_code == 403
    assert _login_rows() == []


def test_session_cookie_is_signed_httponly_and_samesite(org, client):
    header = client.get("/masuk").headers["set-cookie"]
    assert header.startswith("tindak_session=")
    assert "httponly" in header.lower() and "samesite=lax" in header.lower()
    assert "secure" not in header.lower()


def test_session_cookie_is_secure_behind_https(org, settings_env):
    settings_env(BASE_URL="https://tindak.example.go.id")
    from tests.plugins.web import WebClient
    from tindak.web import create_app

    with WebClient(create_app(), base_url="https://testserver") as c:
        assert "secure" in c.get("/masuk").headers["set-cookie"].lower()


def test_a_tampered_session_cookie_is_ignored(org, client_for):
    c = client_for(org.admin)
    value = c.cookies["tindak_session"]
    c.cookies.set("tindak_session", value[:-2] + ("xx" if not value.endswith("xx") else "yy"))
    assert c.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(org, client_for):
    c = client_for(org.admin)
    assert c.post_form("/keluar", csrf_from="/kelola/rekomendasi").status_code == 303
    assert c.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/kelola", "/kelola/rekomendasi", "/kelola/verifikasi",
                                  "/kelola/forum", "/kelola/impor", "/pimpinan", "/saya"])
def test_signed_in_pages_send_visitors_to_sign_in(org, client, path):
    res = client.get(path, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/masuk")


def test_an_owner_signed_in_is_refused_planner_pages_and_sent_to_their_items(org, client_for):
    c = client_for(org.owner_a)
    for path in ("/kelola/rekomendasi", "/kelola/verifikasi", "/pimpinan", "/kelola/impor"):
        assert c.get(path, follow_redirects=False).status_code == 403
    res = c.get("/saya", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/o/")
    assert "Perjelas prosedur" in c.get(res.headers["location"]).text


def test_sign_in_never_redirects_off_site(org, client):
    url = login_url(org.admin.email, "http://testserver")
    res = client.post_form(_path(url), {"next": "//evil.example.com/"}, csrf_from=_path(url))
    assert res.headers["location"] == "/kelola"


def test_the_nonce_is_burnt_in_the_database(org, client):
    url = login_url(org.leader.email, "http://testserver")
    client.post_form(_path(url))
    with session() as s:
        rows = list(s.execute(sa.select(LoginNonce)).scalars())
    assert len(rows) == 1 and rows[0].used_at is not None


def test_a_sign_in_mail_reaches_the_smtp_server_at_once_and_only_once(org, client,
                                                                     smtp_settings):
    from tindak import outbox

    res = client.post_form("/masuk", {"email": org.admin.email})
    assert res.status_code == 200
    [got] = smtp_settings.wait_for(lambda r: org.admin.email in r.rcpt_tos, timeout=10)
    assert outbox.deliver().sent == 0  # the next daily run finds nothing left to send
    assert len(smtp_settings.received) == 1
    link = next(w for w in got.message.get_body(("plain",)).get_content().split()
                if "/masuk/" in w)
    assert client.post_form(_path(link)).status_code == 303


def test_a_sign_in_mail_the_server_cannot_take_now_waits_for_the_next_run(org, client,
                                                                          smtp_settings):
    from tindak import outbox

    smtp_settings.stop()
    res = client.post_form("/masuk", {"email": org.admin.email})
    assert res.status_code == 200 and "tautan masuk sedang dikirim" in res.text
    [queued] = _login_rows()
    assert queued.status == "pending" and "cannot use SMTP server" in queued.last_error
    smtp_settings.start()
    assert outbox.deliver().sent == 1
    assert [r.rcpt_tos for r in smtp_settings.received] == [(org.admin.email,)]
