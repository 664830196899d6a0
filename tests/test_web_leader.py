"""The leader's dashboard: the digest's numbers for their tree, live, with its chart."""

from __future__ import annotations

from datetime import date

from tindak import recs


def test_leader_sees_the_digest_numbers_of_their_tree(org, client_for, make):
    make.rec(owner=org.owner_b, forum=org.forum_b, ref="LATE-9", deadline=date(2020, 3, 2))
    recs.update_rec("DINSOS-01", org.owner_a.email, status="awaiting_verification")
    recs.verify_rec("DINSOS-01", org.planner_a.email)
    page = client_for(org.leader).get("/pimpinan?lang=en")
    assert page.status_code == 200
    text = page.text
    assert "Pemerintah Kabupaten" in text
    assert '<span class="num">3</span>' in text  # three items in the whole tree
    assert '<span class="num">1</span> overdue' in text  # honest overdue count
    assert "33%" in text  # one of three completed
    assert "LATE-9" in text and "Dinas Sosial" in text and "Dinas Kependudukan" in text
    assert 'class="bars"' in text and 'class="seg s-completed w-' in text  # drawn by the page


def test_the_dashboard_chart_is_a_png_for_the_tree(org, client_for):
    res = client_for(org.leader).get("/pimpinan/grafik.png")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert res.content.startswith(b"\x89PNG")


def test_a_leader_of_a_sub_unit_sees_only_their_tree(org, client_for, make):
    sub_leader = make.person(email="kadis@dinsos.go.id", unit=org.a, roles="leader")
    text = client_for(sub_leader).get("/pimpinan").text
    assert "Dinas Sosial" in text and "Dinas Kependudukan" not in text
    assert '<span class="num">1</span>' in text


def test_owners_and_visitors_do_not_get_the_dashboard(org, client_for, client):
    assert client_for(org.owner_a).get("/pimpinan").status_code == 403
    assert client_for(org.owner_a).get("/pimpinan/grafik.png").status_code == 403
    assert client.get("/pimpinan", follow_redirects=False).status_code == 303
    assert client.get("/pimpinan/grafik.png", follow_redirects=False).status_code == 303


def test_completed_this_week_includes_what_was_verified_today(org, client_for, make):
    from datetime import UTC, datetime, timedelta

    old = make.rec(owner=org.owner_b, forum=org.forum_b, ref="OLD-1", text="Selesai lama")
    for ref, when in (("DINSOS-01", None), (old.ref, datetime.now(UTC) - timedelta(days=8))):
        recs.update_rec(ref, org.owner_a.email if ref == "DINSOS-01" else org.owner_b.email,
                        progress=100, at=when)
        recs.verify_rec(ref, org.admin.email, at=when)
    text = client_for(org.leader).get("/pimpinan?lang=en").text
    done = text.split('id="done-h"', 1)[1]
    assert "DINSOS-01" in done and "Siti Aminah" in done
    assert "OLD-1" not in done  # verified eight days ago: not this week
