"""Digests built a batch of leaders at a time give each leader what a plain, one-leader-at-a-
time reading of their tree gives: same counts, same lists, same bars."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from models import (
    ACTIVE_STATUSES,
    Forum,
    Notice,
    ProgressUpdate,
    Recommendation,
    session,
    write_session,
)
from tindak import digest_contents
from tindak.directory import UnitTree
from tindak.settings import get_settings
from tindak.status import is_at_risk

MONDAY = date(2026, 3, 9)
STATUSES = ["open", "in_progress", "awaiting_verification", "completed", "not_actionable"]


def national(make):
    """Two trees of different depths and timezones, a leader at most levels (two at one
    unit, one over an empty unit), and items of every kind spread over them."""
    prov = make.unit(code="PROV", name="Pemerintah Provinsi")
    dinkes = make.unit(code="DINKES", name="Dinas Kesehatan", parent=prov)
    rsud = make.unit(code="RSUD", name="RSUD Kota", parent=dinkes, timezone="Asia/Makassar")
    poli = make.unit(code="POLI", name="Poli Anak", parent=rsud, timezone="Asia/Makassar")
    pusk = make.unit(code="PUSK", name="Puskesmas", parent=dinkes)
    disdik = make.unit(code="DISDIK", name="Dinas Pendidikan", parent=prov,
                       timezone="Asia/Jayapura")
    sekolah = make.unit(code="SMA1", name="SMA Negeri 1", parent=disdik,
                        timezone="Asia/Jayapura")
    kosong = make.unit(code="KOSONG", name="Badan Kosong", parent=prov)
    kota = make.unit(code="KOTA", name="Pemerintah Kota")
    kec = make.unit(code="KEC", name="Kecamatan Timur", parent=kota)
    units = [prov, dinkes, rsud, poli, pusk, disdik, sekolah, kosong, kota, kec]
    leaders = [make.person(unit=u, roles="leader")
               for u in (prov, dinkes, dinkes, rsud, poli, disdik, kosong, kota, kec)]
    planner = make.person(unit=prov, roles="planner")
    rng = random.Random(7)
    forums = [make.forum(unit=prov, held_on=MONDAY - timedelta(days=d)) for d in (20, 90, 200)]
    owners = {u.id: make.person(unit=u) for u in units}
    recs = []
    for i in range(90):
        unit = rng.choice([u for u in units if u is not kosong])
        status = rng.choice(STATUSES)
        recs.append(make.rec(
            ref=f"R{i:03d}", owner=owners[unit.id], unit=unit, forum=rng.choice(forums),
            status=status, progress=100 if status == "completed" else rng.choice([0, 10, 60]),
            deadline=MONDAY + timedelta(days=rng.randint(-60, 60)),
        ))
    week_start, _ = digest_contents.week_of(MONDAY)
    with write_session() as s:
        for r in recs[::3]:  # escalations in and out of the past week, and other notices
            on = week_start + timedelta(days=rng.randint(-3, 8))
            s.add(Notice(recommendation_id=r.id, stage=rng.choice(["esc1", "esc2", "due"]),
                         kind="escalation", recipient_id=planner.id, on_date=on))
        for r in recs:  # verified around the week's edges, which differ by timezone
            if r.status == "completed" or rng.random() < 0.1:
                at = datetime.combine(week_start, time(0), UTC) + timedelta(
                    hours=rng.choice([-9.5, -8.5, -7.5, -6.5, 0, 30, 158.5, 159.5, 160.5, 161.5]))
                s.add(ProgressUpdate(recommendation_id=r.id, person_id=planner.id,
                                     at=at, progress=100, kind="verify"))
    return leaders


def plain_digest(leader, as_of: date) -> dict:
    """The leader's figures read the plain way: every item of the tree, in Python."""
    cap, points = digest_contents.LIST_CAP, get_settings().at_risk_points
    week_start, _ = digest_contents.week_of(as_of)
    with session() as s:
        tree = UnitTree.load(s)
        units = tree.subtree(leader.unit_id)
        held = dict(s.execute(sa.select(Forum.id, Forum.held_on)).all())
        recs = [r for r in s.execute(sa.select(Recommendation)).scalars() if r.unit_id in units]
        escalated = set(s.execute(sa.select(Notice.recommendation_id).where(
            Notice.stage.like("esc%"), Notice.on_date >= week_start,
            Notice.on_date < as_of)).scalars())
        tz = ZoneInfo(tree.tz[leader.unit_id])
        since = datetime.combine(week_start, time(0), tz).astimezone(UTC).replace(tzinfo=None)
        until = datetime.combine(as_of, time(0), tz).astimezone(UTC).replace(tzinfo=None)
        verified = {u.recommendation_id for u in s.execute(sa.select(ProgressUpdate)).scalars()
                    if u.kind == "verify" and since <= u.at.replace(tzinfo=None) < until}
    counts = {c: sum(r.status == c for r in recs) for c in STATUSES}
    late = sorted((r for r in recs if r.status in ACTIVE_STATUSES and r.deadline < as_of),
                  key=lambda r: (r.deadline, r.id))
    by_deadline = sorted(recs, key=lambda r: (r.deadline, r.id))
    kids = tree.children()
    bars = {}
    for top in [leader.unit_id, *kids.get(leader.unit_id, ())]:
        under = {top} if top == leader.unit_id else tree.subtree(top)
        c = {code: sum(r.status == code and r.unit_id in under for r in recs)
             for code in STATUSES}
        if any(c.values()):
            bars[tree.name[top]] = c
    closable = len(recs) - counts["not_actionable"]
    return {
        "total": len(recs), "counts": counts, "overdue_count": len(late),
        "completion_rate": counts["completed"] / closable if closable else 0.0,
        "overdue": [r.ref for r in late[:cap]],
        "at_risk": [r.ref for r in by_deadline if r.deadline >= as_of and is_at_risk(
            r.status, r.progress, held[r.forum_id], r.deadline, as_of, points)][:cap],
        "escalations": [r.ref for r in by_deadline if r.id in escalated][:cap],
        "completions": sorted(r.ref for r in recs
                              if r.id in verified and r.status == "completed")[:cap],
        "per_unit": bars,
    }


def figures(d) -> dict:  # type: ignore[no-untyped-def]
    return {
        "total": d.total, "counts": d.counts, "overdue_count": d.overdue_count,
        "completion_rate": d.completion_rate, "overdue": [i.ref for i in d.overdue],
        "at_risk": [i.ref for i in d.at_risk], "escalations": [i.ref for i in d.escalations],
        "completions": [i.ref for i in d.completions],
        "per_unit": {u.unit_name: u.counts for u in d.per_unit},
    }


@pytest.mark.parametrize("cap", [3, 50])
def test_batched_digests_are_the_plain_per_leader_figures(make, monkeypatch, cap):
    leaders = national(make)
    monkeypatch.setattr(digest_contents, "LIST_CAP", cap)  # 3: every list is cut, merged and cut
    # Tiny batches and IN lists: leaders of one tree in different batches, units in chunks.
    monkeypatch.setattr(digest_contents, "BATCH_UNITS", 3)
    monkeypatch.setattr(digest_contents, "BATCH_LEADERS", 2)
    monkeypatch.setattr(digest_contents, "IN_LIST", 2)
    ids = [p.id for p in leaders]
    batched = dict(digest_contents.digests_for_leaders(ids[::-1], MONDAY))
    assert sorted(batched) == sorted(ids)
    for leader in leaders:
        want = plain_digest(leader, MONDAY)
        assert figures(batched[leader.id]) == want, leader.unit_id
        assert digest_contents.digest_for_leader(leader.id, MONDAY) == batched[leader.id]
    # The data exercise what they should: capped lists, both kinds of weekly list, bars.
    gub = figures(batched[leaders[0].id])
    assert set(gub["per_unit"]) == {"Pemerintah Provinsi", "Dinas Kesehatan",
                                    "Dinas Pendidikan"}  # (nothing under Badan Kosong)
    assert gub["total"] + batched[leaders[7].id].total == 90
    assert all(gub[k] for k in ("overdue", "at_risk", "escalations", "completions"))
    if cap == 3:
        assert all(len(gub[k]) == 3 for k in ("overdue", "at_risk", "escalations"))
    assert batched[leaders[6].id].total == 0  # a leader over a unit without items


def test_one_batch_reads_a_whole_large_tree_as_a_small_one(make, monkeypatch):
    """One leader whose tree alone is larger than a batch still gets their digest whole."""
    leaders = national(make)
    monkeypatch.setattr(digest_contents, "BATCH_UNITS", 1)
    got = dict(digest_contents.digests_for_leaders([leaders[0].id, leaders[7].id], MONDAY))
    assert figures(got[leaders[0].id]) == plain_digest(leaders[0], MONDAY)
    assert figures(got[leaders[7].id]) == plain_digest(leaders[7], MONDAY)
