"""Tindak's schema as its own migrations make it, and what a restore checks against it.

A restore never takes a schema from a backup: it builds one with Tindak's migrations at the
backup's revision, refuses a backup whose tables or columns are not that schema's, refuses
row counts that are not the manifest's, and settles messages caught in flight as `unknown`.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.db import MIGRATIONS, ensure_schema
from tindak.backup.manifest import Manifest
from tindak.errors import N_, InvalidInput, SchemaError

IN_FLIGHT = ("claimed", "sending")
IN_FLIGHT_NOTE = ("restored from a backup taken while this message was being delivered: the "
                  "server may have accepted it")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(cols: Iterable[str]) -> str:
    return ", ".join(_ident(c) for c in cols)


def _script():
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


def _check_revision(m: Manifest, where: str) -> None:
    known, head = _known_revisions()
    if m.schema_revision is not None and m.schema_revision not in known:
        raise SchemaError(N_("%(where)s is at schema revision %(revision)s, newer than this "
                             "Tindak (which knows up to %(head)s): upgrade Tindak, then "
                             "restore"), where=where, revision=m.schema_revision, head=head)
    if m.schema_revision is None:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: it names no schema "
                              "revision"), where=where)


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


def _bring_up_to_date(staged: Engine) -> int:
    """The staged database at Tindak's head revision, its in-flight messages settled."""
    try:
        ensure_schema(staged)
        with staged.begin() as conn:
            return _settle_in_flight(conn)
    finally:
        staged.dispose()
