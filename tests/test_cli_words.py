"""The CLI in the person's language, tables that fit the terminal without cutting a ref,
refs typed in any case, history in the unit's time, a future run refused, and every odd
argument refused at the edge in one line (issues 10.6, 10.7, 10.10, 11.4, 11.14)."""

from __future__ import annotations

import re
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from models import Notice, Recommendation, session
from tindak import forums, recs
from tindak.cli import args, main
from tindak.errors import InvalidInput

LONG_REFS = ["FKP-3404-2026-BAPPEDA-0001", "FKP-3404-2026-DINKES-RSUD-0002", "X-3"]


def one_line(capsys) -> str:  # type: ignore[no-untyped-def]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_cli_errors_are_indonesian_by_default_and_english_by_setting(make, capsys,
                                                                    settings_env):
    rec = make.rec()
    owner = next(recs.list_recs())["owner"]
    assert main(["recs", "update", rec.ref, "--by", owner, "--progress", "150"]) == 1
    assert one_line(capsys) == "kesalahan: progres harus antara 0 dan 100, bukan 150"
    assert main(["recs", "update", rec.ref, "--by", owner, "--status", "not_actionable"]) == 1
    assert one_line(capsys) == ("kesalahan: 'Tidak dapat ditindaklanjuti' (not_actionable) "
                                "memerlukan alasan: berikan dengan --note")
    settings_env(LANGUAGE="en")
    assert main(["recs", "update", rec.ref, "--by", owner, "--status", "not_actionable"]) == 1
    assert one_line(capsys) == "error: 'not_actionable' needs a reason: give it with --note"


def test_cli_output_is_indonesian_with_status_labels(make, capsys, settings_env):
    rec = make.rec()
    owner = next(recs.list_recs())["owner"]
    assert main(["recs", "update", rec.ref, "--by", owner, "--progress", "40"]) == 0
    assert capsys.readouterr().out == f"{rec.ref}: Dalam proses, 40%\n"
    assert main(["recs", "list"]) == 0
    out = capsys.readouterr().out
    assert "Dalam proses" in out and "in_progress" not in out and "(1 rekomendasi)" in out
    settings_env(LANGUAGE="en")
    assert main(["recs", "list"]) == 0
    out = capsys.readouterr().out
    assert "In progress" in out and "(1 item(s))" in out


@pytest.mark.parametrize("columns", ["60", "200"])
def test_recs_list_fits_the_terminal_and_never_cuts_a_ref(make, capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    for ref in LONG_REFS:
        make.rec(ref=ref, text="Penyediaan ruang tunggu yang layak bagi penyandang "
                 "disabilitas dan lansia di seluruh loket pelayanan " * 2)
    assert main(["recs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if not line.startswith("(")]
    assert max(map(len, table)) <= int(columns)
    for ref in LONG_REFS:
        assert any(line.startswith(ref + " ") for line in lines), (ref, lines)
    if columns == "60":  # the least needed columns are left out, and named
        assert any("tidak ditampilkan agar muat di terminal" in line for line in lines)


def test_recs_history_in_the_units_time_never_cuts_the_ref(make, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    unit = make.unit(timezone="Asia/Jayapura")
    owner = make.person(unit=unit)
    rec = make.rec(owner=owner, ref=LONG_REFS[1])
    recs.update_rec(rec.ref, by=owner.email, progress=30, note="Draf SOP disusun",
                    at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC))
    assert main(["recs", "history", rec.ref.lower()]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{rec.ref}: 1 pembaruan"
    assert "2026-03-02 10:30 WIT" in out and "UTC" not in out
    assert "Dalam" in out and "in_progress" not in out


def test_a_ref_typed_in_another_case_is_found(make, capsys):
    rec = make.rec(ref="FKP-3404-2026-01")
    owner = next(recs.list_recs())["owner"]
    assert main(["recs", "update", " fkp-3404-2026-01 ", "--by", owner, "--progress", "20"]) == 0
    assert capsys.readouterr().out.startswith("FKP-3404-2026-01: ")
    assert recs.history("Fkp-3404-2026-01")[0]["progress"] == 20
    assert main(["recs", "update", "FKP-9999", "--by", owner, "--progress", "20"]) == 1
    assert one_line(capsys) == "kesalahan: tidak ada rekomendasi bernomor 'FKP-9999'"
    with session() as s:
        assert s.get(Recommendation, rec.id).progress == 20


def test_a_run_dated_after_today_is_refused_and_records_nothing(make, capsys):
    make.rec(deadline=date.today() + timedelta(days=10))
    later = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    assert main(["run", "daily", "--as-of", later]) == 1
    err = one_line(capsys)
    assert err.startswith(f"kesalahan: --as-of {later} melewati hari ini") and \
        "--allow-future" in err
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Notice)).scalar() == 0


def test_today_in_the_units_furthest_east_is_not_the_future(make):
    from tindak.flowrun import check_as_of

    make.unit(timezone="Asia/Jayapura")
    # 20:00 UTC: already tomorrow in WIT (UTC+9), still today in WIB (UTC+7 → 03:00 next day)
    now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    check_as_of(date(2026, 12, 4), False, now)
    with pytest.raises(InvalidInput, match="after today"):
        check_as_of(date(2026, 12, 5), False, now)
    check_as_of(date(2026, 12, 5), True, now)  # --allow-future: demos and scratch databases


@pytest.mark.parametrize("argv, words", [
    (["recs", "list", "--as-of", ""], "--as-of kosong"),
    (["run", "daily", "--as-of", " "], "--as-of kosong"),
    (["recs", "list", "--as-of", "0001-01-01"], "di luar rentang"),
    (["holidays", "list", "--year", "0"], "--year 0 di luar rentang"),
    (["holidays", "list", "--year", "-5"], "--year -5 di luar rentang"),
    (["outbox", "retry", "99999999999999999999"], "bukan ID pesan"),
    (["outbox", "retry", "0"], "bukan ID pesan"),
    (["outbox", "list", "--format", "xml"], "format 'xml' tidak dikenal"),
    (["run", "daily", "--timezone", "WITT"], "zona waktu 'WITT' tidak dikenal"),
    (["web", "--port", "99999"], "--port 99999 bukan nomor port"),
    (["web", "--port", "0"], "--port 0 bukan nomor port"),
    (["serve", "--port", "70000"], "--port 70000 bukan nomor port"),
    (["recs", "list", "--status", "selesai"], "status 'selesai' tidak dikenal"),
    (["recs", "list", "--unit", "TIDAKADA"], "unit 'TIDAKADA' tidak dikenal"),
    (["holidays", "add", "", "X", "--by", "a@b.go.id"], "DATE kosong"),
    (["recs", "list", "--owner", "nobody@example.go.id"], "tidak ada orang dengan surel"),
    (["recs", "history", "\x1b[31mX"], "'\\x1b[31mX'"),  # a terminal escape, shown escaped
])
def test_odd_arguments_are_refused_in_one_line(home, capsys, argv, words):
    assert main(argv) == 1
    err = one_line(capsys)
    assert err.startswith("kesalahan: ") and words in err, err
    assert "OverflowError" not in err


def test_timezones_by_their_abbreviations_in_any_case():
    assert args.timezones(["wit", "WIB", "Asia/Makassar"]) == [
        "Asia/Jakarta", "Asia/Jayapura", "Asia/Makassar"]


def test_a_port_in_use_is_one_line(home, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["web", "--port", str(port)]) == 1
    err = one_line(capsys)
    assert f"tidak dapat mendengarkan di 127.0.0.1:{port}" in err and "--port" in err


def test_a_long_evidence_link_is_refused_on_every_database(make, capsys):
    rec = make.rec()
    owner = next(recs.list_recs())["owner"]
    url = "https://example.go.id/" + "a" * 3000
    assert main(["recs", "update", rec.ref, "--by", owner, "--evidence", url]) == 1
    assert "tautan bukti panjangnya 3022 karakter; paling banyak 2000" in one_line(capsys)
    assert recs.history(rec.ref) == []


def test_an_unwritable_home_says_so(tmp_path, monkeypatch, capsys, home):
    # Root may write anywhere: a home that is a file cannot hold a database either.
    ro = tmp_path / "not-a-folder"
    ro.write_text("")
    monkeypatch.setenv("TINDAK_HOME", str(ro))
    monkeypatch.setenv("TINDAK_DATABASE_URL", f"sqlite:///{ro / 'tindak.db'}")
    from models import dispose_engines
    from tindak.settings import reset_settings

    reset_settings()
    dispose_engines()
    assert main(["recs", "list"]) == 1
    err = one_line(capsys)
    assert err.startswith(f"kesalahan: {ro} tidak dapat dipakai: ") and "TINDAK_HOME" in err
    assert "FileExistsError" not in err


def test_the_web_form_caps_working_days_like_the_import(org):
    with pytest.raises(forums.FormErrors) as caught:
        forums.add_rec(org.forum_a.id, {"text": "X", "owner": org.owner_a.email,
                                        "deadline": "+9999 hk"}, by=org.admin.email)
    assert caught.value.fields["deadline"] == forums.TOO_MANY_HK


def test_import_error_lines_are_indonesian_by_default(home, tmp_path, capsys):
    path = tmp_path / "units.csv"
    path.write_text("code,name,timezone\nDINSOS,Dinas Sosial,WIX\n")
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:2: timezone: zona waktu 'WIX' tidak dikenal (salah satu dari: " \
                     "Asia/Jakarta, Asia/Makassar, Asia/Jayapura, atau WIB, WITA, WIT)"
    assert re.match(r"kesalahan: impor ditolak: 1 kesalahan", err[1])


@pytest.mark.parametrize("columns", ["60", "200"])
def test_outbox_list_fits_the_terminal_and_shows_ids_whole(home, capsys, monkeypatch,
                                                          columns):
    from models import Outbox, write_session

    monkeypatch.setenv("COLUMNS", columns)
    with write_session() as s:
        for n in range(3):
            s.add(Outbox(key=f"k{n}", kind="reminder", on_date=date(2026, 3, 2),
                         recipient=f"budi.santoso.{n}@dinas-sosial.example.go.id",
                         subject="Pengingat: 3 rekomendasi menunggu tindak lanjut Anda " * 2,
                         message_id=f"<m{n}@x>", status="failed", attempts=2,
                         last_error="550 5.1.1 mailbox unavailable " * 4))
    assert main(["outbox", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines if not line.startswith("(")) <= int(columns)
    rows = [line.split() for line in lines[2:] if line[:1] == " " or line[:1].isdigit()]
    assert [r[:2] for r in rows if r and r[0].isdigit()] == [
        [str(i), "failed"] for i in (1, 2, 3)]
    assert lines[-1] == "(3 pesan)"


def test_the_web_form_refuses_a_ref_that_differs_only_in_case(org):
    with pytest.raises(forums.FormErrors) as caught:
        forums.add_rec(org.forum_a.id, {"ref": org.rec_a.ref.lower(), "text": "X",
                                        "owner": org.owner_a.email, "deadline": "+5 hk"},
                       by=org.admin.email)
    assert caught.value.fields == {"ref": forums.DUPLICATE_REF}
