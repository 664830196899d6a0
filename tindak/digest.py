"""The weekly leadership digest: for each leader, their unit tree as of a date (SPEC §6).

Honest counts: only what SPEC §2 calls overdue is overdue (deadline passed in the unit's
timezone, still open or in progress).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from models import (
    ACTIVE_STATUSES,
    Forum,
    Notice,
    Outbox,
    Person,
    ProgressUpdate,
    Recommendation,
    Status,
    Unit,
    session,
    write_session,
)
from tindak.directory import UnitTree
from tindak.errors import NotFound
from tindak.followup import message_key, queue_message
from tindak.mailmodel import DigestMail, ItemLine, UnitCount
from tindak.pool import render_pool
from tindak.settings import get_settings
from tindak.status import is_at_risk

LIST_CAP = 50
POOL_MIN_DIGESTS = 40  # fewer render faster here than a pool starts
STATUSES = [s.value for s in Status]


@dataclass
class DigestReport:
    leaders: int = 0
    messages: int = 0
    skipped: int = 0  # already queued for this week


def week_of(as_of: date) -> tuple[date, date]:
    """The past week a digest sent on `as_of` covers: the seven days before it."""
    return as_of - timedelta(days=7), as_of - timedelta(days=1)


def leaders_by_timezone(timezones: list[str] | None = None) -> dict[str, list[int]]:
    """Leaders' ids grouped by their unit's timezone (each gets the digest at local 07:00)."""
    with session() as s:
        rows = s.execute(sa.select(Person.id, Person.roles, Unit.timezone)
                         .join(Unit, Unit.id == Person.unit_id).order_by(Person.id)).all()
    out: dict[str, list[int]] = defaultdict(list)
    for pid, roles, tz in rows:
        if "leader" in roles.split(";") and (not timezones or tz in timezones):
            out[tz].append(pid)
    return dict(out)


def _unit_filter(col, units: set[int], tree: UnitTree):  # type: ignore[no-untyped-def]
    return sa.true() if len(units) == len(tree.parent) else col.in_(sorted(units))


@dataclass
class Units:
    """The unit tree with its children map made once: many digests, one load."""

    tree: UnitTree
    kids: dict[int, list[int]]

    @classmethod
    def load(cls, s: Session) -> Units:
        tree = UnitTree.load(s)
        return cls(tree, tree.children())

    def subtree(self, root: int) -> set[int]:
        seen, stack = set(), [root]
        while stack:
            uid = stack.pop()
            if uid not in seen:
                seen.add(uid)
                stack.extend(self.kids.get(uid, ()))
        return seen


def digest_for_leader(leader_id: int, as_of: date, s: Session | None = None,
                      units_: Units | None = None) -> DigestMail:
    """The digest's numbers for one leader's unit tree, as of the morning of `as_of`."""
    if s is None:
        with session() as own:
            return digest_for_leader(leader_id, as_of, own, units_)
    settings = get_settings()
    leader = s.get(Person, leader_id)
    if leader is None:
        raise NotFound(f"no person with id {leader_id}")
    all_units = units_ or Units.load(s)
    tree = all_units.tree
    units = all_units.subtree(leader.unit_id)
    where = _unit_filter(Recommendation.unit_id, units, tree)
    R, F, U, P = Recommendation, Forum, Unit, Person

    counts = dict.fromkeys(STATUSES, 0)
    top_of = _top_units(all_units, leader.unit_id)
    per_unit: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for uid, status, n in s.execute(
        sa.select(R.unit_id, R.status, sa.func.count()).where(where)
        .group_by(R.unit_id, R.status)
    ):
        counts[status] += n
        per_unit[top_of.get(uid, leader.unit_id)][status] += n
    total = sum(counts.values())
    closable = total - counts[Status.not_actionable.value]
    rate = counts[Status.completed.value] / closable if closable else 0.0

    cols = (R.id, R.ref, R.text, F.title, U.name, R.deadline, U.timezone, R.status,
            R.progress, P.name, P.email, F.held_on)
    base = (sa.select(*cols).join(F, F.id == R.forum_id).join(U, U.id == R.unit_id)
            .join(P, P.id == R.owner_id).where(where))
    late_where = sa.and_(R.status.in_(ACTIVE_STATUSES), R.deadline < as_of)
    overdue_count = s.execute(sa.select(sa.func.count()).select_from(R)
                              .where(where, late_where)).scalar_one()
    overdue = [_line(r, as_of) for r in s.execute(
        base.where(late_where).order_by(R.deadline, R.id).limit(LIST_CAP))]

    week_start, week_end = week_of(as_of)
    esc_ids = s.execute(
        sa.select(Notice.recommendation_id).distinct()
        .join(R, R.id == Notice.recommendation_id)
        .where(where, Notice.stage.like("esc%"), Notice.on_date >= week_start,
               Notice.on_date < as_of)
    ).scalars().all()
    escalations = [_line(r, as_of) for r in s.execute(
        base.where(R.id.in_(esc_ids[:LIST_CAP])).order_by(R.deadline))] if esc_ids else []

    tz = tree.tz.get(leader.unit_id, "Asia/Jakarta")
    since = datetime.combine(week_start, time(0), ZoneInfo(tz)).astimezone(UTC)
    until = datetime.combine(as_of, time(0), ZoneInfo(tz)).astimezone(UTC)
    done_ids = s.execute(
        sa.select(ProgressUpdate.recommendation_id).distinct()
        .join(R, R.id == ProgressUpdate.recommendation_id)
        .where(where, ProgressUpdate.kind == "verify", ProgressUpdate.at >= since,
               ProgressUpdate.at < until, R.status == Status.completed.value)
    ).scalars().all()
    completions = [_line(r, as_of) for r in s.execute(
        base.where(R.id.in_(done_ids[:LIST_CAP])).order_by(R.ref))] if done_ids else []

    at_risk: list[ItemLine] = []
    for r in s.execute(base.where(R.status.in_(ACTIVE_STATUSES), R.deadline >= as_of)
                       .order_by(R.deadline, R.id)
                       .execution_options(yield_per=5000)):
        if is_at_risk(r.status, r.progress, r.held_on, r.deadline, as_of,
                      settings.at_risk_points):
            at_risk.append(_line(r, as_of))
            if len(at_risk) >= LIST_CAP:
                break

    base_url = settings.base_url
    return DigestMail(
        leader_name=leader.name, leader_email=leader.email,
        unit_name=tree.name.get(leader.unit_id, ""), week_start=week_start, week_end=week_end,
        counts=counts, total=total, completion_rate=rate, overdue_count=overdue_count,
        overdue=overdue, escalations=escalations, completions=completions, at_risk=at_risk,
        per_unit=[UnitCount(tree.name[u], c) for u, c in sorted(
            per_unit.items(), key=lambda kv: tree.name.get(kv[0], ""))],
        dashboard_url=f"{base_url}/pimpinan" if base_url else None,
        lang=settings.language,
    )


def _top_units(units: Units, root: int) -> dict[int, int]:
    """unit → the child of `root` it falls under (or root itself): the chart's bars."""
    out = {root: root}
    for child in units.kids.get(root, ()):
        for uid in units.subtree(child):
            out[uid] = child
    return out


def _line(r, as_of: date) -> ItemLine:  # type: ignore[no-untyped-def]
    days_left = (r.deadline - as_of).days
    late = -days_left if r.status in ACTIVE_STATUSES and days_left < 0 else 0
    return ItemLine(ref=r.ref, text=r.text, forum=r.title, unit_name=r.name,
                    deadline=r.deadline, tz=r.timezone, status=r.status, progress=r.progress,
                    owner_name=r[9], owner_email=r.email, days_left=days_left,
                    days_overdue=late)


def plan_digests(as_of: date, ids: list[int], now: datetime | None = None) -> DigestReport:
    """Build, render and queue the digests of these leaders (skipping those already queued)."""
    from tindak import mail

    now = now or datetime.now(UTC)
    report = DigestReport(leaders=len(ids))
    week_start, _ = week_of(as_of)
    with session() as s:
        people = {pid: email for pid, email in s.execute(
            sa.select(Person.id, Person.email).where(Person.id.in_(ids)))}
        keys = {pid: message_key("digest", email, week_start, []) for pid, email in people.items()}
        done = set(s.execute(sa.select(Outbox.key).where(Outbox.key.in_(list(keys.values()))))
                   .scalars())
        todo = [pid for pid in ids if pid in keys and keys[pid] not in done]
        units = Units.load(s)
        digests = [digest_for_leader(pid, as_of, s, units) for pid in todo]
    # The chart costs ~50 ms a leader: many digests render on every core.
    pool = render_pool() if len(digests) >= POOL_MIN_DIGESTS else None
    if pool is None:
        rendered = list(zip(todo, map(mail.render_digest, digests), strict=True))
    else:
        with pool:
            rendered = list(zip(todo, pool.map(mail.render_digest, digests, chunksize=4),
                                strict=True))
    report.skipped = len(ids) - len(todo)
    with write_session() as s:
        for pid, r in rendered:
            if queue_message(s, keys[pid], "digest", as_of, people[pid], [], r, now):
                report.messages += 1
            else:
                report.skipped += 1
    return report
