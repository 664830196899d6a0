"""Outbox delivery, exactly once (SPEC §6): the one loop that sends, for the CLI, the
flows (`flows/shared.py`) and the web's immediate mails.

A message moves pending → claimed → sending → sent, one short transaction per step and
none held across SMTP I/O:

- claim: a batch of pending (or failed) rows is taken atomically (`store.claim`), so two
  runs never take the same row;
- sending: committed before the bytes go out; a row left in 'sending' by a dead run may have
  been accepted by the server, so it becomes 'unknown' and is never resent automatically
  ('sent' marks are written in small groups: see `tindak.outbox.marks.Marks`);
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

The same loop serves every transport (`tindak.outbox.transports`): SMTP, or with no SMTP
host configured, .eml files.
"""

from __future__ import annotations

import logging
import smtplib
import sqlite3
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from models import OutboxStatus, RecipientState, get_engine
from tindak.errors import DeliveryError
from tindak.outbox.marks import Marks
from tindak.outbox.mime import Prepared, prepare
from tindak.outbox.report import DeliveryReport
from tindak.outbox.store import (
    claim,
    count_in_flight,
    count_queued,
    history,
    new_run_id,
    recover_stale_rows,
    requeue_claimed,
)
from tindak.outbox.transports import Transport, describe, mode_of, reply_text, transport_for
from tindak.settings import Settings, get_settings

S = OutboxStatus
RS = RecipientState
# Errors found in the row itself (bad address, bad attachment): sending again cannot help.
BAD_ROW = (DeliveryError, ValueError, KeyError, TypeError, OSError)


def db_errors() -> tuple[type[BaseException], ...]:
    """What a database failure raises: SQLite's and SQLAlchemy's errors, and psycopg's raw
    ones when PostgreSQL is in use (the fast marks speak to the driver). psycopg is looked
    up, not imported: it raises only once loaded, and a SQLite run never pays its import
    (~0.2 s of every `tindak run`)."""
    pg = sys.modules.get("psycopg")
    if pg is None:
        return _BASE_DB_ERRORS
    return (*_BASE_DB_ERRORS, pg.Error)


_BASE_DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, sa.exc.DBAPIError)
log = logging.getLogger(__name__)


def recover_stale(now: datetime | None = None) -> DeliveryReport:
    """Rows a dead run left behind: 'claimed' back to 'pending', 'sending' to 'unknown'."""
    report = DeliveryReport(mode=mode_of(get_settings()))
    report.requeued, stale = recover_stale_rows(now)
    report.unknown = len(stale)
    for r in stale:
        report.error(f"outbox {r.id} ({r.recipient}): delivery run died while sending; "
                     "marked unknown, not resent")
    return report


def finish(report: DeliveryReport) -> DeliveryReport:
    """Complete a run's report with what the queue holds now (what is left, what is stuck)."""
    s = get_settings()
    report.mode = mode_of(s)
    report.pending_left = count_queued()
    report.in_flight_left = count_in_flight()
    return report



# ---------------------------------------------------------------- one batch


def _build(row: sa.Row, mail_from: str) -> Prepared | BaseException:
    """A row's message, or the reason it cannot be built (handled in order, by the sender)."""
    try:
        return prepare(row, mail_from)
    except BAD_ROW as exc:
        return exc


def _send_rows(rows: Sequence[sa.Row], run_id: str, transport: Transport, s: Settings,
               report: DeliveryReport) -> None:
    """Send claimed rows over one connection; every row ends sent, failed, dead, unknown
    or (when the batch stops early) back in pending."""
    fared = history([r.id for r in rows])
    with get_engine(writer=True).connect() as conn:
        marks = Marks(conn, run_id)
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
                assert ahead is not None  # submitted for every row
                built = ahead.result()
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
                past = fared.get(row.id)
                if past:  # only those who have not taken it yet, nor refused it for good
                    p = replace(p, rcpt_tos=[a for a in p.rcpt_tos if past.get(a.lower())
                                             not in (RS.accepted.value, RS.refused.value)])
                if not transport.alive:
                    report.stopped = True
                    report.error(f"SMTP server {transport.where} closed the connection")
                    break
                if not marks.sending(row.id):
                    continue  # another run took this row back (its lease had run out)
                if past and not p.rcpt_tos:
                    _settle(marks, row, past, [], {}, s, report)
                    continue
                try:
                    refused = transport.send(p, row.id, row.recipient)
                except smtplib.SMTPServerDisconnected as exc:
                    _in_doubt(marks, row, exc, report)
                    break
                except smtplib.SMTPResponseException as exc:  # incl. sender/data refused
                    if exc.smtp_code == 421 or not transport.alive:
                        # The server ended the session instead of taking the message.
                        marks.done(row.id, S.failed.value, row.attempts, describe(exc))
                        report.failed += 1
                        report.stopped = True
                        report.error(f"outbox {row.id} ({row.recipient}): {describe(exc)}")
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
                    _settle(marks, row, past or {}, p.rcpt_tos, refused, s, report,
                            transport.path)
                    continue
                marks.sent(row.id, None, transport.path)
                report.sent += 1
        except db_errors() as exc:
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


def _close_batch(conn: sa.Connection, marks: Marks, run_id: str, raw: Any,
                 report: DeliveryReport) -> None:
    """Write the waiting marks and put untouched rows back; say what could not be done."""
    for attempt in range(2):  # a lock held a moment longer gets one more busy timeout
        try:
            marks.flush()
            break
        except db_errors() as exc:
            if attempt:
                n = marks.unwritten()
                report.unmarked += n
                report.stopped = True
                report.error(f"the database refused to record {n} message(s) the server "
                             f"answered ({_one_line(exc)}): they stay 'sending' and the "
                             "next run marks them unknown, never resends them")
    try:
        marks.close()
        report.requeued += requeue_claimed(conn, run_id, None)
    except db_errors() as exc:
        report.stopped = True
        report.error(f"the database refused to put untouched messages back in the queue "
                     f"({_one_line(exc)}): they stay claimed until the next run after "
                     "the lease recovers them")
        conn.rollback()
    if raw is not None:
        try:
            raw.execute("PRAGMA wal_autocheckpoint=1000")
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except db_errors():
            pass  # a checkpoint skipped now is done by the next writer


def _settle(marks: Marks, row: sa.Row, past: dict[str, str], tried: list[str],
            refused: dict[str, tuple[int, bytes]], s: Settings,
            report: DeliveryReport, path: str | None = None) -> None:
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
            reply = reply_text(code, msg)
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
        marks.sent(row.id, None, path)
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


def _refused(marks: Marks, row: sa.Row, exc: Exception, s: Settings,
             report: DeliveryReport) -> None:
    """A definite refusal: the server did not take the message. Retried by the next run."""
    attempts = row.attempts + 1
    status = S.dead.value if attempts >= s.max_attempts else S.failed.value
    marks.done(row.id, status, attempts, describe(exc))
    if status == S.dead.value:
        report.dead += 1
    else:
        report.failed += 1
    report.error(f"outbox {row.id} ({row.recipient}): {describe(exc)}")


def _in_doubt(marks: Marks, row: sa.Row, exc: BaseException, report: DeliveryReport) -> None:
    """The connection broke with the message in flight: it may have been delivered."""
    err = f"connection lost while sending ({describe(exc)}): the server may have accepted it"
    marks.done(row.id, S.unknown.value, row.attempts + 1, err)
    report.unknown += 1
    report.stopped = True
    report.error(f"outbox {row.id} ({row.recipient}): {err}; not resent "
                 "(`tindak outbox retry` after checking)")


def _deliver_rows(rows: Sequence[sa.Row], run_id: str, s: Settings,
                  transport: Transport | None) -> tuple[DeliveryReport, Transport | None]:
    report = DeliveryReport(mode=mode_of(s))
    if transport is None or not transport.alive:
        transport = transport_for(s)
        try:
            transport.open()
        except DeliveryError as exc:
            report.stopped = True
            report.error(f"{exc}; {len(rows)} message(s) stay queued")
            try:
                with get_engine(writer=True).connect() as conn:
                    report.requeued += requeue_claimed(conn, run_id, str(exc))
            except db_errors() as db_exc:
                report.error(f"the database refused to put them back ({_one_line(db_exc)}): "
                             "they stay claimed until the next run after the lease")
            return report, None
    _send_rows(rows, run_id, transport, s, report)
    if transport.name == "eml":
        report.eml_written = report.sent
    return report, transport


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
    report, transport = _deliver_rows(rows, run_id, s, None)
    if transport is not None:
        transport.close()
    return report


def deliver(run_id: str | None = None, limit: int | None = None,
            now: datetime | None = None) -> DeliveryReport:
    """Deliver everything queued (at most `limit` messages), batch by batch."""
    s = get_settings()
    run_id = run_id or new_run_id()
    report = recover_stale(now)
    transport: Transport | None = None
    left = limit
    try:
        while left is None or left > 0:
            size = s.batch_size if left is None else min(s.batch_size, left)
            try:
                rows = claim(run_id, size, now)
            except db_errors() as exc:  # what earlier batches did must still be told
                report.stopped = True
                report.error(f"the database refused to hand out more messages "
                             f"({_one_line(exc)}): the rest stay queued")
                break
            if not rows:
                break
            batch, transport = _deliver_rows(rows, run_id, s, transport)
            report.merge(batch)
            if left is not None:
                left -= len(rows)
            # A message in doubt, or a server that took nothing: leave the rest to the next run.
            if batch.stopped and (batch.unknown or not batch.sent):
                break
            if batch.stopped and transport is not None:
                transport.close()
                transport = None
    finally:
        if transport is not None:
            transport.close()
    return finish(report)


def deliver_now(ids: Sequence[int]) -> DeliveryReport:
    """Deliver these queued messages at once (a mail a person is waiting for).

    Claimed like a batch, so a run at the same moment takes each one or none; one that a
    run already took, or that was sent, is left alone. A message the server cannot take
    now stays queued for the next run.
    """
    s = get_settings()
    run_id = new_run_id()
    report = DeliveryReport(mode=mode_of(s))
    rows = claim(run_id, len(ids), only=ids) if ids else []
    if rows:
        report, transport = _deliver_rows(rows, run_id, s, None)
        if transport is not None:
            transport.close()
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
