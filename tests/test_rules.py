"""The reminder ladder over many dates: each notice at most once, none on days off, no backlog."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tindak.calendar import WorkCalendar
from tindak.rules import ESCALATION, REMINDER, Item, Ladder, due_notices

CAL = WorkCalendar()
DEADLINE = date(2026, 3, 2)  # a Monday


def run_days(item: Item, days: list[date], cal: WorkCalendar = CAL) -> dict[str, date]:
    """Run the rules on each day in order, like the daily flow; return stage → day sent."""
    sent: dict[str, date] = {}
    for day in days:
        for d in due_notices(item, day, sent, cal):
            assert d.stage not in sent
            sent[d.stage] = day
    return sent


def every_day(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def test_reminders_14_7_1_days_before_and_on_the_deadline_day():
    item = Item("open", DEADLINE, last_progress_on=date(2026, 2, 10))
    sent = run_days(item, every_day(date(2026, 2, 1), DEADLINE))
    assert sent == {
        "before_14:2026-03-02": date(2026, 2, 13),  # 16 Feb is cuti bersama Imlek: day before
        "before_7:2026-03-02": date(2026, 2, 23),
        "before_1:2026-03-02": date(2026, 2, 27),  # Friday: the last working day before
        "due:2026-03-02": date(2026, 3, 2),
    }


def test_overdue_on_first_working_day_after_then_weekly_and_escalations():
    item = Item("in_progress", DEADLINE, last_progress_on=DEADLINE)
    days = every_day(DEADLINE + timedelta(days=1), DEADLINE + timedelta(days=40))
    sent = run_days(item, days)
    overdue = sorted(d for s, d in sent.items() if s.startswith("overdue_"))
    assert overdue[0] == date(2026, 3, 3)
    assert all((b - a).days >= 7 for a, b in zip(overdue, overdue[1:], strict=False))
    assert sent["esc1:2026-03-02"] == date(2026, 3, 9)  # 7 days overdue
    assert sent["esc2:2026-03-02"] == date(2026, 4, 1)  # 30 days overdue


def test_item_first_seen_long_overdue_gets_only_the_notices_due_now():
    item = Item("open", DEADLINE, last_progress_on=date(2026, 1, 5))
    today = date(2026, 4, 6)  # 35 days overdue, a Monday
    decisions = due_notices(item, today, {}, CAL)
    assert [(d.kind, d.level) for d in decisions] == [(REMINDER, 0), (ESCALATION, 2)]


def test_nothing_on_weekends_holidays_or_closed_items():
    item = Item("open", date(2026, 3, 23), last_progress_on=date(2026, 1, 1))
    # 18–24 March 2026: Nyepi, Idul Fitri and cuti bersama.
    assert due_notices(item, date(2026, 3, 18), {}, CAL) == []
    assert due_notices(item, date(2026, 3, 21), {}, CAL) == []
    for status in ("awaiting_verification", "completed", "not_actionable"):
        assert due_notices(Item(status, DEADLINE, DEADLINE), date(2026, 3, 10), {}, CAL) == []


def test_an_added_holiday_silences_a_day_and_a_cancelled_one_opens_it():
    item = Item("open", DEADLINE, last_progress_on=DEADLINE)
    off = WorkCalendar(added={date(2026, 3, 3): "Hari jadi kabupaten"})
    assert due_notices(item, date(2026, 3, 3), {}, off) == []
    opened = WorkCalendar(cancelled=frozenset({date(2026, 3, 18)}))
    assert due_notices(Item("open", date(2026, 3, 18), DEADLINE), date(2026, 3, 18), {},
                       opened)[0].stage == "due:2026-03-18"


def test_stale_nudge_after_30_days_without_an_update():
    item = Item("in_progress", date(2026, 12, 31), last_progress_on=date(2026, 3, 2))
    sent = run_days(item, every_day(date(2026, 3, 2), date(2026, 5, 10)))
    stale = {s: d for s, d in sent.items() if s.startswith("stale_")}
    assert list(stale.values()) == [date(2026, 4, 1), date(2026, 5, 4)]  # 1 May: Labour Day


def test_a_moved_deadline_starts_a_fresh_ladder():
    sent = run_days(Item("open", DEADLINE, DEADLINE), every_day(date(2026, 2, 20), DEADLINE))
    later = Item("open", date(2026, 3, 30), DEADLINE)
    decisions = due_notices(later, date(2026, 3, 16), sent, CAL)
    assert [d.stage for d in decisions] == ["before_14:2026-03-30"]


@settings(max_examples=200, deadline=None)
@given(
    deadline=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    start=st.integers(-60, 60),
    length=st.integers(1, 120),
    skip=st.lists(st.booleans(), min_size=120, max_size=120),
    status=st.sampled_from(["open", "in_progress"]),
)
def test_any_sequence_of_daily_runs_sends_each_notice_once_and_never_on_a_day_off(
    deadline, start, length, skip, status
):
    item = Item(status, deadline, last_progress_on=deadline - timedelta(days=90))
    first = deadline + timedelta(days=start)
    # Runs may be missed (a server down): skip some days.
    days = [first + timedelta(days=i) for i in range(length) if not skip[i]]
    sent: dict[str, date] = {}
    for day in days:
        decisions = due_notices(item, day, sent, CAL)
        if decisions:
            assert CAL.is_working_day(day)
        assert len({d.stage for d in decisions}) == len(decisions)
        assert sum(d.kind == ESCALATION for d in decisions) <= 1
        assert sum(d.kind == REMINDER for d in decisions) <= 1
        for d in decisions:
            assert d.stage not in sent
            sent[d.stage] = day
    escalations = [s for s in sent if s.startswith("esc")]
    assert len(escalations) <= 2


@settings(max_examples=100, deadline=None)
@given(deadline=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
       ladder=st.builds(Ladder, overdue_repeat_days=st.integers(1, 14),
                        escalate_level1_days=st.integers(1, 10),
                        escalate_level2_days=st.integers(11, 40)))
def test_a_configured_ladder_still_sends_each_stage_once(deadline, ladder):
    item = Item("open", deadline, deadline)
    sent: dict[str, date] = {}
    for day in every_day(deadline - timedelta(days=20), deadline + timedelta(days=60)):
        for d in due_notices(item, day, sent, CAL, ladder):
            assert d.stage not in sent
            sent[d.stage] = day
    late = [d for s, d in sent.items() if s.startswith("esc1")]
    assert all((d - deadline).days >= ladder.escalate_level1_days for d in late)
