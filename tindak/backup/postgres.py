"""The PostgreSQL side of a backup: one REPEATABLE READ snapshot out as COPY text, rows only in.

A backup reads every table of Tindak's schema with COPY in one transaction. A restore makes a
fresh staging schema with Tindak's migrations, loads only the rows of its known tables as
COPY data (PostgreSQL parses them as values of the columns the migrations made), checks
references and row counts, and leaves the swap to `tindak.backup.swap`. An old pg_dump
backup (format 1) is read by pg_restore as data only; none of its statements ever runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from tindak.backup.archive import CHUNK
from tindak.backup.manifest import PG_PIECE, Manifest
from tindak.backup.schema import _check_counts, _check_tables, _cols, _ident, _migrate
from tindak.errors import N_, ConfigError, InvalidInput


def _pg_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg")


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


def _pg_live_counts(u: URL) -> dict[str, int]:
    """Rows of each table of the live schema (none when it does not exist yet)."""
    engine = _pg_engine(u)
    try:
        with engine.connect() as conn:
            schema = _pg_schema(conn)
            return _pg_counts(conn, schema) if schema else {}
    finally:
        engine.dispose()


def _pg_revision(conn: sa.Connection, schema: str) -> str | None:
    if "alembic_version" not in sa.inspect(conn).get_table_names(schema=schema):
        return None
    return conn.exec_driver_sql(
        f"SELECT version_num FROM {_ident(schema)}.alembic_version").scalar()


def _pg_dump(u: URL, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Every table of Tindak's schema as COPY text, all in one snapshot: the manifest's fields
    and a piece a table."""
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
            raw = conn.connection.driver_connection  # psycopg's, for COPY
            assert raw is not None
            with raw.cursor() as cur:
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
    return dict(dialect="postgresql", schema_revision=revision, tables=tables, columns=known,
                pg_schema=schema, pg_server=server), out


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
            raw = conn.connection.driver_connection  # psycopg's, for COPY
            assert raw is not None
            sources = (_pg_v1_data(pieces / PG_PIECE, known) if m.format_version < 2 else
                       ((t, m.columns[t], _chunks(pieces / m.data_piece(t))) for t in known))
            with raw.cursor() as cur:
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
