"""The report and the Berita Acara on the web (SPEC §8): planners and leaders download the
evaluator's report of their own tree; a top planner uploads a .docx on the import page."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl

from tests.test_berita_acara import berita_acara

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def refs(res) -> list[str]:  # type: ignore[no-untyped-def]
    book = openpyxl.load_workbook(io.BytesIO(res.content))
    return [row[3] for row in book["Rekomendasi"].iter_rows(min_row=2, values_only=True)]


def test_a_planner_downloads_the_report_of_their_tree_only(org, client_for) -> None:  # type: ignore[no-untyped-def]
    res = client_for(org.planner_a).get("/kelola/laporan.xlsx")
    assert res.status_code == 200 and res.headers["content-type"] == XLSX
    assert res.headers["content-disposition"] == (
        'attachment; filename="laporan-tindak-lanjut.xlsx"')
    assert refs(res) == ["DINSOS-01"]
    # Asking for another tree's unit gives nothing of it.
    assert refs(client_for(org.planner_a).get("/kelola/laporan.xlsx?unit=DUKCAPIL")) == []


def test_a_leader_downloads_the_pdf_of_the_whole_tree(org, client_for) -> None:  # type: ignore[no-untyped-def]
    leader = client_for(org.leader)
    assert "/kelola/laporan.pdf" in leader.get("/pimpinan").text
    res = leader.get("/kelola/laporan.pdf")
    assert res.status_code == 200 and res.content.startswith(b"%PDF")
    assert refs(leader.get("/kelola/laporan.xlsx")) == ["DINSOS-01", "DUKCAPIL-01"]


def test_the_public_and_owners_get_no_report(org, client) -> None:  # type: ignore[no-untyped-def]
    res = client.get("/kelola/laporan.xlsx", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/masuk")


def test_a_top_planner_imports_a_berita_acara_on_the_import_page(org, client_for,  # type: ignore[no-untyped-def]
                                                                  home) -> None:
    def document(second_owner: str) -> Path:
        return berita_acara(home / "ba.docx", [
            ("1", "Loket prioritas", "", "Desember 2026", "Siti Aminah"),
            ("2", "Papan informasi", "", "3 bulan", second_owner)],
            heading=("BERITA ACARA", "FKP DINAS SOSIAL 2026"), number="Nomor: 7/BA/2026",
            opening="Pada hari ini Senin tanggal dua belas bulan Januari tahun dua ribu dua "
                    "puluh enam, bertempat di Aula.")

    path = document("Dinas Sosal")  # a typo in the second row's owner
    admin = client_for(org.admin)
    page = "/kelola/impor"
    assert 'accept=".xlsx,.csv,.docx"' in admin.get(page).text
    res = admin.post_form(page, {}, files=[("files", ("ba.docx", path.read_bytes()))],
                          csrf_from=page)
    assert res.status_code == 422
    assert ("ba.docx:3: Penanggung Jawab: &#39;Dinas Sosal&#39; is not a registered unit or "
            "person (did you mean &#39;Dinas Sosial&#39;?)") in res.text
    fixed = document("Dinas Sosial")
    res = admin.post_form(page, {}, files=[("files", ("ba.docx", fixed.read_bytes()))],
                          csrf_from=page)
    assert res.status_code == 200, res.text
    assert refs(admin.get("/kelola/laporan.xlsx?unit=DINSOS")) == [
        "BA-7-BA-2026-01", "BA-7-BA-2026-02", "DINSOS-01"]
