"""Recording progress and verifying: the status rules and who may change what."""

from __future__ import annotations

import pytest

from tindak import recs
from tindak.errors import Forbidden, InvalidInput


def test_owner_reports_progress_and_item_moves_to_in_progress(make):
    rec = make.rec()
    owner_email = recs.list_recs().__next__()["owner"]
    res = recs.update_rec(rec.ref, by=owner_email, progress=40, note="SOP drafted")
    assert res == {"ref": rec.ref, "status": "in_progress", "progress": 40}
    hist = recs.history(rec.ref)
    assert [(h["by"], h["progress"], h["note"]) for h in hist] == [(owner_email, 40, "SOP drafted")]


def test_another_owner_is_refused_and_nothing_changes(make):
    rec = make.rec()
    stranger = make.person()
    with pytest.raises(Forbidden):
        recs.update_rec(rec.ref, by=stranger.email, progress=50)
    row = next(recs.list_recs())
    assert (row["status"], row["progress"]) == ("open", 0)
    assert recs.history(rec.ref) == []


def test_not_actionable_needs_a_reason(make):
    rec = make.rec()
    owner = next(recs.list_recs())["owner"]
    with pytest.raises(InvalidInput, match="reason"):
        recs.update_rec(rec.ref, by=owner, status="not_actionable")
    res = recs.update_rec(rec.ref, by=owner, status="not_actionable", note="Budget cut by DPRD")
    assert res["status"] == "not_actionable"


def test_completed_only_through_verification_by_a_planner(make):
    unit = make.unit()
    planner = make.person(unit=unit, roles="planner")
    owner = make.person(unit=unit)
    rec = make.rec(owner=owner)
    with pytest.raises(InvalidInput, match="verification"):
        recs.update_rec(rec.ref, by=owner.email, status="completed")
    assert recs.update_rec(rec.ref, by=owner.email, progress=100)["status"] == (
        "awaiting_verification")
    with pytest.raises(Forbidden):
        recs.verify_rec(rec.ref, by=owner.email)
    assert recs.verify_rec(rec.ref, by=planner.email)["status"] == "completed"
    with pytest.raises(InvalidInput):
        recs.update_rec(rec.ref, by=owner.email, progress=50)


def test_planner_of_a_parent_unit_may_verify_but_not_of_a_sibling(make):
    root = make.unit()
    child = make.unit(parent=root)
    sibling = make.unit(parent=root)
    top_planner = make.person(unit=root, roles="planner")
    sibling_planner = make.person(unit=sibling, roles="planner")
    owner = make.person(unit=child)
    rec = make.rec(owner=owner, unit=child)
    recs.update_rec(rec.ref, by=owner.email, status="awaiting_verification")
    with pytest.raises(Forbidden):
        recs.verify_rec(rec.ref, by=sibling_planner.email)
    with pytest.raises(InvalidInput, match="reason"):
        recs.verify_rec(rec.ref, by=top_planner.email, reject=True)
    res = recs.verify_rec(rec.ref, by=top_planner.email, reject=True, note="No photo of SOP")
    assert res["status"] == "in_progress"


def test_overdue_is_judged_in_the_units_timezone(make):
    from datetime import UTC, date, datetime

    wib = make.unit(timezone="Asia/Jakarta")
    wit = make.unit(timezone="Asia/Jayapura")
    make.rec(ref="A", owner=make.person(unit=wib), deadline=date(2026, 3, 2))
    make.rec(ref="B", owner=make.person(unit=wit), deadline=date(2026, 3, 2))
    # 16:30 UTC on 2 March is 23:30 WIB (still the deadline day) but 01:30 WIT on 3 March.
    now = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    rows = {r["ref"]: r for r in recs.list_recs(now=now)}
    assert rows["A"]["overdue"] is False
    assert rows["B"]["overdue"] is True and rows["B"]["days_overdue"] == 1
