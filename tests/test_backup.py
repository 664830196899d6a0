"""`tindak backup` and `tindak restore` on the suite's database (a SQLite file, or a
PostgreSQL schema when TINDAK_TEST_DATABASE_URL is set): everything comes back, a backup
taken under writes is consistent, and a bad backup changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import sqlite3
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from models import (
    Outbox,
    dispose_engines,
    get_engine,
    insert_messages,
    session,
    utcnow,
    write_session,
)
from tests.plugins.env import PG_URL
from tindak import holidays_admin, recs
from tindak.cli import main
from tindak.settings import get_settings, reset_settings

HOLIDAY = date(2026, 4, 15)  # a Wednesday that is no national holiday


def populate(make: Any, tmp_path: Path) -> dict[str, Any]:
    """Items, updates with an evidence file, a verification, a holiday, outbox rows."""
    unit = make.unit(code="DINSOS", name="Dinas Sosial")
    planner = make.person(email="perencana@dinsos.go.id", unit=unit, roles="planner")
    owner = make.person(email="pic@dinsos.go.id", unit=unit, supervisor=planner)
    forum = make.forum(unit=unit, title="FKP Dinas Sosial 2026")
    for i in (1, 2, 3):
        make.rec(ref=f"DINSOS-{i}", owner=owner, forum=forum, unit=unit)
    proof = tmp_path / "foto-loket.pdf"
    proof.write_bytes(b"%PDF-1.4 bukti loket\n" + os.urandom(4096))
    recs.update_rec("DINSOS-1", owner.email, progress=40, note="Loket khusus dibuka",
                    evidence=recs.Evidence(path=proof))
    recs.update_rec("DINSOS-2", owner.email, status="awaiting_verification", note="Selesai")
    recs.verify_rec("DINSOS-2", planner.email)
    holidays_admin.add_holiday(HOLIDAY, "Cuti bersama HUT Kabupaten", planner.email)
    with write_session() as s:
        insert_messages(s, [
            dict(key=f"test-{n}", kind="reminder", on_date=date(2026, 3, 9),
                 recipient=owner.email, cc="", subject=f"Pengingat {n}", body_text="Teks",
                 body_html="<p>Teks</p>", message_id=f"<{n}@tindak.test>", status=status,
                 attempts=1 if status != "pending" else 0, created_at=utcnow(),
                 sent_at=utcnow() if status == "sent" else None)
            for n, status in enumerate(("sent", "pending", "unknown"))])
    stored = recs.history("DINSOS-1")[0]["evidence_file"]
    return {"owner": owner, "planner": planner, "evidence": stored,
            "evidence_bytes": proof.read_bytes()}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    get_engine()
    out = {}
    with session() as s:
        for table in SQLModel.metadata.sorted_tables:
            rows = s.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def pg_schemas(like: str) -> set[str]:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.exec_driver_sql(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %(p)s", {"p": like})}
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def english(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the CLI's English words (Indonesian is the default)."""
    monkeypatch.setenv("TINDAK_LANGUAGE", "en")
    reset_settings()


@pytest.fixture
def fresh_home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[Callable[[str], Path]]:
    """fresh_home(name): switch TINDAK_HOME and the database to new, empty ones."""
    made: list[str] = [db_url.rsplit("%3D", 1)[-1]] if PG_URL else []

    def switch(name: str) -> Path:
        home = tmp_path / name
        home.mkdir()
        if PG_URL:
            schema = f"t_{secrets.token_hex(6)}"
            admin = sa.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            admin.dispose()
            made.append(schema)
            sep = "&" if "?" in PG_URL else "?"
            url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{home / 'tindak.db'}"
        monkeypatch.setenv("TINDAK_HOME", str(home))
        monkeypatch.setenv("TINDAK_DATABASE_URL", url)
        reset_settings()
        dispose_engines()
        return home

    yield switch
    dispose_engines()
    if PG_URL:
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            for schema in made[1:] + [k for s in made for k in pg_schemas(f"{s}_replaced_%")]:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def rewrite(src: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy a backup, passing each entry through `change` (None drops it)."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dest, "w:gz") as tout:
        for member in tin:
            f = tin.extractfile(member)
            data = change(member.name, f.read() if f else b"")
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


# ---------------------------------------------------------------- the round trip


def test_a_restore_into_a_fresh_home_brings_back_every_row_and_the_evidence(
        make, tmp_path, fresh_home, capsys):
    facts = populate(make, tmp_path)
    before = snapshot()
    target = tmp_path / "tindak.tar.gz"
    code, out, err = run(capsys, "backup", str(target))
    assert code == 0, err
    assert err == ""
    assert f"wrote {target}" in out and "personal data" in out
    assert "evidence files: 1" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # personal data: owner only

    home = fresh_home("restored")
    code, out, err = run(capsys, "restore", str(target))
    assert code == 0, err
    assert "match their sha256" in out
    assert "recommendation 3" in out and "audit_record " in out and "outbox 3" in out

    after = snapshot()
    assert after == before
    assert len(after["recommendation"]) == 3 and len(after["progress_update"]) == 3
    assert {r[-1] for r in after["progress_update"]} >= {"report", "verify"}
    assert [r.status for r in _outbox()] == ["sent", "pending", "unknown"]
    assert (home / "files" / facts["evidence"]).read_bytes() == facts["evidence_bytes"]
    assert recs.history("DINSOS-1")[0]["evidence_file"] == facts["evidence"]
    # The restored database is a working one: the next change goes on from there.
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=10)
    assert snapshot()["progress_update"][:3] == before["progress_update"]


def _outbox() -> list[Outbox]:
    with session() as s:
        return list(s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars())


def test_the_manifest_says_what_the_backup_holds(make, tmp_path, capsys):
    facts = populate(make, tmp_path)
    target = tmp_path / "b.tar.gz"
    assert run(capsys, "backup", str(target))[0] == 0
    with tarfile.open(target, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["format"] == "tindak-backup"
    assert manifest["schema_revision"] == "0002"
    assert manifest["dialect"] == ("postgresql" if PG_URL else "sqlite")
    assert manifest["tables"]["recommendation"] == 3 and manifest["tables"]["outbox"] == 3
    assert manifest["database"] in names and f"files/{facts['evidence']}" in names
    assert set(manifest["pieces"]) == set(names) - {"manifest.json"}
    assert all(len(p["sha256"]) == 64 for p in manifest["pieces"].values())


def test_backup_into_a_folder_writes_a_dated_file_and_never_overwrites(make, tmp_path, capsys):
    populate(make, tmp_path)
    folder = tmp_path / "backups"
    folder.mkdir()
    assert run(capsys, "backup", str(folder))[0] == 0
    [made] = list(folder.iterdir())
    assert made.name.startswith("tindak-backup-") and made.name.endswith(".tar.gz")
    code, _, err = run(capsys, "backup", str(made))
    assert code == 1 and "already exists" in err and err.count("\n") == 1
    assert run(capsys, "backup", str(made), "--force")[0] == 0
    assert [p.name for p in folder.iterdir()] == [made.name]  # no temporary files left
    code, _, err = run(capsys, "backup", str(tmp_path / "nowhere" / "b.tar.gz"))
    assert code == 1 and "does not exist" in err


# ---------------------------------------------------------------- consistency under writes


def test_backups_taken_while_another_thread_writes_are_consistent(make, tmp_path, fresh_home,
                                                                   capsys):
    facts = populate(make, tmp_path)
    owner = facts["owner"].email
    stop, errors, writes = threading.Event(), [], [0]

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:  # each update writes the item, a progress update and an audit record at once
                recs.update_rec("DINSOS-3", owner, progress=n % 99 + 1, note=f"langkah {n}")
                writes[0] += 1
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=writer)
    thread.start()
    backups, during = [], []
    try:
        while writes[0] < 5:
            stop.wait(0.01)
        for i in range(3):
            path = tmp_path / f"live-{i}.tar.gz"
            start = writes[0]
            assert run(capsys, "backup", str(path))[0] == 0
            during.append(writes[0] - start)
            backups.append(path)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert any(during), "no write landed while a backup ran: the test proved nothing"

    for i, path in enumerate(backups):
        fresh_home(f"restored-{i}")
        code, _, err = run(capsys, "restore", str(path))
        assert code == 0, err
        with session() as s:
            updates = s.execute(sa.text(
                "SELECT count(*) FROM progress_update pu JOIN recommendation r "
                "ON r.id = pu.recommendation_id WHERE r.ref = 'DINSOS-3'")).scalar()
            audits = s.execute(sa.text(
                "SELECT count(*) FROM audit_record WHERE entity_key = 'DINSOS-3' "
                "AND action = 'update'")).scalar()
            progress = s.execute(sa.text(
                "SELECT progress FROM recommendation WHERE ref = 'DINSOS-3'")).scalar()
            last = s.execute(sa.text(
                "SELECT pu.progress FROM progress_update pu JOIN recommendation r "
                "ON r.id = pu.recommendation_id WHERE r.ref = 'DINSOS-3' "
                "ORDER BY pu.id DESC LIMIT 1")).scalar()
        assert updates >= 5 and updates == audits
        assert progress == last


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("tamper", ["database", "evidence", "row counts", "extra file"])
def test_restore_refuses_a_tampered_backup_and_leaves_the_database_untouched(
        make, tmp_path, capsys, tamper):
    facts = populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=20)  # data newer than the backup
    before = snapshot()
    home = get_settings().home
    files_before = sorted(p.name for p in (home / "files").iterdir())

    def change(name: str, data: bytes) -> bytes:
        if tamper == "database" and name in ("tindak.db", "tindak.pgdump"):
            return flip_last_byte(data)
        if tamper == "evidence" and name.startswith("files/"):
            return flip_last_byte(data)
        if tamper == "row counts" and name == "manifest.json":
            m = json.loads(data)
            m["tables"]["audit_record"] -= 1
            return json.dumps(m).encode()
        return data

    bad = tmp_path / "bad.tar.gz"
    rewrite(good, bad, change)
    if tamper == "extra file":
        with tarfile.open(bad, "w:gz") as tout, tarfile.open(good, "r:gz") as tin:
            for member in tin:
                tout.addfile(member, tin.extractfile(member))
            info = tarfile.TarInfo("files/../../evil.sh")
            info.size = 3
            tout.addfile(info, io.BytesIO(b"hi\n"))

    code, out, err = run(capsys, "restore", str(bad), "--force")
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    expected = {"database": "sha256", "evidence": "sha256", "row counts": "altered",
                "extra file": "not a Tindak backup"}[tamper]
    assert expected in err
    dispose_engines()
    assert snapshot() == before
    assert sorted(p.name for p in (home / "files").iterdir()) == files_before
    assert not list(home.glob(".tindak-restore-*")) and not list(home.glob("replaced-*"))
    assert not (tmp_path / "evil.sh").exists()
    if PG_URL:
        assert not pg_schemas("tindak_restore_%")


def test_restore_refuses_what_is_not_a_backup(home, make, tmp_path, capsys):
    make.rec(ref="KEEP-1")
    before = snapshot()
    noise = tmp_path / "noise.tar.gz"
    noise.write_bytes(os.urandom(2000))
    no_manifest = tmp_path / "other.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    cases = {
        str(tmp_path / "missing.tar.gz"): "no backup at",
        str(noise): "cannot be read",
        str(no_manifest): "not a Tindak backup",
        str(tmp_path): "no backup at",
    }
    for path, expected in cases.items():
        code, _, err = run(capsys, "restore", path, "--force")
        assert code == 1, path
        assert expected in err and err.count("\n") == 1, err
    assert snapshot() == before


def test_restore_refuses_a_truncated_backup(make, tmp_path, capsys):
    populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0
    before = snapshot()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run(capsys, "restore", str(cut), "--force")
    assert code == 1 and err.count("\n") == 1
    assert "cannot be read" in err or "not a Tindak backup" in err
    assert snapshot() == before


def test_restore_refuses_a_backup_from_a_newer_tindak(make, tmp_path, capsys):
    populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0
    before = snapshot()

    def newer(name: str, data: bytes) -> bytes:
        if name == "manifest.json":
            m = json.loads(data)
            m["schema_revision"] = "0099_from_the_future"
            return json.dumps(m).encode()
        return data

    future = tmp_path / "future.tar.gz"
    rewrite(good, future, newer)
    code, _, err = run(capsys, "restore", str(future), "--force")
    assert code == 1
    assert "0099_from_the_future, newer than this Tindak" in err and "upgrade Tindak" in err
    assert snapshot() == before


def test_restore_refuses_the_other_kind_of_database(make, tmp_path, capsys):
    populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0

    def other(name: str, data: bytes) -> bytes:
        if name == "manifest.json":
            m = json.loads(data)
            m["dialect"] = "sqlite" if PG_URL else "postgresql"
            return json.dumps(m).encode()
        return data

    swapped = tmp_path / "other.tar.gz"
    rewrite(good, swapped, other)
    code, _, err = run(capsys, "restore", str(swapped), "--force")
    assert code == 1 and "backup but TINDAK_DATABASE_URL is" in err


def test_restore_over_data_needs_force_and_keeps_what_it_replaced(make, tmp_path, fresh_home,
                                                                   capsys):
    # fresh_home is asked for its clean-up: it drops the PostgreSQL schema kept aside.
    facts = populate(make, tmp_path)
    backed_up = snapshot()
    path = tmp_path / "b.tar.gz"
    assert run(capsys, "backup", str(path))[0] == 0
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=30, note="setelah backup")
    newer = snapshot()

    code, out, err = run(capsys, "restore", str(path))
    assert code == 1 and "already holds data" in err and "--force" in err
    assert snapshot() == newer

    code, out, err = run(capsys, "restore", str(path), "--force")
    assert code == 0, err
    assert "kept in" in out
    assert snapshot() == backed_up
    home = get_settings().home
    [kept] = list(home.glob("replaced-*"))
    assert (kept / "files" / facts["evidence"]).exists()
    if not PG_URL:  # SQLite keeps the replaced file; PostgreSQL keeps the renamed schema
        conn = sqlite3.connect(kept / "tindak.db")
        notes = [r[0] for r in conn.execute("SELECT note FROM progress_update")]
        conn.close()
        assert "setelah backup" in notes


def test_restore_refuses_a_database_piece_that_is_not_a_database(make, tmp_path, capsys):
    populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0
    before = snapshot()
    junk = b"not a database at all\n" * 100
    sums: dict[str, str] = {}

    def replace_db(name: str, data: bytes) -> bytes:
        if name in ("tindak.db", "tindak.pgdump"):
            sums[name] = hashlib.sha256(junk).hexdigest()
            return junk
        if name == "manifest.json":  # the manifest agrees, as a careful forger would make it
            m = json.loads(data)
            for piece, digest in sums.items():
                m["pieces"][piece]["sha256"] = digest
            return json.dumps(m).encode()
        return data

    forged = tmp_path / "forged.tar.gz"
    rewrite(good, forged, replace_db)  # the database entry comes before the manifest
    code, _, err = run(capsys, "restore", str(forged), "--force")
    assert code == 1 and err.count("\n") == 1 and "cannot be read" in err
    assert snapshot() == before
    if PG_URL:
        assert not pg_schemas("tindak_restore_%")
