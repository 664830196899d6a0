"""The public's journey: from the list of forums, on a phone, to one forum's follow-up.

Served by a real `tindak web` process; a citizen reads, in Indonesian, how far each
recommendation has come, and never sees a person's name, email or a private note."""

from __future__ import annotations

import re

import pytest

from models import Recommendation, session
from tindak.recs import update_rec, verify_rec


@pytest.mark.browser
def test_citizen_reads_a_forums_follow_up_on_a_phone(make, web_process, browsers, shots):
    unit = make.unit(code="DISDUK", name="Dinas Kependudukan dan Pencatatan Sipil")
    planner = make.person(email="perencana@disduk.go.id", unit=unit, roles="planner")
    owner = make.person(email="siti.aminah@disduk.go.id", unit=unit, name="Siti Aminah")
    forum = make.forum(unit=unit, title="FKP Pelayanan Adminduk 2026")
    done = make.rec(owner=owner, forum=forum, ref="FKP-DISDUK-01",
                    text="Sediakan loket prioritas bagi lansia dan penyandang disabilitas")
    make.rec(owner=owner, forum=forum, ref="FKP-DISDUK-02",
             text="Publikasikan standar waktu penerbitan KTP-el di ruang tunggu")
    update_rec(done.ref, by=owner.email, progress=100,
               note="Loket prioritas dibuka di lantai 1 sejak 3 Maret", public=True)
    update_rec("FKP-DISDUK-02", by=owner.email, progress=40,
               note="catatan internal: anggaran banner belum cair")
    verify_rec(done.ref, by=planner.email)
    with session() as s:
        assert s.get(Recommendation, done.id).status == "completed"

    web = web_process()
    phone = browsers.open("warga", phone=True)
    phone.goto(web.url + "/")
    shots(phone, "public-forums")
    assert "FKP Pelayanan Adminduk 2026" in phone.content()
    assert "2 rekomendasi, 1 selesai" in phone.inner_text("main")
    phone.click("text=FKP Pelayanan Adminduk 2026")
    phone.wait_for_url(re.compile(r"/forum/\d+$"))
    shots(phone, "public-forum")
    text = phone.inner_text("main")
    assert "Selesai sesuai rekomendasi" in text
    assert "Dalam proses" in text
    assert "Loket prioritas dibuka di lantai 1 sejak 3 Maret" in text
    assert "50%" in text  # one of two completed
    for private in ("Siti Aminah", "siti.aminah@disduk.go.id", "anggaran banner"):
        assert private not in phone.content()
    # the page fits a phone: nothing wider than the screen
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
