"""The two entry points, `backup` and `restore`: each one pass, from the settings to a result.

`backup` writes the database's rows (one snapshot) and then the evidence files into a new
archive that appears under its name only once whole. `restore` checks the archive whole
(headers, manifest, revision, database kind, every sha256) before it touches anything live,
refuses to replace data without `force`, and hands the checked pieces to `tindak.backup.swap`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from models.db import dispose_engines, is_sqlite
from tindak.backup.archive import (
    _evidence_files,
    _extract,
    _match,
    _open_archive,
    _read_manifest,
    _reading,
    _scan,
    _size,
    _write,
)
from tindak.backup.manifest import FILES, FORMAT, Manifest, data_piece
from tindak.backup.postgres import _pg_dump, _pg_live_counts, _pg_url
from tindak.backup.schema import _check_revision
from tindak.backup.sqlite import _sqlite_counts, _sqlite_path, _sqlite_snapshot
from tindak.backup.swap import _now, _restore_pg, _restore_sqlite
from tindak.errors import N_, ConfigError, InvalidInput, NotFound
from tindak.settings import get_settings

# What a restore may fill of TINDAK_HOME's free space: pieces, then a staged database.
SPACE_SHARE = 0.45

Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


def _dialect(url: str) -> str:
    if is_sqlite(url):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise ConfigError(N_("backups support SQLite and PostgreSQL, not %(kind)s"),
                      kind=url.split(":", 1)[0])


def _counts_line(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(tables.items()))


def _live_counts(url: str) -> dict[str, int]:
    if is_sqlite(url):
        path = _sqlite_path(url)
        return _sqlite_counts(path) if path.exists() else {}
    return _pg_live_counts(_pg_url(url))


def _destination(path: Path, force: bool, when: datetime) -> Path:
    if path.is_dir():
        path = path / f"tindak-backup-{when.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    if not path.parent.is_dir():
        raise NotFound(N_("folder %(path)s does not exist"), path=str(path.parent))
    if path.exists() and not force:
        raise InvalidInput(N_("%(path)s already exists: give another name, or --force to "
                              "replace it"), path=str(path))
    return path


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    size: int


def backup(path: Path, force: bool = False, say: Say = _quiet) -> BackupResult:
    """Write a backup of the database and the evidence files to `path` (a file or a folder)."""
    settings = get_settings()
    url = settings.db_url
    dialect = _dialect(url)
    when = _now()
    dest = _destination(Path(path), force, when)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tindak-backup-") as tmp:
        work = Path(tmp)
        if dialect == "sqlite":
            src = _sqlite_path(url)
            fields, data = _sqlite_snapshot(src, work)
            where = f"SQLite {src}, schema revision {fields['schema_revision']}"
        else:
            fields, data = _pg_dump(_pg_url(url), work)
            where = (f"PostgreSQL {fields['pg_server']}, schema {fields['pg_schema']} at "
                     f"revision {fields['schema_revision']}")
        tables = fields["tables"]
        say(f"database: {where}: {sum(tables.values())} rows in {len(tables)} tables, read in "
            "one snapshot")
        # Files after the database: every file the copied rows name was written before them.
        files = _evidence_files(settings.files_dir)
        fields.update(format=FORMAT, created_at=when.isoformat().replace("+00:00", "Z"))
        entries = [(data_piece(dialect, t), p) for t, p in data.items()] + files
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=".tindak-backup-", suffix=".part")
        os.close(fd)  # mkstemp made it 0600: a backup holds personal data
        try:
            m = _write(part, entries, int(when.timestamp()), fields)
            os.replace(part, dest)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    total = sum(p.size for n, p in m.pieces.items() if n.startswith(FILES + "/"))
    say(f"evidence files: {len(files)} ({_size(total)})")
    size = dest.stat().st_size
    say(f"wrote {dest} ({_size(size)}); it holds personal data: keep it where only "
        "administrators can read it")
    return BackupResult(dest, m, size)


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    tables: dict[str, int]
    kept: str | None  # where the data that was replaced now is (only with --force over data)
    unknown: int = 0  # messages caught in flight, now 'unknown'


def restore(path: Path, force: bool = False, say: Say = _quiet) -> RestoreResult:
    """Replace the database and the evidence files with a backup's, or change nothing."""
    settings = get_settings()
    url = settings.db_url
    dialect = _dialect(url)
    path = Path(path)
    where = str(path)
    settings.home.mkdir(parents=True, exist_ok=True)
    room = int(shutil.disk_usage(settings.home).free * SPACE_SHARE)
    tar = _open_archive(path)
    with tar:
        with _reading(where):
            members = _scan(tar, where, room)
            m = _read_manifest(tar, members, where)
        taken = m.created_at.replace("T", " ").replace("Z", " UTC")
        say(f"backup: Tindak {m.tindak_version}, {m.dialect}, schema revision "
            f"{m.schema_revision}, taken {taken}: {m.rows} rows, {len(m.evidence)} evidence "
            "file(s)")
        _check_revision(m, where)
        if m.dialect != dialect:
            raise InvalidInput(N_("%(where)s is a %(kind)s backup but TINDAK_DATABASE_URL is "
                                  "%(dialect)s: restore it into a %(kind)s database"),
                               where=where, kind=m.dialect, dialect=dialect)
        _match(m, members, where)
        has_data = (sum(_live_counts(url).values())
                    + len(_evidence_files(settings.files_dir))) > 0
        if has_data and not force:
            raise InvalidInput(N_("the database already holds data: restoring would replace "
                                  "it; give --force to replace it (it is kept aside)"))
        with tempfile.TemporaryDirectory(dir=settings.home, prefix=".tindak-restore-") as tmp:
            work = Path(tmp)
            with _reading(where):
                _extract(tar, members, m, work / "pieces", where)
            say(f"checked: all {len(m.pieces)} piece(s) match their sha256")
            restore_db = _restore_sqlite if dialect == "sqlite" else _restore_pg
            kept, unknown = restore_db(url, m, work, settings.files_dir, settings.home,
                                       has_data, say)
    say(f"evidence files restored: {len(m.evidence)}")
    if unknown:
        say(f"{unknown} message(s) were being delivered when the backup was taken: they are "
            "marked unknown, not resent; check them with `tindak outbox list --status "
            "unknown`, then `tindak outbox retry` the ones that did not arrive")
    if kept:
        say(f"the data this replaced is kept in {kept}: delete it once the restore is checked")
    dispose_engines()
    tables = _live_counts(url)
    say(f"rows: {_counts_line(tables)}")
    return RestoreResult(m, tables, kept, unknown)
