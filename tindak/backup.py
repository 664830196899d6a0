"""Backup and restore: the database's rows and the evidence files, in one checked .tar.gz.

A backup is untrusted input: whoever can write the file chooses every byte of it. So it
holds data only, never a schema: `manifest.json` (Tindak version, schema revision, when,
which database, the columns and row count of every table, sha256 and size of every piece),
one data piece per table (`data/<table>.jsonl` from SQLite, JSON arrays Tindak parses
itself; `data/<table>.copy` from PostgreSQL, COPY text that PostgreSQL parses as values of
the column types Tindak's migrations made) and `files/` (the evidence under TINDAK_HOME/files).

A restore reads the archive whole before it touches anything live: only regular files with
plain relative names, no duplicates, sizes capped by the free space, every sha256 checked.
It then builds a fresh database from Tindak's own migrations (at the backup's revision),
loads only the rows of the tables those migrations made, checks references and row counts,
brings it up to date, marks messages the backup caught in flight `unknown` (never resent by
themselves), and only then swaps it in; a bad backup changes nothing live.

Backups are consistent while others write: SQLite's backup API copies one snapshot, and on
PostgreSQL every table is read in one REPEATABLE READ transaction.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import URL, Engine, make_url

from models.db import MIGRATIONS, dispose_engines, ensure_schema, is_sqlite
from tindak import __version__
from tindak.errors import N_, ConfigError, InvalidInput, NotFound, SchemaError, TindakError
from tindak.settings import get_settings

FORMAT = "tindak-backup"
FORMAT_VERSION = 2  # 2: data only (one piece per table); 1: a whole database file or pg_dump
MANIFEST = "manifest.json"
SQLITE_PIECE = "tindak.db"  # format 1 only
PG_PIECE = "tindak.pgdump"  # format 1 only: only its table data is read, never its SQL
DATA = "data"
FILES = "files"
CHUNK = 1 << 20
MAX_MANIFEST = 50 * 1024 * 1024
MAX_MEMBERS = 2_000_000
MAX_ROW = 64 * 1024 * 1024  # characters of one row of a data piece
# What a restore may fill of TINDAK_HOME's free space: pieces, then a staged database.
SPACE_SHARE = 0.45
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
IN_FLIGHT = ("claimed", "sending")
IN_FLIGHT_NOTE = ("restored from a backup taken while this message was being delivered: the "
                  "server may have accepted it")

Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


# ------------------------------------------------------------------------ the manifest


class Piece(BaseModel):
    """One file of the archive: its checksum and size."""

    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """What a backup holds; written last into the archive, read first on restore."""

    model_config = ConfigDict(extra="ignore")
    format: Literal["tindak-backup"] = FORMAT
    format_version: int = Field(default=FORMAT_VERSION, ge=1)
    dialect: Literal["sqlite", "postgresql"]
    schema_revision: str | None
    tables: dict[str, int]
    columns: dict[str, list[str]] = Field(default_factory=dict)
    pieces: dict[str, Piece] = Field(default_factory=dict)
    created_at: str = ""
    tindak_version: str = __version__
    database: str | None = None  # format 1: the piece holding the database
    pg_schema: str | None = None
    pg_server: str | None = None

    def check(self) -> None:
        """What pydantic's types cannot say: names, pieces and tables agree (ValueError)."""
        if any(not NAME.fullmatch(t) or n < 0 for t, n in self.tables.items()):
            raise ValueError("a table name or row count is malformed")
        for name in self.pieces:
            _safe_name(name)
        data = {self.data_piece(t) for t in self.tables} if self.format_version >= 2 else set()
        if self.format_version >= 2:
            if not self.schema_revision:
                raise ValueError("it names no schema revision")
            for t in self.tables:
                cols = self.columns.get(t)
                if (not cols or len(set(cols)) != len(cols)
                        or not all(NAME.fullmatch(c) for c in cols)):
                    raise ValueError(f"the columns of table {t} are malformed")
            if set(self.columns) != set(self.tables):
                raise ValueError("its tables and columns disagree")
        elif self.database not in (SQLITE_PIECE, PG_PIECE) or self.database not in self.pieces:
            raise ValueError("it names no database piece")
        else:
            data = {self.database}
        missing = data - set(self.pieces)
        if missing:
            raise ValueError(f"it lists no piece {sorted(missing)[0]}")
        for name in set(self.pieces) - data:
            if not name.startswith(FILES + "/"):
                raise ValueError(f"'{name}' is neither a table's data nor an evidence file")
        names = set(self.pieces)
        for name in names:  # a file that is also a folder of another would fail half-way
            parts = name.split("/")
            if any("/".join(parts[:i]) in names for i in range(1, len(parts))):
                raise ValueError(f"'{name}' lies inside another piece")

    def data_piece(self, table: str) -> str:
        return f"{DATA}/{table}." + ("jsonl" if self.dialect == "sqlite" else "copy")

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            body = json.loads(raw)
        except ValueError:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is not "
                                  "JSON"), where=where) from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: no Tindak "
                                  "manifest"), where=where)
        version = body.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise InvalidInput(N_("%(where)s was written by a newer Tindak (backup format "
                                  "%(version)s): upgrade Tindak to restore it"),
                               where=where, version=version)
        try:
            m = cls.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            why = str(first.get("msg", "")).removeprefix("Value error, ")
            loc = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is malformed "
                                  "(%(detail)s)"), where=where,
                               detail=f"{loc}: {why}" if loc else why) from None
        return m

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def evidence(self) -> list[str]:
        return sorted(name for name in self.pieces if name.startswith(FILES + "/"))


def _safe_name(name: str) -> PurePosixPath:
    """A plain relative name: no absolute path, no `..`, no empty or odd parts."""
    p = PurePosixPath(name)
    if (not name or name != p.as_posix() or p.is_absolute() or not p.parts
            or any(part in ("", ".", "..") for part in p.parts) or "\\" in name
            or any(ord(ch) < 32 for ch in name) or len(name) > 1000):
        raise ValueError(f"unsafe entry '{name[:200]}'")
    return p


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    size: int


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    tables: dict[str, int]
    kept: str | None  # where the data that was replaced now is (only with --force over data)
    unknown: int = 0  # messages caught in flight, now 'unknown'


# ------------------------------------------------------------------------ small helpers


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _counts_line(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(tables.items()))


def _script():  # type: ignore[no-untyped-def]
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg, ScriptDirectory.from_config(cfg)


def _known_revisions() -> tuple[set[str], str | None]:
    _, script = _script()
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def _migrate(engine: Engine, revision: str) -> None:
    """Tindak's own schema, as its migrations make it, up to `revision`."""
    from alembic import command

    cfg, _ = _script()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _sqlite_path(url: str) -> Path:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(N_("an in-memory SQLite database cannot be backed up or restored"))
    return Path(path)


def _pg_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg")


def _dialect(url: str) -> str:
    if is_sqlite(url):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise ConfigError(N_("backups support SQLite and PostgreSQL, not %(kind)s"),
                      kind=url.split(":", 1)[0])


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(cols: Iterable[str]) -> str:
    return ", ".join(_ident(c) for c in cols)


def _check_tables(m: Manifest, known: dict[str, list[str]], revision: str) -> None:
    """The backup's tables are exactly those Tindak's schema has at its revision."""
    for t in sorted(m.tables):
        if t not in known:
            raise InvalidInput(N_("the backup lists table %(table)s, which Tindak's schema at "
                                  "revision %(revision)s does not have: the backup was "
                                  "altered"), table=t, revision=revision)
    for t in sorted(known):
        if t not in m.tables:
            raise InvalidInput(N_("the backup holds no table %(table)s, which Tindak's schema "
                                  "at revision %(revision)s has: the backup was altered"),
                               table=t, revision=revision)
        if m.format_version >= 2 and sorted(m.columns[t]) != sorted(known[t]):
            raise InvalidInput(N_("the backup's columns of table %(table)s are not those of "
                                  "Tindak's schema at revision %(revision)s: the backup was "
                                  "altered"), table=t, revision=revision)


def _check_counts(m: Manifest, tables: dict[str, int]) -> None:
    if tables != m.tables:
        diff = sorted(t for t in set(tables) | set(m.tables) if tables.get(t) != m.tables.get(t))
        raise InvalidInput(N_("the backup's database does not match its manifest (row counts of "
                              "%(tables)s): the backup was altered"), tables=", ".join(diff))


def _settle_in_flight(conn: sa.Connection) -> int:
    """Messages the backup caught in flight may have reached the server after it was taken:
    'unknown', for a person to check, never resent by themselves."""
    res = conn.exec_driver_sql(
        "UPDATE outbox SET status = 'unknown', last_error = ? WHERE status IN (?, ?)"
        if conn.dialect.name == "sqlite" else
        "UPDATE outbox SET status = 'unknown', last_error = %s WHERE status IN (%s, %s)",
        (IN_FLIGHT_NOTE, *IN_FLIGHT))
    return res.rowcount or 0


# ------------------------------------------------------------------------ SQLite


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


def _sqlite_live_rows(path: Path) -> int:
    if not path.exists():
        return 0
    conn = _sqlite_connect(path)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM {_ident(n)}").fetchone()[0]
                   for n in _sqlite_tables(conn))
    finally:
        conn.close()


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


# ------------------------------------------------------------------------ PostgreSQL


def _pg_engine(u: URL, search_path: str | None = None) -> Engine:
    if search_path is not None:
        u = u.update_query_dict({"options": f"-csearch_path={search_path}"})
    return sa.create_engine(u, poolclass=sa.pool.NullPool)


def _pg_schema(conn: sa.Connection) -> str | None:
    """The schema Tindak's tables live in: the first of the search_path that exists."""
    return conn.exec_driver_sql("SELECT current_schema()").scalar()


def _pg_target_schema(conn: sa.Connection) -> str:
    """The schema Tindak uses, even before it exists (first of the search_path)."""
    current = _pg_schema(conn)
    if current:
        return current
    path = str(conn.exec_driver_sql("SHOW search_path").scalar())
    for part in (p.strip() for p in path.split(",")):
        if part and part != '"$user"':
            return part.strip('"')
    return "public"


def _pg_tables(conn: sa.Connection, schema: str) -> dict[str, list[str]]:
    insp = sa.inspect(conn)
    return {n: [c["name"] for c in insp.get_columns(n, schema=schema)]
            for n in sorted(insp.get_table_names(schema=schema)) if n != "alembic_version"}


def _pg_counts(conn: sa.Connection, schema: str) -> dict[str, int]:
    return {n: int(conn.exec_driver_sql(f"SELECT count(*) FROM {_ident(schema)}.{_ident(n)}")
                   .scalar() or 0)
            for n in _pg_tables(conn, schema)}


def _pg_revision(conn: sa.Connection, schema: str) -> str | None:
    if "alembic_version" not in sa.inspect(conn).get_table_names(schema=schema):
        return None
    return conn.exec_driver_sql(
        f"SELECT version_num FROM {_ident(schema)}.alembic_version").scalar()


def _pg_dump(u: URL, work: Path, say: Say) -> tuple[Manifest, dict[str, Path]]:
    """Every table of Tindak's schema as COPY text, all in one snapshot."""
    engine = _pg_engine(u)
    out: dict[str, Path] = {}
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.begin()
            schema = _pg_schema(conn)
            known = _pg_tables(conn, schema) if schema else {}
            if not schema or not known:
                raise InvalidInput(N_("the PostgreSQL database has no Tindak tables: nothing "
                                      "to back up"))
            revision = _pg_revision(conn, schema)
            server = str(conn.exec_driver_sql("SHOW server_version").scalar()).split()[0]
            tables: dict[str, int] = {}
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                for table, cols in known.items():
                    path, n = work / f"{table}.copy", 0
                    with path.open("wb") as f, cur.copy(
                            f"COPY {_ident(schema)}.{_ident(table)} ({_cols(cols)}) "
                            "TO STDOUT") as copy:
                        for chunk in copy:
                            f.write(chunk)
                            n += bytes(chunk).count(b"\n")  # one line per row in COPY text
                    tables[table], out[table] = n, path
            conn.rollback()
    finally:
        engine.dispose()
    say(f"database: PostgreSQL {server}, schema {schema} at revision {revision}: "
        f"{sum(tables.values())} rows in {len(tables)} tables, read in one snapshot")
    return Manifest(dialect="postgresql", schema_revision=revision, tables=tables,
                    columns=known, pg_schema=schema, pg_server=server), out


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


_V1_COPY = re.compile(r'COPY (?:"?[A-Za-z0-9_$]+"?\.)?"?([a-z_][a-z0-9_]*)"? \(([a-z0-9_", ]*)\) '
                      r"FROM stdin;")


def _pg_v1_data(dump: Path, known: dict[str, list[str]]
                ) -> Iterator[tuple[str, list[str], Iterator[bytes]]]:
    """The rows of a format-1 pg_dump archive, and nothing else of it: pg_restore prints its
    data as SQL, Tindak reads only `COPY known_table (known columns) FROM stdin;` and the data
    lines up to `\\.`, and loads them with its own COPY; every other statement is dropped."""
    tool = shutil.which("pg_restore")
    if not tool:
        raise ConfigError(N_("pg_restore is needed to read an old PostgreSQL backup: install "
                             "the PostgreSQL client tools"))
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([tool, "--data-only", "--no-owner", "--no-privileges",
                                 "--file=-", str(dump)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        lines = iter(proc.stdout.readline, b"")
        seen: set[str] = set()

        def rows() -> Iterator[bytes]:
            for line in lines:
                if line.rstrip(b"\r\n") == b"\\.":
                    return
                yield line
            raise InvalidInput(N_("the database in the backup cannot be read (%(reason)s)"),
                               reason="a table's data ends early")

        try:
            for line in lines:
                match = _V1_COPY.fullmatch(line.decode("utf-8", "replace").rstrip("\r\n"))
                if not match:
                    continue  # SET, setval, comments: statements of the dump, never run
                table = match.group(1)
                if table == "alembic_version":  # the migrations wrote their own
                    for _ in rows():
                        pass
                    continue
                cols = [c.strip().strip('"') for c in match.group(2).split(",")]
                if table not in known or sorted(cols) != sorted(known[table]) or table in seen:
                    raise InvalidInput(N_("the backup's database does not match its manifest "
                                          "(columns of table %(table)s): the backup was "
                                          "altered"), table=table)
                seen.add(table)
                yield table, cols, rows()
        finally:
            proc.stdout.close()
            proc.kill()
            code = proc.wait()
        if code not in (0, -9):
            err.seek(0)
            raise InvalidInput(N_("the database in the backup cannot be read (%(reason)s)"),
                               reason=err.read().decode("utf-8", "replace").strip()[-200:])


def _pg_load(u: URL, m: Manifest, pieces: Path, staging: str) -> None:
    """Tindak's migrations make schema `staging`; only table rows go in, as COPY data."""
    import psycopg

    assert m.schema_revision
    admin = _pg_engine(u)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {_ident(staging)}")
    finally:
        admin.dispose()
    staged = _pg_engine(u, search_path=staging)
    try:
        _migrate(staged, m.schema_revision)
        with staged.begin() as conn:
            known = _pg_tables(conn, staging)
            _check_tables(m, known, m.schema_revision)
            # References are checked whole once every row is in: drop them, load, add back.
            fks = conn.exec_driver_sql(
                "SELECT cl.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n "
                "ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = %(s)s "
                "ORDER BY 1, 2", {"s": staging}).all()
            for table, name, _ in fks:
                conn.exec_driver_sql(f"ALTER TABLE {_ident(table)} DROP CONSTRAINT "
                                     f"{_ident(name)}")
            raw = conn.connection.driver_connection
            sources = (_pg_v1_data(pieces / PG_PIECE, known) if m.format_version < 2 else
                       ((t, m.columns[t], _chunks(pieces / m.data_piece(t))) for t in known))
            with raw.cursor() as cur:  # type: ignore[union-attr]
                for table, cols, chunks in sources:
                    with cur.copy(f"COPY {_ident(table)} ({_cols(cols)}) FROM STDIN") as copy:
                        for chunk in chunks:
                            copy.write(chunk)
            _check_counts(m, _pg_counts(conn, staging))
            for table, name, definition in fks:
                conn.exec_driver_sql(f"ALTER TABLE {_ident(table)} ADD CONSTRAINT "
                                     f"{_ident(name)} {definition}")
            for table, cols in known.items():  # ids go on after the restored ones
                for col in cols:
                    seq = conn.exec_driver_sql("SELECT pg_get_serial_sequence(%(t)s, %(c)s)",
                                               {"t": _ident(table), "c": col}).scalar()
                    if seq:
                        conn.exec_driver_sql(
                            f"SELECT setval(%(q)s, COALESCE(max({_ident(col)}), 0) + 1, false) "
                            f"FROM {_ident(table)}", {"q": seq})
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        orig = getattr(exc, "orig", None) or exc
        reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        raise InvalidInput(N_("the database in the backup cannot be read (%(reason)s)"),
                           reason=reason[:200]) from None
    finally:
        staged.dispose()


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


# ------------------------------------------------------------------------ the archive


class _Hashing:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, f: IO[bytes]):
        self.f, self.h = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> Piece:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = path.stat().st_size, mtime, 0o600
    with path.open("rb") as f:
        hashing = _Hashing(f)
        tar.addfile(info, hashing)  # type: ignore[arg-type]
    return Piece(sha256=hashing.h.hexdigest(), size=info.size)


def _evidence_files(folder: Path) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        return []
    return sorted((f"{FILES}/{p.relative_to(folder).as_posix()}", p)
                  for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _destination(path: Path, force: bool, when: datetime) -> Path:
    if path.is_dir():
        path = path / f"tindak-backup-{when.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    if not path.parent.is_dir():
        raise NotFound(N_("folder %(path)s does not exist"), path=str(path.parent))
    if path.exists() and not force:
        raise InvalidInput(N_("%(path)s already exists: give another name, or --force to "
                              "replace it"), path=str(path))
    return path


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
            m = Manifest(dialect="sqlite", schema_revision=revision, tables=tables,
                         columns=columns)
            say(f"database: SQLite {src}, schema revision {revision}: {m.rows} rows in "
                f"{len(tables)} tables, read in one snapshot")
        else:
            m, data = _pg_dump(_pg_url(url), work, say)
        # Files after the database: every file the copied rows name was written before them.
        files = _evidence_files(settings.files_dir)
        m.created_at = when.isoformat().replace("+00:00", "Z")
        mtime = int(when.timestamp())
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=".tindak-backup-", suffix=".part")
        os.close(fd)  # mkstemp made it 0600: a backup holds personal data
        try:
            with tarfile.open(part, "w:gz", compresslevel=6) as tar:
                for table, p in data.items():
                    m.pieces[m.data_piece(table)] = _add(tar, m.data_piece(table), p, mtime)
                for name, p in files:
                    m.pieces[name] = _add(tar, name, p, mtime)
                raw = m.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(raw), mtime, 0o600
                tar.addfile(info, io.BytesIO(raw))
            with open(part, "rb") as f:
                os.fsync(f.fileno())
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


# ------------------------------------------------------------------------ restore


READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


@contextmanager
def _reading(where: str) -> Iterator[None]:
    """Errors of reading the archive (not of what we do with it) as one clear line."""
    try:
        yield
    except TindakError:
        raise
    except READ_ERRORS as exc:
        raise InvalidInput(N_("%(where)s cannot be read: it is damaged or not a Tindak backup "
                              "(%(reason)s)"), where=where,
                           reason=f"{type(exc).__name__}: {exc}"[:200]) from None


def _open_archive(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise NotFound(N_("no backup at %(path)s"), path=str(path))
    with _reading(str(path)):
        return tarfile.open(path, "r:gz")


def _scan(tar: tarfile.TarFile, where: str, room: int) -> dict[str, tarfile.TarInfo]:
    """Every entry's header, refused at the first bad one before its content is read:
    links, devices, odd names, duplicates, and more bytes than the disk can take."""
    members: dict[str, tarfile.TarInfo] = {}
    total = count = 0
    while (member := tar.next()) is not None:
        count += 1
        if count > MAX_MEMBERS:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: more than %(n)s "
                                  "entries"), where=where, n=MAX_MEMBERS)
        name = member.name
        try:
            _safe_name(name)
        except ValueError:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: unsafe entry "
                                  "'%(name)s'"), where=where, name=name[:200]) from None
        if member.isdir():
            continue  # a folder carries nothing; its files are checked one by one
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise InvalidInput(N_("%(where)s is not a Tindak backup: '%(name)s' is a link or a "
                                  "device, not a file"), where=where,
                               name=name[:200])
        if name in members:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: '%(name)s' appears "
                                  "twice"), where=where, name=name[:200])
        total += member.size
        if total > room:
            raise InvalidInput(N_("%(where)s would unpack to more than %(room)s, more than "
                                  "TINDAK_HOME has room for: nothing was changed"),
                               where=where, room=_size(room))
        members[name] = member
    return members


def _read_manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   where: str) -> Manifest:
    member = members.get(MANIFEST)
    if member is None:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: no "
                              "%(name)s"), where=where, name=MANIFEST)
    f = tar.extractfile(member)
    if f is None or member.size > MAX_MANIFEST:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: bad "
                              "%(name)s"), where=where, name=MANIFEST)
    return Manifest.from_json(f.read(), where)


def _match(m: Manifest, members: dict[str, tarfile.TarInfo], where: str) -> None:
    """The manifest agrees with itself and with the archive's entries, size for size."""
    try:
        m.check()
    except ValueError as exc:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is malformed "
                              "(%(detail)s)"), where=where, detail=str(exc)) from None
    for name, info in members.items():
        if name == MANIFEST:
            continue
        piece = m.pieces.get(name)
        if piece is None:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: unexpected entry "
                                  "'%(name)s'"), where=where, name=name[:200])
        if piece.size != info.size:
            raise InvalidInput(N_("%(where)s is damaged or was altered: '%(name)s' does not "
                                  "match its size in the manifest; nothing was restored"),
                               where=where, name=name)
    missing = sorted(set(m.pieces) - set(members))
    if missing:
        raise InvalidInput(N_("%(where)s is incomplete: %(name)s is missing (%(n)s piece(s) "
                              "missing)"), where=where, name=missing[0], n=len(missing))


def _extract(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], m: Manifest,
             into: Path, where: str) -> None:
    """Every piece of the manifest, checked against its sha256; nothing else is taken."""
    for name, member in members.items():
        if name == MANIFEST:
            continue
        dest = into.joinpath(*_safe_name(name).parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        h, left = hashlib.sha256(), member.size
        with dest.open("xb") as out:
            while left and (chunk := src.read(min(CHUNK, left))):
                h.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        if left or h.hexdigest() != m.pieces[name].sha256:
            raise InvalidInput(N_("%(where)s is damaged or was altered: '%(name)s' does not "
                                  "match its sha256 in the manifest; nothing was restored"),
                               where=where, name=name)


def _check_revision(m: Manifest, where: str) -> None:
    known, head = _known_revisions()
    if m.schema_revision is not None and m.schema_revision not in known:
        raise SchemaError(N_("%(where)s is at schema revision %(revision)s, newer than this "
                             "Tindak (which knows up to %(head)s): upgrade Tindak, then "
                             "restore"), where=where, revision=m.schema_revision, head=head)
    if m.schema_revision is None:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: it names no schema "
                              "revision"), where=where)


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


def _restore_sqlite(url: str, m: Manifest, work: Path, files_dir: Path, home: Path,
                    has_data: bool, say: Say) -> tuple[str | None, int]:
    live = _sqlite_path(url)
    staged = work / "staged.db"
    _sqlite_load(m, work / "pieces", staged)
    engine = sa.create_engine(f"sqlite:///{staged}", poolclass=sa.pool.NullPool)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            unknown = _settle_in_flight(conn)
    finally:
        engine.dispose()
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
                has_data: bool, say: Say) -> tuple[str | None, int]:
    u = _pg_url(url)
    staging = f"tindak_restore_{secrets.token_hex(6)}"
    engine = _pg_engine(u)
    try:
        try:
            _pg_load(u, m, work / "pieces", staging)
            staged = _pg_engine(u, search_path=staging)
            try:
                ensure_schema(staged)
                with staged.begin() as conn:
                    unknown = _settle_in_flight(conn)
            finally:
                staged.dispose()
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


def _live_rows(url: str, files_dir: Path) -> int:
    files = len(_evidence_files(files_dir))
    if is_sqlite(url):
        return _sqlite_live_rows(_sqlite_path(url)) + files
    engine = _pg_engine(_pg_url(url))
    try:
        with engine.connect() as conn:
            schema = _pg_schema(conn)
            rows = sum(_pg_counts(conn, schema).values()) if schema else 0
    finally:
        engine.dispose()
    return rows + files


def _live_counts(url: str) -> dict[str, int]:
    if is_sqlite(url):
        conn = _sqlite_connect(_sqlite_path(url))
        try:
            return {n: conn.execute(f"SELECT count(*) FROM {_ident(n)}").fetchone()[0]
                    for n in _sqlite_tables(conn)}
        finally:
            conn.close()
    engine = _pg_engine(_pg_url(url))
    try:
        with engine.connect() as conn:
            return _pg_counts(conn, _pg_schema(conn) or "public")
    finally:
        engine.dispose()


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
        has_data = _live_rows(url, settings.files_dir) > 0
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
