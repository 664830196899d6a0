"""The weekly leadership digest (SPEC §6): which leaders get one when, and a run that builds,
renders and queues theirs.

What a digest contains is read by `tindak.digest_contents`, a batch of leaders at a time.
The render processes draw the charts while the next batch is read, and the messages are
queued as they come back: nothing holds all the items, or all the messages, at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from models import Outbox, Person, Unit, session, write_session
from tindak import pool
from tindak.digest_contents import (
    BATCH_LEADERS,
    IN_LIST,
    digest_for_leader,
    digests_for_leaders,
    week_of,
)
from tindak.directory import Units
from tindak.mailmodel import DigestMail, Rendered
from tindak.outbox.store import message_key, queue_messages

__all__ = ["DigestReport", "digest_for_leader", "digest_key_day", "digests_for_leaders",
           "leaders_by_timezone", "plan_digests", "week_of"]

POOL_MIN_DIGESTS = 40  # fewer render faster here than a pool starts
RENDER_CHUNK = 8  # digests a render process takes at a time
QUEUE_CHUNK = 50  # messages written to the outbox in one statement


@dataclass
class DigestReport:
    leaders: int = 0
    messages: int = 0
    skipped: int = 0  # already queued for this week

    def add(self, other: DigestReport) -> None:
        """Count another batch's digests into these."""
        self.leaders += other.leaders
        self.messages += other.messages
        self.skipped += other.skipped


def digest_key_day(as_of: date) -> date:
    """The date a digest's key carries: one per leader per ISO week, whatever day it runs.
    It is the week_start of that week's Monday run, so keys queued before stay valid."""
    monday = as_of - timedelta(days=as_of.weekday())
    return week_of(monday)[0]


def leaders_by_timezone(timezones: list[str] | None = None) -> dict[str, list[int]]:
    """Leaders' ids grouped by their unit's timezone (each gets the digest at local 07:00),
    in the order of their units in the tree: a slice of the list holds a leader and those
    below them, whose trees are read together."""
    with session() as s:
        rows = s.execute(sa.select(col(Person.id), col(Person.roles), col(Person.unit_id),
                                   col(Unit.timezone))
                         .join(Unit, col(Unit.id) == col(Person.unit_id))
                         .order_by(col(Person.id))).all()
        place = Units.load(s).tree_order()
    out: dict[str, list[int]] = {}
    for pid, roles, _unit, tz in sorted(rows, key=lambda r: (place.get(r[2], len(place)),
                                                             r[0])):
        if "leader" in roles.split(";") and (not timezones or tz in timezones):
            out.setdefault(tz, []).append(pid)
    return out


def _render_all(digests: list[DigestMail]) -> list[Rendered]:
    from tindak import mail

    return [mail.render_digest(d) for d in digests]


def plan_digests(as_of: date, ids: list[int], now: datetime | None = None,
                 run_key: str | None = None) -> DigestReport:
    """Build, render and queue the digests of these leaders (skipping those already queued).
    A run's tasks (`run_key`) render on the run's processes, made by the first that needs
    them and shut down at the run's end (`tindak.pool.end_run`)."""
    now = now or datetime.now(UTC)
    report = DigestReport(leaders=len(ids))
    key_day = digest_key_day(as_of)
    with session() as s:
        emails: dict[int, str] = {}
        for i in range(0, len(ids), IN_LIST):
            emails.update(s.execute(sa.select(col(Person.id), col(Person.email))
                                    .where(col(Person.id).in_(ids[i:i + IN_LIST]))).all())
        keys = {pid: message_key("digest", email, key_day, []) for pid, email in emails.items()}
        done: set[str] = set()
        values = list(keys.values())
        for i in range(0, len(values), IN_LIST):
            done.update(s.execute(sa.select(col(Outbox.key))
                                  .where(col(Outbox.key).in_(values[i:i + IN_LIST]))).scalars())
    todo = [pid for pid in dict.fromkeys(ids) if pid in keys and keys[pid] not in done]
    report.skipped = len(ids) - len(todo)

    def queue(rendered: list[tuple[int, Rendered]]) -> None:
        for i in range(0, len(rendered), QUEUE_CHUNK):
            part = rendered[i:i + QUEUE_CHUNK]
            with write_session() as s:
                new = queue_messages(s, [(keys[pid], "digest", as_of, emails[pid], [], r)
                                         for pid, r in part], now)
            report.messages += len(new)
            report.skipped += len(part) - len(new)

    # The chart costs most: many digests render on every core while the next batch is read.
    with pool.for_run(run_key, len(todo) >= POOL_MIN_DIGESTS) as executor:
        if executor is None:
            for batch in _chunks(digests_for_leaders(todo, as_of), QUEUE_CHUNK):
                queue([(pid, r) for (pid, _), r in zip(
                    batch, _render_all([d for _, d in batch]), strict=True)])
            return report
        pending: deque[tuple[list[int], Future[list[Rendered]]]] = deque()
        ready: list[tuple[int, Rendered]] = []
        in_flight = max(4, 2 * BATCH_LEADERS // RENDER_CHUNK)

        def collect(block: bool) -> None:
            while pending and (block or pending[0][1].done()):
                pids, future = pending.popleft()
                ready.extend(zip(pids, future.result(), strict=True))
                if len(ready) >= QUEUE_CHUNK:
                    queue(ready)
                    ready.clear()
                block = block and len(pending) > in_flight

        for batch in _chunks(digests_for_leaders(todo, as_of), RENDER_CHUNK):
            pending.append(([pid for pid, _ in batch],
                            executor.submit(_render_all, [d for _, d in batch])))
            collect(block=len(pending) > in_flight)
        while pending:
            collect(block=True)
        queue(ready)
    return report


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk
