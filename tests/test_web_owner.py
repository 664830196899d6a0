"""The owner's link page: their items only, reports recorded with who made them, evidence
uploads limited in size and type, and every refusal."""

from __future__ import annotations

import json
import time

import itsdangerous
import sqlalchemy as sa

from models import AuditRecord, Recommendation, session
from tests.plugins.factories import change
from tindak import recs
from tindak.links import owner_token
from tindak.recs import EVIDENCE_MAX_BYTES


def _page(person) -> str:  # type: ignore[no-untyped-def]
    return f"/o/{owner_token(person.id, person.email)}"


def _rec(ref: str) -> Recommendation:
    with session() as s:
        return s.execute(sa.select(Recommendation).where(Recommendation.ref == ref)).scalar_one()


def test_owner_page_shows_only_that_owners_items(org, client, make):
    make.rec(owner=org.owner_a, forum=org.forum_b, ref="X-2", text="Second item of Siti")
    res = client.get(_page(org.owner_a))
    assert res.status_code == 200
    assert "Perjelas prosedur" in res.text and "Second item of Siti" in res.text
    assert "Buka loket khusus" not in res.text
    assert res.headers["cache-control"] == "no-store"
    assert res.headers["referrer-policy"] == "no-referrer"


def test_owner_reports_progress_and_it_is_recorded_with_who(org, client):
    page = _page(org.owner_a)
    res = client.post_form(f"{page}/r/{org.rec_a.id}",
                           {"progress": "40", "note": "Draf SOP selesai"}, csrf_from=page)
    assert res.status_code == 303 and res.headers["location"].endswith(f"#r{org.rec_a.id}")
    rec = _rec("DINSOS-01")
    assert (rec.status, rec.progress) == ("in_progress", 40)
    [h] = recs.history("DINSOS-01")
    assert (h["by"], h["progress"], h["note"]) == (org.owner_a.email, 40, "Draf SOP selesai")
    with session() as s:
        audit = s.execute(sa.select(AuditRecord).where(
            AuditRecord.entity_key == "DINSOS-01")).scalar_one()
    assert audit.actor == org.owner_a.email
    assert json.loads(audit.changes)["progress"] == [0, 40]
    shown = client.get(page).text
    assert "Draf SOP selesai" in shown and "Siti Aminah" in shown  # the history on the page
    assert "Dalam proses" in shown


def test_owner_reports_done_with_an_evidence_file_and_can_fetch_it(org, client, home):
    page = _page(org.owner_a)
    res = client.post_form(
        f"{page}/r/{org.rec_a.id}",
        {"status": "awaiting_verification", "note": "Selesai", "public": "1"},
        files={"evidence": ("berita acara.pdf", b"%PDF-1.4 evidence", "application/pdf")},
        csrf_from=page)
    assert res.status_code == 303
    rec = _rec("DINSOS-01")
    assert (rec.status, rec.progress, rec.public_note) == ("awaiting_verification", 100,
                                                          "Selesai")
    [h] = recs.history("DINSOS-01")
    assert h["evidence_name"] == "berita acara.pdf"
    stored = home / "files" / h["evidence_file"]
    assert stored.read_bytes() == b"%PDF-1.4 evidence"
    assert h["evidence_file"] != "berita acara.pdf"  # a generated name
    got = client.get(f"{page}/bukti/{h['evidence_file']}")
    assert got.status_code == 200 and got.content == b"%PDF-1.4 evidence"
    assert got.headers["content-disposition"].startswith("attachment")
    assert h["evidence_file"] in client.get(page).text


def test_another_owners_item_is_refused_and_unchanged(org, client):
    page = _page(org.owner_a)
    res = client.post_form(f"{page}/r/{org.rec_b.id}", {"progress": "90"}, csrf_from=page)
    assert res.status_code == 403
    rec = _rec("DUKCAPIL-01")
    assert (rec.status, rec.progress) == ("open", 0)
    assert recs.history("DUKCAPIL-01") == []


def test_another_owners_evidence_is_refused(org, client, tmp_path):
    f = tmp_path / "ktp.png"
    f.write_bytes(b"\x89PNG")
    recs.update_rec("DUKCAPIL-01", org.owner_b.email, progress=10,
                    evidence=recs.Evidence(path=f))
    stored = recs.history("DUKCAPIL-01")[0]["evidence_file"]
    assert client.get(f"{_page(org.owner_a)}/bukti/{stored}").status_code == 403
    assert client.get(f"{_page(org.owner_b)}/bukti/{stored}").status_code == 200
    assert client.get(f"/kelola/bukti/{stored}", follow_redirects=False).status_code == 303
    assert client.get(f"/static/../files/{stored}").status_code == 404


def test_a_forged_owner_link_is_refused(org, client):
    token = owner_token(org.owner_a.id, org.owner_a.email)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get(f"/o/{forged}").status_code == 403
    assert client.get("/o/not-a-token").status_code == 403
    other_key = itsdangerous.URLSafeTimedSerializer("another-key", salt="tindak.owner-link")
    assert client.get(f"/o/{other_key.dumps({'p': org.owner_a.id, 'e': org.owner_a.email})}"
                      ).status_code == 403


def test_an_expired_owner_link_is_refused(org, client, monkeypatch):
    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 31 * 86400)
    old = _page(org.owner_a)
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 29 * 86400)
    recent = _page(org.owner_a)
    monkeypatch.setattr(itsdangerous.timed.time, "time", real)
    res = client.get(old)
    assert res.status_code == 403 and "kedaluwarsa" in res.text
    assert client.get(recent).status_code == 200
    res = client.post_form(f"{old}/r/{org.rec_a.id}", {"progress": "50"})
    assert res.status_code == 403 and _rec("DINSOS-01").progress == 0


def test_a_link_stops_working_when_the_owners_email_changes(org, client):
    page = _page(org.owner_a)
    change(org.owner_a, email="siti.baru@dinsos.go.id")
    assert client.get(page).status_code == 403


def test_a_report_without_the_csrf_token_is_refused(org, client):
    page = _page(org.owner_a)
    res = client.post(f"{page}/r/{org.rec_a.id}", data={"progress": "50"})
    assert res.status_code == 403
    res = client.post(f"{page}/r/{org.rec_a.id}", data={"progress": "50", "csrf": "x"})
    assert res.status_code == 403
    assert _rec("DINSOS-01").progress == 0


def test_an_evidence_file_of_a_refused_type_writes_nothing(org, client, home):
    page = _page(org.owner_a)
    res = client.post_form(f"{page}/r/{org.rec_a.id}", {"progress": "50"},
                           files={"evidence": ("run.exe", b"MZ", "application/octet-stream")},
                           csrf_from=page)
    assert res.status_code == 422 and "tidak diterima" in res.text  # Indonesian by default
    assert _rec("DINSOS-01").progress == 0
    assert not (home / "files").exists() or not any((home / "files").iterdir())


def test_an_oversized_upload_is_refused(org, client, home):
    page = _page(org.owner_a)
    big = b"0" * (EVIDENCE_MAX_BYTES + 1024 * 1024)
    res = client.post_form(f"{page}/r/{org.rec_a.id}", {"progress": "50"},
                           files={"evidence": ("scan.pdf", big, "application/pdf")},
                           csrf_from=page)
    assert res.status_code == 413
    assert _rec("DINSOS-01").progress == 0


def test_a_file_just_over_the_evidence_cap_is_refused(org, client, home):
    page = _page(org.owner_a)
    big = b"0" * (EVIDENCE_MAX_BYTES + 1)  # fits in the request cap, not in the file cap
    res = client.post_form(f"{page}/r/{org.rec_a.id}", {"progress": "50"},
                           files={"evidence": ("scan.pdf", big, "application/pdf")},
                           csrf_from=page)
    assert res.status_code == 422 and "lebih besar dari" in res.text
    assert _rec("DINSOS-01").progress == 0


def test_the_status_rules_of_the_cli_hold_on_the_web(org, client):
    page = _page(org.owner_a)
    url = f"{page}/r/{org.rec_a.id}"
    # Indonesian by default, and a page names its fields, never a CLI flag (issue 10.6).
    for data, words in [({"status": "not_actionable"}, "tuliskan alasannya di kolom catatan"),
                        ({"status": "completed"}, "verifikasi perencana"),
                        ({"progress": "140"}, "antara 0 dan 100, bukan 140"),
                        ({"progress": "lots"}, "bilangan bulat"),
                        ({"evidence_url": "javascript:alert(1)"}, "http")]:
        res = client.post_form(url, data, csrf_from=page)
        assert res.status_code == 422 and words in res.text, data
        assert "--note" not in res.text and "--status" not in res.text
    res = client.post_form(url + "?lang=en", {"status": "not_actionable"}, csrf_from=page)
    assert res.status_code == 422 and "give a reason in the note field" in res.text
    assert _rec("DINSOS-01").progress == 0
