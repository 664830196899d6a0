"""The moment a restore happens: the checked, staged database and evidence take the live ones'
place, or nothing changes.

The backup's evidence goes in beside the live files first, then the database is swapped in
one step (a rename of the SQLite file, one transaction renaming PostgreSQL schemas), then the
live files the backup lacks leave: at every instant, even after a kill -9, the database in
place finds every file it names. With --force over data, what is replaced is kept aside.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.db import dispose_engines
from tindak.backup.manifest import FILES, SQLITE_PIECE, Manifest
from tindak.backup.postgres import _pg_engine, _pg_load, _pg_target_schema, _pg_url
from tindak.backup.schema import _bring_up_to_date, _ident, _known_revisions
from tindak.backup.sqlite import _sqlite_copy, _sqlite_load, _sqlite_path, _sqlite_release
from tindak.errors import N_, InvalidInput


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp() -> str:
    return _now().strftime("%Y%m%d-%H%M%S")


def _keep_dir(home: Path) -> Path:
    """A new folder for the data a restore replaces: TINDAK_HOME/replaced-<when>."""
    base = home / f"replaced-{_stamp()}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _tree(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink()}


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        return hashlib.file_digest(fa, "sha256").digest() == hashlib.file_digest(
            fb, "sha256").digest()


class _Evidence:
    """The backup's evidence goes in beside the live files before the database is swapped,
    and the live files the backup lacks leave only after: at every instant, even after a
    kill -9, the database in place (the old or the restored) finds every file it names.
    Stored names are random, so the two sets only meet where they hold the same file."""

    def __init__(self, staged: Path, live: Path, keep: Path | None):
        if live.exists() and not live.is_dir():
            raise InvalidInput(N_("the evidence folder %(path)s is not a folder: nothing was "
                                  "changed"), path=str(live))
        new, old = _tree(staged), _tree(live)
        for rel in sorted(set(new) & set(old)):
            if not _same(new[rel], old[rel]):
                raise InvalidInput(N_("the evidence file %(name)s is in TINDAK_HOME and in "
                                      "the backup with other content: nothing was changed"),
                                   name=rel)
        self.stale = [old[rel] for rel in sorted(set(old) - set(new))]
        self.added: list[Path] = []
        try:
            if keep is not None:  # what is replaced stays readable in keep/files
                for rel, path in old.items():
                    dest = keep / FILES / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(path, dest)
                    except OSError:
                        shutil.copyfile(path, dest)
            for rel in sorted(set(new) - set(old)):
                target = live / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                part = target.with_name(f".{target.name}.restore-{secrets.token_hex(4)}")
                shutil.copyfile(new[rel], part)
                os.replace(part, target)  # a file appears whole or not at all
                self.added.append(target)
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        for path in self.added:
            path.unlink(missing_ok=True)

    def finish(self) -> None:
        for path in self.stale:
            path.unlink(missing_ok=True)


def _sqlite_swap(ready: str, live: Path) -> None:
    """The moment a SQLite restore happens: one rename."""
    os.replace(ready, live)


def _pg_swap(engine: Engine, staging: str, has_data: bool) -> str | None:
    """One transaction: the live schema steps aside (kept when it had data), staging takes
    its name. Locks first, so no write lands in the old tables during the swap."""
    with engine.begin() as conn:
        target = _pg_target_schema(conn)
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_namespace WHERE nspname = %(n)s", {"n": target}).first()
        kept = None
        if exists:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            names = sa.inspect(conn).get_table_names(schema=target)
            if names:
                conn.exec_driver_sql(
                    "LOCK TABLE " + ", ".join(f"{_ident(target)}.{_ident(n)}" for n in names)
                    + " IN ACCESS EXCLUSIVE MODE")
            if has_data:
                kept = f"{target[:40]}_replaced_{_stamp().replace('-', '_')}"
                conn.exec_driver_sql(f"ALTER SCHEMA {_ident(target)} RENAME TO {_ident(kept)}")
            else:
                conn.exec_driver_sql(f"DROP SCHEMA {_ident(target)} CASCADE")
        conn.exec_driver_sql(f"ALTER SCHEMA {_ident(staging)} RENAME TO {_ident(target)}")
    return kept


def _restore_sqlite(url: str, m: Manifest, work: Path, files_dir: Path, home: Path,
                    has_data: bool, say: Callable[[str], None]) -> tuple[str | None, int]:
    live = _sqlite_path(url)
    staged = work / "staged.db"
    _sqlite_load(m, work / "pieces", staged)
    unknown = _bring_up_to_date(sa.create_engine(f"sqlite:///{staged}",
                                                 poolclass=sa.pool.NullPool))
    _, head = _known_revisions()
    say(f"database checked ({m.rows} rows) and brought up to date (schema revision {head})")
    live.parent.mkdir(parents=True, exist_ok=True)
    # The staged file must sit on the database's own filesystem for an atomic rename.
    fd, ready = tempfile.mkstemp(dir=live.parent, prefix=f".{live.name}.restore-")
    os.close(fd)
    keep = None
    try:
        shutil.copyfile(staged, ready)
        dispose_engines()
        _sqlite_release(live)
        keep = _keep_dir(home) if has_data else None
        if keep is not None:
            keep.mkdir(parents=True)
            _sqlite_copy(live, keep / SQLITE_PIECE)
        evidence = _Evidence(work / "pieces" / FILES, files_dir, keep)
        try:
            _sqlite_swap(ready, live)
        except BaseException:
            evidence.undo()
            raise
        evidence.finish()
    except BaseException:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
        raise
    finally:
        Path(ready).unlink(missing_ok=True)
    return (str(keep) if keep else None), unknown


def _restore_pg(url: str, m: Manifest, work: Path, files_dir: Path, home: Path,
                has_data: bool, say: Callable[[str], None]) -> tuple[str | None, int]:
    u = _pg_url(url)
    staging = f"tindak_restore_{secrets.token_hex(6)}"
    engine = _pg_engine(u)
    try:
        try:
            _pg_load(u, m, work / "pieces", staging)
            unknown = _bring_up_to_date(_pg_engine(u, search_path=staging))
            _, head = _known_revisions()
            say(f"database loaded into a staging schema, checked ({m.rows} rows) and brought "
                f"up to date (schema revision {head})")
            dispose_engines()
            keep_dir = _keep_dir(home) if has_data else None
            evidence = _Evidence(work / "pieces" / FILES, files_dir, keep_dir)
            try:
                kept = _pg_swap(engine, staging, has_data)
            except BaseException:
                evidence.undo()
                if keep_dir is not None:
                    shutil.rmtree(keep_dir, ignore_errors=True)
                raise
            evidence.finish()
        except BaseException:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_ident(staging)} CASCADE")
            raise
    finally:
        engine.dispose()
    if kept is None:
        return (str(keep_dir) if keep_dir else None), unknown
    return f"schema {kept}" + (f" and {keep_dir}" if keep_dir else ""), unknown
