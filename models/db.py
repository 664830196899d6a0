"""The engine and short sessions. SQLite (WAL, busy timeout, writers lock up front with
BEGIN IMMEDIATE) or PostgreSQL through psycopg 3.

Imports nothing of Tindak's: the caller names the database (`bind`), and bringing its schema
up to date (`ensure_schema`) is a step the entry points take, never a side effect of
getting an engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
CACHE_KB = 32_768  # SQLite page cache per connection

_engines: dict[tuple[str, bool], Engine] = {}
_checked: set[str] = set()
_lock = Lock()
_url: Callable[[], str] | None = None  # where the database is: the caller's settings
_prepare: Callable[[Engine], None] | None = None  # a test harness's stand-in for the entry point


class SchemaAhead(Exception):  # noqa: N818  (a state, not a failure of this code)
    """The database is at a migration newer than this code knows."""

    def __init__(self, current: str, head: str | None) -> None:
        super().__init__(current, head)
        self.current, self.head = current, head


def bind(url: Callable[[], str], prepare: Callable[[Engine], None] | None = None) -> None:
    """Name the database: `url()` is asked on every `get_engine`, so a changed setting is
    followed. `prepare(engine)` runs once per URL (tests use it to stand for the entry
    point's schema step)."""
    global _url, _prepare
    _url, _prepare = url, prepare


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _make_engine(url: str, immediate: bool) -> Engine:
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # 32 MB of page cache instead of 2 MB: at a million items the indexes a run
            # touches (notices by item, outbox) no longer fit in the default.
            cur.execute(f"PRAGMA cache_size=-{CACHE_KB}")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(url, pool_pre_ping=True)


def get_engine(*, writer: bool = False) -> Engine:
    """The engine for the bound database. On SQLite the writer engine begins IMMEDIATE."""
    if _url is None:
        raise RuntimeError("no database bound: models.db.bind() first (tindak.settings does)")
    url = _url()
    immediate = writer and is_sqlite(url)
    key = (url, immediate)
    with _lock:
        if key not in _engines:
            _engines[key] = _make_engine(url, immediate)
        engine = _engines[key]
    if _prepare is not None and url not in _checked:
        _prepare(engine)
        _checked.add(url)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, backups, a changed TINDAK_DATABASE_URL)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _checked.clear()


@contextmanager
def session() -> Iterator[Session]:
    """A short session for reading (and small writes that may wait on the lock)."""
    with Session(get_engine(), expire_on_commit=False) as s:
        yield s


@contextmanager
def write_session() -> Iterator[Session]:
    """A session that takes the write lock up front and commits at the end (or rolls back)."""
    with Session(get_engine(writer=True), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def _alembic_config(connection: sa.Connection | None) -> Config:
    from alembic.config import Config  # alembic: only the schema step pays its import

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def ensure_schema(engine: Engine) -> None:
    """Bring the database up to the newest migration; refuse one newer than this code
    (SchemaAhead)."""
    if _current_revision(engine) == newest_revision():
        return  # up to date, the common case: no alembic import (~0.2 s of every command)
    from alembic import command  # alembic: only a schema change pays its import
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    cfg = _alembic_config(None)
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    if current == head:
        return
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaAhead(current, head)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def newest_revision() -> str:
    """The head revision, from the migration files' names (`NNNN_what.py` holds revision
    "NNNN", each revising the one before: tests/test_migrations.py checks this against
    alembic's own reading of the scripts)."""
    names = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1][:4]


def _current_revision(engine: Engine) -> str | None:
    """The revision the database says it is at; None when it has no version table yet."""
    with engine.connect() as conn:
        try:
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        except sa.exc.DBAPIError:
            row = None
        conn.rollback()
    return None if row is None else str(row[0])
