"""The SQLite side of a backup: one snapshot out as JSON lines, rows only back in.

A backup copies the live file with SQLite's backup API (one read snapshot) and writes every
table as one JSON array a row. A restore loads only those rows, into a fresh file made by
Tindak's migrations, with references and row counts checked whole before it commits; a
SQLite file from an old backup is opened read-only with its schema's functions untrusted.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tindak.backup.manifest import SQLITE_PIECE, Manifest
from tindak.backup.schema import _check_counts, _check_tables, _cols, _ident, _migrate
from tindak.errors import N_, ConfigError, InvalidInput, NotFound

MAX_ROW = 64 * 1024 * 1024  # characters of one row of a data piece


def _sqlite_path(url: str) -> Path:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(N_("an in-memory SQLite database cannot be backed up or restored"))
    return Path(path)


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (one backup step = one read snapshot)."""
    source, target = _sqlite_connect(src), sqlite3.connect(str(dst))
    try:
        source.backup(target)  # pages=-1: the whole file in one step, under one read lock
        target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        target.close()
        source.close()


def _sqlite_untrusted(path: Path) -> sqlite3.Connection:
    """A SQLite file from a backup, read-only, its schema's functions not trusted."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA trusted_schema=OFF")
    return conn


def _sqlite_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Real tables (not views) and their columns, without alembic_version."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> 'alembic_version' ORDER BY name")]
    return {n: [r[1] for r in conn.execute(f"PRAGMA table_info({_ident(n)})")] for n in names}


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'alembic_version'").fetchone():
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} in a SQLite row")


# One encoder for every row: `default` is called only for bytes, the rare value JSON lacks.
_ROW = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                        default=_encode)
_PLAIN = (int, float, str, type(None))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no value of a row")


_ROWS = json.JSONDecoder(parse_constant=_no_constant)  # one decoder: NaN and Infinity refused


def _sqlite_dump(db: Path, work: Path, m_tables: dict[str, int],
                 columns: dict[str, list[str]]) -> dict[str, Path]:
    """Every table of a (snapshot) SQLite file as JSON lines, one array per row."""
    out: dict[str, Path] = {}
    conn = _sqlite_untrusted(db)
    try:
        for table, cols in _sqlite_tables(conn).items():
            path = work / f"{table}.jsonl"
            n = 0
            with path.open("w", encoding="utf-8") as f:
                cur = conn.execute(f"SELECT {_cols(cols)} FROM {_ident(table)}")
                while batch := cur.fetchmany(10_000):
                    f.write("".join(_ROW.encode(row) + "\n" for row in batch))
                    n += len(batch)
            m_tables[table], columns[table], out[table] = n, cols, path
    finally:
        conn.close()
    return out


def _sqlite_snapshot(src: Path, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The live file's tables from one snapshot: the manifest's fields and a piece a table."""
    if not src.exists():
        raise NotFound(N_("no database at %(path)s: nothing to back up"), path=str(src))
    snap = work / SQLITE_PIECE
    _sqlite_copy(src, snap)
    conn = _sqlite_untrusted(snap)
    try:
        revision = _sqlite_revision(conn)
    finally:
        conn.close()
    tables: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    data = _sqlite_dump(snap, work, tables, columns)
    snap.unlink()
    return dict(dialect="sqlite", schema_revision=revision, tables=tables,
                columns=columns), data


def _malformed(n: int, table: str) -> InvalidInput:
    return InvalidInput(N_("the backup's database does not match its manifest (row %(n)s of "
                           "table %(table)s is malformed): the backup was altered"),
                        n=n, table=table)


def _json_rows(path: Path, width: int, table: str) -> Iterator[tuple[Any, ...]]:
    """Rows of a data piece; refuses anything but arrays of plain values."""

    with path.open("r", encoding="utf-8") as f:
        # Read at most MAX_ROW characters a line: one endless line must not fill the memory.
        for n, line in enumerate(iter(lambda: f.readline(MAX_ROW + 1), ""), 1):
            if len(line) > MAX_ROW:
                raise _malformed(n, table)
            try:
                row = _ROWS.decode(line)
            except ValueError:
                row = None
            if not isinstance(row, list) or len(row) != width:
                raise _malformed(n, table)
            if all(type(v) in _PLAIN for v in row):  # bool is not: type(True) is bool
                yield tuple(row)
                continue
            values = []
            for v in row:
                if isinstance(v, dict) and list(v) == ["b"] and isinstance(v["b"], str):
                    v = base64.b64decode(v["b"], validate=True)
                elif type(v) not in _PLAIN:
                    raise _malformed(n, table)
                values.append(v)
            yield tuple(values)


def _sqlite_load(m: Manifest, pieces: Path, staged: Path) -> None:
    """Only the rows of the tables Tindak's migrations made, into a fresh file."""
    assert m.schema_revision
    engine = sa.create_engine(f"sqlite:///{staged}", poolclass=sa.pool.NullPool)
    try:
        _migrate(engine, m.schema_revision)
    finally:
        engine.dispose()
    conn = sqlite3.connect(str(staged), isolation_level=None)
    source = None
    try:
        known = _sqlite_tables(conn)
        _check_tables(m, known, m.schema_revision)
        if m.format_version < 2:
            source = _sqlite_untrusted(pieces / SQLITE_PIECE)
            if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise InvalidInput(N_("the database in the backup is damaged"))
            if _sqlite_revision(source) != m.schema_revision:
                raise InvalidInput(N_("the backup's database does not match its manifest (schema "
                                      "revision): the backup was altered"))
            theirs = _sqlite_tables(source)
        conn.execute("PRAGMA foreign_keys=OFF")  # references are checked whole, below
        conn.execute("BEGIN")
        for table, cols in known.items():
            if source is not None:
                if sorted(theirs.get(table, [])) != sorted(cols):
                    raise InvalidInput(N_("the backup's database does not match its "
                                          "manifest (columns of table %(table)s): the backup "
                                          "was altered"), table=table)
                rows: Iterable[tuple[Any, ...]] = source.execute(
                    f"SELECT {_cols(cols)} FROM {_ident(table)}")
            else:
                cols = m.columns[table]
                rows = _json_rows(pieces / m.data_piece(table), len(cols), table)
            conn.executemany(f"INSERT INTO {_ident(table)} ({_cols(cols)}) VALUES "
                             f"({', '.join('?' * len(cols))})", rows)
        if conn.execute("PRAGMA foreign_key_check").fetchone():
            raise InvalidInput(N_("the backup's database does not match its manifest (rows refer "
                                  "to rows it does not hold): the backup was altered"))
        _check_counts(m, {t: conn.execute(f"SELECT count(*) FROM {_ident(t)}").fetchone()[0]
                          for t in known})
        conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, OverflowError) as exc:
        raise InvalidInput(N_("the database in the backup cannot be read (%(reason)s)"),
                           reason=str(exc)[:200]) from None
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        if source is not None:
            source.close()


def _sqlite_release(path: Path) -> None:
    """Fold the WAL into the file and leave WAL mode, proving nobody else has it open."""
    if not path.exists():
        return
    conn = _sqlite_connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        mode = "busy"
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if mode != "delete" or wal.exists():
        raise InvalidInput(N_("the database %(path)s is in use by another program (tindak web "
                              "or tindak serve?): stop it, then restore"), path=str(path))


def _sqlite_counts(path: Path) -> dict[str, int]:
    conn = _sqlite_connect(path)
    try:
        return {n: conn.execute(f"SELECT count(*) FROM {_ident(n)}").fetchone()[0]
                for n in _sqlite_tables(conn)}
    finally:
        conn.close()
