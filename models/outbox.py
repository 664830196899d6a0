"""Writing and reading queued messages: a row of `outbox` (envelope and delivery state) and
its row of `outbox_body` (the rendered content), always written together."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models.tables import BODY_FIELDS, Outbox, OutboxBody, table_of

OUTBOX = table_of(Outbox)
BODY = table_of(OutboxBody)


def insert_messages(conn: Any, rows: list[dict], *, skip_existing: bool = False
                    ) -> dict[str, int]:
    """Queue messages, each a dict of outbox columns plus body_text, body_html and
    (optionally) attachments, in the caller's transaction; key → id of the rows written.

    skip_existing: a key already in the outbox is left alone (not an error) and gets no id.
    `conn` is a Session or a Connection."""
    if not rows:
        return {}
    bind = conn.get_bind() if hasattr(conn, "get_bind") else conn
    ins: sa.Insert
    if skip_existing:
        ins = (postgresql.insert(OUTBOX) if bind.dialect.name == "postgresql"
               else sqlite.insert(OUTBOX)).on_conflict_do_nothing()
    else:
        ins = sa.insert(OUTBOX)
    heads = [{k: v for k, v in r.items() if k not in BODY_FIELDS} for r in rows]
    ids = {key: oid for oid, key in conn.execute(ins.returning(OUTBOX.c.id, OUTBOX.c.key),
                                                 heads)}
    bodies, seen = [], set()
    for r in rows:
        oid = ids.get(r["key"])
        if oid is not None and oid not in seen:
            seen.add(oid)
            bodies.append({"outbox_id": oid, "body_text": r["body_text"],
                           "body_html": r["body_html"],
                           "attachments": r.get("attachments") or "[]",
                           "headers": r.get("headers")})
    if bodies:
        conn.execute(sa.insert(BODY), bodies)
    return ids


def message_body(conn: Any, outbox_id: int) -> Any:
    """(body_text, body_html, attachments) of a queued message, or None."""
    return conn.execute(sa.select(BODY.c.body_text, BODY.c.body_html, BODY.c.attachments)
                        .where(BODY.c.outbox_id == outbox_id)).first()


def messages(conn: Any, *where: Any) -> list[Any]:
    """Whole queued messages (every outbox column and the bodies), oldest first."""
    q = sa.select(OUTBOX, BODY.c.body_text, BODY.c.body_html, BODY.c.attachments,
                  BODY.c.headers).join(
        BODY, BODY.c.outbox_id == OUTBOX.c.id)
    return list(conn.execute(q.where(*where).order_by(OUTBOX.c.id)).all())
