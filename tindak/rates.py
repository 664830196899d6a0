"""The rates of follow-up, computed here and nowhere else (SPEC §6, §7, §8): the digest,
the dashboard and the evaluator's report all say the same number for the same items.

- implementation (completion) rate = completed ÷ (all − not actionable);
- on-time rate = items completed on or before their deadline ÷ items that were due (their
  deadline has passed, or they are completed), not actionable left out; computed against
  the original deadline (the Berita Acara's) and against the deadline in force;
- open items (open, in progress) by days overdue: 0–30, 31–90, 91–180, >180.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from models.tables import ACTIVE_STATUSES, Status

AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–30", 0, 30), ("31–90", 31, 90), ("91–180", 91, 180), (">180", 181, None))


def implementation_rate(counts: Mapping[str, int]) -> float:
    """Completed share of what can be closed (items closed as not actionable do not count)."""
    closable = sum(counts.values()) - counts.get(Status.not_actionable.value, 0)
    return counts.get(Status.completed.value, 0) / closable if closable else 0.0


completion_rate = implementation_rate  # the digest's and dashboard's name for it


@dataclass(frozen=True)
class OnTime:
    on_time: int  # completed on or before the deadline
    due: int  # completed, or past the deadline
    rate: float


def on_time(items: Iterable[tuple[str, date, date | None]], today: date) -> OnTime:
    """`items`: (status, deadline, date completed or None), the deadline being the original
    or the one in force, as the caller measures."""
    hit = due = 0
    for status, deadline, done in items:
        if status == Status.not_actionable.value:
            continue
        completed = status == Status.completed.value
        if completed or deadline < today:
            due += 1
            hit += completed and done is not None and done <= deadline
    return OnTime(hit, due, hit / due if due else 0.0)


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
