"""Planners' pages: their unit tree only; filters and export; forums and items by form;
verification with evidence; the import upload with the CLI's errors. Leaders read only."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import openpyxl
import sqlalchemy as sa

from models import AuditRecord, Forum, Recommendation, session
from tindak import recs
from tindak.calendar import WorkCalendar


def _rec(ref: str) -> Recommendation:
    with session() as s:
        return s.execute(sa.select(Recommendation).where(Recommendation.ref == ref)).scalar_one()


def test_a_planner_sees_only_their_unit_tree(org, client_for):
    page = client_for(org.planner_a).get("/kelola/rekomendasi").text
    assert "DINSOS-01" in page and "DUKCAPIL-01" not in page
    assert org.owner_a.email in page  # planners see who owns what
    whole = client_for(org.admin).get("/kelola/rekomendasi").text
    assert "DINSOS-01" in whole and "DUKCAPIL-01" in whole


def test_a_planner_cannot_open_an_item_or_forum_of_another_tree(org, client_for):
    c = client_for(org.planner_a)
    assert c.get(f"/kelola/rekomendasi/{org.rec_b.id}").status_code == 403
    assert c.get(f"/kelola/forum/{org.forum_b.id}").status_code == 403
    assert c.get(f"/kelola/rekomendasi/{org.rec_a.id}").status_code == 200
    assert c.get("/kelola/rekomendasi/999999").status_code == 404


def test_filters_by_unit_status_owner_and_overdue(org, client_for, make):
    make.rec(owner=org.owner_a, forum=org.forum_a, ref="LATE-1", deadline=date(2020, 1, 31))
    make.rec(owner=org.owner_b, forum=org.forum_b, ref="DONE-1", status="completed",
             progress=100)
    c = client_for(org.admin)

    def refs(query: str) -> set[str]:
        text = c.get(f"/kelola/rekomendasi?{query}").text
        return {r for r in ("DINSOS-01", "DUKCAPIL-01", "LATE-1", "DONE-1") if r in text}

    assert refs("unit=DUKCAPIL") == {"DUKCAPIL-01", "DONE-1"}
    assert refs("status=completed") == {"DONE-1"}
    assert refs(f"owner={org.owner_a.email}") == {"DINSOS-01", "LATE-1"}
    assert refs("overdue=1") == {"LATE-1"}
    assert c.get("/kelola/rekomendasi?status=nonsense").status_code == 422
    # A planner of A asking for B's unit sees nothing of it.
    assert "DUKCAPIL-01" not in client_for(org.planner_a).get(
        "/kelola/rekomendasi?unit=DUKCAPIL").text


def test_csv_and_xlsx_export_the_current_filter(org, client_for, make):
    make.rec(owner=org.owner_a, forum=org.forum_a, ref="F-1", text="=HYPERLINK(\"x\")",
             deadline=date(2030, 1, 31))
    c = client_for(org.admin)
    res = c.get(f"/kelola/rekomendasi?owner={org.owner_a.email}&format=csv")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert sorted(r["ref"] for r in rows) == ["DINSOS-01", "F-1"]
    formula = next(r for r in rows if r["ref"] == "F-1")
    assert formula["text"].startswith("'=")  # never run as a formula by a spreadsheet
    assert formula["overdue"] == "false" and formula["owner"] == org.owner_a.email
    res = c.get(f"/kelola/rekomendasi?owner={org.owner_a.email}&format=xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(res.content)).active
    got = [row for row in ws.iter_rows(values_only=True)]
    assert got[0][:3] == ("ref", "forum", "unit")
    assert sorted(r[0] for r in got[1:]) == ["DINSOS-01", "F-1"]
    assert all(not str(r[4]).startswith("=") for r in got[1:])
    # The export of a planner of A holds nothing of B.
    own = client_for(org.planner_a).get("/kelola/rekomendasi?format=csv").content.decode()
    assert "DUKCAPIL-01" not in own


def test_planner_registers_a_forum_and_two_recommendations(org, client_for):
    c = client_for(org.planner_a)
    res = c.post_form("/kelola/forum/baru", {
        "title": "FKP Layanan Bansos 2026", "held_on": "12/02/2026", "unit": "DINSOS",
        "place": "Aula Dinas Sosial", "minutes_ref": "BA-01/FKP/2026"},
        csrf_from="/kelola/forum/baru")
    assert res.status_code == 303
    forum_url = res.headers["location"]
    forum_id = int(forum_url.rsplit("/", 1)[1])
    for data in ({"text": "Sediakan jalur khusus lansia", "owner": org.owner_a.email,
                  "deadline": "+10 hk", "category": "sarana", "priority": "high"},
                 {"ref": "BANSOS-2", "text": "Publikasikan SOP pengaduan",
                  "owner": org.owner_a.email, "deadline": "2026-04-30",
                  "category": "pengaduan", "priority": "normal", "unit": "DINSOS"}):
        res = c.post_form(f"{forum_url}/rekomendasi", data, csrf_from=forum_url)
        assert res.status_code == 303, res.text
    with session() as s:
        forum = s.get(Forum, forum_id)
        items = s.execute(sa.select(Recommendation).where(
            Recommendation.forum_id == forum_id).order_by(Recommendation.id)).scalars().all()
        audits = s.execute(sa.select(AuditRecord.action, AuditRecord.entity, AuditRecord.actor)
                           ).all()
    assert forum.held_on == date(2026, 2, 12) and forum.place == "Aula Dinas Sosial"
    assert [i.ref for i in items] == [f"FKP{forum_id}-01", "BANSOS-2"]
    # Ten working days after 12 February, Imlek and its cuti bersama skipped.
    assert items[0].deadline == WorkCalendar().add_working_days(date(2026, 2, 12), 10)
    assert items[0].deadline_rule == "+10 hk" and items[0].priority == "high"
    assert ("create", "forum", org.planner_a.email) in audits
    assert audits.count(("create", "recommendation", org.planner_a.email)) == 2
    assert "Sediakan jalur khusus lansia" in c.get(forum_url).text


def test_form_errors_are_all_shown_and_nothing_is_written(org, client_for):
    c = client_for(org.planner_a)
    c.get("/?lang=en")
    res = c.post_form("/kelola/forum/baru", {"title": "", "held_on": "31/02/2026",
                                             "unit": "DUKCAPIL", "place": "=cmd"},
                      csrf_from="/kelola/forum/baru")
    assert res.status_code == 422
    for words in ("Required.", "Not a date", "Not a unit of your tree", "May not start"):
        assert words in res.text, words
    url = f"/kelola/forum/{org.forum_a.id}"
    res = c.post_form(f"{url}/rekomendasi", {"text": "", "owner": "nobody@x.id",
                                             "deadline": "2020-01-01", "category": "x"},
                      csrf_from=url)
    assert res.status_code == 422
    for words in ("Required.", "No person with this email", "before the forum",
                  "Unknown category"):
        assert words in res.text, words
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Forum)).scalar() == 2
        assert s.execute(sa.select(sa.func.count()).select_from(Recommendation)).scalar() == 2


def test_planner_edits_owner_deadline_and_public_note(org, client_for, make):
    other = make.person(email="pic2@dinsos.go.id", unit=org.a)
    c = client_for(org.planner_a)
    url = f"/kelola/rekomendasi/{org.rec_a.id}"
    res = c.post_form(url, {"text": "Perjelas prosedur bansos", "owner": other.email,
                            "deadline": "2026-05-29", "unit": "DINSOS", "category": "prosedur",
                            "priority": "low", "public_note": "Jadwal baru disepakati"},
                      csrf_from=url)
    assert res.status_code == 303
    rec = _rec("DINSOS-01")
    assert (rec.owner_id, rec.deadline, rec.priority) == (other.id, date(2026, 5, 29), "low")
    assert rec.public_note == "Jadwal baru disepakati"
    with session() as s:
        audit = s.execute(sa.select(AuditRecord).where(
            AuditRecord.action == "update")).scalar_one()
    assert audit.actor == org.planner_a.email
    assert json.loads(audit.changes)["deadline"] == ["2030-06-28", "2026-05-29"]


def test_planner_of_another_tree_cannot_change_forums_or_items(org, client_for):
    c = client_for(org.planner_b)
    url = f"/kelola/rekomendasi/{org.rec_a.id}"
    res = c.post_form(url, {"text": "Hijacked", "owner": org.owner_b.email,
                            "deadline": "2026-05-29", "unit": "DUKCAPIL"},
                      csrf_from="/kelola/rekomendasi")
    assert res.status_code == 403
    res = c.post_form(f"/kelola/forum/{org.forum_a.id}", {"title": "Hijacked",
                      "held_on": "2026-01-12", "unit": "DUKCAPIL"},
                      csrf_from="/kelola/rekomendasi")
    assert res.status_code == 403
    res = c.post_form(f"/kelola/forum/{org.forum_a.id}/rekomendasi", {
        "text": "Injected", "owner": org.owner_b.email, "deadline": "+5 hk"},
        csrf_from="/kelola/rekomendasi")
    assert res.status_code == 403
    assert _rec("DINSOS-01").text == "Perjelas prosedur layanan bantuan sosial"


def test_planner_forms_without_csrf_are_refused(org, client_for):
    c = client_for(org.planner_a)
    res = c.post("/kelola/forum/baru", data={"title": "X", "held_on": "2026-01-01",
                                             "unit": "DINSOS"})
    assert res.status_code == 403
    res = c.post(f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi", data={"decision": "accept"})
    assert res.status_code == 403


def _awaiting(org, tmp_path):  # type: ignore[no-untyped-def]
    f = tmp_path / "foto.jpg"
    f.write_bytes(b"\xff\xd8 photo of the new counter")
    recs.update_rec("DINSOS-01", org.owner_a.email, status="awaiting_verification",
                    note="Loket sudah dibuka", evidence=recs.Evidence(path=f))
    return recs.history("DINSOS-01")[0]["evidence_file"]


def test_verification_queue_shows_evidence_and_the_planner_accepts(org, client_for, tmp_path):
    stored = _awaiting(org, tmp_path)
    c = client_for(org.planner_a)
    page = c.get("/kelola/verifikasi").text
    assert "DINSOS-01" in page and "Loket sudah dibuka" in page and stored in page
    assert c.get(f"/kelola/bukti/{stored}").content == b"\xff\xd8 photo of the new counter"
    res = c.post_form(f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi",
                      {"decision": "accept"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 303
    assert (_rec("DINSOS-01").status, _rec("DINSOS-01").progress) == ("completed", 100)
    assert recs.history("DINSOS-01")[-1]["kind"] == "verify"
    assert recs.history("DINSOS-01")[-1]["by"] == org.planner_a.email


def test_a_rejection_needs_a_note_and_sends_the_item_back(org, client_for, tmp_path):
    _awaiting(org, tmp_path)
    c = client_for(org.planner_a)
    url = f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi"
    res = c.post_form(url, {"decision": "reject"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 422 and "alasan" in res.text and "--note" not in res.text
    assert _rec("DINSOS-01").status == "awaiting_verification"
    res = c.post_form(url, {"decision": "reject", "note": "Foto tidak jelas"},
                      csrf_from="/kelola/verifikasi")
    assert res.status_code == 303 and _rec("DINSOS-01").status == "in_progress"


def test_only_planners_of_the_tree_verify(org, client_for, tmp_path):
    _awaiting(org, tmp_path)
    url = f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi"
    for person in (org.planner_b, org.leader, org.owner_a):
        c = client_for(person)
        res = c.post_form(url, {"decision": "accept"}, csrf_from="/masuk")
        assert res.status_code == 403, person.email
    assert _rec("DINSOS-01").status == "awaiting_verification"
    assert "DINSOS-01" not in client_for(org.planner_b).get("/kelola/verifikasi").text


def test_evidence_is_served_only_to_the_tree_and_the_owner(org, client_for, client, tmp_path):
    stored = _awaiting(org, tmp_path)
    url = f"/kelola/bukti/{stored}"
    assert client_for(org.planner_a).get(url).status_code == 200
    assert client_for(org.admin).get(url).status_code == 200
    assert client_for(org.leader).get(url).status_code == 200
    assert client_for(org.owner_a).get(url).status_code == 200  # signed in as the owner
    assert client_for(org.planner_b).get(url).status_code == 403
    assert client_for(org.owner_b).get(url).status_code == 403
    assert client.get(url, follow_redirects=False).status_code == 303
    assert client_for(org.admin).get("/kelola/bukti/..%2Ftindak.db").status_code == 404


def test_a_leader_reads_the_tree_but_changes_nothing(org, client_for):
    c = client_for(org.leader)
    assert "DUKCAPIL-01" in c.get("/kelola/rekomendasi").text
    page = c.get(f"/kelola/rekomendasi/{org.rec_a.id}").text
    assert 'action="/kelola/rekomendasi/' not in page  # no edit form for a leader
    res = c.post_form(f"/kelola/rekomendasi/{org.rec_a.id}", {
        "text": "x", "owner": org.owner_a.email, "deadline": "2026-05-01", "unit": "DINSOS"})
    assert res.status_code == 403
    assert c.get("/kelola/forum/baru").status_code == 403
    assert c.get("/kelola/impor").status_code == 403


REC_CSV = ("ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
           "IMP-1,FKP Impor,2026-02-02,DINSOS,Perbaiki papan informasi,sarana,{owner},+10 hk,high\n"
           "IMP-2,FKP Impor,2026-02-02,DINSOS,Survei kepuasan,evaluasi_kinerja,{owner},"
           "2026-06-30,normal\n")


def test_import_upload_writes_the_rows_and_reports_counts(org, client_for):
    c = client_for(org.admin)
    body = REC_CSV.format(owner=org.owner_a.email).encode()
    res = c.post_form("/kelola/impor", files=[("files", ("rekomendasi.csv", body, "text/csv"))],
                      csrf_from="/kelola/impor")
    assert res.status_code == 200, res.text
    assert _rec("IMP-1").deadline_rule == "+10 hk"
    assert "<td class=\"n\">2</td>" in res.text  # two created


def test_import_upload_dry_run_writes_nothing(org, client_for):
    c = client_for(org.admin)
    body = REC_CSV.format(owner=org.owner_a.email).encode()
    res = c.post_form("/kelola/impor", {"dry_run": "1"},
                      files=[("files", ("rekomendasi.csv", body, "text/csv"))],
                      csrf_from="/kelola/impor")
    assert res.status_code == 200
    with session() as s:
        assert s.execute(sa.select(Recommendation).where(
            Recommendation.ref == "IMP-1")).first() is None


def test_import_upload_lists_every_row_error_like_the_cli(org, client_for, tmp_path, capsys):
    from tindak.cli import main

    body = REC_CSV.format(owner="nobody@example.go.id").replace("2026-06-30", "31/02/2026")
    res = client_for(org.admin).post_form(
        "/kelola/impor", files=[("files", ("rekomendasi.csv", body.encode(), "text/csv"))],
        csrf_from="/kelola/impor")
    assert res.status_code == 422
    path = tmp_path / "rekomendasi.csv"
    path.write_text(body)
    assert main(["import", str(path)]) == 1
    cli_lines = [line.replace(str(path), "rekomendasi.csv")
                 for line in capsys.readouterr().err.splitlines() if ":" in line
                 and not line.startswith("kesalahan:")]
    assert cli_lines and all(line.startswith("rekomendasi.csv:") for line in cli_lines)
    import html

    shown = html.unescape(res.text)
    # Indonesian by default on both edges (issue 10.6): the same lines, in the same words.
    assert "31/02/2026' bukan tanggal yang ada" in shown
    assert "orang 'nobody@example.go.id' tidak dikenal" in shown
    for line in cli_lines:
        assert line in shown, line
    with session() as s:
        assert s.execute(sa.select(Recommendation).where(
            Recommendation.ref == "IMP-1")).first() is None


def test_import_upload_refuses_other_file_types_and_sub_unit_planners(org, client_for):
    res = client_for(org.admin).post_form(
        "/kelola/impor", files=[("files", ("data.exe", b"MZ", "application/octet-stream"))],
        csrf_from="/kelola/impor")
    assert res.status_code == 422
    body = REC_CSV.format(owner=org.owner_a.email).encode()
    res = client_for(org.planner_a).post_form(
        "/kelola/impor", files=[("files", ("rekomendasi.csv", body, "text/csv"))],
        csrf_from="/kelola/impor")
    assert res.status_code == 403


def test_the_queue_does_not_offer_a_planner_what_they_reported_done(org, client_for):
    """Segregation of duties on the web: the reporter sees the item set apart, waiting for
    another planner, with no form; a forged decision is refused; the other planner decides."""
    recs.update_rec("DINSOS-01", org.planner_a.email, status="awaiting_verification",
                    note="Loket dibuka, dilaporkan oleh perencana")
    c = client_for(org.planner_a)
    page = c.get("/kelola/verifikasi").text
    waiting = page.split("Menunggu perencana lain", 1)
    assert len(waiting) == 2 and "DINSOS-01" not in waiting[0]
    assert "DINSOS-01" in waiting[1] and "Anda yang melaporkannya selesai" in waiting[1]
    assert f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi" not in page
    assert f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi" not in c.get(
        f"/kelola/rekomendasi/{org.rec_a.id}").text
    res = c.post_form(f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi",
                      {"decision": "accept"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 403 and "perencana lain" in res.text
    assert _rec("DINSOS-01").status == "awaiting_verification"
    admin = client_for(org.admin)
    assert f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi" in admin.get(
        "/kelola/verifikasi").text
    res = admin.post_form(f"/kelola/rekomendasi/{org.rec_a.id}/verifikasi",
                          {"decision": "accept"}, csrf_from="/kelola/verifikasi")
    assert res.status_code == 303 and _rec("DINSOS-01").status == "completed"


def test_history_reads_the_decision_and_the_status_apart(org, client_for):
    recs.update_rec("DINSOS-01", org.owner_a.email, progress=100)
    recs.verify_rec("DINSOS-01", org.planner_a.email)
    page = client_for(org.planner_a).get(f"/kelola/rekomendasi/{org.rec_a.id}").text
    import html
    import re

    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # as the page reads, tags dropped
    assert re.search(r"memverifikasi:\s+Selesai sesuai rekomendasi", text)


# One rule, one place (tindak.itemrules): what the import refuses, the edit form refuses too.
RULE_CASES = [  # field, value, accepted by both
    ("owner", "pic@dukcapil.go.id", False),  # a person of a sibling unit's tree
    ("owner", "admin@pemkab.go.id", True),  # a person of the unit above
    ("deadline", "+300 hk", False),  # more than a year of working days
    ("deadline", "+20 hk", True),
    ("deadline", "2201-01-01", False),  # out of the years accepted
    ("deadline", "2025-12-31", False),  # before the forum
    ("category", "Jangka Waktu", True),
    ("priority", "tinggi", True),
    ("text", "=HYPERLINK(\"http://x\")", False),
]


def test_the_edit_form_and_the_import_accept_and_refuse_the_same_changes(org, client_for,
                                                                          tmp_path):
    from tindak.errors import ImportFailed
    from tindak.importer import import_files

    base = {"ref": "DINSOS-01", "forum": org.forum_a.title, "forum_date": "2026-01-12",
            "unit": "DINSOS", "text": "Perjelas prosedur", "category": "prosedur",
            "owner": org.owner_a.email, "deadline": "2030-06-28", "priority": "normal"}
    c = client_for(org.admin)
    url = f"/kelola/rekomendasi/{org.rec_a.id}"
    for field, value, accepted in RULE_CASES:
        row = {**base, field: value}
        path = tmp_path / "recommendations.csv"
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            w.writeheader()
            w.writerow(row)
        try:
            import_files([path], dry_run=True)
            imported = True
        except ImportFailed:
            imported = False
        before = _rec("DINSOS-01")
        res = c.post_form(url, {k: row[k] for k in ("text", "owner", "deadline", "unit",
                                                    "category", "priority")}, csrf_from=url)
        assert (imported, res.status_code == 303) == (accepted, accepted), (field, value)
        if not accepted:
            assert res.status_code == 422
            after = _rec("DINSOS-01")
            assert (after.owner_id, after.deadline, after.text) == (
                before.owner_id, before.deadline, before.text)


def test_the_import_is_offered_only_to_planners_who_may_import(org, client_for):
    admin = client_for(org.admin)
    assert 'href="/kelola/impor"' in admin.get("/kelola/rekomendasi").text
    assert admin.get("/kelola/impor").status_code == 200
    sub = client_for(org.planner_a)  # a planner of a unit below the top
    assert 'href="/kelola/impor"' not in sub.get("/kelola/rekomendasi").text
    res = sub.get("/kelola/impor")
    assert res.status_code == 403 and "hanya perencana unit teratas" in res.text
