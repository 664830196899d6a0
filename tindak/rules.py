"""The reminder and escalation ladder as pure functions (SPEC §6).

`due_notices` takes an item's facts, the date and what was already sent, and returns the
notices due today. It never returns a backlog: an item first seen past several thresholds
gets only the notice that applies now, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from models.tables import ACTIVE_STATUSES
from tindak.calendar import WorkCalendar

REMINDER = "reminder"
ESCALATION = "escalation"


@dataclass(frozen=True)
class Ladder:
    """When notices go out; configurable through the settings."""

    days_before: tuple[int, ...] = (14, 7, 1, 0)
    overdue_repeat_days: int = 7
    escalate_level1_days: int = 7
    escalate_level2_days: int = 30
    stale_days: int = 30

    @classmethod
    def from_settings(cls, s) -> Ladder:
        return cls(
            days_before=tuple(sorted(set(s.remind_days_before), reverse=True)),
            overdue_repeat_days=s.overdue_repeat_days,
            escalate_level1_days=s.escalate_level1_days,
            escalate_level2_days=s.escalate_level2_days,
            stale_days=s.stale_days,
        )


@dataclass(frozen=True)
class Item:
    status: str
    deadline: date
    last_progress_on: date  # local date of the last report (or of registration)


@dataclass(frozen=True)
class Decision:
    stage: str  # unique per item: the same stage is never sent twice
    kind: str  # REMINDER (to the owner) or ESCALATION
    level: int  # 0 owner, 1 supervisor, 2 the next one up


def _stage_kind(stage: str) -> str:
    return stage.split(":", 1)[0]


def due_notices(
    item: Item,
    today: date,
    sent: Mapping[str, date],
    cal: WorkCalendar,
    ladder: Ladder = Ladder(),
) -> list[Decision]:
    """The notices due for `item` on `today`, given `sent` (stage → date it was planned)."""
    if item.status not in ACTIVE_STATUSES or not cal.is_working_day(today):
        return []
    out: list[Decision] = []
    dl = item.deadline.isoformat()
    days_left = (item.deadline - today).days

    if days_left >= 0:
        # A threshold falling on a day off is kept on the last working day before it.
        nxt = cal.next_working_day(today)
        reached = [t for t in ladder.days_before
                   if t >= days_left or nxt > item.deadline - timedelta(days=t)]
        if reached:
            t = min(reached)
            stage = f"due:{dl}" if t == 0 else f"before_{t}:{dl}"
            if stage not in sent:
                out.append(Decision(stage, REMINDER, 0))
    else:
        late = -days_left
        overdue_sent = sorted(d for s, d in sent.items()
                              if s.startswith("overdue_") and s.endswith(dl))
        if not overdue_sent or (today - overdue_sent[-1]).days >= ladder.overdue_repeat_days:
            out.append(Decision(f"overdue_{len(overdue_sent)}:{dl}", REMINDER, 0))
        if late >= ladder.escalate_level2_days:
            if f"esc2:{dl}" not in sent:
                out.append(Decision(f"esc2:{dl}", ESCALATION, 2))
        elif late >= ladder.escalate_level1_days:
            if f"esc1:{dl}" not in sent and f"esc2:{dl}" not in sent:
                out.append(Decision(f"esc1:{dl}", ESCALATION, 1))

    idle = (today - item.last_progress_on).days
    if not out and days_left >= 0 and idle >= ladder.stale_days:
        period = idle // ladder.stale_days
        stage = f"stale_{period}:{item.last_progress_on.isoformat()}"
        if stage not in sent:
            out.append(Decision(stage, REMINDER, 0))
    return out


def section(stage: str) -> str:
    """The part of a message a stage belongs to: before, due, overdue, stale, esc1, esc2."""
    head = _stage_kind(stage)
    return head.split("_", 1)[0]
