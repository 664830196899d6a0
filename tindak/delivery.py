"""Outbox delivery, exactly once (SPEC §6).

A message moves pending → claimed → sending → sent, one short transaction per step and
none held across SMTP I/O:

- claim: a batch of pending (or failed) rows is taken atomically (PostgreSQL: FOR UPDATE
  SKIP LOCKED; SQLite: BEGIN IMMEDIATE), so two runs never take the same row;
- sending: committed before the bytes go out; a row left in 'sending' by a dead run may have
  been accepted by the server, so it becomes 'unknown' and is never resent automatically
  ('sent' marks are written in small groups: see `_Marks`);
- a definite refusal marks the row 'failed' (the next run retries it; 'dead' after
  max_attempts); a disconnect while a message is in flight marks it 'unknown' and ends the
  batch, whose untouched rows go back to 'pending';
- per recipient (RFC 5321 §4.5.4): when the server takes a message for some recipients and
  refuses it for others, each one's fate goes to `outbox_recipient`; a retry goes to the
  temporarily refused (4xx) alone, a permanent refusal (5xx) is not retried by itself, and
  the message is 'sent' only once every recipient took it;
- a run's report tells what happened even when the database fails under it (a lock held
  by another writer): what the server took is counted, and what stays claimed is said.

`deliver_now(ids)` sends given messages at once (a sign-in link a person waits for),
claimed the same way, so a concurrent run can never send them twice.

With no SMTP host configured, each message is written as an .eml file instead.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import sqlite3
import ssl
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yagmail

from models import Outbox, OutboxBody, OutboxRecipient, OutboxStatus, RecipientState, get_engine
from models.tables import ATTENTION_SQL, IN_FLIGHT_SQL, QUEUED_SQL
from tindak.errors import DeliveryError, InvalidInput, NotFound
from tindak.mail import Prepared, prepare
from tindak.settings import Settings, get_settings

T = Outbox.__table__  # type: ignore[attr-defined]
B = OutboxBody.__table__  # type: ignore[attr-defined]
R = OutboxRecipient.__table__  # type: ignore[attr-defined]
S = OutboxStatus
RS = RecipientState
MAX_ERRORS = 50  # lines of errors kept in a report; the rest are counted
SENT_GROUP = 20  # 'sent' marks written together (see _Marks)
SENT_GROUP_SECONDS = 1.0
RETRYABLE = (S.failed.value, S.dead.value, S.unknown.value)
# Errors found in the row itself (bad address, bad attachment): sending again cannot help.
BAD_ROW = (DeliveryError, ValueError, KeyError, TypeError, OSError)
try:
    import psycopg

    DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, sa.exc.DBAPIError,
                                                  psycopg.Error)
except ImportError:  # pragma: no cover - PostgreSQL support not installed
    DB_ERRORS = (sqlite3.Error, sa.exc.DBAPIError)
log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one delivery run (or batch) did."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    dead: int = 0
    requeued: int = 0
    partly_sent: int = 0  # taken for some recipients, refused for others (in failed or dead)
    unmarked: int = 0  # sent (or tried), but the database refused to record it
    pending_left: int = 0
    in_flight_left: int = 0  # claimed or sending when the run ended (recovered after the lease)
    eml_written: int = 0
    mode: str = "smtp"  # "smtp" | "eml"
    errors: list[str] = field(default_factory=list)
    stopped: bool = False  # the SMTP connection failed or broke: later batches should wait
    more_errors: int = 0

    def error(self, line: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(line)
        else:
            self.more_errors += 1

    def merge(self, other: DeliveryReport | None) -> DeliveryReport:
        if other is None:
            return self
        for name in ("sent", "failed", "unknown", "dead", "requeued", "eml_written",
                     "partly_sent", "unmarked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for line in other.errors:
            self.error(line)
        self.more_errors += other.more_errors
        self.stopped = self.stopped or other.stopped
        return self

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing is in doubt and the server could be reached."""
        return not (self.failed or self.unknown or self.dead or self.stopped)

    def summary(self) -> str:
        """One line for the CLI and logs."""
        if self.mode == "eml":
            head = f"{self.eml_written} message(s) written as .eml files (no SMTP host set)"
        else:
            head = f"{self.sent} sent"
        parts = [head]
        for name in ("failed", "dead", "unknown", "requeued"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name}")
        if self.partly_sent:
            parts.append(f"{self.partly_sent} reached only some recipients")
        parts.append(f"{self.pending_left} still queued")
        if self.in_flight_left:
            parts.append(f"{self.in_flight_left} still claimed (the next run recovers them)")
        if self.unmarked:
            parts.append(f"{self.unmarked} handled but not recorded (they show as unknown, "
                         "never resent)")
        if self.unknown:
            parts.append("check `tindak outbox list --status unknown`")
        return ", ".join(parts)

    def raise_if_stopped(self) -> None:
        """A DeliveryError naming the first error when the SMTP server could not be used."""
        if self.stopped:
            first = self.errors[0] if self.errors else "SMTP delivery stopped"
            raise DeliveryError(first)


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# ---------------------------------------------------------------- SMTP connection


def smtp_options(s: Settings) -> dict[str, Any]:
    """yagmail.SMTP keyword arguments for the settings (TLS verified against system CAs)."""
    if not s.smtp_host:
        raise DeliveryError("no SMTP host configured (TINDAK_SMTP_HOST)")
    opts: dict[str, Any] = {
        # As a one-entry dict: yagmail appends "@gmail.com" to a plain name without "@".
        "user": {s.smtp_user: s.smtp_user} if s.smtp_user else None,
        # Always a password when there is a user: yagmail would otherwise prompt on the tty.
        "password": s.smtp_password.get_secret_value() if s.smtp_password else None,
        "host": s.smtp_host,
        "port": s.port,
        "smtp_ssl": s.smtp_security == "ssl",
        "smtp_starttls": False,
        "smtp_skip_login": not s.smtp_user,
        "soft_email_validation": False,
        "timeout": s.smtp_timeout,
    }
    if s.smtp_user and not opts["password"]:
        raise DeliveryError("TINDAK_SMTP_PASSWORD is required when TINDAK_SMTP_USER is set")
    if s.smtp_security == "ssl":
        opts["context"] = ssl.create_default_context()
    elif s.smtp_security == "starttls":
        opts["smtp_starttls"] = {"context": ssl.create_default_context()}
    return opts


class Mailer:
    """One yagmail SMTP connection, used for a whole batch."""

    def __init__(self, s: Settings):
        self.where = f"{s.smtp_host}:{s.port} ({s.smtp_security})"
        opts = smtp_options(s)
        try:
            self.client = yagmail.SMTP(**opts)
            self.client.set_logging(None)  # no yagmail log lines (and never the password)
            self.client.login()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"cannot use SMTP server {self.where}: {_describe(exc)}") from None

    @property
    def alive(self) -> bool:
        smtp = getattr(getattr(self, "client", None), "smtp", None)
        return smtp is not None and getattr(smtp, "sock", None) is not None

    def send(self, p: Prepared) -> dict[str, tuple[int, bytes]]:
        """Hand one message to the server; returns the recipients it refused (others got it)."""
        return self.client.smtp.sendmail(p.mail_from, p.rcpt_tos, p.data)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is None:
            return
        client.is_closed = True  # yagmail's __del__ must not try again
        smtp = client.smtp
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the connection is gone either way
        finally:
            smtp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {_reply(code, msg)}" for rcpt, (code, msg)
                         in exc.recipients.items()) or "recipients refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _reply(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return f"{code} {' '.join(text.split())}"


# ---------------------------------------------------------------- database steps

_LOAD = (T.c.id, T.c.recipient, T.c.cc, T.c.subject, T.c.message_id, T.c.created_at,
         T.c.attempts)
_BODY = (B.c.body_text, B.c.body_html, B.c.attachments, B.c.headers)

_MARK_DONE = (  # failed / dead, with the reason (.eml mode, not a hot path)
    T.update()
    .where(T.c.id == sa.bindparam("oid"), T.c.claimed_by == sa.bindparam("run"))
    .values(status=sa.bindparam("st"), attempts=sa.bindparam("att"),
            last_error=sa.bindparam("err"))
)
_MARK_EML = (
    T.update()
    .where(T.c.id == sa.bindparam("oid"), T.c.claimed_by == sa.bindparam("run"))
    .values(status=S.sent.value, sent_at=sa.bindparam("at"), eml_path=sa.bindparam("path"),
            last_error=None)
)


# The outbox's partial indexes (models/tables.py) name these states; a query finds its
# index only when it says the very same words, hence literal SQL, not bound parameters.
QUEUED, IN_FLIGHT, ATTENTION = map(sa.text, (QUEUED_SQL, IN_FLIGHT_SQL, ATTENTION_SQL))


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


def _history(ids: Sequence[int]) -> dict[int, dict[str, str]]:
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


def _requeue_claimed(conn: sa.Connection, run_id: str, error: str | None) -> int:
    values: dict[str, Any] = {"status": S.pending.value, "claimed_by": None, "claimed_at": None}
    if error:
        values["last_error"] = error
    with conn.begin():
        res = conn.execute(T.update().where(IN_FLIGHT, T.c.claimed_by == run_id,
                                            T.c.status == S.claimed.value).values(**values))
    return res.rowcount or 0


def recover_stale(now: datetime | None = None) -> DeliveryReport:
    """Rows a dead run left behind: 'claimed' back to 'pending', 'sending' to 'unknown'."""
    s = get_settings()
    cutoff = _now(now) - timedelta(seconds=s.delivery_lease_seconds)
    report = DeliveryReport(mode="smtp" if s.smtp_host else "eml")
    with get_engine(writer=True).begin() as conn:
        res = conn.execute(
            T.update().where(IN_FLIGHT, T.c.status == S.claimed.value, T.c.claimed_at < cutoff)
            .values(status=S.pending.value, claimed_by=None, claimed_at=None))
        report.requeued = res.rowcount or 0
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
    report.unknown = len(stale)
    for r in stale:
        report.error(f"outbox {r.id} ({r.recipient}): delivery run died while sending; "
                     "marked unknown, not resent")
    return report


def count_in_flight() -> int:
    """Rows claimed or being sent right now, or left so by a run that stopped."""
    with get_engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(T).where(IN_FLIGHT)
                            ).scalar_one()


def finish(report: DeliveryReport) -> DeliveryReport:
    """Complete a run's report with what the queue holds now (what is left, what is stuck)."""
    s = get_settings()
    report.mode = "smtp" if s.smtp_host else "eml"
    report.pending_left = count_queued()
    report.in_flight_left = count_in_flight()
    return report


def count_queued() -> int:
    """Rows a run would still deliver: pending, or failed with attempts left."""
    s = get_settings()
    with get_engine().connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(T).where(
                QUEUED,
                T.c.attempts < s.max_attempts)
        ).scalar_one()


# ---------------------------------------------------------------- one batch


class _Marks:
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
        self.raw: Any = conn.connection.dbapi_connection
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

    def sent(self, oid: int, err: str | None) -> None:
        self.waiting.append(
            (self.sql_sent, (self._ts(datetime.now(UTC)), err, oid, self.run_id)))

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
        return sum(1 for sql, _ in self.waiting if sql in (self.sql_sent, self.sql_done))

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


def _build(row: sa.Row, mail_from: str) -> Prepared | BaseException:
    """A row's message, or the reason it cannot be built (handled in order, by the sender)."""
    try:
        return prepare(row, mail_from)
    except BAD_ROW as exc:
        return exc


def _send_rows(rows: Sequence[sa.Row], run_id: str, mailer: Mailer, s: Settings,
               report: DeliveryReport) -> None:
    """Send claimed rows over one connection; every row ends sent, failed, dead, unknown
    or (when the batch stops early) back in pending."""
    history = _history([r.id for r in rows])
    with get_engine(writer=True).connect() as conn:
        marks = _Marks(conn, run_id)
        # SQLite: one WAL checkpoint (and its fsyncs) per batch, not one per ~100 messages.
        raw = marks.raw if marks.sqlite else None
        if raw is not None:
            raw.execute("PRAGMA wal_autocheckpoint=0")
        # The next message is built by a second thread while this one is marked and sent:
        # building overlaps waiting for the database and the server. One ahead only: a
        # thread running longer would hold the interpreter lock when the answer arrives.
        builder = ThreadPoolExecutor(1, thread_name_prefix="tindak-build")
        try:
            ahead = builder.submit(_build, rows[0], s.mail_from) if rows else None
            for i, row in enumerate(rows):
                built = ahead.result()  # type: ignore[union-attr]
                ahead = (builder.submit(_build, rows[i + 1], s.mail_from)
                         if i + 1 < len(rows) else None)
                try:
                    if isinstance(built, BaseException):
                        raise built
                    p = built
                except BAD_ROW as exc:
                    marks.done(row.id, S.dead.value, row.attempts + 1,
                               f"cannot build the message: {exc}")
                    report.dead += 1
                    report.error(f"outbox {row.id} ({row.recipient}): {exc}")
                    continue
                past = history.get(row.id)
                if past:  # only those who have not taken it yet, nor refused it for good
                    p = replace(p, rcpt_tos=[a for a in p.rcpt_tos if past.get(a.lower())
                                             not in (RS.accepted.value, RS.refused.value)])
                if not mailer.alive:
                    report.stopped = True
                    report.error(f"SMTP server {mailer.where} closed the connection")
                    break
                if not marks.sending(row.id):
                    continue  # another run took this row back (its lease had run out)
                if past and not p.rcpt_tos:
                    _settle(marks, row, past, [], {}, s, report)
                    continue
                try:
                    refused = mailer.send(p)
                except smtplib.SMTPServerDisconnected as exc:
                    _in_doubt(marks, row, exc, report)
                    break
                except smtplib.SMTPResponseException as exc:  # incl. sender/data refused
                    if exc.smtp_code == 421 or not mailer.alive:
                        # The server ended the session instead of taking the message.
                        marks.done(row.id, S.failed.value, row.attempts, _describe(exc))
                        report.failed += 1
                        report.stopped = True
                        report.error(f"outbox {row.id} ({row.recipient}): {_describe(exc)}")
                        break
                    _refused(marks, row, exc, s, report)
                    continue
                except smtplib.SMTPRecipientsRefused as exc:
                    if past:  # the rest of a message others already took
                        _settle(marks, row, past, p.rcpt_tos, exc.recipients, s, report)
                    else:
                        _refused(marks, row, exc, s, report)
                    continue
                except (OSError, smtplib.SMTPException) as exc:  # timeout, reset, TLS …
                    _in_doubt(marks, row, exc, report)
                    break
                if refused or past:
                    _settle(marks, row, past or {}, p.rcpt_tos, refused, s, report)
                    continue
                marks.sent(row.id, None)
                report.sent += 1
        except DB_ERRORS as exc:
            # The database refused a mark (another writer holds the lock): stop sending,
            # and tell what the server took, not what the database managed to record.
            report.stopped = True
            report.error(f"the database refused to record delivery ({_one_line(exc)}): "
                         "sending stopped")
        finally:
            builder.shutdown(cancel_futures=True)
            _close_batch(conn, marks, run_id, raw, report)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _close_batch(conn: sa.Connection, marks: _Marks, run_id: str, raw: Any,
                 report: DeliveryReport) -> None:
    """Write the waiting marks and put untouched rows back; say what could not be done."""
    for attempt in range(2):  # a lock held a moment longer gets one more busy timeout
        try:
            marks.flush()
            break
        except DB_ERRORS as exc:
            if attempt:
                n = marks.unwritten()
                report.unmarked += n
                report.stopped = True
                report.error(f"the database refused to record {n} message(s) the server "
                             f"answered ({_one_line(exc)}): they stay 'sending' and the "
                             "next run marks them unknown, never resends them")
    try:
        marks.close()
        report.requeued += _requeue_claimed(conn, run_id, None)
    except DB_ERRORS as exc:
        report.stopped = True
        report.error(f"the database refused to put untouched messages back in the queue "
                     f"({_one_line(exc)}): they stay claimed until the next run after "
                     "the lease recovers them")
        conn.rollback()
    if raw is not None:
        try:
            raw.execute("PRAGMA wal_autocheckpoint=1000")
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except DB_ERRORS:
            pass  # a checkpoint skipped now is done by the next writer


def _settle(marks: _Marks, row: sa.Row, past: dict[str, str], tried: list[str],
            refused: dict[str, tuple[int, bytes]], s: Settings,
            report: DeliveryReport) -> None:
    """Some recipients took the message and some did not: record each one's fate, and the
    message's status from all of them ('sent' only once every recipient took it)."""
    states = dict(past)
    by_lower = {a.lower(): v for a, v in refused.items()}
    fates: list[tuple[str, str, str | None]] = []
    for address in tried:
        answer = by_lower.get(address.lower())
        if answer is None:
            fate, reply = RS.accepted.value, None
        else:
            code, msg = answer
            fate = RS.deferred.value if 400 <= code < 500 else RS.refused.value
            reply = _reply(code, msg)
        states[address.lower()] = fate
        fates.append((address, fate, reply))
    marks.recipients(row.id, fates)
    took = [a for a, f, _ in fates if f == RS.accepted.value]
    left = [f"{a}: {r}" for a, f, r in fates if f != RS.accepted.value]
    if RS.deferred.value in states.values():
        attempts = row.attempts + 1
        status = S.dead.value if attempts >= s.max_attempts else S.failed.value
    elif RS.refused.value in states.values():
        attempts, status = row.attempts + 1, S.dead.value
    else:
        marks.sent(row.id, None)
        report.sent += 1
        return
    err = ("refused for " + "; ".join(left) if left else "refused for some recipients")
    if took:
        err = f"delivered to {', '.join(took)}; {err}"
    err += ("; the next run retries the refused ones alone" if status == S.failed.value
            else "; not retried by itself (`tindak outbox retry` after checking)")
    marks.done(row.id, status, attempts, err)
    if RS.accepted.value in states.values():
        report.partly_sent += 1
    if status == S.dead.value:
        report.dead += 1
    else:
        report.failed += 1
    report.error(f"outbox {row.id} ({row.recipient}): {err}")


def _refused(marks: _Marks, row: sa.Row, exc: Exception, s: Settings,
             report: DeliveryReport) -> None:
    """A definite refusal: the server did not take the message. Retried by the next run."""
    attempts = row.attempts + 1
    status = S.dead.value if attempts >= s.max_attempts else S.failed.value
    marks.done(row.id, status, attempts, _describe(exc))
    if status == S.dead.value:
        report.dead += 1
    else:
        report.failed += 1
    report.error(f"outbox {row.id} ({row.recipient}): {_describe(exc)}")


def _in_doubt(marks: _Marks, row: sa.Row, exc: BaseException, report: DeliveryReport) -> None:
    """The connection broke with the message in flight: it may have been delivered."""
    err = f"connection lost while sending ({_describe(exc)}): the server may have accepted it"
    marks.done(row.id, S.unknown.value, row.attempts + 1, err)
    report.unknown += 1
    report.stopped = True
    report.error(f"outbox {row.id} ({row.recipient}): {err}; not resent "
                 "(`tindak outbox retry` after checking)")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", text)[:80].strip("._") or "message"


def _write_eml(rows: Sequence[sa.Row], run_id: str, s: Settings,
               report: DeliveryReport) -> None:
    """No SMTP host: each message becomes `<id>-<recipient>.eml` under the outbox folder."""
    folder = s.outbox_dir
    folder.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for row in rows:
        try:
            p = prepare(row, s.mail_from)
        except BAD_ROW as exc:
            failed.append({"oid": row.id, "run": run_id, "st": S.dead.value,
                           "att": row.attempts + 1, "err": f"cannot build the message: {exc}"})
            report.dead += 1
            report.error(f"outbox {row.id} ({row.recipient}): {exc}")
            continue
        path = folder / f"{row.id:07d}-{_safe_name(row.recipient)}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(p.data)
        os.replace(tmp, path)  # a rerun rewrites the same file, never a second one
        done.append({"oid": row.id, "run": run_id, "at": datetime.now(UTC),
                     "path": str(path)})
    report.sent += len(done)
    report.eml_written += len(done)
    try:
        with get_engine(writer=True).begin() as conn:
            if done:
                conn.execute(_MARK_EML, done)
            if failed:
                conn.execute(_MARK_DONE, failed)
    except DB_ERRORS as exc:
        report.unmarked += len(done) + len(failed)
        report.stopped = True
        report.error(f"the database refused to record {len(done) + len(failed)} message(s) "
                     f"({_one_line(exc)}): they stay claimed; the next run after the lease "
                     "writes the same .eml files again (same names, no second copy)")


def _deliver_rows(rows: Sequence[sa.Row], run_id: str, s: Settings,
                  mailer: Mailer | None) -> tuple[DeliveryReport, Mailer | None]:
    report = DeliveryReport(mode="smtp" if s.smtp_host else "eml")
    if not s.smtp_host:
        _write_eml(rows, run_id, s, report)
        return report, None
    if mailer is None or not mailer.alive:
        try:
            mailer = Mailer(s)
        except DeliveryError as exc:
            report.stopped = True
            report.error(f"{exc}; {len(rows)} message(s) stay queued")
            try:
                with get_engine(writer=True).connect() as conn:
                    report.requeued += _requeue_claimed(conn, run_id, str(exc))
            except DB_ERRORS as db_exc:
                report.error(f"the database refused to put them back ({_one_line(db_exc)}): "
                             "they stay claimed until the next run after the lease")
            return report, None
    _send_rows(rows, run_id, mailer, s, report)
    return report, mailer


def deliver_batch(run_id: str, now: datetime | None = None,
                  size: int | None = None) -> DeliveryReport | None:
    """Claim and deliver one batch over its own connection; None when nothing is queued.

    For a flow that makes one task per batch: call `recover_stale()` once, then this with
    the same `run_id` until it returns None or a report with `stopped` set.
    """
    s = get_settings()
    rows = claim(run_id, size or s.batch_size, now)
    if not rows:
        return None
    report, mailer = _deliver_rows(rows, run_id, s, None)
    if mailer is not None:
        mailer.close()
    return report


def deliver(run_id: str | None = None, limit: int | None = None,
            now: datetime | None = None) -> DeliveryReport:
    """Deliver everything queued (at most `limit` messages), batch by batch."""
    s = get_settings()
    run_id = run_id or new_run_id()
    report = recover_stale(now)
    mailer: Mailer | None = None
    left = limit
    try:
        while left is None or left > 0:
            size = s.batch_size if left is None else min(s.batch_size, left)
            try:
                rows = claim(run_id, size, now)
            except DB_ERRORS as exc:  # what earlier batches did must still be told
                report.stopped = True
                report.error(f"the database refused to hand out more messages "
                             f"({_one_line(exc)}): the rest stay queued")
                break
            if not rows:
                break
            batch, mailer = _deliver_rows(rows, run_id, s, mailer)
            report.merge(batch)
            if left is not None:
                left -= len(rows)
            # A message in doubt, or a server that took nothing: leave the rest to the next run.
            if batch.stopped and (batch.unknown or not batch.sent):
                break
            if batch.stopped and mailer is not None:
                mailer.close()
                mailer = None
    finally:
        if mailer is not None:
            mailer.close()
    return finish(report)


def deliver_now(ids: Sequence[int]) -> DeliveryReport:
    """Deliver these queued messages at once (a mail a person is waiting for).

    Claimed like a batch, so a run at the same moment takes each one or none; one that a
    run already took, or that was sent, is left alone. A message the server cannot take
    now stays queued for the next run.
    """
    s = get_settings()
    run_id = new_run_id()
    report = DeliveryReport(mode="smtp" if s.smtp_host else "eml")
    rows = claim(run_id, len(ids), only=ids) if ids else []
    if rows:
        report, mailer = _deliver_rows(rows, run_id, s, None)
        if mailer is not None:
            mailer.close()
    return report


def send_soon(ids: Sequence[int]) -> None:
    """`deliver_now` for a web request's background: never raises, logs what went wrong
    (the page has already told the person their mail is on its way)."""
    try:
        report = deliver_now(ids)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the mail stays queued
        log.warning("sending outbox %s now failed (%s): it stays queued for the next run",
                    list(ids), _one_line(exc))
        return
    if not report.ok:
        log.warning("sending outbox %s now: %s", list(ids), "; ".join(report.errors[:3]))


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
    for r in rows:
        r["recipients"] = fates.get(r["id"], [])
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


def eml_files(folder: Path | None = None) -> list[Path]:
    """The .eml files written so far (demo and tests)."""
    folder = folder or get_settings().outbox_dir
    return sorted(folder.glob("*.eml")) if folder.exists() else []
