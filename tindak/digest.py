"""The weekly leadership digest: for each leader, their unit tree as of a date (SPEC §6).

Honest counts: only what SPEC §2 calls overdue is overdue (deadline passed in the unit's
timezone, still open or in progress).

At national scale (20,000 leaders, a million items) the digests are built a batch of leaders
at a time, not a leader at a time: a few queries read each unit's own figures once for the
whole batch (its counts by status, and of each list only its first LIST_CAP items, in the
list's order), and a leader's figures are those of the units of their tree, summed for the
counts and merged for the lists (the first LIST_CAP of a tree are among the first LIST_CAP
of its units). A batch reads the items of its leaders' trees once however the trees nest, so
the work grows with the data, not with leaders × data. The render processes draw the charts
while the next batch is read, and the messages are queued as they come back: nothing holds
all the items, or all the messages, at once.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
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
    PublicAnswer,
    Recommendation,
    Status,
    Unit,
    Verdict,
    session,
    write_session,
)
from tindak.directory import UnitTree
from tindak.errors import NotFound
from tindak.mailmodel import DigestMail, ItemLine, Rendered, UnitCount
from tindak.outbox.store import message_key, queue_messages
from tindak.pool import render_pool
from tindak.rates import OnTimeTally, completion_days, implementation_rate
from tindak.settings import get_settings
from tindak.status import is_at_risk

LIST_CAP = 50
POOL_MIN_DIGESTS = 40  # fewer render faster here than a pool starts
POOL_KEEP_S = 30.0  # a pool outlives its run this long: the next batch of leaders reuses it
BATCH_LEADERS = 200  # leaders whose digests are built together...
BATCH_UNITS = 2000  # ...and whose trees hold about this many units at most (one may hold more)
IN_LIST = 5000  # ids in one IN (...): within every database's limit on parameters
RENDER_CHUNK = 8  # digests a render process takes at a time
QUEUE_CHUNK = 50  # messages written to the outbox in one statement
STATUSES = [s.value for s in Status]

Key = tuple[Any, int]  # an item's place in a list: (deadline, id) or (ref, id)


@dataclass
class DigestReport:
    leaders: int = 0
    messages: int = 0
    skipped: int = 0  # already queued for this week


def week_of(as_of: date) -> tuple[date, date]:
    """The past week a digest sent on `as_of` covers: the seven days before it."""
    return as_of - timedelta(days=7), as_of - timedelta(days=1)


def digest_key_day(as_of: date) -> date:
    """The date a digest's key carries: one per leader per ISO week, whatever day it runs.
    It is the week_start of that week's Monday run, so keys queued before stay valid."""
    monday = as_of - timedelta(days=as_of.weekday())
    return week_of(monday)[0]


def leaders_by_timezone(timezones: list[str] | None = None) -> dict[str, list[int]]:
    """Leaders' ids grouped by their unit's timezone (each gets the digest at local 07:00),
    in the order of their units in the tree: a slice of the list holds a leader and those
    below them, whose trees are read together."""
    with session() as s:
        rows = s.execute(sa.select(Person.id, Person.roles, Person.unit_id, Unit.timezone)
                         .join(Unit, Unit.id == Person.unit_id).order_by(Person.id)).all()
        place = Units.load(s).tree_order()
    out: dict[str, list[int]] = {}
    for pid, roles, _unit, tz in sorted(rows, key=lambda r: (place.get(r[2], len(place)),
                                                             r[0])):
        if "leader" in roles.split(";") and (not timezones or tz in timezones):
            out.setdefault(tz, []).append(pid)
    return out


@dataclass
class Units:
    """The unit tree with its children map made once: many digests, one load."""

    tree: UnitTree
    kids: dict[int, list[int]]
    _sizes: dict[int, int] = field(default_factory=dict)
    _order: dict[int, int] = field(default_factory=dict)

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

    def size(self, root: int) -> int:
        if root not in self._sizes:
            self._sizes[root] = len(self.subtree(root))
        return self._sizes[root]

    def tree_order(self) -> dict[int, int]:
        """unit → its place when the whole forest is walked top-down (each unit after its
        parent, a unit's tree in one run)."""
        if not self._order:
            tops = sorted(u for u, p in self.tree.parent.items() if p not in self.tree.parent)
            stack = tops[::-1]
            while stack:
                uid = stack.pop()
                if uid not in self._order:
                    self._order[uid] = len(self._order)
                    stack.extend(sorted(self.kids.get(uid, ()), reverse=True))
        return self._order

    def post_order(self, roots: Iterable[int]) -> list[int]:
        """Every unit of these trees, each after all the units below it."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [(r, False) for r in roots]
        while stack:
            uid, below_done = stack.pop()
            if below_done:
                out.append(uid)
            elif uid not in seen:
                seen.add(uid)
                stack.append((uid, True))
                stack.extend((k, False) for k in self.kids.get(uid, ()))
        return out


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
            sa.select(Person.id, Person.name, Person.email, Person.unit_id)
            .where(Person.id.in_(ids[i:i + IN_LIST]))
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


def _unit_chunks(units: list[int] | None) -> Iterator[Any]:
    """WHERE clauses on an item's unit covering these units, IN_LIST at a time."""
    if units is None:
        yield sa.true()
        return
    for i in range(0, len(units), IN_LIST):
        yield Recommendation.unit_id.in_(units[i:i + IN_LIST])


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
    late_where = sa.and_(R.status.in_(ACTIVE_STATUSES), R.deadline < as_of)

    own_counts: dict[int, dict[str, int]] = {}
    own_late: dict[int, int] = {}
    own_extended: dict[int, int] = {}
    # On time both ways (SPEC §7): against the Berita Acara's deadline and the one in force.
    own_orig: dict[int, OnTimeTally] = {}
    own_cur: dict[int, OnTimeTally] = {}
    completed_items: list[tuple[int, int, date, date]] = []  # unit, id, original, in force
    original = sa.func.coalesce(R.original_deadline, R.deadline)
    overdue, at_risk, escalated = _Capped(), _Capped(), _Capped()
    windows = {leader.unit_id: _week_window(tree.tz.get(leader.unit_id, "Asia/Jakarta"),
                                            week_start, as_of) for leader in leaders}
    completed: dict[tuple[datetime, datetime], _Capped] = {w: _Capped()
                                                           for w in windows.values()}
    disputed: dict[tuple[datetime, datetime], _Capped] = {w: _Capped()
                                                          for w in windows.values()}
    for where in _unit_chunks(in_batch):
        for uid, status, n, late, moved in db.execute(
            sa.select(R.unit_id, R.status, sa.func.count(),
                      sa.func.sum(sa.case((late_where, 1), else_=0)),
                      sa.func.count(R.original_deadline))
            .where(where).group_by(R.unit_id, R.status)
        ):
            own_counts.setdefault(uid, dict.fromkeys(STATUSES, 0))[status] = n
            own_late[uid] = own_late.get(uid, 0) + int(late or 0)
            own_extended[uid] = own_extended.get(uid, 0) + int(moved or 0)
        for uid, rid, status, deadline, first in db.execute(
            sa.select(R.unit_id, R.id, R.status, R.deadline, original)
            .where(where, R.status != Status.not_actionable.value,
                   sa.or_(R.status == Status.completed.value, R.deadline < as_of,
                          original < as_of))
            .execution_options(yield_per=5000)
        ):
            if status == Status.completed.value:  # its day done is read below, in bulk
                completed_items.append((uid, rid, first, deadline))
                continue
            if uid not in own_orig:
                own_orig[uid], own_cur[uid] = OnTimeTally(), OnTimeTally()
            own_orig[uid].add(status, first, None, as_of)
            own_cur[uid].add(status, deadline, None, as_of)
        for uid, deadline, rid in db.execute(
            sa.select(R.unit_id, R.deadline, R.id).where(where, late_where)
            .execution_options(yield_per=5000)
        ):
            overdue.add(uid, (deadline, rid))
        for uid, deadline, rid, status, progress, held_on in db.execute(
            sa.select(R.unit_id, R.deadline, R.id, R.status, R.progress, F.held_on)
            .join(F, F.id == R.forum_id)
            .where(where, R.status.in_(ACTIVE_STATUSES), R.deadline >= as_of)
            .execution_options(yield_per=5000)
        ):
            if is_at_risk(status, progress, held_on, deadline, as_of, settings.at_risk_points):
                at_risk.add(uid, (deadline, rid))
        for uid, deadline, rid in db.execute(
            sa.select(R.unit_id, R.deadline, R.id).distinct()
            .join(Notice, Notice.recommendation_id == R.id)
            .where(where, Notice.stage.like("esc%"), Notice.on_date >= week_start,
                   Notice.on_date < as_of)
        ):
            escalated.add(uid, (deadline, rid))
        for (since, until), capped in completed.items():  # one window per timezone
            for uid, ref, rid in db.execute(
                sa.select(R.unit_id, R.ref, R.id).distinct()
                .join(ProgressUpdate, ProgressUpdate.recommendation_id == R.id)
                .where(where, ProgressUpdate.kind == "verify", ProgressUpdate.at >= since,
                       ProgressUpdate.at < until, R.status == Status.completed.value)
            ):
                capped.add(uid, (ref, rid))
        for (since, until), capped in disputed.items():  # "belum sesuai" of the past week
            for uid, ref, rid in db.execute(
                sa.select(R.unit_id, R.ref, R.id).distinct()
                .join(PublicAnswer, PublicAnswer.recommendation_id == R.id)
                .where(where, PublicAnswer.verdict == Verdict.belum_sesuai.value,
                       PublicAnswer.answered_at >= since, PublicAnswer.answered_at < until,
                       R.status == Status.completed.value)
            ):
                capped.add(uid, (ref, rid))

    unit_of = {rid: uid for uid, rid, _, _ in completed_items}
    done_on = completion_days(s, sorted(unit_of), lambda rid: tree.tz[unit_of[rid]])
    for uid, rid, first, deadline in completed_items:
        if uid not in own_orig:
            own_orig[uid], own_cur[uid] = OnTimeTally(), OnTimeTally()
        own_orig[uid].add(Status.completed.value, first, done_on.get(rid), as_of)
        own_cur[uid].add(Status.completed.value, deadline, done_on.get(rid), as_of)

    # Counts of each unit's whole tree, children before parents.
    tree_counts: dict[int, dict[str, int]] = {}
    tree_late: dict[int, int] = {}
    tree_extended: dict[int, int] = {}
    tree_orig: dict[int, OnTimeTally] = {}
    tree_cur: dict[int, OnTimeTally] = {}
    for uid in order:
        counts = dict(own_counts.get(uid) or dict.fromkeys(STATUSES, 0))
        late = own_late.get(uid, 0)
        moved = own_extended.get(uid, 0)
        orig, cur = OnTimeTally(), OnTimeTally()
        if uid in own_orig:
            orig.merge(own_orig[uid])
            cur.merge(own_cur[uid])
        for k in kids.get(uid, ()):
            for status, n in tree_counts[k].items():
                counts[status] = counts.get(status, 0) + n
            late += tree_late[k]
            moved += tree_extended[k]
            orig.merge(tree_orig[k])
            cur.merge(tree_cur[k])
        tree_counts[uid], tree_late[uid], tree_extended[uid] = counts, late, moved
        tree_orig[uid], tree_cur[uid] = orig, cur
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
        counts = tree_counts[root]
        total = sum(counts.values())
        rate = implementation_rate(counts)
        # The chart's bars: the leader's own unit, and each unit right below it with its tree.
        bars = [(root, own_counts[root])] if root in own_counts else []
        bars += [(k, tree_counts[k]) for k in kids.get(root, ()) if any(tree_counts[k].values())]
        out.append((leader.id, DigestMail(
            leader_name=leader.name, leader_email=leader.email,
            unit_name=tree.name.get(root, ""), week_start=week_start, week_end=week_end,
            counts=dict(counts), total=total, completion_rate=rate,
            overdue_count=tree_late[root],
            overdue=_pick(lines, lists["overdue"][root]),
            escalations=_pick(lines, lists["escalations"][root]),
            completions=_pick(lines, done_by_window[windows[root]][root]),
            at_risk=_pick(lines, lists["at_risk"][root]),
            per_unit=[UnitCount(tree.name[u], dict(c)) for u, c in sorted(
                bars, key=lambda b: tree.name.get(b[0], ""))],
            dashboard_url=f"{base_url}/pimpinan" if base_url else None,
            lang=settings.language,
            extended=tree_extended[root],
            on_time_original=tree_orig[root].result(),
            on_time_current=tree_cur[root].result(),
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
            sa.select(R.id, R.ref, R.text, F.title, U.name, R.deadline, U.timezone, R.status,
                      R.progress, P.name, P.email)
            .join(F, F.id == R.forum_id).join(U, U.id == R.unit_id)
            .join(P, P.id == R.owner_id).where(R.id.in_(ids[i:i + IN_LIST]))
        ):
            days_left = (r[5] - as_of).days
            late = -days_left if r[7] in ACTIVE_STATUSES and days_left < 0 else 0
            out[r[0]] = ItemLine(ref=r[1], text=r[2], forum=r[3], unit_name=r[4],
                                 deadline=r[5], tz=r[6], status=r[7], progress=r[8],
                                 owner_name=r[9], owner_email=r[10], days_left=days_left,
                                 days_overdue=late)
    return out


# ---------------------------------------------------------------- render and queue


def _render_all(digests: list[DigestMail]) -> list[Rendered]:
    from tindak import mail

    return [mail.render_digest(d) for d in digests]


_pool_lock = threading.Lock()
_pool: dict[str, Any] = {"executor": None, "env": None, "users": 0, "timer": None}


@contextmanager
def _shared_pool() -> Iterator[Executor | None]:
    """The render processes, kept POOL_KEEP_S after a run: the flow plans the leaders in
    several tasks, and starting processes (matplotlib, templates) costs ~1 s each time."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("TINDAK_"))
    with _pool_lock:
        if _pool["timer"] is not None:
            _pool["timer"].cancel()
            _pool["timer"] = None
        if _pool["executor"] is not None and _pool["env"] != env and not _pool["users"]:
            _pool["executor"].shutdown(wait=False)  # made with other settings
            _pool["executor"] = None
        if _pool["executor"] is None:
            _pool["executor"], _pool["env"] = render_pool(), env
        executor = _pool["executor"] if _pool["env"] == env else None
        _pool["users"] += 1
    failed = False
    try:
        yield executor
    except BaseException:
        failed = True
        raise
    finally:
        with _pool_lock:
            _pool["users"] -= 1
            if failed and not _pool["users"] and _pool["executor"] is not None:
                # (a render process may have died: the next run starts afresh)
                _pool["executor"].shutdown(wait=False, cancel_futures=True)
                _pool["executor"] = None
            elif not _pool["users"] and _pool["executor"] is not None:
                timer = threading.Timer(POOL_KEEP_S, _close_idle_pool)
                timer.daemon = True
                timer.start()
                _pool["timer"] = timer


def _close_idle_pool() -> None:
    with _pool_lock:
        if not _pool["users"] and _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=False)
            _pool["executor"] = None
            _pool["timer"] = None


def plan_digests(as_of: date, ids: list[int], now: datetime | None = None) -> DigestReport:
    """Build, render and queue the digests of these leaders (skipping those already queued)."""
    now = now or datetime.now(UTC)
    report = DigestReport(leaders=len(ids))
    key_day = digest_key_day(as_of)
    with session() as s:
        emails = {}
        for i in range(0, len(ids), IN_LIST):
            emails.update(s.execute(sa.select(Person.id, Person.email)
                                    .where(Person.id.in_(ids[i:i + IN_LIST]))).all())
        keys = {pid: message_key("digest", email, key_day, []) for pid, email in emails.items()}
        done: set[str] = set()
        values = list(keys.values())
        for i in range(0, len(values), IN_LIST):
            done.update(s.execute(sa.select(Outbox.key)
                                  .where(Outbox.key.in_(values[i:i + IN_LIST]))).scalars())
    todo = [pid for pid in dict.fromkeys(ids) if pid in keys and keys[pid] not in done]
    report.skipped = len(ids) - len(todo)

    def queue(rendered: list[tuple[int, Rendered]]) -> None:
        for i in range(0, len(rendered), QUEUE_CHUNK):
            part = rendered[i:i + QUEUE_CHUNK]
            with write_session() as s:
                new = queue_messages(s, [(keys[pid], "digest", as_of, emails[pid], [], r)
                                         for pid, r in part], now)
            report.messages += len(new)
            report.skipped += len(part) - len(new)

    # The chart costs most: many digests render on every core while the next batch is read.
    pooled = _shared_pool() if len(todo) >= POOL_MIN_DIGESTS else nullcontext(None)
    with pooled as pool:
        if pool is None:
            for batch in _chunks(digests_for_leaders(todo, as_of), QUEUE_CHUNK):
                queue([(pid, r) for (pid, _), r in zip(
                    batch, _render_all([d for _, d in batch]), strict=True)])
            return report
        pending: deque[tuple[list[int], Future[list[Rendered]]]] = deque()
        ready: list[tuple[int, Rendered]] = []
        in_flight = max(4, 2 * BATCH_LEADERS // RENDER_CHUNK)

        def collect(block: bool) -> None:
            while pending and (block or pending[0][1].done()):
                pids, future = pending.popleft()
                ready.extend(zip(pids, future.result(), strict=True))
                if len(ready) >= QUEUE_CHUNK:
                    queue(ready)
                    ready.clear()
                block = block and len(pending) > in_flight

        for batch in _chunks(digests_for_leaders(todo, as_of), RENDER_CHUNK):
            pending.append(([pid for pid, _ in batch],
                            pool.submit(_render_all, [d for _, d in batch])))
            collect(block=len(pending) > in_flight)
        while pending:
            collect(block=True)
        queue(ready)
    return report


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk
