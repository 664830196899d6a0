"""Attacks on the web app, as an attacker would try them: forged, expired, reused and
misused links; cross-site posts on every POST route; script, template and bidi payloads in
every text field of every page; hostile uploads; SQL-looking and oversized input; every
role against every route; open redirects, Host header poisoning, headers and cookies; the
sign-in rate limits. Each test says what a user (or the attacker) would see.

Uploads, decided: evidence is accepted by extension (recs.EVIDENCE_TYPES) and refused when
it is plainly a program whatever its name (a Windows, ELF or Mach-O executable, or a
script starting with #!) or is declared as one by the browser; it is stored under a
generated name and served only as an attachment with nosniff.
"""

from __future__ import annotations

import asyncio
import base64
import html
import http.client
import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import itsdangerous
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from sqlmodel import SQLModel

from models import (
    LoginNonce,
    Outbox,
    Person,
    ProgressUpdate,
    Recommendation,
    Subscriber,
    messages,
    session,
)
from tests.hostile import Page, evil
from tests.plugins.factories import change
from tests.plugins.web import WebClient
from tindak import recs
from tindak.links import (
    LOGIN_MAX_AGE,
    LOGIN_SALT,
    OWNER_SALT,
    login_token,
    owner_token,
    subscribe_token,
)
from tindak.settings import get_settings
from tindak.web import create_app
from tindak.web.middleware import BODY_MAX_BYTES
from tindak.web.signin import link_base, login_url

# ---------------------------------------------------------------- helpers


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _owner_page(person: Person) -> str:
    return f"/o/{owner_token(person.id, person.email)}"  # type: ignore[arg-type]


def _rec(ref: str) -> Recommendation:
    with session() as s:
        return s.execute(sa.select(Recommendation).where(Recommendation.ref == ref)).scalar_one()


def _snapshot() -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with session() as s:
        return {t.name: sorted(repr(tuple(r)) for r in s.execute(sa.select(t)))
                for t in SQLModel.metadata.sorted_tables}


def _signed_at(salt: str, payload: dict[str, Any], at: float) -> str:
    """A token signed with the real key as if at time `at` (no clock patching)."""

    class SignedAt(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(at)

    return itsdangerous.URLSafeTimedSerializer(
        get_settings().signing_key(), salt=salt, signer=SignedAt).dumps(payload)


def _evidence_of(ref: str, person: Person, tmp_path: Path, name: str = "foto.jpg") -> str:
    f = tmp_path / name
    f.write_bytes(b"\xff\xd8 evidence of " + ref.encode())
    recs.update_rec(ref, person.email, progress=50, evidence=recs.Evidence(path=f))
    return str(recs.history(ref)[-1]["evidence_file"])


def _raw_client(**kw: Any) -> WebClient:
    """A client that shows a server error as the 500 a browser would get."""
    return WebClient(create_app(), base_url="http://testserver", raise_server_exceptions=False,
                     **kw)


# ---------------------------------------------------------------- signed links


def test_forged_owner_links_are_refused_for_page_report_and_evidence(org, client, tmp_path):
    stored = _evidence_of("DINSOS-01", org.owner_a, tmp_path)
    good = owner_token(org.owner_a.id, org.owner_a.email)
    payload, _, signature = good.rpartition(".")
    raw = bytearray(itsdangerous.encoding.base64_decode(signature))
    raw[0] ^= 0x01  # one real bit (the last base64 character also holds padding bits)
    flipped = itsdangerous.encoding.base64_encode(bytes(raw)).decode()
    other_key = itsdangerous.URLSafeTimedSerializer("another-key", salt=OWNER_SALT)
    bare = itsdangerous.URLSafeSerializer(get_settings().signing_key(), salt=OWNER_SALT)
    # The signed body of owner B's token with the signature of owner A's: a spliced token.
    spliced = owner_token(org.owner_b.id, org.owner_b.email).rpartition(".")[0] + "." + signature
    forged = {
        "bit-flipped signature": f"{payload}.{flipped}",
        "signed with another key": other_key.dumps({"p": org.owner_a.id,
                                                    "e": org.owner_a.email}),
        "a sign-in token": login_token(org.owner_a.email, "0" * 32),
        "no timestamp (untimed signer)": bare.dumps({"p": org.owner_a.id,
                                                      "e": org.owner_a.email}),
        "spliced": spliced,
        "truncated": good[: len(good) // 2],
        "empty signature": payload + ".",
        "not a token": "x",
    }
    before = _snapshot()
    page = _owner_page(org.owner_a)
    for why, token in forged.items():
        assert client.get(f"/o/{token}").status_code == 403, why
        res = client.post_form(f"/o/{token}/r/{org.rec_a.id}", {"progress": "90"},
                               csrf_from=page)
        assert res.status_code == 403, why
        assert client.get(f"/o/{token}/bukti/{stored}").status_code == 403, why
    assert _snapshot() == before
    assert client.get(f"/o/{good}/bukti/{stored}").status_code == 200  # the real link works


def test_an_owner_link_is_no_sign_in_link_and_a_session_cookie_is_neither(org, client,
                                                                          client_for):
    owner = owner_token(org.admin.id, org.admin.email)
    res = client.post_form(f"/masuk/{owner}")
    assert res.status_code == 403
    assert client.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303
    cookie = client_for(org.owner_a).cookies["tindak_session"]
    assert client.get(f"/o/{cookie}").status_code == 403
    assert client.post_form(f"/masuk/{cookie}").status_code == 403


def test_owner_links_expire_after_owner_link_days(org, client, settings_env):
    settings_env(OWNER_LINK_DAYS=7)
    claims = {"p": org.owner_a.id, "e": org.owner_a.email}
    fresh = _signed_at(OWNER_SALT, claims, time.time() - 7 * 86400 + 120)
    stale = _signed_at(OWNER_SALT, claims, time.time() - 7 * 86400 - 120)
    assert client.get(f"/o/{fresh}").status_code == 200
    res = client.get(f"/o/{stale}")
    assert res.status_code == 403 and "kedaluwarsa" in res.text
    res = client.post_form(f"/o/{stale}/r/{org.rec_a.id}", {"progress": "50"},
                           csrf_from=f"/o/{fresh}")
    assert res.status_code == 403 and _rec("DINSOS-01").progress == 0


def test_a_sign_in_link_works_once_and_for_thirty_minutes(org, client):
    url = login_url(org.admin.email, "http://testserver")
    path = _path(url)
    assert client.post_form(path, csrf_from=path).status_code == 303
    # The same link again, even from another browser: refused.
    other = _raw_client()
    res = other.post_form(path)
    assert res.status_code == 403 and "sudah dipakai" in res.text  # Indonesian by default
    assert other.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303
    # Eight clicks on one fresh link at the same moment: one signs in, seven are refused.
    path = _path(login_url(org.leader.email, "http://testserver"))
    browsers = [_raw_client() for _ in range(8)]
    tokens = [b.csrf(path) for b in browsers]
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda bt: bt[0].post(
            path, data={"csrf": bt[1]}, follow_redirects=False).status_code,
            zip(browsers, tokens, strict=True)))
    assert codes == [303] + [403] * 7
    # A link for a fresh nonce, re-signed 31 and 29 minutes ago.
    nonce = secrets.token_hex(16)
    with session() as s:
        s.add(LoginNonce(nonce=nonce, email=org.admin.email))
        s.commit()
    claims = {"e": org.admin.email, "n": nonce}
    old = _signed_at(LOGIN_SALT, claims, time.time() - LOGIN_MAX_AGE - 60)
    res = other.post_form(f"/masuk/{old}")
    assert res.status_code == 403 and "kedaluwarsa" in res.text
    recent = _signed_at(LOGIN_SALT, claims, time.time() - LOGIN_MAX_AGE + 60)
    assert other.post_form(f"/masuk/{recent}").status_code == 303


def test_a_valid_owner_link_reaches_only_that_owners_items(org, client, tmp_path):
    theirs = _evidence_of("DUKCAPIL-01", org.owner_b, tmp_path)
    page = _owner_page(org.owner_a)
    before = _snapshot()
    shown = client.get(page)
    assert shown.status_code == 200
    assert "Buka loket khusus" not in shown.text and f'id="r{org.rec_b.id}"' not in shown.text
    res = client.post_form(f"{page}/r/{org.rec_b.id}", {"progress": "90", "note": "x"},
                           files={"evidence": ("x.pdf", b"%PDF-1.4", "application/pdf")},
                           csrf_from=page)
    assert res.status_code == 403
    assert client.get(f"{page}/bukti/{theirs}").status_code == 403
    assert _snapshot() == before
    assert list((get_settings().files_dir).iterdir()) == [get_settings().files_dir / theirs]


def test_links_of_a_deleted_person_or_a_changed_email_are_refused(org, client, make):
    gone = make.person(email="pindah@dinsos.go.id", unit=org.a)
    owner_link = _owner_page(gone)
    sign_in = _path(login_url(gone.email, "http://testserver"))
    with session() as s:
        s.delete(s.get(Person, gone.id))
        s.commit()
    # Someone else may get the same row id later: the email in the token tells them apart.
    newcomer = make.person(email="baru@dinsos.go.id", unit=org.a)
    assert client.get(owner_link).status_code == 403
    assert client.post_form(sign_in, csrf_from="/masuk").status_code == 403
    assert client.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303
    assert client.get(_owner_page(newcomer)).status_code == 200

    owner_link = _owner_page(org.owner_a)
    sign_in = _path(login_url(org.owner_a.email, "http://testserver"))
    change(org.owner_a, email="siti.baru@dinsos.go.id")
    assert client.get(owner_link).status_code == 403
    assert client.post_form(sign_in, csrf_from="/masuk").status_code == 403
    assert client.get("/saya", follow_redirects=False).status_code == 303  # still a visitor


# ---------------------------------------------------------------- CSRF on every POST route


def _routes(method: str) -> list[str]:
    """The paths of the app's routes for `method`, read from create_app().routes."""
    routes = create_app().routes
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI lists included routes directly
        found = [(r.path, r) for r in routes if isinstance(r, APIRoute)]
    else:
        found = [(c.path, c.original_route) for c in iter_route_contexts(routes)
                 if isinstance(c.original_route, APIRoute)]
    return sorted({path for path, r in found if method in r.methods})


def _answer_path(org) -> str:  # type: ignore[no-untyped-def]
    """An answer link of a subscriber of forum_a on a completed item of it."""
    from tindak import links, public_loop

    public_loop.confirm_subscription(links.subscribe_token("warga@example.com",
                                                           org.forum_a.id))
    with session() as s:
        rec = s.execute(sa.select(Recommendation).where(
            Recommendation.ref == "DINSOS-DONE")).scalars().first()
        if rec is None:
            rec = Recommendation(ref="DINSOS-DONE", text="Selesai", deadline=date(2030, 1, 1),
                                 status="completed", progress=100, forum_id=org.forum_a.id,
                                 unit_id=org.a.id, owner_id=org.owner_a.id)
            s.add(rec)
            s.commit()
        sub = s.execute(sa.select(Subscriber).where(
            Subscriber.email == "warga@example.com")).scalars().one()
        return f"/tanggapan/{links.answer_token(sub.id, sub.email, rec.id, 'sesuai')}"


def _legit_post(org, path: str) -> tuple[str, dict[str, str], list | None]:  # type: ignore[no-untyped-def]
    """URL, fields and files of a request that succeeds with the right CSRF token."""
    rec_fields = {"text": "Perjelas prosedur", "owner": org.owner_a.email,
                  "deadline": "2030-06-28", "unit": "DINSOS", "category": "prosedur",
                  "priority": "normal"}
    csv = ("ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
           f"CSRF-1,FKP Impor,2026-02-02,DINSOS,Teks,sarana,{org.owner_a.email},+5 hk,high\n")
    table: dict[str, tuple[str, dict[str, str], list | None]] = {
        "/masuk": ("/masuk", {"email": org.admin.email}, None),
        "/masuk/{token}": (_path(login_url(org.admin.email, "http://testserver")), {}, None),
        "/keluar": ("/keluar", {}, None),
        "/o/{token}/r/{rec_id}": (f"{_owner_page(org.owner_b)}/r/{org.rec_b.id}",
                                  {"progress": "30", "note": "Sedang dikerjakan"}, None),
        "/kelola/rekomendasi/{rec_id}": (f"/kelola/rekomendasi/{org.rec_a.id}",
                                         {**rec_fields, "text": "Diubah"}, None),
        "/o/{token}/perpanjangan/{rec_id}": (
            f"{_owner_page(org.owner_b)}/perpanjangan/{org.rec_b.id}",
            {"until": "2030-12-30", "reason": "Menunggu anggaran"}, None),
        "/kelola/rekomendasi/{rec_id}/perpanjangan": (  # owner_a's request, waiting
            f"/kelola/rekomendasi/{org.rec_a.id}/perpanjangan", {"decision": "approve"}, None),
        "/kelola/rekomendasi/{rec_id}/verifikasi": (
            f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi", {"decision": "accept"}, None),
        "/kelola/forum/baru": ("/kelola/forum/baru", {"title": "FKP Baru",
                               "held_on": "2026-02-02", "unit": "DINSOS"}, None),
        "/kelola/forum/{forum_id}": (f"/kelola/forum/{org.forum_a.id}", {
            "title": "FKP Dinas Sosial (ubah)", "held_on": "2026-01-12", "unit": "DINSOS"},
            None),
        "/kelola/forum/{forum_id}/rekomendasi": (
            f"/kelola/forum/{org.forum_a.id}/rekomendasi", {**rec_fields, "deadline": "+5 hk"},
            None),
        "/kelola/impor": ("/kelola/impor", {},
                          [("files", ("r.csv", csv.encode(), "text/csv"))]),
        "/forum/{forum_id}/langganan": (f"/forum/{org.forum_a.id}/langganan",
                                        {"email": "baru@example.com"}, None),
        "/langganan/{token}": (f"/langganan/{subscribe_token('lain@example.com', org.forum_b.id)}",
                               {}, None),
    }
    if path == "/tanggapan/{token}":
        return _answer_path(org), {"verdict": "belum_sesuai", "comment": "Belum"}, None
    assert path in table, f"a new POST route {path}: add it to the CSRF attack table"
    return table[path]


def test_every_post_route_refuses_a_missing_wrong_or_foreign_csrf_token(org, client_for,
                                                                        client):
    from tindak import extensions

    extensions.request_extension("DINSOS-01", date(2030, 12, 30), "APBD-P", org.owner_a.email)
    recs.update_rec("DINSOS-01", org.owner_a.email, status="awaiting_verification")
    admin = client_for(org.admin)
    foreign = client.csrf("/masuk")  # a real token, of the attacker's own session
    routes = _routes("POST")
    assert len(routes) >= 10 and "/keluar" in routes
    # RFC 8058: a mail client posts the one-click unsubscribe itself, without any token; the
    # signed link is its authority (tests/test_public_loop.py).
    routes.remove("/berhenti/{token}")
    routes.remove("/keluar")
    routes.append("/keluar")  # signing out last keeps the admin signed in for the others
    for route in routes:
        url, fields, files = _legit_post(org, route)
        before = _snapshot()
        for why, extra in [("missing", {}), ("wrong", {"csrf": secrets.token_urlsafe(32)}),
                           ("another session's", {"csrf": foreign}), ("empty", {"csrf": ""})]:
            res = admin.post(url, data={**fields, **extra}, files=files,
                             follow_redirects=False)
            assert res.status_code == 403, f"{route}: {why} token got {res.status_code}"
        assert _snapshot() == before, route
        # The same request with the session's own token goes through: the token was the
        # only thing that stopped it.
        res = admin.post(url, data={**fields, "csrf": admin.csrf("/masuk")}, files=files,
                         follow_redirects=False)
        assert res.status_code in (200, 303), f"{route}: {res.status_code} {res.text[-300:]}"
        assert route == "/keluar" or _snapshot() != before, route


# ---------------------------------------------------------------- redirects, hosts, headers


def _same_site(target: str) -> bool:
    """A path of this site, also as a browser reads it (tabs and newlines dropped, a
    backslash taken for a slash)."""
    browser = re.sub(r"[\t\n\r]", "", target).replace("\\", "/")
    parts = urlsplit(browser)
    return (browser.startswith("/") and not browser.startswith("//") and parts.scheme == ""
            and parts.netloc == "" and target.isprintable())


OFF_SITE = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example",
            "/\t/evil.example", "https:evil.example", "javascript:alert(1)",
            "/%2F%2Fevil.example", " //evil.example", "\r\n//evil.example", "/\u202e/evil"]


def test_sign_in_never_redirects_off_site(org, client):
    for target in OFF_SITE:
        path = _path(login_url(org.admin.email, "http://testserver"))
        confirm = client.get(path, params={"next": target})
        assert confirm.status_code == 200
        carried = html.unescape(re.search(r'name="next" value="([^"]*)"', confirm.text)[1])
        assert carried == "" or _same_site(carried), repr(carried)
        res = client.post_form(path, {"next": target}, csrf_from=path)
        assert res.status_code == 303 and _same_site(res.headers["location"]), repr(target)
        client.post_form("/keluar")


def test_a_visitor_sent_to_sign_in_comes_back_only_to_this_site(org, client):
    res = client.get("/kelola/rekomendasi", follow_redirects=False)
    assert res.headers["location"] == "/masuk?next=/kelola/rekomendasi"


def test_mailed_sign_in_links_never_take_the_host_from_the_request(home):
    # A browser reads a backslash as a slash: http://evil.example\@localhost goes to evil.example.
    for base in ["http://evil.example/", "http://evil.example\\@localhost/",
                 "http://localhost@evil.example/", "http://evil.example#@127.0.0.1/",
                 "http://127.0.0.1.evil.example/", "http://localhost:80@evil.example/",
                 "http://evil.example/@localhost/", "http://user:pw@localhost/"]:
        assert link_base(base) is None, base
    assert link_base("http://localhost:8000/") == "http://localhost:8000"


def test_a_poisoned_host_header_gets_no_sign_in_link_to_its_host(org, settings_env):
    hosts = ["evil.example", "evil.example:80", "evil.example\\@localhost",
             "localhost@evil.example", "testserver/evil.example", "evil.example\r\nX: y"]
    c = _raw_client()
    for host in hosts:
        c.post_form("/masuk", {"email": org.leader.email}, headers={"host": host})
    settings_env(BASE_URL="https://tindak.example.go.id")
    with WebClient(create_app(), base_url="https://testserver") as c:  # a Secure cookie
        res = c.post_form("/masuk", {"email": org.admin.email}, headers={"host": "evil.example"})
        assert res.status_code == 200
    with session() as s:
        rows = [(m.recipient, m.body_text, m.body_html) for m in messages(s)]
    for _, text, body in rows:
        for url in re.findall(r"https?://[^\s\"<>]+", text + body):
            assert re.match(r"(http://testserver|https://tindak\.example\.go\.id)/masuk/", url), url
    assert org.admin.email in {r[0] for r in rows}  # mailed, with the configured base


def test_no_redirect_takes_its_host_from_the_request(org, client_for):
    """Redirects are relative: a forged Host header (or a cache keyed without it) never
    sends anyone to another site, trailing slash or not."""
    admin = client_for(org.admin)
    paths = _get_routes(org, "x.pdf")
    for path in paths + [p + "/" for p in paths if p != "/"]:
        res = admin.get(path, headers={"host": "evil.example"}, follow_redirects=False)
        where = res.headers.get("location", "")
        assert "evil.example" not in where and _same_site(where or "/"), (path, where)


def _check_headers(res, what: str) -> None:  # type: ignore[no-untyped-def]
    h = res.headers
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("x-frame-options") == "DENY", what
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, what
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, what
    assert h.get("referrer-policy") == "no-referrer", what


def _get_routes(org, stored: str) -> list[str]:  # type: ignore[no-untyped-def]
    fill = {"forum_id": str(org.forum_a.id), "rec_id": str(org.rec_a.id), "stored": stored,
            "fmt": "pdf",
            "token": owner_token(org.owner_a.id, org.owner_a.email)}
    out = []
    for route in _routes("GET"):
        path = route
        if path == "/masuk/{token}":
            out.append(_path(login_url(org.admin.email, "http://testserver")))
            continue
        for key, value in fill.items():
            path = path.replace("{" + key + "}", value)
        assert "{" not in path, f"fill the parameters of {route}"
        out.append(path)
    return out


def test_every_response_carries_the_anti_framing_and_nosniff_headers(org, client, client_for,
                                                                     tmp_path):
    stored = _evidence_of("DINSOS-01", org.owner_a, tmp_path)
    admin = client_for(org.admin)
    paths = _get_routes(org, stored) + ["/static/tindak.css", "/no-such-page",
                                        f"/forum/{org.forum_a.id}?lang=en"]
    for path in paths:
        _check_headers(admin.get(path, follow_redirects=False), f"admin {path}")
        _check_headers(client.get(path, follow_redirects=False), f"visitor {path}")
    _check_headers(client.post("/masuk", data={}), "a refused POST")
    too_big = client.post("/masuk", content=b"x" * 10,
                          headers={"content-length": str(BODY_MAX_BYTES + 1)})
    assert too_big.status_code == 413
    _check_headers(too_big, "413")


def test_cookies_are_httponly_and_samesite(org, client):
    path = _path(login_url(org.admin.email, "http://testserver"))
    res = client.post_form(path, csrf_from=path)
    cookies = res.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("tindak_session="))
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
    lang = client.get("/?lang=en").headers["set-cookie"]
    assert "httponly" in lang.lower() and "samesite=lax" in lang.lower()
    assert "tindak_lang=en;" in lang
    bad = client.get("/?lang=en%3B%20Domain%3Devil.example")  # no cookie from odd values
    assert "set-cookie" not in bad.headers


def test_payloads_in_the_address_come_back_as_text(org, client_for):
    """Reflected: what an attacker puts in a link's query is shown (if at all) as text."""
    c = client_for(org.admin)
    attack = '"><script>alert(1)</script><img src=x onerror=alert(1)>{{7*7}}'
    for path, params in [("/kelola/rekomendasi", {"unit": attack}),
                         ("/kelola/rekomendasi", {"status": attack}),
                         ("/kelola/rekomendasi", {"owner": attack, "overdue": attack}),
                         ("/kelola/rekomendasi", {"format": attack, attack: attack}),
                         ("/", {"lang": attack}), (f"/forum/{org.forum_a.id}", {"x": attack}),
                         ("/masuk", {"next": attack}), ("/no-such-page", {"q": attack}),
                         (f"{_owner_page(org.owner_a)}", {"lang": attack})]:
        res = c.get(path, params=params)
        assert res.status_code < 500, (path, params)
        assert_inert(res.text, f"{path} {params}")
        assert "<script>alert" not in res.text and "<img src=x" not in res.text


def test_private_pages_are_kept_out_of_caches(org, client_for, client, tmp_path):
    """Signed-in pages, owner pages, sign-in links and evidence carry names and emails:
    a shared computer's cache or a proxy must not keep them."""
    stored = _evidence_of("DINSOS-01", org.owner_a, tmp_path)
    admin = client_for(org.admin)
    private = [p for p in _get_routes(org, stored)
               if p.startswith(("/kelola", "/pimpinan", "/o/", "/masuk/", "/saya"))]
    assert len(private) >= 12
    for path in private:
        res = admin.get(path, follow_redirects=False)
        cache = res.headers.get("cache-control", "")
        assert "no-store" in cache or "private" in cache, f"{path}: {cache!r}"
    assert "no-store" not in client.get("/").headers.get("cache-control", "")  # public


def test_a_session_follows_the_persons_current_role_and_unit(org, client_for):
    c = client_for(org.planner_a)
    assert c.get(f"/kelola/rekomendasi/{org.rec_a.id}").status_code == 200
    change(org.planner_a, unit_id=org.b.id)  # moved to the sibling tree
    assert c.get(f"/kelola/rekomendasi/{org.rec_a.id}").status_code == 403
    change(org.planner_a, roles="owner")  # no longer a planner
    assert c.get("/kelola/rekomendasi").status_code == 403
    with session() as s:
        s.delete(s.get(Person, org.planner_a.id))
        s.commit()
    assert c.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303


def _session_cookie(data: dict[str, Any]) -> str:
    """A session cookie as the app signs one now (Starlette's format, the app's key)."""
    signer = itsdangerous.TimestampSigner(get_settings().signing_key() + ":web-session")
    return signer.sign(base64.b64encode(json.dumps(data).encode())).decode()


def test_a_session_ends_a_working_day_after_sign_in_however_busy(org, home):
    """Each saved form re-signs the cookie, so its own age says nothing: the sign-in time
    inside it does. A cookie stolen (or left signed in) keeps working no longer than that."""
    from tindak.web.session import SESSION_MAX_AGE

    c = _raw_client()
    for age, signed_in in [(SESSION_MAX_AGE - 600, True), (SESSION_MAX_AGE + 600, False),
                           (10 * 86400, False)]:
        c.cookies.set("tindak_session", _session_cookie(
            {"pid": org.admin.id, "csrf": "t", "at": int(time.time()) - age}))
        res = c.get("/kelola/rekomendasi", follow_redirects=False)
        assert (res.status_code == 200) == signed_in, (age, res.status_code)
    c.cookies.set("tindak_session", _session_cookie({"pid": org.admin.id, "csrf": "t"}))
    assert c.get("/kelola/rekomendasi", follow_redirects=False).status_code == 303


def test_signing_in_gives_a_new_session_and_csrf_token(org, client):
    path = _path(login_url(org.admin.email, "http://testserver"))
    before = client.csrf(path)  # what a visitor (or an attacker who planted it) had
    old_cookie = client.cookies["tindak_session"]
    assert client.post_form(path, csrf_from=path).status_code == 303
    assert client.cookies["tindak_session"] != old_cookie
    res = client.post("/keluar", data={"csrf": before}, follow_redirects=False)
    assert res.status_code == 403  # the token from before signing in is dead
    assert client.get("/kelola/rekomendasi").status_code == 200


# ---------------------------------------------------------------- sign-in rate limits


def test_the_per_email_limit_holds_across_addresses_and_spellings(org, home):
    app = create_app()
    spellings = [org.admin.email, org.admin.email.upper(), f"  {org.admin.email} ",
                 org.admin.email.title(), org.admin.email, org.admin.email]
    codes = []
    for i, email in enumerate(spellings):
        with WebClient(app, base_url="http://testserver", client=(f"10.0.0.{i}", 4000)) as c:
            codes.append(c.post_form("/masuk", {"email": email}).status_code)
    assert codes == [200] * 5 + [429]
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Outbox)).scalar() == 5


def test_the_per_address_limit_ignores_forwarded_for_headers(org, home):
    app = create_app()
    with WebClient(app, base_url="http://testserver", client=("10.0.0.9", 4000)) as c:
        codes = [c.post_form("/masuk", {"email": f"u{i}@example.go.id"},
                             headers={"x-forwarded-for": f"192.0.2.{i}",
                                      "x-real-ip": f"192.0.2.{i}"}).status_code
                 for i in range(21)]
    assert codes == [200] * 20 + [429]
    with WebClient(app, base_url="http://testserver", client=("10.0.0.10", 4000)) as c:
        assert c.post_form("/masuk", {"email": "u99@example.go.id"}).status_code == 200


# ---------------------------------------------------------------- raw ASGI: the body cap


def test_a_body_without_length_is_cut_off_just_past_the_cap(org, home):
    """Chunked uploads (no Content-Length) are refused once past the cap, not read to the end."""
    app = create_app()
    pulled = 0
    chunk = b"0" * (1024 * 1024)
    head = (b'--xyz\r\nContent-Disposition: form-data; name="evidence"; filename="a.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n")

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        body = head if pulled == 0 else chunk
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": True}  # never ends

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": f"{_owner_page(org.owner_a)}/r/{org.rec_a.id}", "raw_path": b"",
             "root_path": "", "query_string": b"", "server": ("testserver", 80),
             "client": ("10.0.0.1", 4000),
             "headers": [(b"host", b"testserver"),
                         (b"content-type", b"multipart/form-data; boundary=xyz")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled <= BODY_MAX_BYTES + 2 * len(chunk)


def test_a_declared_oversize_body_is_refused_before_it_is_sent(org, live_server):
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", f"{_owner_page(org.owner_a)}/r/{org.rec_a.id}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    conn.putheader("Content-Length", str(1024 * 1024 * 1024))  # 1 GB announced, none sent
    conn.endheaders()
    res = conn.getresponse()
    assert res.status == 413
    conn.close()
    assert _rec("DINSOS-01").progress == 0



# ---------------------------------------------------------------- payloads in every text field

FILE_NAME = "[file]<img src=x onerror=alert(1)>{{7*7}}.pdf"  # a file name has no "/"


_evil = evil
_Page = Page


def assert_inert(html_text: str, what: str) -> _Page:
    """No script, handler or script URL reached the page: the markup is the templates' own."""
    page = _Page(html_text)
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "svg", "base"), (what, tag)
        assert tag != "img" or (attrs.get("src") or "").startswith("/"), (what, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (what, tag, name)
            if name in ("href", "src", "action", "formaction") and value:
                scheme = urlsplit(re.sub(r"[\x00-\x20]", "", value)).scheme.lower()
                assert scheme in ("", "http", "https"), (what, tag, value)
    return page


@pytest.fixture
def hostile(make, client, tmp_path):  # type: ignore[no-untyped-def]
    """A unit tree, people, a forum, an overdue item, notes and evidence: every text an
    attacker can type holds a payload, each marked with the field it sits in."""
    from models import Forum

    root = make.unit(code="ROOT", name=_evil("unit"))
    sub = make.unit(code="SUB", name=_evil("subunit"), parent=root)
    admin = make.person(email="admin@x.go.id", unit=root, roles="planner", name=_evil("planner"))
    leader = make.person(email="leader@x.go.id", unit=root, roles="leader", name=_evil("leader"))
    boss = make.person(email="boss@x.go.id", unit=sub, name=_evil("supervisor"))
    owner = make.person(email="owner@x.go.id", unit=sub, name=_evil("owner"), supervisor=boss)
    forum = make.forum(unit=sub, title=_evil("title"))
    with session() as s:
        row = s.get(Forum, forum.id)
        row.place, row.minutes_ref = _evil("place"), _evil("minutes")
        s.add(row)
        s.commit()
    rec = make.rec(owner=owner, forum=forum, ref="[ref]<script>alert(1)</script>{{7*7}}",
                   text=_evil("text"), deadline=date(2020, 3, 2))
    make.rec(owner=owner, forum=forum, ref="LATE-1", text=_evil("late"),
             deadline=date(2020, 3, 2))  # overdue: on the leader's dashboard
    recs.update_rec(rec.ref, owner.email, progress=40, note=_evil("note"))
    recs.update_rec(rec.ref, owner.email, progress=50, note=_evil("public"), public=True)
    page = _owner_page(owner)
    res = client.post_form(f"{page}/r/{rec.id}", {
        "status": "awaiting_verification", "note": _evil("report"),
        "evidence_url": "https://bukti.example/?q=\"><script>alert(1)</script>"},
        files={"evidence": (FILE_NAME, b"%PDF-1.4", "application/pdf")}, csrf_from=page)
    assert res.status_code == 303, res.text
    with session() as s:  # links stored before links were checked, or by another tool
        for url in ("javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)",
                    "data:text/html,<script>alert(1)</script>"):
            s.add(ProgressUpdate(recommendation_id=rec.id, person_id=owner.id, note="legacy",
                                 evidence_url=url, kind="report"))
        s.commit()
    return dict(admin=admin, leader=leader, owner=owner, forum=forum, rec=rec)


def test_payloads_in_every_field_are_shown_as_text_on_every_page(hostile, client, client_for):
    h = hostile
    admin, leader = client_for(h["admin"]), client_for(h["leader"])
    fid, rid = h["forum"].id, h["rec"].id
    ref = h["rec"].ref
    pages = [  # (who, path, fields that page shows, fields it must not show)
        (client, "/", ["title", "subunit", "place"], ["owner", "note"]),
        (client, f"/forum/{fid}", ["title", "subunit", "place", "minutes", "text", "public"],
         ["owner", "note", "report", "[file]", "planner", "bukti.example"]),
        (client, _owner_page(h["owner"]),
         ["owner", "title", "text", "subunit", "note", "public", "report", "[file]"], []),
        (admin, "/kelola/rekomendasi", ["title", "text", "subunit", "owner"], []),
        (admin, f"/kelola/rekomendasi/{rid}",
         ["text", "owner", "subunit", "public", "title", "note", "report", "[file]"], []),
        (admin, "/kelola/verifikasi", ["title", "text", "subunit", "owner", "report", "[file]"],
         []),
        (admin, "/kelola/forum", ["title", "subunit"], []),
        (admin, f"/kelola/forum/{fid}", ["title", "subunit", "place", "owner", "text"], []),
        (leader, "/pimpinan", ["unit", "subunit", "late", "owner"], []),
    ]
    for who, path, shown, hidden in pages:
        res = who.get(path)
        assert res.status_code == 200, path
        page = assert_inert(res.text, path)
        for field in shown:
            want = FILE_NAME if field == "[file]" else _evil(field)
            assert want in page.text, f"{path}: {field} not shown as text"
        for field in hidden:
            assert f"[{field.strip('[]')}]" not in page.text and field not in page.text, \
                f"{path} shows {field}"
        if path not in ("/", "/kelola/forum", "/pimpinan"):
            assert ref in page.text, path
    form = _Page(admin.get(f"/kelola/forum/{fid}").text)  # values stay whole in attributes
    assert form.value_of("title") == _evil("title") and form.value_of("place") == _evil("place")
    assert form.value_of("minutes_ref") == _evil("minutes")


def test_only_http_links_become_links(hostile, client_for):
    admin = client_for(hostile["admin"])
    for path in (f"/kelola/rekomendasi/{hostile['rec'].id}", "/kelola/verifikasi"):
        page = assert_inert(admin.get(path).text, path)
        hrefs = [a.get("href") or "" for t, a in page.tags if t == "a"]
        assert any(h.startswith("https://bukti.example/") for h in hrefs), path
    page = assert_inert(admin.get(_owner_page(hostile["owner"])).text, "owner")
    for url in ("javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>"):
        assert url in page.text  # still there for the planner to read, as text


def test_payloads_typed_into_forms_are_stored_as_typed_and_shown_as_text(org, client_for,
                                                                         client):
    c = client_for(org.planner_a)
    res = c.post_form("/kelola/forum/baru", {
        "title": _evil("title"), "held_on": "2026-02-02", "unit": "DINSOS",
        "place": _evil("place"), "minutes_ref": _evil("minutes")},
        csrf_from="/kelola/forum/baru")
    assert res.status_code == 303, res.text
    url = res.headers["location"]
    res = c.post_form(f"{url}/rekomendasi", {
        "ref": "F-1", "text": _evil("text"), "owner": org.owner_a.email, "deadline": "+5 hk"},
        csrf_from=url)
    assert res.status_code == 303, res.text
    rec = _rec("F-1")
    res = c.post_form(f"/kelola/rekomendasi/{rec.id}", {
        "text": _evil("text"), "owner": org.owner_a.email, "deadline": "2030-01-31",
        "unit": "DINSOS", "category": "lainnya", "priority": "low",
        "public_note": _evil("public")}, csrf_from=url)
    assert res.status_code == 303, res.text
    rec = _rec("F-1")
    assert (rec.text, rec.public_note) == (_evil("text"), _evil("public"))
    forum_id = int(url.rsplit("/", 1)[1])
    page = assert_inert(client.get(f"/forum/{forum_id}").text, "public forum")
    for field in ("title", "place", "minutes", "text", "public"):
        assert _evil(field) in page.text, field


def test_very_long_values_are_shown_or_refused_never_an_error(org, client_for, make):
    long_text = "Perjelas prosedur " * 277  # ~5000 characters: the form's limit
    make.rec(owner=org.owner_a, forum=org.forum_a, ref="LONG-1", text=long_text[:5000])
    c = client_for(org.planner_a)
    assert long_text[:5000] in html.unescape(c.get("/kelola/rekomendasi").text)
    url = f"/kelola/forum/{org.forum_a.id}"
    # itemrules.TEXT_MAX: the form's limit is the import's
    res = c.post_form(f"{url}/rekomendasi", {"text": "x" * 10_001, "owner": org.owner_a.email,
                                             "deadline": "+5 hk"}, csrf_from=url)
    assert res.status_code == 422
    res = c.post_form("/kelola/forum/baru", {"title": "t" * 20_000, "held_on": "2026-02-02",
                                             "unit": "DINSOS"}, csrf_from=url)
    assert res.status_code == 422
    res = c.get("/kelola/rekomendasi", params={"owner": "a" * 20_000})
    assert res.status_code in (200, 414, 422) and "DINSOS-01" not in res.text
    page = _owner_page(org.owner_a)
    res = client_for(org.owner_a).post_form(f"{page}/r/{org.rec_a.id}",
                                            {"note": "n" * 6000}, csrf_from=page)
    assert res.status_code == 422 and _rec("DINSOS-01").progress == 0


# ---------------------------------------------------------------- uploads


STORED = re.compile(r"[0-9a-f]{32}\.[a-z]{2,4}")


def test_hostile_file_names_never_choose_where_a_file_goes(org, client, home, tmp_path):
    page = _owner_page(org.owner_a)
    names = ["../../etc/passwd.pdf", "..\\..\\x.pdf", "/etc/cron.d/x.pdf",
             "C:\\Windows\\System32\\x.pdf", "a\x00b.pdf", "..", "x" * 1000 + ".pdf",
             "Laporan Ünïcødé 报告.pdf", "laporan\u202efdp.zip", "\u200b.pdf", "CON.pdf",
             ".htaccess.pdf", "a\r\nContent-Type: text/html.pdf"]
    codes = {}
    for name in names:
        res = client.post_form(f"{page}/r/{org.rec_a.id}", {"note": "bukti"},
                               files={"evidence": (name, b"%PDF-1.4 x", "application/pdf")},
                               csrf_from=page)
        codes[name] = res.status_code
        assert res.status_code in (303, 400, 413, 422), (name, res.status_code)
    files = home / "files"
    assert all(STORED.fullmatch(p.name) for p in files.iterdir()), list(files.iterdir())
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and files not in p.parents
               and p.suffix in (".pdf", ".zip")]
    assert outside == []
    with session() as s:
        rows = s.execute(sa.select(ProgressUpdate.evidence_file, ProgressUpdate.evidence_name)
                         .where(ProgressUpdate.evidence_file.is_not(None))).all()
    assert len(rows) == sum(1 for c in codes.values() if c == 303) >= 8
    for stored, name in rows:
        assert STORED.fullmatch(stored)
        assert "/" not in name and "\\" not in name and name.isprintable(), repr(name)
        res = client.get(f"{page}/bukti/{stored}")
        assert res.status_code == 200
        disposition = res.headers["content-disposition"]
        assert disposition.startswith("attachment") and "\r" not in disposition
        assert "/" not in disposition and "\\" not in disposition, disposition
        assert res.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in res.headers["content-security-policy"]


PROGRAMS = [  # (name, content, type the browser declares)
    ("laporan.pdf", b"MZ\x90\x00\x03" + b"\x00" * 60 + b"PE\x00\x00", "application/pdf"),
    ("foto.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 20, "image/jpeg"),
    ("catatan.txt", b"#!/bin/sh\nrm -rf /\n", "text/plain"),
    ("laporan.docx", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "application/octet-stream"),
    ("laporan.pdf", b"%PDF-1.4 but declared a program", "application/x-msdownload"),
    ("setup.exe", b"%PDF-1.4", "application/pdf"),
    ("page.html", b"<script>alert(1)</script>", "text/html"),
    ("logo.svg", b"<svg onload=alert(1)>", "image/svg+xml"),
    ("run.js", b"alert(1)", "text/javascript"),
    ("noext", b"%PDF-1.4", "application/pdf"),
]


def test_programs_and_active_content_are_refused_whatever_their_name(org, client, home):
    page = _owner_page(org.owner_a)
    for name, content, declared in PROGRAMS:
        res = client.post_form(f"{page}/r/{org.rec_a.id}", {"progress": "50"},
                               files={"evidence": (name, content, declared)}, csrf_from=page)
        assert res.status_code == 422, (name, declared, res.status_code)
    assert _rec("DINSOS-01").progress == 0 and recs.history("DINSOS-01") == []
    assert not (home / "files").exists() or not any((home / "files").iterdir())
    res = client.post_form(f"{page}/r/{org.rec_a.id}", {"progress": "50"},  # the control
                           files={"evidence": ("laporan.pdf", b"%PDF-1.4", "application/pdf")},
                           csrf_from=page)
    assert res.status_code == 303


def test_many_files_at_once_are_refused_or_only_one_is_kept(org, client, home):
    page = _owner_page(org.owner_a)
    url = f"{page}/r/{org.rec_a.id}"
    many = [("evidence", (f"f{i}.pdf", b"%PDF-1.4", "application/pdf")) for i in range(25)]
    res = client.post_form(url, {"progress": "50"}, files=many, csrf_from=page)
    assert res.status_code == 400 and _rec("DINSOS-01").progress == 0
    assert not (home / "files").exists() or not any((home / "files").iterdir())
    three = many[:3]
    res = client.post_form(url, {"progress": "50"}, files=three, csrf_from=page)
    assert res.status_code == 303
    assert len(list((home / "files").iterdir())) == 1 and len(recs.history("DINSOS-01")) == 1


def test_stored_names_cannot_be_guessed_or_walked(org, client, client_for, tmp_path, home):
    mine = _evidence_of("DINSOS-01", org.owner_a, tmp_path)
    theirs = _evidence_of("DUKCAPIL-01", org.owner_b, tmp_path)
    (home / "files" / ("0" * 32 + ".pdf")).write_bytes(b"%PDF orphan")  # on disk, not in the db
    page = _owner_page(org.owner_a)
    admin = client_for(org.planner_a)
    assert client.get(f"{page}/bukti/{mine}").status_code == 200
    assert client.get(f"{page}/bukti/{theirs}").status_code == 403
    assert admin.get(f"/kelola/bukti/{theirs}").status_code == 403
    for guess in [secrets.token_hex(16) + ".pdf", "0" * 32 + ".pdf", "..%2Ftindak.db",
                  "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5Ctindak.db", mine.upper(),
                  mine + "%00.pdf", "secret_key", "%2Fetc%2Fpasswd"]:
        assert client.get(f"{page}/bukti/{guess}").status_code in (400, 404), guess
        assert admin.get(f"/kelola/bukti/{guess}").status_code in (400, 404), guess
    for walk in ["/static/%2e%2e/app.py", "/static/..%2F..%2Fsecret_key", "/static/%2e%2e%2f"
                 "%2e%2e%2f%2e%2e%2fhome/tindak.db", "/static/..%5Capp.py"]:
        res = client.get(walk)
        assert res.status_code in (400, 404) and b"import" not in res.content, walk


def test_a_file_recorded_from_the_command_line_keeps_a_plain_name(org, tmp_path):
    f = tmp_path / "laporan\u202efdp.zip"
    f.write_bytes(b"PK\x03\x04")
    recs.update_rec("DINSOS-01", org.owner_a.email, progress=10, evidence=recs.Evidence(path=f))
    assert recs.history("DINSOS-01")[-1]["evidence_name"].isprintable()


def test_an_import_file_over_its_cap_is_refused(org, client_for):
    from tindak.web.imports import IMPORT_MAX_BYTES

    body = b"ref,forum\n" + b"x" * IMPORT_MAX_BYTES
    res = client_for(org.admin).post_form("/kelola/impor",
                                          files=[("files", ("besar.csv", body, "text/csv"))],
                                          csrf_from="/kelola/impor")
    assert res.status_code == 422 and "lebih besar dari" in res.text


def test_exports_never_hand_a_spreadsheet_a_formula(org, make, client_for):
    """Every exported text a spreadsheet would run (=, +, -, @, tab, CR first) is quoted."""
    import csv
    import io

    import openpyxl

    unit = make.unit(code="-U", name="+Unit", parent=org.root)
    owner = make.person(email="-owner@x.go.id", unit=unit, name="@Owner")
    forum = make.forum(unit=unit, title="=HYPERLINK(\"http://evil.example\",\"x\")")
    for i, text in enumerate(["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"]):
        make.rec(owner=owner, unit=unit, forum=forum, ref=f"=R{i}", text=text)
    c = client_for(org.admin)
    res = c.get("/kelola/rekomendasi", params={"unit": "-U", "format": "csv"})
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))[1:]
    book = openpyxl.load_workbook(io.BytesIO(
        c.get("/kelola/rekomendasi", params={"unit": "-U", "format": "xlsx"}).content))
    cells = [v for row in rows for v in row] + [
        v for row in book.active.iter_rows(min_row=2, values_only=True) for v in row]
    assert len(rows) == 6 and cells
    for value in cells:
        assert not str(value).startswith(("=", "+", "-", "@", "\t", "\r")), repr(value)


# ---------------------------------------------------------------- SQL-looking and odd input

SQLISH = ["' OR 1=1 --", "' OR '1'='1", "%", "_", "%@%", "pic@dinsos.go.id' --",
          "pic@dinsos.go.id%", "\\", "ñ@ü.id", "١٢٣", "'; DROP TABLE recommendation; --"]


def test_sql_looking_filters_find_nothing_and_never_fail(org, home):
    c = _raw_client().sign_in(org.admin)
    for value in SQLISH:
        for param in ("owner", "unit", "status"):
            res = c.get("/kelola/rekomendasi", params={param: value})
            assert res.status_code in (200, 404, 422), (param, value, res.status_code)
            assert "DINSOS-01" not in res.text, (param, value)
        res = c.get("/kelola/rekomendasi", params={"owner": value, "format": "csv"})
        assert res.status_code == 200 and res.content.decode("utf-8-sig").count("\n") == 1
    assert "DINSOS-01" in c.get("/kelola/rekomendasi").text  # the table is still there


def test_sql_looking_form_values_are_stored_as_typed(org, client_for, client):
    title = "FKP '); DROP TABLE forum; -- %_"
    c = client_for(org.planner_a)
    res = c.post_form("/kelola/forum/baru", {"title": title, "held_on": "2026-02-02",
                                             "unit": "DINSOS", "place": "' OR 1=1 --"},
                      csrf_from="/kelola/forum/baru")
    assert res.status_code == 303
    assert title in html.unescape(client.get("/").text)
    for email in ("' OR 1=1 --", "%", "admin@pemkab.go.id' --", "_@_._"):
        assert client.post_form("/masuk", {"email": email}).status_code == 200
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Outbox)).scalar() == 0


def test_ids_out_of_range_are_not_found(org):
    c = _raw_client().sign_in(org.admin)
    for path in ["/forum/99999999999999999999", "/forum/2147483648", "/forum/-1", "/forum/0",
                 "/forum/1e3", "/forum/0x10", "/kelola/rekomendasi/99999999999999999999",
                 "/kelola/forum/9223372036854775808", "/kelola/rekomendasi/-5"]:
        assert c.get(path).status_code == 404, path
    page = _owner_page(org.owner_a)
    res = c.post_form(f"{page}/r/99999999999999999999", {"progress": "5"}, csrf_from=page)
    assert res.status_code == 404


def test_nul_characters_are_refused_not_a_server_error(org):
    """PostgreSQL refuses NUL in text: a NUL must be a 4xx answer, never a 500."""
    c = _raw_client().sign_in(org.admin)
    assert c.get("/kelola/rekomendasi?owner=%00").status_code in (400, 404, 422)
    assert c.get("/kelola/bukti/%00.pdf").status_code in (400, 404)
    assert c.get("/forum/1%00").status_code in (400, 404)
    res = c.post_form("/kelola/forum/baru", {"title": "FKP\x00", "held_on": "2026-02-02",
                                             "unit": "DINSOS"}, csrf_from="/kelola/forum/baru")
    assert res.status_code in (400, 422)
    page = _owner_page(org.owner_a)
    visitor = _raw_client()
    res = visitor.post_form(f"{page}/r/{org.rec_a.id}", {"note": "a\x00b", "progress": "5"},
                            csrf_from=page)
    assert res.status_code in (400, 422) and _rec("DINSOS-01").progress == 0
    assert visitor.post_form("/masuk", {"email": "a\x00@x.id"}).status_code in (400, 422)


# ---------------------------------------------------------------- who may do what

ROLES = ("anonymous", "owner", "other owner", "planner", "top planner", "sibling planner",
         "leader", "leader elsewhere")
# in: sent to sign in · ok: served or done · 401/403/422: refused, nothing changed.
GETS = """
/kelola                         in   403  403  ok   ok   ok   ok   ok
/kelola/rekomendasi             in   403  403  ok   ok   ok   ok   ok
/kelola/rekomendasi/{rec}       in   403  403  ok   ok   403  ok   403
/kelola/verifikasi              in   403  403  ok   ok   ok   ok   ok
/kelola/bukti/{evidence}        in   ok   403  ok   ok   403  ok   403
/kelola/forum                   in   403  403  ok   ok   ok   ok   ok
/kelola/forum/baru              in   403  403  ok   ok   ok   403  403
/kelola/forum/{forum}           in   403  403  ok   ok   403  ok   403
/kelola/impor                   in   403  403  403  ok   403  403  403
/pimpinan                       in   403  403  ok   ok   ok   ok   ok
/pimpinan/grafik.png            in   403  403  ok   ok   ok   ok   ok
/saya                           in   ok   ok   ok   ok   ok   ok   ok
"""
POSTS = """
/kelola/rekomendasi/{rec}               401  403  403  ok   ok   403  403  403
/kelola/forum/{forum}                   401  403  403  ok   ok   403  403  403
/kelola/forum/{forum}/rekomendasi       401  403  403  ok   ok   403  403  403
/kelola/forum/baru                      401  403  403  ok   ok   422  403  403
/kelola/impor                           401  403  403  403  ok   403  403  403
/kelola/rekomendasi/{rec}/verifikasi    401  403  403  ok   ok   403  403  403
"""


def _matrix(table: str) -> list[tuple[str, dict[str, str]]]:
    rows = []
    for line in table.strip().splitlines():
        path, *cells = line.split()
        assert len(cells) == len(ROLES), line
        rows.append((path, dict(zip(ROLES, cells, strict=True))))
    return rows


def _post_body(org, path: str) -> tuple[dict[str, str], list | None]:  # type: ignore[no-untyped-def]
    rec = {"text": "Perjelas prosedur", "owner": org.owner_a.email, "deadline": "2030-06-28",
           "unit": "DINSOS", "category": "prosedur", "priority": "normal"}
    csv = ("ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
           f"M-1,FKP Impor,2026-02-02,DINSOS,Teks,sarana,{org.owner_a.email},+5 hk,high\n")
    return {
        "/kelola/rekomendasi/{rec}": ({**rec, "text": "Diubah"}, None),
        "/kelola/forum/{forum}": ({"title": "FKP (ubah)", "held_on": "2026-01-12",
                                   "unit": "DINSOS"}, None),
        "/kelola/forum/{forum}/rekomendasi": ({**rec, "deadline": "+5 hk"}, None),
        "/kelola/forum/baru": ({"title": "FKP Baru", "held_on": "2026-02-02",
                                "unit": "DINSOS"}, None),
        "/kelola/impor": ({}, [("files", ("r.csv", csv.encode(), "text/csv"))]),
        "/kelola/rekomendasi/{rec}/verifikasi": ({"decision": "accept"}, None),
    }[path]


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(org, make, client_for, home, tmp_path, role):
    """Every role against every signed-in route, GET and POST, the item being rec_a (DINSOS,
    under the top unit PEMKAB; the sibling tree is DUKCAPIL)."""
    f = tmp_path / "foto.jpg"
    f.write_bytes(b"\xff\xd8")
    recs.update_rec("DINSOS-01", org.owner_a.email, status="awaiting_verification",
                    evidence=recs.Evidence(path=f))
    evidence = recs.history("DINSOS-01")[-1]["evidence_file"]
    person = {"owner": org.owner_a, "other owner": org.owner_b, "planner": org.planner_a,
              "top planner": org.admin, "sibling planner": org.planner_b, "leader": org.leader,
              "leader elsewhere": make.person(email="kadis@dukcapil.go.id", unit=org.b,
                                              roles="leader")}.get(role)
    c = client_for(person) if person else _raw_client()
    fill = {"{rec}": str(org.rec_a.id), "{forum}": str(org.forum_a.id),
            "{evidence}": evidence}

    def url(path: str) -> str:
        for key, value in fill.items():
            path = path.replace(key, value)
        return path

    for path, want in _matrix(GETS):
        res = c.get(url(path), follow_redirects=False)
        got = ("in" if res.status_code == 303 and res.headers["location"].startswith("/masuk")
               else "ok" if res.status_code in (200, 204, 303) else str(res.status_code))
        assert got == want[role], f"{role} GET {path}: {res.status_code}"
    for path, want in _matrix(POSTS):
        data, files = _post_body(org, path)
        before = _snapshot()
        res = c.post_form(url(path), data, files=files)
        got = "ok" if res.status_code in (200, 303) else str(res.status_code)
        assert got == want[role], f"{role} POST {path}: {res.status_code} {res.text[-200:]}"
        assert (_snapshot() != before) == (got == "ok"), f"{role} POST {path}"


def test_owner_links_act_only_for_their_holders_items(org, client, tmp_path):
    """A valid link of one person is no key to another's item, not even a planner's link."""
    stored = {"rec_a": _evidence_of("DINSOS-01", org.owner_a, tmp_path),
              "rec_b": _evidence_of("DUKCAPIL-01", org.owner_b, tmp_path)}
    cases = [  # (link holder, item, report answer, evidence answer)
        ("owner_b", "rec_a", 403, 403),  # a valid link of another owner
        ("planner_a", "rec_a", 403, 403),  # a planner's own link acts only as an owner
        ("admin", "rec_b", 403, 403),
        ("owner_a", "rec_a", 303, 200),  # their own link, their own item
    ]
    for holder, item, report, evidence in cases:
        target = getattr(org, item)
        link = _owner_page(getattr(org, holder))
        assert client.get(link).status_code == 200, holder
        before = _snapshot()
        res = client.post_form(f"{link}/r/{target.id}", {"progress": "70"})
        assert res.status_code == report, (holder, item)
        assert (_snapshot() == before) == (report != 303), (holder, item)
        assert client.get(f"{link}/bukti/{stored[item]}").status_code == evidence, holder


# ---------------------------------------------------------------- the import stays in its tree


def _other_org(make):  # type: ignore[no-untyped-def]
    top = make.unit(code="PEMKOT", name="Pemerintah Kota")
    planner = make.person(email="admin@pemkot.go.id", unit=top, roles="planner")
    owner = make.person(email="pic@pemkot.go.id", unit=top)
    forum = make.forum(unit=top, title="FKP Pemkot 2026")
    make.rec(owner=owner, forum=forum, ref="PEMKOT-01", text="Rahasia kota")
    return top, planner


def _upload(c: WebClient, name: str, body: str):  # type: ignore[no-untyped-def]
    return c.post_form("/kelola/impor", files=[("files", (name, body.encode(), "text/csv"))],
                       csrf_from="/kelola/impor")


def test_a_web_import_cannot_move_its_planner_into_another_organisation(org, client_for,
                                                                         make, tmp_path):
    import html as html_mod

    _other_org(make)
    c = client_for(org.admin)
    res = _upload(c, "people.csv", f"email,name,unit,role\n{org.admin.email},Admin,PEMKOT,"
                  "planner\n")
    assert res.status_code == 422
    assert "people.csv:2: unit: unit 'PEMKOT' is outside your organisation" in \
        html_mod.unescape(res.text)
    assert "PEMKOT-01" not in c.get("/kelola/rekomendasi").text
    with session() as s:
        assert s.get(Person, org.admin.id).unit_id == org.root.id
    # Every other way to reach the other organisation, refused row by row.
    attempts = {
        "units.csv": ("code,name,parent\nPEMKOT,Pemerintah Kota,PEMKAB\n"
                      "BARU,Unit Baru,PEMKOT\nLEPAS,Unit Lepas,\n",
                      ["units.csv:2: code:", "units.csv:3: parent:", "units.csv:4: parent:"]),
        "people.csv": ("email,name,unit,role,supervisor\nadmin@pemkot.go.id,Diambil,PEMKAB,"
                       "owner,\nbaru@pemkab.go.id,Baru,DINSOS,owner,pic@pemkot.go.id\n",
                       ["people.csv:2: email:", "people.csv:3: supervisor:"]),
        "recommendations.csv": (
            "ref,forum,forum_date,unit,text,owner,deadline\n"
            "PEMKOT-01,FKP Dinas Sosial 2026,2026-01-12,DINSOS,Ditimpa,pic@dinsos.go.id,+5 hk\n"
            "X-2,FKP Pemkot 2026,2026-01-12,DINSOS,Masuk forum kota,pic@dinsos.go.id,+5 hk\n"
            "X-3,FKP Baru,2026-01-12,PEMKOT,Untuk kota,pic@pemkot.go.id,+5 hk\n",
            ["recommendations.csv:2: ref:", "recommendations.csv:3: forum:",
             "recommendations.csv:4: unit:"]),
    }
    for name, (body, expected) in attempts.items():
        res = _upload(c, name, body)
        shown = html_mod.unescape(res.text)
        assert res.status_code == 422, name
        for line in expected:
            assert line in shown, (line, shown[-3000:])
    with session() as s:
        rec = s.execute(sa.select(Recommendation).where(
            Recommendation.ref == "PEMKOT-01")).scalar_one()
        assert rec.text == "Rahasia kota"
        assert s.execute(sa.select(Person).where(
            Person.email == "admin@pemkot.go.id")).scalar_one().name != "Diambil"
    # The administrator at the server still imports anywhere.
    from tindak.importer import import_files

    path = tmp_path / "people.csv"
    path.write_text(f"email,name,unit,role\n{org.admin.email},Admin,PEMKOT,planner\n")
    import_files([path])
    with session() as s:
        assert s.get(Person, org.admin.id).unit_id != org.root.id


# ---------------------------------------------------------------- forwarded headers, real server


def _sign_in_burst(url: str, n: int) -> list[int]:
    """n sign-in requests from 127.0.0.1, each claiming another client in X-Forwarded-For."""
    import httpx

    with httpx.Client(base_url=url, timeout=30) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/masuk").text).group(1)  # type: ignore[union-attr]
        return [c.post("/masuk", data={"csrf": token, "email": f"u{i}@example.go.id"},
                       headers={"x-forwarded-for": f"192.0.2.{i}"}).status_code
                for i in range(n)]


def test_tindak_web_ignores_forwarded_for_unless_the_proxy_is_configured(org, web_process,
                                                                         settings_env):
    web = web_process()  # no TINDAK_TRUSTED_PROXIES: the header is the client's word only
    assert _sign_in_burst(web.url, 21) == [200] * 20 + [429]
    settings_env(TRUSTED_PROXIES="127.0.0.1")  # a proxy on this machine, named
    web = web_process()
    assert _sign_in_burst(web.url, 21) == [200] * 21  # each client behind it counted apart


def test_a_trusted_proxy_setting_that_is_not_an_address_is_refused(settings_env):
    from tindak.errors import ConfigError

    settings_env(TRUSTED_PROXIES="127.0.0.1, proxy.example")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES.*proxy.example"):
        get_settings()
