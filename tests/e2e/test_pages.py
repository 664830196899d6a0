"""Pages in a real browser: a script in a recommendation stays text, a forged link is
refused, and every page at phone size (390x844) is kept as a screenshot to look at."""

from __future__ import annotations

from datetime import date

import pytest

from tindak import recs
from tindak.links import owner_token
from tindak.web.signin import login_url

XSS = ("<script>document.title='pwned';alert('script')</script>"
       "<img src=x onerror=\"document.title='pwned';alert('img')\">")


@pytest.mark.browser
def test_a_script_in_a_recommendation_never_runs(org, make, live_server, browsers, shots):
    make.rec(owner=org.owner_a, forum=org.forum_a, ref="XSS-1", text=XSS)
    token = owner_token(org.owner_a.id, org.owner_a.email)
    for path in (f"/forum/{org.forum_a.id}", f"/o/{token}"):
        page = browsers.open(f"visitor{len(browsers.contexts)}", phone=True)
        page.goto(live_server.url + path)
        card = page.locator("li.card").filter(has_text="XSS-1")
        assert XSS in card.inner_text()  # shown as the text it is
        assert page.title() != "pwned"
    shots(page, "script-shown-as-text")
    assert browsers.dialogs == []


@pytest.mark.browser
def test_a_forged_owner_link_shows_a_refusal(org, live_server, browsers, shots):
    token = owner_token(org.owner_a.id, org.owner_a.email)
    page = browsers.open("forger", phone=True)
    res = page.goto(f"{live_server.url}/o/{token[:-3]}xyz")
    assert res is not None and res.status == 403
    assert "Perjelas prosedur" not in page.content()
    shots(page, "forged-owner-link")


@pytest.mark.browser
def test_every_page_at_phone_size(org, make, live_server, browsers, shots, tmp_path):
    make.rec(owner=org.owner_b, forum=org.forum_b, ref="LATE-1", deadline=date(2020, 3, 2),
             text="Tambah petugas loket pada jam sibuk")
    evidence = tmp_path / "sop-pengaduan.pdf"
    evidence.write_bytes(b"%PDF-1.4")
    recs.update_rec("DINSOS-01", org.owner_a.email, progress=60, note="SOP sedang direviu",
                    public=True)
    recs.update_rec("DINSOS-01", org.owner_a.email, status="awaiting_verification",
                    note="SOP disahkan", evidence=recs.Evidence(path=evidence))
    public = browsers.open("public", phone=True)
    for path, name in [("/", "public-index"), (f"/forum/{org.forum_b.id}", "public-forum"),
                       ("/masuk", "sign-in"), ("/?lang=en", "public-index-english")]:
        public.goto(live_server.url + path)
        shots(public, name)
    owner = browsers.open("owner", phone=True)
    owner.goto(f"{live_server.url}/o/{owner_token(org.owner_b.id, org.owner_b.email)}")
    shots(owner, "owner-page")
    admin = browsers.open("admin", phone=True)
    admin.goto(login_url(org.admin.email, live_server.url))
    admin.click("main form button[type=submit]")
    admin.wait_for_url("**/kelola/rekomendasi")
    for path, name in [("/kelola/rekomendasi", "planner-recommendations"),
                       (f"/kelola/rekomendasi/{org.rec_a.id}", "planner-recommendation"),
                       ("/kelola/forum", "planner-forums"),
                       (f"/kelola/forum/{org.forum_a.id}", "planner-forum"),
                       ("/kelola/forum/baru", "planner-new-forum"),
                       ("/kelola/verifikasi", "planner-verification"),
                       ("/kelola/impor", "planner-import")]:
        admin.goto(live_server.url + path)
        shots(admin, name)
    admin.set_input_files("#files", files=[{
        "name": "rekomendasi.csv", "mimeType": "text/csv",
        "buffer": b"ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
                  b"R-1,FKP X,2026-02-30,NOPE,,bogus,nobody@x.id,+5 hk,urgent\n"}])
    admin.click("main form button[type=submit]")
    admin.wait_for_selector("#import-errors")
    shots(admin, "planner-import-errors")
    leader = browsers.open("leader", phone=True)
    leader.goto(login_url(org.leader.email, live_server.url))
    leader.click("main form button[type=submit]")
    leader.wait_for_url("**/pimpinan")
    leader.wait_for_load_state("networkidle")
    shots(leader, "leader-dashboard")
    for page in (public, owner, admin, leader):  # nothing wider than the phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
