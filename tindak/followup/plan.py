"""Planning, the first step of the daily follow-up: which notices the rules say are due
today for the active items, decided batch by batch of ids (on the run's processes when there
are many) and recorded. A notice is unique per (item, stage): a concurrent run, or a retried
task, adds nothing twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from threading import Lock
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from models import (
    ACTIVE_STATUSES,
    Notice,
    Person,
    Recommendation,
    Unit,
    session,
    table_of,
    write_session,
)
from tindak import pool
from tindak.calendar import WorkCalendar, load_calendar, today_for
from tindak.directory import UnitTree, nearest_leader
from tindak.rules import REMINDER, Item, Ladder, due_notices
from tindak.settings import get_settings

PLAN_BATCH = 10_000  # items per planning task (a Prefect task costs milliseconds)
MAX_UNADDRESSED_REFS = 20  # refs named in a run's advice (the count says how many in all)


@dataclass
class PlanReport:
    items: int = 0
    notices: int = 0
    unaddressed: int = 0  # escalations with nobody above the owner to receive them
    unaddressed_refs: list[str] = field(default_factory=list)  # their items (the first few)
    replaced: list[int] = field(default_factory=list)  # unsent notices of a former owner

    def add(self, batch: PlanReport) -> None:
        """Count a batch (or a task's batches) into a run's report."""
        self.items += batch.items
        self.notices += batch.notices
        self.unaddressed += batch.unaddressed
        room = MAX_UNADDRESSED_REFS - len(self.unaddressed_refs)
        self.unaddressed_refs += batch.unaddressed_refs[:max(0, room)]


NOTICE_COLUMNS = ("recommendation_id", "stage", "kind", "recipient_id", "cc_id", "on_date",
                  "created_at")


def insert_notices(s: Session, rows: list[tuple]) -> int:
    """INSERT … ON CONFLICT DO NOTHING of notices (tuples in NOTICE_COLUMNS order) through
    the driver (one statement over arrays on PostgreSQL, executemany on SQLite); returns how
    many were new. A million rows through
    SQLAlchemy's per-row parameter handling cost more than the database's own work."""
    if not rows:
        return 0
    conn = s.connection()
    dialect = conn.dialect
    table = table_of(Notice)
    if dialect.name == "postgresql":
        # One statement over arrays, not one per row: PostgreSQL pays a round of its
        # executor for each statement of an executemany.
        cols = list(zip(*rows, strict=True))
        res = conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
            f"INSERT INTO {table.name} ({', '.join(NOTICE_COLUMNS)}) "
            "SELECT * FROM unnest(%s::int[], %s::varchar[], %s::varchar[], %s::int[], "
            "%s::int[], %s::date[], %s::timestamptz[]) ON CONFLICT DO NOTHING",
            [list(c) for c in cols])
        return res.rowcount
    # Dates and times as the dialect stores them, converted once per distinct value.
    convert = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
               for c in ("on_date", "created_at")}
    memo: dict[tuple[str, object], object] = {}

    def bind(col: str, value: object) -> object:
        if (col, value) not in memo:
            fn = convert[col]
            memo[(col, value)] = fn(value) if fn else value
        return memo[(col, value)]

    params = [(*r[:5], bind("on_date", r[5]), bind("created_at", r[6])) for r in rows]
    raw = conn.connection.dbapi_connection
    before = raw.total_changes  # type: ignore[union-attr]
    raw.cursor().executemany(  # type: ignore[union-attr]
        f"INSERT INTO {table.name} ({', '.join(NOTICE_COLUMNS)}) "
        f"VALUES ({', '.join(['?'] * len(NOTICE_COLUMNS))}) ON CONFLICT DO NOTHING", params)
    return raw.total_changes - before  # type: ignore[union-attr]


def active_id_ranges(timezones: Iterable[str] | None = None, size: int = PLAN_BATCH
                     ) -> list[tuple[int, int]]:
    """(first id, last id) of consecutive batches of active items, for one task each.

    The ids stream past (a million would be ~40 MB as a list); only the bounds are kept."""
    out: list[tuple[int, int]] = []
    with session() as s:
        q = sa.select(col(Recommendation.id)).where(col(Recommendation.status).in_(ACTIVE_STATUSES))
        if timezones:
            q = q.join(Unit, col(Unit.id) == col(Recommendation.unit_id)).where(
                col(Unit.timezone).in_(list(timezones)))
        first = last = 0
        n = 0
        for rid in s.execute(q.order_by(col(Recommendation.id))
                             .execution_options(yield_per=50_000)).scalars():
            if n == 0:
                first = rid
            last = rid
            n += 1
            if n == size:
                out.append((first, last))
                n = 0
        if n:
            out.append((first, last))
    return out


@dataclass(frozen=True)
class PlanContext:
    """What every planning batch of a run looks up: units, calendar, leaders, supervisors."""

    tree: UnitTree
    cal: WorkCalendar
    leaders: dict[int, list[int]]
    sup: dict[int, int | None]  # person id → supervisor id, everyone

    @classmethod
    def load(cls, s: Session) -> PlanContext:
        sup = {pid: sup_id for pid, sup_id in s.execute(
            sa.select(col(Person.id), col(Person.supervisor_id)))}
        return cls(UnitTree.load(s), load_calendar(s), _leaders(s), sup)


# One context per run and process, shared by that run's batches (20,000 units and 100,000
# people read once, not once per batch); a run names it with `context_key`.
_contexts: dict[str, PlanContext] = {}
_contexts_lock = Lock()


def drop_contexts(key: str | None = None) -> None:
    """Let go of a run's context (of every run's, without a key): planning is over."""
    with _contexts_lock:
        if key is None:
            _contexts.clear()
        else:
            _contexts.pop(key, None)


def plan_context(s: Session, key: str | None) -> PlanContext:
    if key is None:
        return PlanContext.load(s)
    with _contexts_lock:
        if key not in _contexts:
            while len(_contexts) >= 4:
                del _contexts[next(iter(_contexts))]
            _contexts[key] = PlanContext.load(s)
        return _contexts[key]


def plan_range(lo: int, hi: int, as_of: date | None = None, now: datetime | None = None,
               timezones: Iterable[str] | None = None, context_key: str | None = None
               ) -> PlanReport:
    """Decide the notices due today for active items with lo <= id <= hi, and record them.

    The rules run on a read snapshot; only the new notices are written, under the write
    lock (a notice is unique per item and stage, so a concurrent run adds nothing twice).
    """
    report, rows = decide_range(lo, hi, as_of, now, timezones, context_key)
    report.notices = record_notices(rows, report.replaced)
    return report


def record_notices(rows: list[tuple], replaced: Iterable[int] = ()) -> int:
    """Write planned notices; those already recorded (same item and stage) are left alone.
    `replaced`: unsent notices planned for a former owner, deleted first (only if unsent)."""
    replaced = list(replaced)
    if not rows and not replaced:
        return 0
    with write_session() as s:
        if replaced:
            N = table_of(Notice)
            s.connection().execute(N.delete().where(N.c.id.in_(list(replaced)),
                                                    N.c.outbox_id.is_(None)))
        return insert_notices(s, rows)


def decide_range(lo: int, hi: int, as_of: date | None = None, now: datetime | None = None,
                 timezones: Iterable[str] | None = None, context_key: str | None = None
                 ) -> tuple[PlanReport, list[tuple]]:
    """The notices due today for active items with lo <= id <= hi, not yet recorded.
    Reads only: planning processes decide, one process writes (SQLite has one writer, and
    its waiting writers sleep)."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    ladder = Ladder.from_settings(settings)
    tzs = set(timezones) if timezones else None
    report = PlanReport()
    R, N = table_of(Recommendation), table_of(Notice)
    active = set(ACTIVE_STATUSES)
    with session() as s:
        ctx = plan_context(s, context_key)
        tree = ctx.tree
        conn = s.connection()  # Core rows: no ORM bookkeeping for a million tuples
        # The status is checked here, not in SQL: with it there, SQLite reads the range
        # through the (status, deadline) index, i.e. every active item for every batch.
        items = [i for i in conn.execute(
            sa.select(R.c.id, R.c.status, R.c.deadline, R.c.last_progress_at, R.c.unit_id,
                      R.c.owner_id).where(R.c.id.between(lo, hi)))
                 if i.status in active and (not tzs or tree.tz[i.unit_id] in tzs)]
        report.items = len(items)
        if not items:
            return report, []
        owner_of = {i.id: i.owner_id for i in items}
        sent: dict[int, dict[str, date]] = defaultdict(dict)
        for nid, rid, stage, on, kind, to, cc, oid in conn.execute(
            sa.select(N.c.id, N.c.recommendation_id, N.c.stage, N.c.on_date, N.c.kind,
                      N.c.recipient_id, N.c.cc_id, N.c.outbox_id)
            .where(N.c.recommendation_id.between(lo, hi))
        ):
            # Not yet mailed and about a former owner: planned again for the one now.
            if oid is None and rid in owner_of and owner_of[rid] != (
                    to if kind == REMINDER else cc):
                report.replaced.append(nid)
                continue
            sent[rid][stage] = on
    rows: list[tuple] = []  # NOTICE_COLUMNS
    nobody: list[int] = []  # items whose escalation has nobody to go to
    zones = {tz: ZoneInfo(tz) for tz in set(tree.tz.values())}
    for it in items:
        tz = tree.tz[it.unit_id]
        today = today_for(tz, as_of, now)
        last = it.last_progress_at.astimezone(zones[tz]).date()
        for d in due_notices(Item(it.status, it.deadline, last), today, sent[it.id],
                             ctx.cal, ladder):
            to, cc = _recipient(d.level, it.owner_id, it.unit_id, ctx.sup, tree, ctx.leaders)
            if to is None:
                report.unaddressed += 1
                nobody.append(it.id)
                continue
            rows.append((it.id, d.stage, d.kind, to, cc, today, now))
    if nobody:
        report.unaddressed_refs = _refs(nobody[:MAX_UNADDRESSED_REFS])
    return report, rows


def _refs(ids: list[int]) -> list[str]:
    with session() as s:
        found = dict(s.execute(sa.select(col(Recommendation.id), col(Recommendation.ref))
                               .where(col(Recommendation.id).in_(ids))).all())
    return [found[i] for i in ids if i in found]


def _leaders(s: Session) -> dict[int, list[int]]:
    """unit id → ids of its leaders, reading only the people whose roles name a leader (a
    tenth of them) instead of everyone, once per planning batch."""
    out: dict[int, list[int]] = defaultdict(list)
    for pid, uid, roles in s.execute(sa.select(col(Person.id), col(Person.unit_id),
                                               col(Person.roles))
                                     .where(col(Person.roles).like("%leader%"))
                                     .order_by(col(Person.id))):
        if "leader" in roles.split(";"):
            out[uid].append(pid)
    return out


def _recipient(level: int, owner: int, unit: int, sup: dict[int, int | None], tree: UnitTree,
               leaders: dict[int, list[int]]) -> tuple[int | None, int | None]:
    """(to, cc) for a notice: the owner; their supervisor (level 1); the next one up (2).

    Where the reporting line ends, the leader of the item's unit (or the nearest one above)
    takes its place; nobody is escalated to themselves. Level 2 with nobody above the
    level-1 person goes to that person: a late item always reaches the nearest superior
    who exists, and (None, None) means there is truly nobody above the owner.
    """
    if level == 0:
        return owner, None
    first = sup.get(owner) or nearest_leader(tree, leaders, unit, exclude=[owner])
    if first is None:
        return None, None
    if level == 1:
        return first, owner
    second = sup.get(first) or nearest_leader(tree, leaders, unit, exclude=[owner, first])
    return (second if second not in (None, owner) else first), owner


# Planning runs on every core from this many items on (starting the processes costs ~1 s).
PLAN_POOL_MIN_ITEMS = 50_000


def plan_ranges(ranges: list[tuple[int, int]], as_of: date | None = None,
                now: datetime | None = None, timezones: Iterable[str] | None = None,
                run_key: str | None = None) -> PlanReport:
    """Plan several id ranges of one run: in this process for a few, else on every core.

    The processes are the run's (`tindak.pool`), kept for its later steps until `end_run`;
    each loads the run's PlanContext once."""
    now = now or datetime.now(UTC)
    tzs = list(timezones) if timezones else None
    key = run_key or f"plan-{uuid.uuid4().hex}"
    wanted = len(ranges) * PLAN_BATCH >= PLAN_POOL_MIN_ITEMS
    total = PlanReport()
    try:
        with pool.for_run(key, wanted) as executor:
            if executor is None:
                decided: Iterable[tuple[PlanReport, list[tuple]]] = (
                    decide_range(lo, hi, as_of, now, tzs, context_key=key)
                    for lo, hi in ranges)
            else:  # the processes decide; this one writes each batch as it comes
                decided = _in_order(executor, ranges, as_of, now, tzs, key)
            for report, rows in decided:
                report.notices = record_notices(rows, report.replaced)
                report.replaced = []  # deleted: not carried into the run's report
                total.add(report)
    finally:
        if run_key is None:
            end_run(key)
    return total


def _in_order(executor: Executor, ranges: list[tuple[int, int]], as_of: date | None,
              now: datetime, timezones: list[str] | None, key: str
              ) -> Iterator[tuple[PlanReport, list[tuple]]]:
    """decide_range over the ranges on the pool, results in order, at most two per process
    waiting at a time (a million items' notices are not all held at once)."""
    window = 2 * getattr(executor, "_max_workers", 2)
    waiting: deque[Future[tuple[PlanReport, list[tuple]]]] = deque()
    for lo, hi in ranges:
        waiting.append(executor.submit(decide_range, lo, hi, as_of, now, timezones, key))
        if len(waiting) >= window:
            yield waiting.popleft().result()
    while waiting:
        yield waiting.popleft().result()


def end_run(run_key: str) -> None:
    """A run's end: its processes stop, and its planning context is let go."""
    pool.end_run(run_key)
    drop_contexts(run_key)


def plan_all(as_of: date | None = None, now: datetime | None = None,
             timezones: Iterable[str] | None = None) -> PlanReport:
    """Plan every active item (the flow runs groups of ranges as tasks instead)."""
    return plan_ranges(active_id_ranges(timezones), as_of, now, timezones)

