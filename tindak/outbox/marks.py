"""Marking the status of each message of a batch (SPEC §6), the hot path of delivery.

'sending' is committed before a message goes out, always; 'sent' marks may wait a moment
and go in a group; a refusal or a doubt is written with the very next transaction. A row
is only ever marked by the run that claimed it (`claimed_by`), so a run whose lease ran out
cannot overwrite what the run that took the row over recorded.

Two implementations stand side by side with one interface (`sending`, `sent`, `done`,
`recipients`, `flush`, `unwritten`, `close`): `Marks`, the fast one delivery uses (plain SQL
through the driver, grouped 'sent' marks, no wait for the disk), and `PlainMarks`, the
reference (one SQLAlchemy Core statement per mark, each in its own transaction). For the
same outcomes both leave the same rows (tests/test_marks.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models import Outbox, OutboxRecipient, OutboxStatus, table_of

T = table_of(Outbox)
R = table_of(OutboxRecipient)
S = OutboxStatus
SENT_GROUP = 20  # 'sent' marks written together (see Marks)
SENT_GROUP_SECONDS = 1.0


class Marks:
    """The per-message status changes of one batch, on one database connection.

    'sending' is committed before each message goes out, always. 'sent' marks are written
    in groups (every SENT_GROUP messages or SENT_GROUP_SECONDS, with the next 'sending'),
    which halves the database cost per message on SQLite (measured: each mark rewrites the
    whole row, bodies included). A crash before a group is written leaves those rows in
    'sending', so they surface as 'unknown' (true: they may have been delivered), never resent.
    Refusals and doubts are written with the very next transaction. Plain SQL through the
    driver: Core statements cost about twice as much per message here (measured).

    Durability: a mark is visible to every other process the moment it is committed, so a
    crash of Tindak (kill -9) never loses one (tests/test_faults.py). Neither database waits
    for the disk on these commits: SQLite runs WAL with synchronous=NORMAL, and on
    PostgreSQL this connection commits with synchronous_commit off (each synchronous commit
    costs a WAL flush, ~0.6 ms here: more than the database's whole share of a message).
    Only a power loss or crash of the database host itself can then undo the last marks
    (under a second's worth): a 'sent' that becomes 'sending' surfaces as `unknown`; a
    'sending' lost with it is the one case where a message may go out a second time.
    """

    def __init__(self, conn: sa.Connection, run_id: str):
        self.conn, self.run_id = conn, run_id
        self.sqlite = conn.dialect.name == "sqlite"
        p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        table = T.name
        self.sql_sending = (f"UPDATE {table} SET status='sending', claimed_at={p} "
                            f"WHERE id={p} AND status='claimed' AND claimed_by={p}")
        self.sql_sent = (f"UPDATE {table} SET status='sent', sent_at={p}, last_error={p} "
                         f"WHERE id={p} AND claimed_by={p}")
        self.sql_sent_at = (f"UPDATE {table} SET status='sent', sent_at={p}, last_error={p}, "
                            f"eml_path={p} WHERE id={p} AND claimed_by={p}")
        self.sql_done = (f"UPDATE {table} SET status={p}, attempts={p}, last_error={p} "
                         f"WHERE id={p} AND claimed_by={p}")
        self.sql_rcpt = (f"INSERT INTO {R.name} (outbox_id, address, state, reply, at) "
                         f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (outbox_id, address) "
                         "DO UPDATE SET state=excluded.state, reply=excluded.reply, "
                         "at=excluded.at")
        self.waiting: list[tuple[str, tuple[Any, ...]]] = []
        self.urgent = False
        self.since = time.monotonic()
        # The driver's own connection, in autocommit, so that a lone mark is one statement
        # (on PostgreSQL one round trip, not BEGIN, UPDATE, COMMIT, and without waiting for
        # the WAL flush; on SQLite models.db already turns sqlite3's transactions off).
        raw = conn.connection.dbapi_connection
        assert raw is not None  # a connection in use has its driver's
        self.raw: Any = raw
        if not self.sqlite:
            conn.commit()  # nothing of SQLAlchemy's may be left open on it
            self.raw.autocommit = True
            self.raw.execute("SET synchronous_commit TO OFF")

    def close(self) -> None:
        """Give the connection back to the pool as it was."""
        if not self.sqlite:
            if self.raw.info.transaction_status != 0:  # a failed mark left one open
                self.raw.rollback()
            self.raw.execute("RESET synchronous_commit")
            self.raw.autocommit = False

    def _ts(self, dt: datetime) -> Any:
        # SQLite stores UTC text in SQLAlchemy's format; PostgreSQL takes the aware datetime.
        return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else dt

    def sending(self, oid: int) -> bool:
        """Commit 'sending' (with the waiting marks when due); False if the row is not ours."""
        steps: list[tuple[str, tuple[Any, ...]]] = []
        if (self.urgent or len(self.waiting) >= SENT_GROUP
                or time.monotonic() - self.since >= SENT_GROUP_SECONDS):
            steps, self.waiting, self.urgent = self.waiting, [], False
            self.since = time.monotonic()
        steps.append((self.sql_sending, (self._ts(datetime.now(UTC)), oid, self.run_id)))
        try:
            return self._commit(steps) == 1
        except BaseException:
            self.waiting = steps[:-1] + self.waiting  # not written: kept for the next try
            raise

    def sent(self, oid: int, err: str | None, path: str | None = None) -> None:
        """'sent', written with the next group; `path`: the .eml file it was written to."""
        if path is None:
            self.waiting.append(
                (self.sql_sent, (self._ts(datetime.now(UTC)), err, oid, self.run_id)))
        else:
            self.waiting.append((self.sql_sent_at, (self._ts(datetime.now(UTC)), err, path,
                                                    oid, self.run_id)))

    def done(self, oid: int, status: str, attempts: int, err: str) -> None:
        self.waiting.append((self.sql_done, (status, attempts, err, oid, self.run_id)))
        self.urgent = True

    def recipients(self, oid: int, fates: list[tuple[str, str, str | None]]) -> None:
        """Each recipient's (address, state, reply), with the message's own mark."""
        at = self._ts(datetime.now(UTC))
        for address, state, reply in fates:
            self.waiting.append((self.sql_rcpt, (oid, address, state, reply, at)))
        self.urgent = True

    def unwritten(self) -> int:
        """Messages whose mark is still waiting (after a failed commit: not recorded)."""
        return sum(1 for sql, _ in self.waiting
                   if sql in (self.sql_sent, self.sql_sent_at, self.sql_done))

    def flush(self) -> None:
        steps, self.waiting = self.waiting, []
        try:
            self._commit(steps)
        except BaseException:
            self.waiting = steps + self.waiting
            raise

    def _commit(self, steps: list[tuple[str, tuple[Any, ...]]]) -> int:
        """One transaction; the row count of its last statement."""
        raw, count = self.raw, 0
        if len(steps) == 1:  # a lone statement is its own transaction
            return raw.execute(*steps[0]).rowcount
        if steps and not self.sqlite:
            with raw.transaction():
                for sql, params in steps:
                    count = raw.execute(sql, params).rowcount
        elif steps:
            raw.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in steps:
                    count = raw.execute(sql, params).rowcount
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
        return count


class PlainMarks:
    """The reference: every mark one SQLAlchemy Core statement in its own transaction,
    written at once (no groups, no driver tricks). Slower, plainly right; not used to send."""

    def __init__(self, conn: sa.Connection, run_id: str):
        self.conn, self.run_id = conn, run_id
        self.sqlite = conn.dialect.name == "sqlite"
        conn.commit()

    def _mine(self, oid: int) -> Any:
        return sa.and_(T.c.id == oid, T.c.claimed_by == self.run_id)

    def _write(self, stmt: Any) -> int:
        with self.conn.begin():
            return self.conn.execute(stmt).rowcount

    def sending(self, oid: int) -> bool:
        return self._write(T.update().where(self._mine(oid), T.c.status == S.claimed.value)
                           .values(status=S.sending.value, claimed_at=datetime.now(UTC))) == 1

    def sent(self, oid: int, err: str | None, path: str | None = None) -> None:
        values: dict[str, Any] = {"status": S.sent.value, "sent_at": datetime.now(UTC),
                                  "last_error": err}
        if path is not None:
            values["eml_path"] = path
        self._write(T.update().where(self._mine(oid)).values(**values))

    def done(self, oid: int, status: str, attempts: int, err: str) -> None:
        self._write(T.update().where(self._mine(oid))
                    .values(status=status, attempts=attempts, last_error=err))

    def recipients(self, oid: int, fates: list[tuple[str, str, str | None]]) -> None:
        if not fates:
            return
        at = datetime.now(UTC)
        ins = (sqlite.insert(R) if self.sqlite else postgresql.insert(R)).values(
            [{"outbox_id": oid, "address": a, "state": st, "reply": rp, "at": at}
             for a, st, rp in fates])
        self._write(ins.on_conflict_do_update(
            index_elements=[R.c.outbox_id, R.c.address],
            set_={"state": ins.excluded.state, "reply": ins.excluded.reply,
                  "at": ins.excluded.at}))

    def unwritten(self) -> int:
        return 0  # every mark is written when it is made

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
