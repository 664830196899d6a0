"""Pure facts about an item on a date: overdue, days overdue, at risk (SPEC §2)."""

from __future__ import annotations

from datetime import date

from models.tables import ACTIVE_STATUSES, Status

STATUS_LABELS_ID = {
    Status.open.value: "Belum ditindaklanjuti",
    Status.in_progress.value: "Dalam proses",
    Status.awaiting_verification.value: "Selesai, menunggu verifikasi",
    Status.completed.value: "Selesai sesuai rekomendasi",
    Status.not_actionable.value: "Tidak dapat ditindaklanjuti",
}
STATUS_LABELS_EN = {
    Status.open.value: "Not yet followed up",
    Status.in_progress.value: "In progress",
    Status.awaiting_verification.value: "Done, awaiting verification",
    Status.completed.value: "Completed as recommended",
    Status.not_actionable.value: "Cannot be followed up",
}


def is_overdue(status: str, deadline: date, today: date) -> bool:
    """Overdue: the deadline has passed (in the unit's timezone) and the item is still active."""
    return status in ACTIVE_STATUSES and today > deadline


def days_overdue(status: str, deadline: date, today: date) -> int:
    return (today - deadline).days if is_overdue(status, deadline, today) else 0


def time_used_share(start: date, deadline: date, today: date) -> float:
    """Share (0..1) of the time between start and deadline already used on `today`."""
    total = (deadline - start).days
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, (today - start).days / total))


def is_at_risk(
    status: str, progress: int, start: date, deadline: date, today: date, points: int = 25
) -> bool:
    """At risk: still active, not yet overdue, and progress lags time used by > `points`."""
    if status not in ACTIVE_STATUSES or today > deadline:
        return False
    return time_used_share(start, deadline, today) * 100 - progress > points
