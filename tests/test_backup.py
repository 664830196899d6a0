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


def good_backup(make: Any, tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, Any]]:
    """A populated database backed up to good.tar.gz: (the backup, `populate`'s facts)."""
    facts = populate(make, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert run(capsys, "backup", str(good))[0] == 0
    return good, facts


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


def manifest_with(**fields: object) -> Callable[[str, bytes], bytes]:
    """A `rewrite` change that sets these fields of the manifest, every other entry kept."""
    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return json.dumps({**json.loads(data), **fields}).encode()
    return change


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
    assert manifest["schema_revision"] == backup_head()
    assert manifest["dialect"] == ("postgresql" if PG_URL else "sqlite")
    assert manifest["tables"]["recommendation"] == 3 and manifest["tables"]["outbox"] == 3
    assert manifest["format_version"] == 2
    ext = "copy" if PG_URL else "jsonl"
    # Data only, one piece per table: no database file or dump that could carry a schema.
    assert {n for n in names if n.startswith("data/")} == {
        f"data/{t}.{ext}" for t in manifest["tables"]}
    assert "tindak.db" not in names and "tindak.pgdump" not in names
    assert "title" in manifest["columns"]["forum"]
    assert f"files/{facts['evidence']}" in names
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
    good, facts = good_backup(make, tmp_path, capsys)
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=20)  # data newer than the backup
    before = snapshot()
    home = get_settings().home
    files_before = sorted(p.name for p in (home / "files").iterdir())

    def change(name: str, data: bytes) -> bytes:
        if tamper == "database" and name.startswith("data/recommendation."):
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
    good, _ = good_backup(make, tmp_path, capsys)
    before = snapshot()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run(capsys, "restore", str(cut), "--force")
    assert code == 1 and err.count("\n") == 1
    assert "cannot be read" in err or "not a Tindak backup" in err
    assert snapshot() == before


def test_restore_refuses_a_backup_from_a_newer_tindak(make, tmp_path, capsys):
    good, _ = good_backup(make, tmp_path, capsys)
    before = snapshot()

    future = tmp_path / "future.tar.gz"
    rewrite(good, future, manifest_with(schema_revision="0099_from_the_future"))
    code, _, err = run(capsys, "restore", str(future), "--force")
    assert code == 1
    assert "0099_from_the_future, newer than this Tindak" in err and "upgrade Tindak" in err
    assert snapshot() == before


def test_restore_refuses_the_other_kind_of_database(make, tmp_path, capsys):
    good, _ = good_backup(make, tmp_path, capsys)

    swapped = tmp_path / "other.tar.gz"
    rewrite(good, swapped, manifest_with(dialect="sqlite" if PG_URL else "postgresql"))
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
    good, _ = good_backup(make, tmp_path, capsys)
    before = snapshot()
    junk = b"not a database at all\n" * 100
    sums: dict[str, str] = {}

    def replace_db(name: str, data: bytes) -> bytes:
        if name.startswith("data/recommendation."):
            sums[name] = hashlib.sha256(junk).hexdigest()
            return junk
        if name == "manifest.json":  # the manifest agrees, as a careful forger would make it
            m = json.loads(data)
            for piece, digest in sums.items():
                m["pieces"][piece]["sha256"] = digest
                m["pieces"][piece]["size"] = len(junk)
            return json.dumps(m).encode()
        return data

    forged = tmp_path / "forged.tar.gz"
    rewrite(good, forged, replace_db)  # the database entry comes before the manifest
    code, _, err = run(capsys, "restore", str(forged), "--force")
    assert code == 1 and err.count("\n") == 1
    assert "cannot be read" in err or "altered" in err
    assert snapshot() == before
    if PG_URL:
        assert not pg_schemas("tindak_restore_%")


# ---------------------------------------------------------------- hostile archives
# A backup is untrusted input: whoever can write the file chooses every byte of it.


def forge(good: Path, dest: Path, extra: list[tuple[tarfile.TarInfo, bytes]] = (),
          listed: bool = True, edit: Callable[[dict], None] | None = None,
          first: bool = False, drop: str = "") -> None:
    """A copy of `good` with `extra` entries before the manifest (or, `first`, before all);
    `listed` puts them in the manifest with a correct sha256 (as a forger would); `edit`
    changes the manifest; entries whose names start with `drop` are left out of both."""
    with tarfile.open(good, "r:gz") as tin, tarfile.open(dest, "w:gz") as tout:
        members = [(m, tin.extractfile(m).read()) for m in tin]  # type: ignore[union-attr]
        manifest = json.loads(next(d for m, d in members if m.name == "manifest.json"))
        ours = [(m, d) for m, d in members if m.name != "manifest.json"
                and not (drop and m.name.startswith(drop))]
        for name in [n for n in manifest["pieces"] if drop and n.startswith(drop)]:
            del manifest["pieces"][name]
        for info, data in (list(extra) + ours if first else ours + list(extra)):
            if info.isreg():
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
            if listed and (info, data) in extra:
                manifest["pieces"][info.name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                                 "size": len(data)}
        if edit:
            edit(manifest)
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tout.addfile(info, io.BytesIO(raw))


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o600
    return info


def assert_refused_and_untouched(capsys, path: Path, before: dict, files_before: list[str],
                                 expected: str) -> str:
    code, _, err = run(capsys, "restore", str(path), "--force")
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err, err
    dispose_engines()
    assert snapshot() == before
    home = get_settings().home
    assert sorted(str(p.relative_to(home / "files"))
                  for p in (home / "files").rglob("*")) == files_before
    assert not list(home.glob(".tindak-restore-*")) and not list(home.glob("replaced-*"))
    if PG_URL:
        assert not pg_schemas("tindak_restore_%")
    return err


def backed_up(make: Any, tmp_path: Path, capsys) -> tuple[Path, dict, list[str]]:
    """A good backup, then live data newer than it: what a bad restore must not touch."""
    good, facts = good_backup(make, tmp_path, capsys)
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=20)
    files = get_settings().home / "files"
    return good, snapshot(), sorted(str(p.relative_to(files)) for p in files.rglob("*"))


def test_a_piece_named_files_is_refused_before_the_live_evidence_moves(make, tmp_path, capsys):
    # Issue 11, finding 2: this archive once moved TINDAK_HOME/files aside, then failed.
    good, before, files_before = backed_up(make, tmp_path, capsys)
    bad = tmp_path / "files-is-a-file.tar.gz"
    # Its own evidence left out, so that nothing else needs a folder named files.
    forge(good, bad, [(entry("files"), b"not a folder\n")], drop="files/")
    assert_refused_and_untouched(capsys, bad, before, files_before, "not a Tindak backup")


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "absolute", "dotdot", "device",
                                  "duplicate", "fifo"])
def test_links_devices_odd_names_and_duplicates_are_refused(make, tmp_path, capsys, kind):
    good, before, files_before = backed_up(make, tmp_path, capsys)
    with tarfile.open(good, "r:gz") as tar:
        evidence = next(n for n in tar.getnames() if n.startswith("files/"))
        evidence_bytes = tar.extractfile(evidence).read()  # type: ignore[union-attr]
    extra = {
        "symlink": (entry("files/link.pdf", tarfile.SYMTYPE, "/etc/passwd"), b""),
        "hardlink": (entry("files/hard.pdf", tarfile.LNKTYPE, "manifest.json"), b""),
        "absolute": (entry(str(tmp_path / "evil.sh")), b"echo hi\n"),
        "dotdot": (entry("files/../../evil.sh"), b"echo hi\n"),
        "device": (entry("files/dev", tarfile.CHRTYPE), b""),
        "fifo": (entry("files/fifo", tarfile.FIFOTYPE), b""),
        "duplicate": (entry(evidence), evidence_bytes),  # the same name twice, same content
    }[kind]
    bad = tmp_path / f"{kind}.tar.gz"
    forge(good, bad, [extra], listed=kind not in ("duplicate",))
    expected = {"symlink": "link or a device", "hardlink": "link or a device",
                "device": "link or a device", "fifo": "link or a device",
                "duplicate": "appears twice"}.get(kind, "unsafe entry")
    assert_refused_and_untouched(capsys, bad, before, files_before, expected)
    assert not (tmp_path / "evil.sh").exists()


def test_an_entry_claiming_more_bytes_than_the_disk_has_is_refused_before_it_is_read(
        make, tmp_path, capsys):
    good, before, files_before = backed_up(make, tmp_path, capsys)
    bomb = tmp_path / "bomb.tar.gz"
    huge = entry("files/huge.bin")
    huge.size = 10 ** 15  # a petabyte, said by the header; only a few bytes follow
    with tarfile.open(good, "r:gz") as tin, tarfile.open(bomb, "w:gz",
                                                          format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            tout.addfile(member, tin.extractfile(member))
        tout.fileobj.write(huge.tobuf(tarfile.PAX_FORMAT))  # type: ignore[union-attr]
        tout.fileobj.write(b"\0" * 4096)  # type: ignore[union-attr]
    assert_refused_and_untouched(capsys, bomb, before, files_before, "room for")


def test_a_manifest_naming_a_table_tindak_does_not_have_is_refused(make, tmp_path, capsys):
    good, before, files_before = backed_up(make, tmp_path, capsys)
    name = "data/evil." + ("copy" if PG_URL else "jsonl")
    row = b"1\n" if PG_URL else b"[1]\n"

    def lie(m: dict) -> None:
        m["tables"]["evil"] = 1
        m["columns"]["evil"] = ["id"]

    bad = tmp_path / "unknown-table.tar.gz"
    forge(good, bad, [(entry(name), row)], edit=lie)
    err = assert_refused_and_untouched(capsys, bad, before, files_before, "table evil")
    assert "does not have" in err


def test_a_manifest_whose_sizes_lie_is_refused(make, tmp_path, capsys):
    good, before, files_before = backed_up(make, tmp_path, capsys)

    def lie(m: dict) -> None:
        for piece in m["pieces"].values():
            piece["size"] += 1

    bad = tmp_path / "sizes.tar.gz"
    forge(good, bad, edit=lie)
    assert_refused_and_untouched(capsys, bad, before, files_before, "size")


# ---------------------------------------------------------------- in flight when backed up


def test_messages_in_flight_when_the_backup_was_taken_are_unknown_and_not_resent(
        make, tmp_path, fresh_home, capsys, smtp_settings):
    # Issue 11, finding 3: the lost-machine case sent these a second time.
    from tindak import outbox

    populate(make, tmp_path)
    with write_session() as s:  # a delivery run was handing these two to the server
        for n, status in ((10, "claimed"), (11, "sending")):
            insert_messages(s, [dict(
                key=f"flight-{n}", kind="reminder", on_date=date(2026, 3, 9),
                recipient="pic@dinsos.go.id", cc="", subject=f"Dalam pengiriman {n}",
                body_text="Teks", body_html="<p>Teks</p>", message_id=f"<{n}@tindak.test>",
                status=status, attempts=0, claimed_by="run-1",
                claimed_at=utcnow().replace(year=2025), created_at=utcnow())])
    path = tmp_path / "b.tar.gz"
    assert run(capsys, "backup", str(path))[0] == 0

    fresh_home("lost-machine")
    code, out, err = run(capsys, "restore", str(path))
    assert code == 0, err
    assert "2 message(s) were being delivered" in out and "not resent" in out
    outbox.deliver()
    subjects = [str(m["Subject"]) for m in smtp_settings.messages]
    assert "Pengingat 1" in subjects  # the pending one goes out: delivery works
    assert not [s for s in subjects if s.startswith("Dalam pengiriman")]
    assert {r.key: r.status for r in _outbox()}["flight-10"] == "unknown"
    assert {r.key: r.status for r in _outbox()}["flight-11"] == "unknown"


# ---------------------------------------------------------------- backups of format 1


def v1_archive(dest: Path, database: str, db_file: Path, dialect: str, extra: dict) -> None:
    """A backup as Tindak wrote it before format 2: a whole database file, or a pg_dump."""
    home = get_settings().home
    files = sorted(p for p in (home / "files").rglob("*") if p.is_file())
    pieces, entries = {}, [(database, db_file)] + [
        (f"files/{p.relative_to(home / 'files').as_posix()}", p) for p in files]
    with tarfile.open(dest, "w:gz") as tar:
        for name, p in entries:
            data = p.read_bytes()
            pieces[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            tar.add(p, arcname=name)
        counts = {t: n for t, n in live_counts().items()}
        raw = json.dumps({"format": "tindak-backup", "format_version": 1, "dialect": dialect,
                          "schema_revision": backup_head(), "tables": counts, "pieces": pieces,
                          "database": database, "created_at": "2026-03-09T10:00:00Z",
                          "tindak_version": "0.9", **extra}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))


def live_counts() -> dict[str, int]:
    with session() as s:
        return {t.name: s.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in SQLModel.metadata.sorted_tables}


@pytest.mark.skipif(bool(PG_URL), reason="a SQLite file")
def test_an_old_sqlite_backup_comes_back_without_the_triggers_and_views_it_carries(
        make, tmp_path, fresh_home, capsys):
    facts = populate(make, tmp_path)
    before = snapshot()
    src = tmp_path / "old.db"
    live = sqlite3.connect(get_settings().db_url.split("///", 1)[1])
    copy = sqlite3.connect(src)
    live.backup(copy)
    live.close()
    # A trigger fires on later writes, long after the restore: it must not come along.
    copy.executescript(
        "CREATE TRIGGER pwn AFTER INSERT ON progress_update BEGIN "
        "UPDATE recommendation SET text = 'DIRETAS'; END;"
        "CREATE VIEW pwn_view AS SELECT * FROM person;")
    copy.execute("PRAGMA journal_mode=DELETE")
    copy.close()
    old = tmp_path / "old.tar.gz"
    v1_archive(old, "tindak.db", src, "sqlite", {})

    fresh_home("restored")
    code, out, err = run(capsys, "restore", str(old))
    assert code == 0, err
    assert snapshot() == before  # an old backup still comes back whole
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=50, note="sesudah pemulihan")
    with session() as s:
        texts = set(s.execute(sa.text("SELECT text FROM recommendation")).scalars())
        foreign = s.execute(sa.text("SELECT name FROM sqlite_master WHERE name LIKE 'pwn%'")
                            ).scalars().all()
    assert "DIRETAS" not in texts
    assert foreign == []


@pytest.mark.skipif(not PG_URL, reason="a pg_dump archive")
def test_an_old_pg_dump_backup_brings_back_its_rows_and_the_code_it_carries_never_runs(
        make, tmp_path, fresh_home, capsys):
    # Issue 11, finding 1: a CHECK calling plpgsql ran with the restoring role's rights.
    import subprocess

    populate(make, tmp_path)
    before = snapshot()
    schema = get_settings().db_url.rsplit("%3D", 1)[-1]
    trap = f"pwn_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {trap}; CREATE TABLE {trap}.hits (who text)")
            conn.exec_driver_sql(
                f"CREATE FUNCTION {schema}.pwn() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
                f"INSERT INTO {trap}.hits VALUES (current_user); RETURN true; END $$")
            conn.exec_driver_sql(f"ALTER TABLE {schema}.unit ADD CONSTRAINT pwn "
                                 f"CHECK ({schema}.pwn())")
            conn.exec_driver_sql(f"TRUNCATE {trap}.hits")
        dump = tmp_path / "tindak.pgdump"
        libpq = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                        f"--schema={schema}", f"--file={dump}", f"--dbname={libpq}"],
                       check=True)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {schema}.unit DROP CONSTRAINT pwn")
        old = tmp_path / "old.tar.gz"
        v1_archive(old, "tindak.pgdump", dump, "postgresql",
                   {"pg_schema": schema, "pg_dump": "15", "pg_server": "15"})

        fresh_home("restored")
        code, _, err = run(capsys, "restore", str(old))
        assert code == 0, err
        assert snapshot() == before  # the rows come back; the dump's SQL never ran
        restored = get_settings().db_url.rsplit("%3D", 1)[-1]
        with admin.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {trap}.hits").scalar() == 0
            assert not conn.exec_driver_sql(
                "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE p.proname = 'pwn' AND n.nspname = %(s)s", {"s": restored}).first()
        recs.update_rec("DINSOS-3", "pic@dinsos.go.id", progress=70)  # a unit row is checked
        with admin.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {trap}.hits").scalar() == 0
        assert not pg_schemas("tindak_restore_%")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {trap} CASCADE")
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {schema}.pwn()")
        admin.dispose()


# ---------------------------------------------------------------- kill -9 mid-way

KILLED_RESTORE = """
import os, signal, sys
import tindak.backup.swap as b
name = "_sqlite_swap" if os.environ["TINDAK_DATABASE_URL"].startswith("sqlite") else "_pg_swap"
swap = getattr(b, name)
def killed(*args):  # a real SIGKILL, just before or just after the database swap
    if sys.argv[2] == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    swap(*args)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(b, name, killed)
from tindak.cli import main
sys.exit(main(["restore", sys.argv[1], "--force"]))
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_restore_killed_mid_way_leaves_a_database_that_finds_all_its_evidence(
        make, tmp_path, capsys, when):
    import subprocess
    import sys

    facts = populate(make, tmp_path)
    backed = snapshot()
    path = tmp_path / "b.tar.gz"
    assert run(capsys, "backup", str(path))[0] == 0
    newer = tmp_path / "newer.pdf"
    newer.write_bytes(b"%PDF-1.4 sesudah\n")
    recs.update_rec("DINSOS-3", facts["owner"].email, progress=60,
                    evidence=recs.Evidence(path=newer))  # a file the backup lacks
    live = snapshot()
    dispose_engines()
    done = subprocess.run([sys.executable, "-c", KILLED_RESTORE, str(path), when],
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    dispose_engines()
    assert snapshot() == (live if when == "before" else backed)
    files = get_settings().home / "files"
    with session() as s:
        named = s.execute(sa.text("SELECT evidence_file FROM progress_update "
                                  "WHERE evidence_file IS NOT NULL")).scalars().all()
    assert named and all((files / n).is_file() for n in named)
    assert (files / facts["evidence"]).read_bytes() == facts["evidence_bytes"]
    if PG_URL:  # what the killed run left behind is not live; drop it like an admin would
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            for schema in pg_schemas("tindak_restore_%"):
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            schema = get_settings().db_url.rsplit("%3D", 1)[-1]
            for kept in pg_schemas(f"{schema}_replaced_%"):
                conn.exec_driver_sql(f'DROP SCHEMA "{kept}" CASCADE')
        admin.dispose()


# ---------------------------------------------------------------- an older schema revision


def test_a_backup_at_an_older_revision_is_loaded_there_then_brought_up_to_date(
        tmp_path, fresh_home, capsys):
    from models.outbox import message_body
    from tindak import backup as backup_module

    fresh_home("old-tindak")
    url = get_settings().db_url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    backup_module._migrate(engine, "0001")  # the schema as the first release made it
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO outbox (key, kind, on_date, recipient, cc, subject, body_text, "
            "body_html, message_id, attachments, status, attempts, created_at) VALUES "
            "('old-1', 'reminder', '2026-03-09', 'pic@dinsos.go.id', '', 'Pengingat lama', "
            "'Teks lama', '<p>Teks lama</p>', '<old-1@tindak.test>', '[]', :status, 0, "
            "'2026-03-09 10:00:00')"), [{"status": "sent"}])
    engine.dispose()
    path = tmp_path / "old.tar.gz"
    made = backup_module.backup(path)
    assert made.manifest.schema_revision == "0001"

    fresh_home("new-tindak")
    code, out, err = run(capsys, "restore", str(path))
    assert code == 0, err
    assert f"schema revision {backup_head()}" in out
    with get_engine().connect() as conn:
        [row] = _outbox()
        assert (row.key, row.status) == ("old-1", "sent")
        assert message_body(conn, row.id).body_text == "Teks lama"


def test_rows_that_refer_to_rows_the_backup_lacks_are_refused(make, tmp_path, capsys):
    good, before, files_before = backed_up(make, tmp_path, capsys)
    piece = "data/progress_update." + ("copy" if PG_URL else "jsonl")
    with tarfile.open(good, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        lines = tar.extractfile(piece).read().splitlines()  # type: ignore[union-attr]
    cols = manifest["columns"]["progress_update"]
    at, ref = cols.index("id"), cols.index("recommendation_id")
    if PG_URL:
        fields = lines[0].split(b"\t")
        fields[at], fields[ref] = b"9001", b"9999"
        extra = b"\t".join(fields)
    else:
        row = json.loads(lines[0])
        row[at], row[ref] = 9001, 9999  # an update of an item that is not in the backup
        extra = json.dumps(row).encode()
    forged = b"\n".join(lines + [extra]) + b"\n"

    def change(name: str, data: bytes) -> bytes:
        if name == piece:
            return forged
        if name == "manifest.json":  # the manifest agrees, as a careful forger would make it
            m = json.loads(data)
            m["pieces"][piece] = {"sha256": hashlib.sha256(forged).hexdigest(),
                                  "size": len(forged)}
            m["tables"]["progress_update"] += 1
            return json.dumps(m).encode()
        return data

    bad = tmp_path / "dangling.tar.gz"
    rewrite(good, bad, change)
    err = assert_refused_and_untouched(capsys, bad, before, files_before, "backup")
    assert "refer to rows" in err or "foreign key" in err


def backup_head() -> str:
    from tindak.backup import _known_revisions

    return str(_known_revisions()[1])
