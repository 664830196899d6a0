"""The rates of follow-up, computed here and nowhere else (SPEC §6, §7, §8): the digest,
the dashboard and the evaluator's report all say the same number for the same items.

- implementation (completion) rate = completed ÷ (all − not actionable);
- on-time rate = items completed on or before their deadline ÷ items that were due (their
  deadline has passed, or they are completed), not actionable left out; computed against
  the original deadline (the Berita Acara's) and against the deadline in force;
- open items (open, in progress) by days overdue: 0–30, 31–90, 91–180, >180.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from models.tables import ACTIVE_STATUSES, ProgressUpdate, Status
from tindak.calendar import local_today

AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–30", 0, 30), ("31–90", 31, 90), ("91–180", 91, 180), (">180", 181, None))


def implementation_rate(counts: Mapping[str, int]) -> float:
    """Completed share of what can be closed (items closed as not actionable do not count)."""
    closable = sum(counts.values()) - counts.get(Status.not_actionable.value, 0)
    return counts.get(Status.completed.value, 0) / closable if closable else 0.0


@dataclass(frozen=True)
class OnTime:
    on_time: int  # completed on or before the deadline
    due: int  # completed, or past the deadline
    rate: float


class OnTimeTally:
    """The on-time rate counted one item at a time, and summed over units (a tree's rate is
    its units' counts added up): the one place the rule lives."""

    __slots__ = ("hit", "due")

    def __init__(self) -> None:
        self.hit = self.due = 0

    def add(self, status: str, deadline: date, done: date | None, today: date) -> None:
        if status == Status.not_actionable.value:
            return
        completed = status == Status.completed.value
        if completed or deadline < today:
            self.due += 1
            self.hit += completed and done is not None and done <= deadline

    def merge(self, other: OnTimeTally) -> None:
        self.hit += other.hit
        self.due += other.due

    def result(self) -> OnTime:
        return OnTime(self.hit, self.due, self.hit / self.due if self.due else 0.0)


def on_time(items: Iterable[tuple[str, date, date | None]], today: date) -> OnTime:
    """`items`: (status, deadline, date completed or None), the deadline being the original
    or the one in force, as the caller measures."""
    tally = OnTimeTally()
    for status, deadline, done in items:
        tally.add(status, deadline, done, today)
    return tally.result()


class CompletionDays:
    """The day each completed item was done: the owner's report at 100 that a planner then
    verified (else the verification's day), in the item's unit's timezone. Fed with an
    item's updates in order (at, id)."""

    def __init__(self) -> None:
        self._reported: dict[int, datetime] = {}
        self._done: dict[int, datetime] = {}

    def feed(self, rid: int, at: datetime, progress: int | None, kind: str) -> None:
        if kind == "report" and progress == 100:
            self._reported[rid] = at
        elif kind == "verify":
            self._done[rid] = self._reported.get(rid, at)
        elif kind == "reject":
            self._reported.pop(rid, None)

    def days(self, tz_of: Callable[[int], str]) -> dict[int, date]:
        """Item id → the local day it was done (tz_of: item id → its unit's timezone)."""
        return {rid: local_today(tz_of(rid), at if at.tzinfo else at.replace(tzinfo=UTC))
                for rid, at in self._done.items()}


UPDATE_KINDS = ("report", "verify", "reject")  # the updates CompletionDays reads


def completion_days(s: Any, ids: list[int], tz_of: Callable[[int], str],
                    chunk: int = 900) -> dict[int, date]:
    """CompletionDays for these items, read from their updates."""
    days = CompletionDays()
    u = ProgressUpdate
    for i in range(0, len(ids), chunk):
        q = (sa.select(col(u.recommendation_id), col(u.at), col(u.progress), col(u.kind))
             .where(col(u.recommendation_id).in_(ids[i:i + chunk]), col(u.kind).in_(UPDATE_KINDS))
             .order_by(col(u.at), col(u.id)))
        for rid, at, progress, kind in s.execute(q):
            days.feed(rid, at, progress, kind)
    return days.days(tz_of)


def age_bucket(days_overdue: int) -> str:
    """The bucket of an open item by its days overdue (0 when not overdue)."""
    for label, low, high in AGE_BUCKETS:
        if days_overdue >= low and (high is None or days_overdue <= high):
            return label
    return AGE_BUCKETS[0][0]


def aging(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(status, days overdue) of items → how many open ones fall in each bucket."""
    out = {label: 0 for label, _, _ in AGE_BUCKETS}
    for status, days in items:
        if status in ACTIVE_STATUSES:
            out[age_bucket(days)] += 1
    return out
