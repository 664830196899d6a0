"""The outbox as a queue (SPEC §6): queue rendered messages, claim them, recover what a dead
run left, count, list and re-queue. Sending lives in `tindak.outbox.loop`.

- queue: a message is unique per key (`message_key`: the same recipient, day and content
  never queue twice) and is written, envelope and body together, in the caller's
  transaction, before anyone tries to send it;
- claim: a batch of pending (or failed) rows is taken atomically (PostgreSQL: FOR UPDATE
  SKIP LOCKED; SQLite: BEGIN IMMEDIATE), so two runs never take the same row; the bodies
  are read after the claim is committed, the lock is held for ids only;
- recover: a row a dead run left 'claimed' goes back to 'pending'; one left in 'sending'
  may have been accepted by the server, so it becomes 'unknown' and is never resent
  automatically;
- retry: only a failed, dead or unknown message is re-queued, by a person, on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from models import (
    Outbox,
    OutboxBody,
    OutboxRecipient,
    OutboxStatus,
    RecipientState,
    get_engine,
    insert_messages,
    table_of,
)
from models.tables import ATTENTION_SQL, IN_FLIGHT_SQL, QUEUED_SQL
from tindak.errors import InvalidInput, NotFound
from tindak.mailmodel import Rendered
from tindak.settings import get_settings

T = table_of(Outbox)
B = table_of(OutboxBody)
R = table_of(OutboxRecipient)
S = OutboxStatus
RS = RecipientState
RETRYABLE = (S.failed.value, S.dead.value, S.unknown.value)

# The outbox's partial indexes (models/tables.py) name these states; a query finds its
# index only when it says the very same words, hence literal SQL, not bound parameters.
QUEUED, IN_FLIGHT, ATTENTION = map(sa.text, (QUEUED_SQL, IN_FLIGHT_SQL, ATTENTION_SQL))


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# ---------------------------------------------------------------- queue


def message_key(kind: str, email: str, on: date, parts: Iterable[object]) -> str:
    """A message's unique key: the same recipient, day and content never queue twice."""
    raw = f"{kind}|{email}|{on.isoformat()}|{','.join(str(p) for p in parts)}"
    return hashlib.sha256(raw.encode()).hexdigest()


def outbox_row(key: str, kind: str, on: date, to: str, cc: list[str], r: Rendered,
               now: datetime) -> dict:
    """The outbox columns and bodies of one rendered message (for `insert_messages`)."""
    from tindak.outbox.mime import new_message_id

    return {
        "key": key, "kind": kind, "on_date": on, "recipient": to, "cc": ",".join(cc),
        "subject": r.subject, "body_text": r.text, "body_html": r.html,
        "message_id": new_message_id(),
        "attachments": json.dumps([{"cid": a.cid, "mime": a.mime,
                                    "b64": base64.b64encode(a.data).decode()}
                                   for a in r.attachments]),
        "headers": json.dumps(r.headers) if r.headers else None,
        "status": "pending", "attempts": 0, "created_at": now,
    }


def queue_messages(s: Any, msgs: list[tuple[str, str, date, str, list[str], Rendered]],
                   now: datetime) -> dict[str, int]:
    """Write rendered messages (key, kind, date, to, cc, rendered) to the outbox in the
    caller's transaction; key → id of those that were new (a key already queued is left
    alone)."""
    return insert_messages(s, [outbox_row(*m, now) for m in msgs], skip_existing=True)


# ---------------------------------------------------------------- claim and recover

_LOAD = (T.c.id, T.c.recipient, T.c.cc, T.c.subject, T.c.message_id, T.c.created_at,
         T.c.attempts)
_BODY = (B.c.body_text, B.c.body_html, B.c.attachments, B.c.headers)


def _claimable(run_id: str, max_attempts: int) -> Any:
    return sa.and_(
        QUEUED,
        T.c.attempts < max_attempts,
        # A row this run already tried waits for the next run.
        sa.or_(T.c.claimed_by.is_(None), T.c.claimed_by != run_id),
    )


def claim(run_id: str, size: int, now: datetime | None = None,
          only: Sequence[int] | None = None) -> list[sa.Row]:
    """Take up to `size` queued rows for this run, oldest first, in one short transaction
    (`only`: among these ids alone)."""
    s = get_settings()
    at = _now(now)
    with get_engine(writer=True).begin() as conn:
        where = _claimable(run_id, s.max_attempts)
        if only is not None:
            where = sa.and_(where, T.c.id.in_(list(only)))
        q = (sa.select(T.c.id).where(where)
             .order_by(T.c.id).limit(size).with_for_update(skip_locked=True))
        ids = list(conn.execute(q).scalars())
        if ids:
            conn.execute(
                T.update().where(T.c.id.in_(ids))
                .values(status=S.claimed.value, claimed_by=run_id, claimed_at=at)
            )
    if not ids:
        return []
    # The bodies are read after the claim is committed: the lock is held for ids only.
    with get_engine().connect() as conn:
        return list(conn.execute(
            sa.select(*_LOAD, *_BODY).join(B, B.c.outbox_id == T.c.id)
            .where(T.c.id.in_(ids)).order_by(T.c.id)).all())


def history(ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """How each recipient fared so far, for the messages that have such a record: id →
    lower-cased address → state (most messages have none: every recipient took them)."""
    if not ids:
        return {}
    out: dict[int, dict[str, str]] = {}
    with get_engine().connect() as conn:
        for oid, address, state in conn.execute(
                sa.select(R.c.outbox_id, R.c.address, R.c.state)
                .where(R.c.outbox_id.in_(list(ids)))):
            out.setdefault(oid, {})[address.lower()] = state
    return out


def requeue_claimed(conn: sa.Connection, run_id: str, error: str | None) -> int:
    """This run's rows still 'claimed' (never handed to a transport) back to 'pending'."""
    values: dict[str, Any] = {"status": S.pending.value, "claimed_by": None, "claimed_at": None}
    if error:
        values["last_error"] = error
    with conn.begin():
        res = conn.execute(T.update().where(IN_FLIGHT, T.c.claimed_by == run_id,
                                            T.c.status == S.claimed.value).values(**values))
    return res.rowcount or 0


def recover_stale_rows(now: datetime | None = None) -> tuple[int, list[sa.Row]]:
    """Rows a dead run left behind: 'claimed' back to 'pending', 'sending' to 'unknown'.
    Returns how many went back to the queue, and the (id, recipient) of those now unknown."""
    s = get_settings()
    cutoff = _now(now) - timedelta(seconds=s.delivery_lease_seconds)
    with get_engine(writer=True).begin() as conn:
        res = conn.execute(
            T.update().where(IN_FLIGHT, T.c.status == S.claimed.value, T.c.claimed_at < cutoff)
            .values(status=S.pending.value, claimed_by=None, claimed_at=None))
        requeued = res.rowcount or 0
        stale = conn.execute(
            sa.select(T.c.id, T.c.recipient).where(IN_FLIGHT, T.c.status == S.sending.value,
                                                   T.c.claimed_at < cutoff)).all()
        if stale:
            conn.execute(
                T.update().where(T.c.id.in_([r.id for r in stale]),
                                 T.c.status == S.sending.value)
                .values(status=S.unknown.value,
                        last_error="the delivery run stopped while sending this message: "
                                   "the server may have accepted it"))
    return requeued, list(stale)


def count_in_flight() -> int:
    """Rows claimed or being sent right now, or left so by a run that stopped."""
    with get_engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(T).where(IN_FLIGHT)
                            ).scalar_one()


def count_queued() -> int:
    """Rows a run would still deliver: pending, or failed with attempts left."""
    s = get_settings()
    with get_engine().connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(T).where(
                QUEUED,
                T.c.attempts < s.max_attempts)
        ).scalar_one()


# ---------------------------------------------------------------- inspect and re-queue

_LIST_COLUMNS = (T.c.id, T.c.status, T.c.kind, T.c.on_date, T.c.recipient, T.c.cc,
                 T.c.subject, T.c.attempts, T.c.last_error, T.c.message_id, T.c.created_at,
                 T.c.sent_at, T.c.eml_path)


def list_outbox(status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows (newest last) for `tindak outbox list`; `status` filters."""
    statuses = [x.value for x in OutboxStatus]
    if status is not None and status not in statuses:
        raise InvalidInput(f"unknown outbox status '{status}' (one of: {', '.join(statuses)})")
    q = sa.select(*_LIST_COLUMNS).order_by(T.c.id)
    if status is not None:
        q = q.where(T.c.status == status)
        if status in (S.unknown.value, S.dead.value):
            q = q.where(ATTENTION)
    if limit is not None:
        q = q.limit(limit)
    with get_engine().connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        # Only messages some server refused for some recipients have these.
        fates: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(sa.select(R.c.outbox_id, R.c.address, R.c.state, R.c.reply)
                              .order_by(R.c.outbox_id, R.c.at, R.c.address)):
            fates.setdefault(r.outbox_id, []).append(
                {"address": r.address, "state": r.state, "reply": r.reply})
    for msg in rows:
        msg["recipients"] = fates.get(msg["id"], [])
    return rows


def retry(outbox_id: int) -> dict[str, Any]:
    """Re-queue a failed, dead or unknown message (attempts reset); refuse anything else."""
    with get_engine(writer=True).begin() as conn:
        row = conn.execute(sa.select(T.c.id, T.c.status, T.c.recipient)
                           .where(T.c.id == outbox_id)).first()
        if row is None:
            raise NotFound(f"no outbox message {outbox_id}")
        if row.status == S.sent.value:
            raise InvalidInput(f"outbox message {outbox_id} was already sent: not re-sending it")
        if row.status == S.pending.value:
            raise InvalidInput(f"outbox message {outbox_id} is already queued")
        if row.status not in RETRYABLE:
            raise InvalidInput(f"outbox message {outbox_id} is being delivered right now "
                               f"({row.status}): try again later")
        conn.execute(T.update().where(T.c.id == outbox_id, T.c.status == row.status)
                     .values(status=S.pending.value, attempts=0, claimed_by=None,
                             claimed_at=None))
        # Those who refused it for good get it again; those who took it never do.
        conn.execute(R.update().where(R.c.outbox_id == outbox_id,
                                      R.c.state == RS.refused.value)
                     .values(state=RS.deferred.value))
    return {"id": row.id, "recipient": row.recipient, "was": row.status,
            "status": S.pending.value}
