"""What a leader's weekly digest contains: their unit tree's figures and lists as of a date
(SPEC §6), read from the database a batch of leaders at a time.

Honest counts: only what SPEC §2 calls overdue is overdue (deadline passed in the unit's
timezone, still open or in progress).

At national scale (20,000 leaders, a million items) the digests are built a batch of leaders
at a time, not a leader at a time: a few queries read each unit's own figures once for the
whole batch (its counts by status, and of each list only its first LIST_CAP items, in the
list's order), and a leader's figures are those of the units of their tree, summed for the
counts and merged for the lists (the first LIST_CAP of a tree are among the first LIST_CAP
of its units). A batch reads the items of its leaders' trees once however the trees nest, so
the work grows with the data, not with leaders × data. Rendering and queueing the digests is
`tindak.digest`'s.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from models import (
    ACTIVE_STATUSES,
    Forum,
    Notice,
    Person,
    ProgressUpdate,
    PublicAnswer,
    Recommendation,
    Status,
    Unit,
    Verdict,
    session,
)
from tindak.directory import Units
from tindak.errors import NotFound
from tindak.mailmodel import DigestMail, ItemLine, UnitCount
from tindak.rates import OnTimeTally, completion_days, implementation_rate
from tindak.settings import get_settings
from tindak.status import is_at_risk

LIST_CAP = 50
BATCH_LEADERS = 200  # leaders whose digests are built together...
BATCH_UNITS = 2000  # ...and whose trees hold about this many units at most (one may hold more)
IN_LIST = 5000  # ids in one IN (...): within every database's limit on parameters
STATUSES = [s.value for s in Status]

# The item id column typed as never NULL (SQLModel types a primary key `int | None`):
# rows read through it carry `int` ids. type_coerce adds nothing to the SQL.
ITEM_ID = sa.type_coerce(col(Recommendation.id), sa.Integer)
Key = tuple[Any, int]  # an item's place in a list: (deadline, id) or (ref, id)


def week_of(as_of: date) -> tuple[date, date]:
    """The past week a digest sent on `as_of` covers: the seven days before it."""
    return as_of - timedelta(days=7), as_of - timedelta(days=1)


@dataclass(frozen=True)
class _Leader:
    id: int
    name: str
    email: str
    unit_id: int


def digest_for_leader(leader_id: int, as_of: date, s: Session | None = None,
                      units_: Units | None = None) -> DigestMail:
    """The digest's numbers for one leader's unit tree, as of the morning of `as_of`."""
    if s is None:
        with session() as own:
            return digest_for_leader(leader_id, as_of, own, units_)
    leaders = _leaders(s, [leader_id])
    if not leaders:
        raise NotFound(f"no person with id {leader_id}")
    return _build(s, leaders, as_of, units_ or Units.load(s))[0][1]


def digests_for_leaders(ids: list[int], as_of: date) -> Iterator[tuple[int, DigestMail]]:
    """Each of these leaders' digests (those that exist), a batch at a time."""
    with session() as s:
        units = Units.load(s)
        leaders = _leaders(s, ids)
    for batch in _batches(leaders, units):
        with session() as s:  # closed before the caller writes what it yields
            built = _build(s, batch, as_of, units)
        yield from built


def _leaders(s: Session, ids: list[int]) -> list[_Leader]:
    found: dict[int, _Leader] = {}
    for i in range(0, len(ids), IN_LIST):
        for pid, name, email, unit_id in s.execute(
            sa.select(col(Person.id), col(Person.name), col(Person.email), col(Person.unit_id))
            .where(col(Person.id).in_(ids[i:i + IN_LIST]))
        ):
            found[pid] = _Leader(pid, name, email, unit_id)
    return [found[pid] for pid in dict.fromkeys(ids) if pid in found]


def _batches(leaders: list[_Leader], units: Units) -> Iterator[list[_Leader]]:
    """Leaders in the order of their units in the tree, so that a leader's batch also holds
    the leaders below them: their trees are read with theirs, not again."""
    place = units.tree_order()
    batch: list[_Leader] = []
    covered: set[int] = set()
    for leader in sorted(leaders, key=lambda p: (place.get(p.unit_id, len(place)), p.id)):
        new = 0 if leader.unit_id in covered else units.size(leader.unit_id)
        if batch and (len(batch) >= BATCH_LEADERS or len(covered) + new > BATCH_UNITS):
            yield batch
            batch, covered = [], set()
        batch.append(leader)
        if leader.unit_id not in covered:
            covered |= units.subtree(leader.unit_id)
    if batch:
        yield batch


# ---------------------------------------------------------------- one batch


class _Capped:
    """Per unit, the first LIST_CAP keys seen, in key order; bounded while rows stream in."""

    def __init__(self) -> None:
        self.lists: dict[int, list[Key]] = {}

    def add(self, uid: int, key: Key) -> None:
        lst = self.lists.setdefault(uid, [])
        lst.append(key)
        if len(lst) >= 4 * LIST_CAP:
            lst.sort()
            del lst[LIST_CAP:]

    def done(self) -> dict[int, list[Key]]:
        for lst in self.lists.values():
            lst.sort()
            del lst[LIST_CAP:]
        return self.lists


@dataclass
class _Figures:
    """A unit's counts by status, overdue and extended items, and on time both ways (SPEC §7:
    against the Berita Acara's deadline and the one in force): its own, or its tree's."""

    counts: dict[str, int] = field(default_factory=dict)
    late: int = 0
    extended: int = 0
    orig: OnTimeTally = field(default_factory=OnTimeTally)
    cur: OnTimeTally = field(default_factory=OnTimeTally)

    def merge(self, other: _Figures) -> None:
        for status, n in other.counts.items():
            self.counts[status] = self.counts.get(status, 0) + n
        self.late += other.late
        self.extended += other.extended
        self.orig.merge(other.orig)
        self.cur.merge(other.cur)


def _unit_chunks(units: list[int] | None) -> Iterator[Any]:
    """WHERE clauses on an item's unit covering these units, IN_LIST at a time."""
    if units is None:
        yield sa.true()
        return
    for i in range(0, len(units), IN_LIST):
        yield col(Recommendation.unit_id).in_(units[i:i + IN_LIST])


def _roll_up(order: list[int], kids: dict[int, list[int]], own: dict[int, list[Key]],
             wanted: set[int]) -> dict[int, list[Key]]:
    """The first LIST_CAP keys of the whole tree of each wanted unit, from each unit's own
    first LIST_CAP (a unit's list is dropped once its parent has merged it)."""
    below: dict[int, list[Key]] = {}
    out: dict[int, list[Key]] = {}
    for uid in order:  # children before their parent
        parts = [below.pop(k) for k in kids.get(uid, ()) if k in below]
        if own.get(uid):
            parts.append(own[uid])
        merged = (parts[0] if len(parts) == 1
                  else list(islice(heapq.merge(*parts), LIST_CAP)) if parts else [])
        if merged:
            below[uid] = merged
        if uid in wanted:
            out[uid] = merged
    return out


def _build(s: Session, leaders: list[_Leader], as_of: date,
           units: Units) -> list[tuple[int, DigestMail]]:
    """The digests of a batch of leaders, from one read of the units of their trees."""
    settings = get_settings()
    db = s.connection()  # Core rows: no ORM machinery per row
    tree, kids = units.tree, units.kids
    R, F = Recommendation, Forum
    roots = {leader.unit_id for leader in leaders}
    order = units.post_order(sorted(roots))
    in_batch = None if len(order) == len(tree.parent) else sorted(order)
    week_start, week_end = week_of(as_of)
    late_where = sa.and_(col(R.status).in_(ACTIVE_STATUSES), col(R.deadline) < as_of)

    own: defaultdict[int, _Figures] = defaultdict(_Figures)  # each unit's own items
    completed_items: list[tuple[int, int, date, date]] = []  # unit, id, original, in force
    original = sa.func.coalesce(col(R.original_deadline), col(R.deadline))
    overdue, at_risk, escalated = _Capped(), _Capped(), _Capped()
    windows = {leader.unit_id: _week_window(tree.tz.get(leader.unit_id, "Asia/Jakarta"),
                                            week_start, as_of) for leader in leaders}
    completed: dict[tuple[datetime, datetime], _Capped] = {w: _Capped()
                                                           for w in windows.values()}
    disputed: dict[tuple[datetime, datetime], _Capped] = {w: _Capped()
                                                          for w in windows.values()}
    for where in _unit_chunks(in_batch):
        for uid, status, n, late, moved in db.execute(
            sa.select(col(R.unit_id), col(R.status), sa.func.count(),
                      sa.func.sum(sa.case((late_where, 1), else_=0)),
                      sa.func.count(col(R.original_deadline)))
            .where(where).group_by(col(R.unit_id), col(R.status))
        ):
            fig = own[uid]
            fig.counts = fig.counts or dict.fromkeys(STATUSES, 0)
            fig.counts[status] = n
            fig.late += int(late or 0)
            fig.extended += int(moved or 0)
        for uid, rid, status, deadline, first in db.execute(
            sa.select(col(R.unit_id), ITEM_ID, col(R.status), col(R.deadline), original)
            .where(where, col(R.status) != Status.not_actionable.value,
                   sa.or_(col(R.status) == Status.completed.value, col(R.deadline) < as_of,
                          original < as_of))
            .execution_options(yield_per=5000)
        ):
            if status == Status.completed.value:  # its day done is read below, in bulk
                completed_items.append((uid, rid, first, deadline))
                continue
            own[uid].orig.add(status, first, None, as_of)
            own[uid].cur.add(status, deadline, None, as_of)
        for uid, deadline, rid in db.execute(
            sa.select(col(R.unit_id), col(R.deadline), ITEM_ID).where(where, late_where)
            .execution_options(yield_per=5000)
        ):
            overdue.add(uid, (deadline, rid))
        for uid, deadline, rid, status, progress, held_on in db.execute(
            sa.select(col(R.unit_id), col(R.deadline), ITEM_ID, col(R.status), col(R.progress),
                      col(F.held_on))
            .join(F, col(F.id) == col(R.forum_id))
            .where(where, col(R.status).in_(ACTIVE_STATUSES), col(R.deadline) >= as_of)
            .execution_options(yield_per=5000)
        ):
            if is_at_risk(status, progress, held_on, deadline, as_of, settings.at_risk_points):
                at_risk.add(uid, (deadline, rid))
        for uid, deadline, rid in db.execute(
            sa.select(col(R.unit_id), col(R.deadline), ITEM_ID).distinct()
            .join(Notice, col(Notice.recommendation_id) == col(R.id))
            .where(where, col(Notice.stage).like("esc%"), col(Notice.on_date) >= week_start,
                   col(Notice.on_date) < as_of)
        ):
            escalated.add(uid, (deadline, rid))
        for (since, until), capped in completed.items():  # one window per timezone
            for uid, ref, rid in db.execute(
                sa.select(col(R.unit_id), col(R.ref), ITEM_ID).distinct()
                .join(ProgressUpdate, col(ProgressUpdate.recommendation_id) == col(R.id))
                .where(where, col(ProgressUpdate.kind) == "verify", col(ProgressUpdate.at) >= since,
                       col(ProgressUpdate.at) < until, col(R.status) == Status.completed.value)
            ):
                capped.add(uid, (ref, rid))
        for (since, until), capped in disputed.items():  # "belum sesuai" of the past week
            for uid, ref, rid in db.execute(
                sa.select(col(R.unit_id), col(R.ref), ITEM_ID).distinct()
                .join(PublicAnswer, col(PublicAnswer.recommendation_id) == col(R.id))
                .where(where, col(PublicAnswer.verdict) == Verdict.belum_sesuai.value,
                       col(PublicAnswer.answered_at) >= since,
                       col(PublicAnswer.answered_at) < until,
                       col(R.status) == Status.completed.value)
            ):
                capped.add(uid, (ref, rid))

    unit_of = {rid: uid for uid, rid, _, _ in completed_items}
    done_on = completion_days(s, sorted(unit_of), lambda rid: tree.tz[unit_of[rid]])
    for uid, rid, first, deadline in completed_items:
        own[uid].orig.add(Status.completed.value, first, done_on.get(rid), as_of)
        own[uid].cur.add(Status.completed.value, deadline, done_on.get(rid), as_of)

    # Counts of each unit's whole tree, children before parents.
    whole: dict[int, _Figures] = {}
    for uid in order:
        fig = _Figures(dict.fromkeys(STATUSES, 0))
        if uid in own:
            fig.merge(own[uid])
        for k in kids.get(uid, ()):
            fig.merge(whole[k])
        whole[uid] = fig
    lists = {
        "overdue": _roll_up(order, kids, overdue.done(), roots),
        "at_risk": _roll_up(order, kids, at_risk.done(), roots),
        "escalations": _roll_up(order, kids, escalated.done(), roots),
    }
    done_by_window = {w: _roll_up(order, kids, c.done(), roots) for w, c in completed.items()}
    disputed_by_window = {w: _roll_up(order, kids, c.done(), roots)
                          for w, c in disputed.items()}

    wanted: set[int] = set()
    for per_root in (*lists.values(), *done_by_window.values(),
                     *disputed_by_window.values()):
        for keys in per_root.values():
            wanted.update(rid for _, rid in keys)
    lines = _lines(s, sorted(wanted), as_of)

    base_url = settings.base_url
    out = []
    for leader in leaders:
        root = leader.unit_id
        counts = whole[root].counts
        total = sum(counts.values())
        rate = implementation_rate(counts)
        # The chart's bars: the leader's own unit, and each unit right below it with its tree.
        bars = [(root, own[root].counts)] if root in own and own[root].counts else []
        bars += [(k, whole[k].counts) for k in kids.get(root, ()) if any(whole[k].counts.values())]
        out.append((leader.id, DigestMail(
            leader_name=leader.name, leader_email=leader.email,
            unit_name=tree.name.get(root, ""), week_start=week_start, week_end=week_end,
            counts=dict(counts), total=total, completion_rate=rate,
            overdue_count=whole[root].late,
            overdue=_pick(lines, lists["overdue"][root]),
            escalations=_pick(lines, lists["escalations"][root]),
            completions=_pick(lines, done_by_window[windows[root]][root]),
            at_risk=_pick(lines, lists["at_risk"][root]),
            per_unit=[UnitCount(tree.name[u], dict(c)) for u, c in sorted(
                bars, key=lambda b: tree.name.get(b[0], ""))],
            dashboard_url=f"{base_url}/pimpinan" if base_url else None,
            lang=settings.language,
            extended=whole[root].extended,
            on_time_original=whole[root].orig.result(),
            on_time_current=whole[root].cur.result(),
            disputed=_pick(lines, disputed_by_window[windows[root]][root]),
        )))
    return out


def _pick(lines: dict[int, ItemLine], keys: list[Key]) -> list[ItemLine]:
    return [lines[rid] for _, rid in keys if rid in lines]  # (unless deleted meanwhile)


def _week_window(tz: str, week_start: date, as_of: date) -> tuple[datetime, datetime]:
    """The past week from midnight to midnight in the leader's timezone, in UTC."""
    since = datetime.combine(week_start, time(0), ZoneInfo(tz)).astimezone(UTC)
    until = datetime.combine(as_of, time(0), ZoneInfo(tz)).astimezone(UTC)
    return since, until


def _lines(s: Session, ids: list[int], as_of: date) -> dict[int, ItemLine]:
    """Each listed item as a line of the digest: one object per item, shared by leaders."""
    R, F, U, P = Recommendation, Forum, Unit, Person
    db = s.connection()
    out: dict[int, ItemLine] = {}
    for i in range(0, len(ids), IN_LIST):
        for r in db.execute(
            sa.select(ITEM_ID, col(R.ref), col(R.text), col(F.title), col(U.name),
                      col(R.deadline), col(U.timezone), col(R.status), col(R.progress),
                      col(P.name), col(P.email))
            .join(F, col(F.id) == col(R.forum_id)).join(U, col(U.id) == col(R.unit_id))
            .join(P, col(P.id) == col(R.owner_id)).where(col(R.id).in_(ids[i:i + IN_LIST]))
        ):
            days_left = (r[5] - as_of).days
            late = -days_left if r[7] in ACTIVE_STATUSES and days_left < 0 else 0
            out[r[0]] = ItemLine(ref=r[1], text=r[2], forum=r[3], unit_name=r[4],
                                 deadline=r[5], tz=r[6], status=r[7], progress=r[8],
                                 owner_name=r[9], owner_email=r[10], days_left=days_left,
                                 days_overdue=late)
    return out
