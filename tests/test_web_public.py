"""Public pages: forums, completion, public fields only; escaping; headers; language."""

from __future__ import annotations

from tindak import recs


def test_index_lists_forums_with_their_completion_rate(org, client, make):
    make.rec(owner=org.owner_a, forum=org.forum_a, status="completed", progress=100)
    res = client.get("/")
    assert res.status_code == 200
    assert "FKP Dinas Sosial 2026" in res.text and "FKP Dukcapil 2026" in res.text
    assert 'value="50"' in res.text  # one of two items of the Dinsos forum completed


def test_forum_page_shows_status_progress_and_public_note_only(org, client, tmp_path):
    evidence = tmp_path / "foto-loket.jpg"
    evidence.write_bytes(b"\xff\xd8jpeg")
    recs.update_rec(org.rec_a.ref, org.owner_a.email, progress=40, note="Private: budget talk")
    recs.update_rec(org.rec_a.ref, org.owner_a.email, progress=60, note="SOP sudah disusun",
                    public=True, evidence=recs.Evidence(path=evidence))
    res = client.get(f"/forum/{org.forum_a.id}")
    assert res.status_code == 200
    assert "Perjelas prosedur layanan bantuan sosial" in res.text
    assert "SOP sudah disusun" in res.text and "Dalam proses" in res.text
    assert 'value="60"' in res.text
    for secret in ("Private: budget talk", "@", "foto-loket", "/bukti/", org.owner_a.name):
        assert secret not in res.text


def test_script_in_a_recommendation_is_shown_as_text(org, client, make):
    make.rec(owner=org.owner_a, forum=org.forum_a,
             text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    res = client.get(f"/forum/{org.forum_a.id}")
    assert "<script>alert" not in res.text and "<img src=x" not in res.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in res.text


def test_unknown_forum_is_404(org, client):
    assert client.get("/forum/999999").status_code == 404
    assert client.get("/forum/abc").status_code == 404
    assert client.get("/no-such-page").status_code == 404


def test_pages_carry_security_headers(client, home):
    res = client.get("/")
    assert "default-src 'self'" in res.headers["content-security-policy"]
    assert "script-src 'self'" in res.headers["content-security-policy"]
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["referrer-policy"] == "no-referrer"
    assert res.headers["x-frame-options"] == "DENY"


def test_indonesian_by_default_and_english_by_switch(org, client):
    assert "Belum ditindaklanjuti" in client.get(f"/forum/{org.forum_a.id}").text
    res = client.get(f"/forum/{org.forum_a.id}?lang=en")
    assert "Not yet followed up" in res.text
    assert "tindak_lang=en" in res.headers["set-cookie"]
    assert "Not yet followed up" in client.get(f"/forum/{org.forum_a.id}").text  # remembered
    assert 'lang="en"' in client.get("/").text


def test_language_setting_sets_the_default(org, client, settings_env):
    settings_env(LANGUAGE="en")
    assert "Not yet followed up" in client.get(f"/forum/{org.forum_a.id}").text


def test_static_assets_are_served_by_the_app(client, home):
    res = client.get("/static/tindak.css")
    assert res.status_code == 200 and "text/css" in res.headers["content-type"]
    page = client.get("/").text
    assert "http://" not in page.replace("http://testserver", "") or "cdn" not in page
    assert "<script" not in page


def test_public_pages_set_no_cookie(org, client):
    assert "set-cookie" not in client.get("/").headers
    assert "set-cookie" not in client.get(f"/forum/{org.forum_a.id}").headers
    assert "tindak_session=" in client.get("/masuk").headers["set-cookie"]  # it has a form


def test_web_commands_have_help(capsys):
    from tindak.cli import main

    assert main(["web", "--help"]) == 0
    assert "--port" in capsys.readouterr().out
    assert main(["login-link", "--help"]) == 0
    assert "sign-in" in capsys.readouterr().out
