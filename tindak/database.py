"""The schema step every entry point (a CLI command, `tindak web`, `tindak serve`, a flow's
start) takes before it reads or writes: the database comes up to the newest migration, and
one newer than this code is refused in one line, before anything is changed."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from models import db
from tindak.errors import SchemaError


def upgrade(engine: Engine) -> None:
    """Migrate this engine's database to the newest revision (SchemaError if it is ahead)."""
    try:
        db.ensure_schema(engine)
    except db.SchemaAhead as exc:
        raise SchemaError(
            f"the database is at schema version {exc.current}, newer than this Tindak "
            f"(which knows up to {exc.head}): upgrade Tindak before using this database"
        ) from None


_done: set[str] = set()  # URLs this process brought up to date: a flow started by the CLI


def migrate() -> None:
    """Bring the database of TINDAK_DATABASE_URL up to date: the entry points' first step
    (once per process and URL)."""
    engine = db.get_engine()
    url = engine.url.render_as_string(hide_password=False)
    if url not in _done:
        upgrade(engine)
        _done.add(url)
