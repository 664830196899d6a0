"""Backup and restore: the database and the evidence files, in one checked .tar.gz.

A backup holds `manifest.json` (Tindak version, schema revision, when, which database, row
counts per table, sha256 and size of every piece), the database (`tindak.db`, a SQLite
online copy, or `tindak.pgdump`, a pg_dump custom-format archive of Tindak's schema) and
`files/` (the evidence uploads under TINDAK_HOME/files).

Both are consistent while others write: SQLite's backup API copies one snapshot; pg_dump
runs in a snapshot exported by the transaction that counts the rows. A restore checks every
sha256 and row count in a staging copy (a file beside the database, or a fresh PostgreSQL
schema), brings it up to date, and only then swaps it in, so a bad backup changes nothing.
"""

from __future__ import annotations

import glob
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from models.db import MIGRATIONS, dispose_engines, ensure_schema, is_sqlite
from tindak import __version__
from tindak.errors import N_, ConfigError, InvalidInput, Msg, NotFound, SchemaError, TindakError
from tindak.settings import get_settings

FORMAT = "tindak-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_PIECE = "tindak.db"
PG_PIECE = "tindak.pgdump"
FILES = "files"
CHUNK = 1 << 20
# Where Debian's postgresql-client-N puts its versioned tools, beside the /usr/bin wrappers.
PG_VERSIONED_BINS = "/usr/lib/postgresql/*/bin"

Say = Callable[[Msg], None]  # a line, worded by the edge in the reader's language


def _quiet(_line: Msg) -> None:
    pass


@dataclass
class Manifest:
    """What a backup holds; written last into the archive, read first on restore."""

    dialect: str
    schema_revision: str | None
    tables: dict[str, int]
    pieces: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""
    tindak_version: str = __version__
    database: str = SQLITE_PIECE
    pg_schema: str | None = None
    pg_server: str | None = None
    pg_dump: str | None = None

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            body = json.loads(raw)
        except ValueError:
            raise not_a_backup(where, Msg(N_("its manifest is not JSON"))) from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise not_a_backup(where, Msg(N_("no Tindak manifest")))
        version = body.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InvalidInput(N_("%(where)s was written by a newer Tindak (backup format "
                                  "%(version)s): upgrade Tindak to restore it"),
                               where=where, version=version)
        known = {k: body[k] for k in cls.__dataclass_fields__ if k in body}
        try:
            m = cls(**known)
        except TypeError:
            raise not_a_backup(where, Msg(N_("its manifest is incomplete"))) from None
        ok = (m.dialect in ("sqlite", "postgresql") and isinstance(m.tables, dict)
              and isinstance(m.pieces, dict) and m.database in m.pieces
              and all(isinstance(v, int) for v in m.tables.values())
              and all(isinstance(p, dict) and isinstance(p.get("sha256"), str)
                      for p in m.pieces.values()))
        if not ok:
            raise not_a_backup(where, Msg(N_("its manifest is malformed")))
        return m

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def evidence(self) -> list[str]:
        return sorted(name for name in self.pieces if name.startswith(FILES + "/"))


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


# ------------------------------------------------------------------------ small helpers


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _counts_line(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(tables.items()))


def _known_revisions() -> tuple[set[str], str | None]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def _sqlite_path(url: str) -> Path:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(N_("an in-memory SQLite database cannot be backed up or restored"))
    return Path(path)


def _pg_url(url: str) -> URL:
    u = make_url(url)
    return u.set(drivername="postgresql+psycopg")


def _dialect(url: str) -> str:
    if is_sqlite(url):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise ConfigError(N_("backups support SQLite and PostgreSQL, not %(kind)s"),
                      kind=url.split(":", 1)[0])


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


def _sqlite_facts(path: Path, check: bool = True) -> tuple[str | None, dict[str, int]]:
    """(alembic revision, rows per table) of a SQLite file; refuses a damaged one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0] if check else "ok"
            if result != "ok":
                raise InvalidInput(N_("the database in the backup is damaged (%(detail)s)"),
                                   detail=result)
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            revision = None
            if "alembic_version" in names:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
            tables = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
                      for n in names if n != "alembic_version"}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(N_("the database in the backup cannot be read (%(detail)s)"),
                           detail=str(exc)) from None
    return revision, tables


def _sqlite_live_rows(path: Path) -> int:
    if not path.exists():
        return 0
    conn = _sqlite_connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> 'alembic_version'")]
        return sum(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names)
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


def _tool_major(tool: Path) -> int | None:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\)\s*(\d+)", out) or re.search(r"(\d+)\.\d+", out)
    return int(m.group(1)) if m else None


def _pg_tool(name: str, at_least: int) -> tuple[Path, int]:
    """`name` of PostgreSQL `at_least` or newer: the same major as the server if there is one."""
    found = [Path(p) for p in [shutil.which(name)] if p]
    found += [Path(p) for p in sorted(glob.glob(f"{PG_VERSIONED_BINS}/{name}"))]
    usable = [(t, v) for t in found if (v := _tool_major(t)) is not None and v >= at_least]
    if not usable:
        raise ConfigError(N_("%(tool)s of PostgreSQL %(version)s or newer is needed: install "
                             "the PostgreSQL client tools (Debian: postgresql-client-%(version)s)"),
                          tool=name, version=at_least)
    same = [tv for tv in usable if tv[1] == at_least]
    return same[0] if same else max(usable, key=lambda tv: tv[1])


def _conninfo(u: URL) -> tuple[str, dict[str, str] | None]:
    """A libpq connection string without the password, and the env that carries it."""

    def q(v: object) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": u.host, "port": u.port, "dbname": u.database, "user": u.username}
    # Other query parameters are libpq's own (sslmode, …); the search_path is given explicitly.
    parts.update({k: v for k, v in u.query.items() if k != "options" and isinstance(v, str)})
    info = " ".join(f"{k}={q(v)}" for k, v in parts.items() if v not in (None, ""))
    env = None
    if u.password:
        # A password never goes on a command line, where `ps` shows it to every user.
        env = {**os.environ, "PGPASSWORD": str(u.password)}
    return info, env


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def _pg_counts(conn: sa.Connection, schema: str) -> dict[str, int]:
    names = sa.inspect(conn).get_table_names(schema=schema)
    return {n: int(conn.exec_driver_sql(f"SELECT count(*) FROM {_ident(schema)}.{_ident(n)}")
                   .scalar() or 0)
            for n in names if n != "alembic_version"}


def _pg_revision(conn: sa.Connection, schema: str) -> str | None:
    if "alembic_version" not in sa.inspect(conn).get_table_names(schema=schema):
        return None
    return conn.exec_driver_sql(
        f"SELECT version_num FROM {_ident(schema)}.alembic_version").scalar()


def _server_major(conn: sa.Connection) -> tuple[int, str]:
    num = int(conn.exec_driver_sql("SHOW server_version_num").scalar() or 0)
    return num // 10000, str(conn.exec_driver_sql("SHOW server_version").scalar()).split()[0]


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    lines = [ln.strip() for ln in stream.read().decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else "no message"


def _pg_dump(u: URL, dest: Path, say: Say) -> Manifest:
    """pg_dump of Tindak's schema, in the same snapshot as the row counts."""
    engine = _pg_engine(u)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.begin()
            schema = _pg_schema(conn)
            if not schema or not sa.inspect(conn).get_table_names(schema=schema):
                raise InvalidInput(N_("the PostgreSQL database has no Tindak tables: nothing "
                                      "to back up"))
            major, server = _server_major(conn)
            tool, tool_major = _pg_tool("pg_dump", major)
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            revision = _pg_revision(conn, schema)
            tables = _pg_counts(conn, schema)
            info, env = _conninfo(u)
            cmd = [str(tool), "--format=custom", "--no-owner", "--no-privileges",
                   f"--schema={_ident(schema)}", f"--snapshot={snapshot}",
                   f"--file={dest}", f"--dbname={info}"]
            with tempfile.TemporaryFile() as err:
                done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=err, env=env, check=False)
                if done.returncode != 0:
                    raise TindakError(N_("could not dump the database (%(detail)s)"),
                                      detail=_tail(err))
            conn.rollback()
    finally:
        engine.dispose()
    say(Msg(N_("database: PostgreSQL %(server)s, schema %(schema)s at revision %(revision)s: "
               "%(rows)s rows in %(tables)s tables, dumped with pg_dump %(tool)s in one "
               "snapshot"), server=server, schema=schema, revision=revision,
            rows=sum(tables.values()), tables=len(tables), tool=tool_major))
    return Manifest("postgresql", revision, tables, database=PG_PIECE, pg_schema=schema,
                    pg_server=server, pg_dump=str(tool_major))


_COPY = re.compile(rb"^COPY .* FROM stdin;\s*$")
_SCHEMA_STMT = re.compile(rb"^(CREATE|ALTER|COMMENT ON) SCHEMA ")


def _moved(lines: Iterator[bytes], old: str, new: str) -> Iterator[bytes]:
    """pg_restore's SQL with schema `old` renamed `new` (pg_restore cannot rename schemas).

    Only statements are rewritten, never the rows between `COPY … FROM stdin;` and `\\.`.
    """
    names = [re.escape(_ident(old).encode())]
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", old):
        names.append(re.escape(old.encode()))
    ref = re.compile(rb'(?<![\w".$])(?:' + b"|".join(names) + rb")\.")
    target = _ident(new).encode() + b"."
    in_copy = False
    for line in lines:
        if in_copy:
            in_copy = line.rstrip(b"\r\n") != b"\\."
            yield line
        elif _COPY.match(line):
            in_copy = True
            yield ref.sub(target, line)
        elif _SCHEMA_STMT.match(line):
            continue  # the staging schema is made by the caller
        else:
            yield ref.sub(target, line)


def _pg_load(u: URL, dump: Path, m: Manifest, staging: str) -> None:
    """Load the dump into a new schema `staging`, all in one transaction (psql -1)."""
    engine = _pg_engine(u)
    try:
        with engine.connect() as conn:
            major, _ = _server_major(conn)
    finally:
        engine.dispose()
    made_by = int(m.pg_dump or major)
    restore_tool, _ = _pg_tool("pg_restore", max(major, made_by))
    psql = restore_tool.with_name("psql")
    if not psql.exists():
        psql, _ = _pg_tool("psql", major)
    info, env = _conninfo(u)
    with tempfile.TemporaryFile() as rerr, tempfile.TemporaryFile() as perr:
        reader = subprocess.Popen(
            [str(restore_tool), "--no-owner", "--no-privileges", "--file=-", str(dump)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=rerr)
        writer = subprocess.Popen(
            [str(psql), "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
             "--file=-", f"--dbname={info}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=perr, env=env)
        assert reader.stdout is not None and writer.stdin is not None
        stopped = False
        try:
            writer.stdin.write(f"CREATE SCHEMA {_ident(staging)};\n".encode())
            for line in _moved(iter(reader.stdout.readline, b""), m.pg_schema or "public",
                               staging):
                writer.stdin.write(line)
        except BrokenPipeError:
            stopped = True  # psql stopped at an error and rolled back: its message says why
        reader.stdout.close()
        if stopped:
            reader.kill()
        if reader.wait() != 0 and not stopped:
            writer.kill()  # before psql sees the end of its input, which would commit
            writer.wait()
            raise InvalidInput(N_("the database in the backup cannot be read (%(detail)s)"),
                               detail=_tail(rerr))
        with suppress(BrokenPipeError):
            writer.stdin.close()
        if writer.wait() != 0:
            raise TindakError(N_("loading the backup into PostgreSQL failed (nothing was "
                                 "changed): %(detail)s"), detail=_tail(perr))


# ------------------------------------------------------------------------ the archive


class _Hashing:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, f: IO[bytes]):
        self.f, self.h = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = path.stat().st_size, mtime, 0o600
    with path.open("rb") as f:
        hashing = _Hashing(f)
        tar.addfile(info, hashing)  # type: ignore[arg-type]
    return {"sha256": hashing.h.hexdigest(), "size": info.size}


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
            db = work / SQLITE_PIECE
            _sqlite_copy(src, db)
            revision, tables = _sqlite_facts(db)
            m = Manifest("sqlite", revision, tables)
            say(Msg(N_("database: SQLite %(path)s, schema revision %(revision)s: %(rows)s rows "
                       "in %(tables)s tables, copied online in one snapshot"), path=str(src),
                    revision=revision, rows=m.rows, tables=len(tables)))
        else:
            db = work / PG_PIECE
            m = _pg_dump(_pg_url(url), db, say)
        # Files after the database: every file the copied rows name was written before them.
        files = _evidence_files(settings.files_dir)
        m.created_at = when.isoformat().replace("+00:00", "Z")
        mtime = int(when.timestamp())
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=".tindak-backup-", suffix=".part")
        os.close(fd)  # mkstemp made it 0600: a backup holds personal data
        try:
            with tarfile.open(part, "w:gz", compresslevel=6) as tar:
                m.pieces[m.database] = _add(tar, m.database, db, mtime)
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
    total = sum(p["size"] for n, p in m.pieces.items() if n.startswith(FILES + "/"))
    say(Msg(N_("evidence files: %(count)s (%(size)s)"), count=len(files), size=_size(total)))
    size = dest.stat().st_size
    say(Msg(N_("wrote %(path)s (%(size)s); it holds personal data: keep it where only "
               "administrators can read it"), path=str(dest), size=_size(size)))
    return BackupResult(dest, m, size)


# ------------------------------------------------------------------------ restore


READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def not_a_backup(where: str, why: Msg) -> InvalidInput:
    return InvalidInput(N_("%(where)s is not a Tindak backup: %(why)s"), where=where, why=why)


@contextmanager
def _reading(where: str) -> Iterator[None]:
    """Errors of reading the archive (not of what we do with it) as one clear line."""
    try:
        yield
    except READ_ERRORS as exc:
        raise InvalidInput(N_("%(where)s cannot be read: it is damaged or not a Tindak backup "
                              "(%(detail)s)"), where=where,
                           detail=f"{type(exc).__name__}: {exc}") from None


def _open_archive(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise NotFound(N_("no backup at %(path)s"), path=str(path))
    with _reading(str(path)):
        return tarfile.open(path, "r:gz")


def _member_path(name: str, where: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if (p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts)
            or "\\" in name):
        raise not_a_backup(where, Msg(N_("unsafe entry '%(name)s'"), name=name))
    return p


def _read_manifest(tar: tarfile.TarFile, where: str) -> Manifest:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise not_a_backup(where, Msg(N_("no %(name)s"), name=MANIFEST)) from None
    f = tar.extractfile(member)
    if f is None or member.size > 50 * 1024 * 1024:
        raise not_a_backup(where, Msg(N_("bad %(name)s"), name=MANIFEST))
    m = Manifest.from_json(f.read(), where)
    for name in m.pieces:
        _member_path(name, where)
    return m


def _extract(tar: tarfile.TarFile, m: Manifest, into: Path, where: str) -> None:
    """Every piece of the manifest, checked against its sha256; nothing else is taken."""
    seen: set[str] = set()
    for member in tar:
        if member.name == MANIFEST or (member.isdir() and member.name in (FILES, FILES + "/")):
            continue
        if member.name not in m.pieces or not member.isfile():
            raise not_a_backup(where, Msg(N_("unexpected entry '%(name)s'"), name=member.name))
        rel = _member_path(member.name, where)
        dest = into.joinpath(*rel.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        h = hashlib.sha256()
        with dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != m.pieces[member.name]["sha256"]:
            raise InvalidInput(N_("%(where)s is damaged or was altered: '%(name)s' does not "
                                  "match its sha256 in the manifest; nothing was restored"),
                               where=where, name=member.name)
        seen.add(member.name)
    missing = sorted(set(m.pieces) - seen)
    if missing:
        more = (Msg(N_(" (and %(count)s more)"), count=len(missing) - 1)
                if len(missing) > 1 else "")
        raise InvalidInput(N_("%(where)s is incomplete: %(name)s is missing%(more)s"),
                           where=where, name=missing[0], more=more)


def _check_revision(m: Manifest, where: str) -> None:
    known, head = _known_revisions()
    if m.schema_revision is not None and m.schema_revision not in known:
        raise SchemaError(N_("%(where)s is at schema revision %(revision)s, newer than this "
                             "Tindak (which knows up to %(head)s): upgrade Tindak, then restore"),
                          where=where, revision=m.schema_revision, head=head)


def _check_counts(m: Manifest, revision: str | None, tables: dict[str, int]) -> None:
    if revision != m.schema_revision:
        raise InvalidInput(N_("the backup's database is at revision %(revision)s, its manifest "
                              "says %(listed)s: the backup was altered"),
                           revision=revision, listed=m.schema_revision)
    if tables != m.tables:
        diff = sorted(t for t in set(tables) | set(m.tables) if tables.get(t) != m.tables.get(t))
        raise InvalidInput(N_("the backup's database does not hold the rows its manifest lists "
                              "(%(tables)s): the backup was altered"), tables=", ".join(diff))


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


class _FolderSwap:
    """Put `staged` at `live`; the old folder goes to `keep` (or is removed at the end)."""

    def __init__(self, staged: Path, live: Path, keep: Path | None):
        self.live, self.keep, self.old = live, keep, None
        if live.exists():
            self.old = keep or live.with_name(f".{live.name}.old-{secrets.token_hex(4)}")
            self.old.parent.mkdir(parents=True, exist_ok=True)
            os.replace(live, self.old)
        staged.mkdir(parents=True, exist_ok=True)
        os.replace(staged, live)

    def undo(self) -> None:
        shutil.rmtree(self.live, ignore_errors=True)
        if self.old is not None:
            os.replace(self.old, self.live)

    def finish(self) -> None:
        if self.old is not None and self.keep is None:
            shutil.rmtree(self.old, ignore_errors=True)


def _restore_sqlite(url: str, m: Manifest, work: Path, files_dir: Path, home: Path,
                    has_data: bool, say: Say) -> str | None:
    live = _sqlite_path(url)
    staged = work / SQLITE_PIECE
    revision, tables = _sqlite_facts(staged)
    _check_counts(m, revision, tables)
    engine = sa.create_engine(f"sqlite:///{staged}", poolclass=sa.pool.NullPool)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    _, head = _known_revisions()
    say(Msg(N_("database checked (%(rows)s rows) and brought up to date (schema revision "
               "%(head)s)"), rows=m.rows, head=head))
    live.parent.mkdir(parents=True, exist_ok=True)
    # The staged file must sit on the database's own filesystem for an atomic rename.
    fd, ready = tempfile.mkstemp(dir=live.parent, prefix=f".{live.name}.restore-")
    os.close(fd)
    try:
        shutil.copyfile(staged, ready)
        dispose_engines()
        _sqlite_release(live)
        keep = _keep_dir(home) if has_data else None
        if keep is not None:
            keep.mkdir(parents=True)
            _sqlite_copy(live, keep / SQLITE_PIECE)
        swap = _FolderSwap(work / FILES, files_dir, keep / FILES if keep else None)
        try:
            os.replace(ready, live)
        except BaseException:
            swap.undo()
            raise
        swap.finish()
    finally:
        Path(ready).unlink(missing_ok=True)
    return str(keep) if keep else None


def _restore_pg(url: str, m: Manifest, work: Path, files_dir: Path, home: Path,
                has_data: bool, say: Say) -> str | None:
    u = _pg_url(url)
    staging = f"tindak_restore_{secrets.token_hex(6)}"
    engine = _pg_engine(u)
    try:
        try:
            _pg_load(u, work / PG_PIECE, m, staging)
            with engine.connect() as conn:
                _check_counts(m, _pg_revision(conn, staging), _pg_counts(conn, staging))
            staged = _pg_engine(u, search_path=staging)
            try:
                ensure_schema(staged)
            finally:
                staged.dispose()
            _, head = _known_revisions()
            say(Msg(N_("database loaded into a staging schema, checked (%(rows)s rows) and "
                       "brought up to date (schema revision %(head)s)"), rows=m.rows, head=head))
            dispose_engines()
            keep_dir = _keep_dir(home) if has_data else None
            swap = _FolderSwap(work / FILES, files_dir, keep_dir / FILES if keep_dir else None)
            try:
                kept = _pg_swap(engine, staging, has_data)
            except BaseException:
                swap.undo()
                raise
            swap.finish()
        except BaseException:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_ident(staging)} CASCADE")
            raise
    finally:
        engine.dispose()
    if kept is None:
        return str(keep_dir) if keep_dir else None
    where = f"schema {kept}" + (f" and {keep_dir}" if keep_dir else "")
    return where


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
        return _sqlite_facts(_sqlite_path(url), check=False)[1]
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
    tar = _open_archive(path)
    with tar:
        with _reading(where):
            m = _read_manifest(tar, where)
        taken = m.created_at.replace("T", " ").replace("Z", " UTC")
        say(Msg(N_("backup: Tindak %(version)s, %(dialect)s, schema revision %(revision)s, "
                   "taken %(taken)s: %(rows)s rows, %(files)s evidence file(s)"),
                version=m.tindak_version, dialect=m.dialect, revision=m.schema_revision,
                taken=taken, rows=m.rows, files=len(m.evidence)))
        _check_revision(m, where)
        if m.dialect != dialect:
            raise InvalidInput(N_("%(where)s is a %(kind)s backup but TINDAK_DATABASE_URL is "
                                  "%(dialect)s: restore it into a %(kind)s database"),
                               where=where, kind=m.dialect, dialect=dialect)
        has_data = _live_rows(url, settings.files_dir) > 0
        if has_data and not force:
            raise InvalidInput(N_("the database already holds data: restoring would replace it; "
                                  "give --force to replace it (it is kept aside)"))
        settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.home, prefix=".tindak-restore-") as tmp:
            work = Path(tmp)
            with _reading(where):
                _extract(tar, m, work, where)
            say(Msg(N_("checked: all %(count)s piece(s) match their sha256"), count=len(m.pieces)))
            restore_db = _restore_sqlite if dialect == "sqlite" else _restore_pg
            kept = restore_db(url, m, work, settings.files_dir, settings.home, has_data, say)
    say(Msg(N_("evidence files restored: %(count)s"), count=len(m.evidence)))
    if kept:
        say(Msg(N_("the data this replaced is kept in %(path)s: delete it once the restore is "
                   "checked"), path=str(kept)))
    dispose_engines()
    tables = _live_counts(url)
    say(Msg(N_("rows: %(counts)s"), counts=_counts_line(tables)))
    return RestoreResult(m, tables, kept)
