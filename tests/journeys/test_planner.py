"""The planner's journey, with `tindak web` alone (no `tindak serve` to deliver mail): asks
for a sign-in link, gets it within seconds, signs in, imports a file, verifies an item an
owner reported done."""

from __future__ import annotations

import re
import time

import pytest

REC_CSV = ("ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
           "IMP-1,FKP Bansos 2026,2026-02-02,DINSOS,Perbaiki papan informasi alur bansos,"
           "sarana,{owner},+10 hk,high\n"
           "IMP-2,FKP Bansos 2026,2026-02-02,DINSOS,Survei kepuasan penerima bantuan,"
           "evaluasi_kinerja,{owner},2026-06-30,normal\n")


@pytest.mark.browser
def test_planner_signs_in_by_mail_imports_and_verifies(org, tindak, web_process,
                                                        smtp_settings, browsers, shots,
                                                        tmp_path):
    planner = org.admin  # a planner of the top unit: may import on the web
    # Another person reports an item done, from the command line, as its owner.
    out = tindak("recs", "update", org.rec_a.ref, "--progress", "100", "--status",
                 "awaiting_verification", "--note", "Prosedur baru dipasang di loket",
                 "--evidence", "https://dinsos.example.go.id/sop-bansos.pdf",
                 "--by", org.owner_a.email)
    assert out.returncode == 0, out.stderr
    web = web_process()
    b = browsers.open("perencana")
    b.goto(web.url + "/masuk")
    b.fill("#email", planner.email)
    asked = time.monotonic()
    b.click("text=Kirimi saya tautan masuk")
    assert "tautan masuk sedang dikirim" in b.inner_text("main")
    shots(b, "link-asked")

    [mail] = smtp_settings.wait_for(lambda r: planner.email in r.rcpt_tos, timeout=10)
    assert time.monotonic() - asked < 10
    assert mail.message["Subject"] == "Tautan masuk Tindak Anda"
    text = mail.message.get_body(("plain",)).get_content()
    [link] = re.findall(r"\S+/masuk/\S+", text)
    assert link.startswith(web.url + "/masuk/")

    b.goto(link)
    b.click("button:has-text('Masuk')")
    b.wait_for_url(re.compile(r"/kelola"))
    shots(b, "signed-in")
    signed_in = b.inner_text("body")
    assert "Keluar" in signed_in and "Impor" in signed_in  # signed in, as a planner
    assert org.rec_a.ref in signed_in and org.rec_b.ref in signed_in  # the whole tree

    b.goto(web.url + "/kelola/impor")
    csv_path = tmp_path / "rekomendasi.csv"
    csv_path.write_text(REC_CSV.format(owner=org.owner_a.email), encoding="utf-8")
    b.set_input_files("#files", str(csv_path))
    b.click("button:has-text('Unggah')")
    result = b.inner_text("main")
    shots(b, "imported")
    assert "Berhasil diimpor" in result
    assert re.search(r"Rekomendasi\s+2\s+0\s+0", result), result

    b.goto(web.url + "/kelola/verifikasi")
    card = b.locator(f"#r{org.rec_a.id}")
    assert "Prosedur baru dipasang di loket" in card.inner_text()
    assert "sop-bansos.pdf" in card.inner_text()
    card.locator("button:has-text('Terima: selesai')").click()
    b.wait_for_url(re.compile(r"/kelola/verifikasi"))
    shots(b, "verified")
    assert f"{org.rec_a.ref} terverifikasi selesai." in b.inner_text("main")
    assert "Prosedur baru dipasang di loket" not in b.inner_text("main")

    # Exactly once: no run delivers the sign-in mail a second time.
    out = tindak("run", "daily", "--as-of", "2026-02-02")
    assert out.returncode == 0, out.stderr
    assert [r.rcpt_tos for r in smtp_settings.received].count((planner.email,)) == 1
