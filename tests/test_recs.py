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


def test_nobody_verifies_a_report_of_done_they_made(make):
    """SPEC §7: a planner who reported an item done (for its owner) may not accept it too;
    another planner of the tree does, and the item is left as it was meanwhile."""
    unit = make.unit()
    reporter = make.person(unit=unit, roles="planner")
    other = make.person(unit=unit, roles="planner")
    rec = make.rec(owner=make.person(unit=unit))
    recs.update_rec(rec.ref, by=reporter.email, progress=100, note="SOP signed")
    for reject in (False, True):
        with pytest.raises(Forbidden, match="reported .* done and may not verify it"):
            recs.verify_rec(rec.ref, by=reporter.email, reject=reject, note="x")
    assert next(recs.list_recs())["status"] == "awaiting_verification"
    assert [h["kind"] for h in recs.history(rec.ref)] == ["report"]
    assert recs.verify_rec(rec.ref, by=other.email)["status"] == "completed"


def test_an_owner_who_is_a_planner_needs_another_planner(make):
    unit = make.unit()
    owner_planner = make.person(unit=unit, roles="owner;planner")
    top = make.person(unit=make.unit(), roles="planner")  # a planner of another tree
    rec = make.rec(owner=owner_planner)
    recs.update_rec(rec.ref, by=owner_planner.email, progress=100)
    with pytest.raises(Forbidden, match="may not verify it"):
        recs.verify_rec(rec.ref, by=owner_planner.email)
    with pytest.raises(Forbidden, match="only a planner of its unit"):
        recs.verify_rec(rec.ref, by=top.email)
    colleague = make.person(unit=unit, roles="planner")
    # Even when a colleague reported it done, the owner does not verify their own item.
    recs.verify_rec(rec.ref, by=colleague.email, reject=True, note="no photo")
    recs.update_rec(rec.ref, by=colleague.email, progress=100)
    with pytest.raises(Forbidden, match="is an item of"):
        recs.verify_rec(rec.ref, by=owner_planner.email)
    assert next(recs.list_recs())["status"] == "awaiting_verification"


def test_the_refusal_reads_in_indonesian(make):
    from tindak.i18n import error_text

    unit = make.unit()
    planner = make.person(unit=unit, roles="planner")
    rec = make.rec(owner=make.person(unit=unit))
    recs.update_rec(rec.ref, by=planner.email, progress=100)
    with pytest.raises(Forbidden) as exc:
        recs.verify_rec(rec.ref, by=planner.email)
    assert "perencana lain" in error_text(exc.value, "id")


def test_the_cli_refuses_a_reporter_verifying_in_one_line(make, capsys):
    from tindak.cli import main

    unit = make.unit()
    planner = make.person(unit=unit, roles="planner")
    rec = make.rec(owner=make.person(unit=unit))
    assert main(["recs", "update", rec.ref, "--by", planner.email, "--progress", "100"]) == 0
    capsys.readouterr()
    assert main(["recs", "verify", rec.ref, "--by", planner.email]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "may not verify it too" in err[0]
    assert next(recs.list_recs())["status"] == "awaiting_verification"
