"""The daily follow-up: plan the notices the rules say are due, compose one message per
recipient, and queue it in the outbox. Flows call these functions as batch tasks.

Exactly once: a notice is unique per (item, stage); a message is unique per key and is
written to the outbox, with its notices, in one transaction before anyone tries to send it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from threading import Lock
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from models import (
    ACTIVE_STATUSES,
    Forum,
    Notice,
    Person,
    Recommendation,
    Unit,
    get_engine,
    session,
    write_session,
)
from tindak.calendar import WorkCalendar, load_calendar, local_today, today_for
from tindak.directory import UnitTree, nearest_leader
from tindak.links import owner_url
from tindak.mailmodel import ItemLine, NoticeMail, Rendered
from tindak.outbox.store import message_key, queue_messages
from tindak.pool import render_pool
from tindak.rules import REMINDER, Item, Ladder, due_notices
from tindak.settings import get_settings

PLAN_BATCH = 10_000  # items per planning task (a Prefect task costs milliseconds)
COMPOSE_BATCH = 2000  # recipients per write transaction (fewer: more rewrites of notice pages)
# A message lists at most this many items, most urgent first: a leader escalated hundreds
# of items reads the first ones and the count of the rest, then opens the dashboard.
MAX_ITEMS_PER_MESSAGE = 50


@dataclass
class PlanReport:
    items: int = 0
    notices: int = 0
    unaddressed: int = 0  # escalations with nobody above the owner to receive them
    unaddressed_refs: list[str] = field(default_factory=list)  # their items (the first few)
    replaced: list[int] = field(default_factory=list)  # unsent notices of a former owner


@dataclass
class ComposeReport:
    messages: int = 0
    notices: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # messages whose notices a concurrent run queued first


def lock_for(s: Session, name: str) -> None:
    """Serialise a step across processes: BEGIN IMMEDIATE on SQLite, an advisory lock on PG."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})


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
    table = Notice.__table__  # type: ignore[attr-defined]
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
        q = sa.select(Recommendation.id).where(Recommendation.status.in_(ACTIVE_STATUSES))
        if timezones:
            q = q.join(Unit, Unit.id == Recommendation.unit_id).where(
                Unit.timezone.in_(list(timezones)))
        first = last = 0
        n = 0
        for rid in s.execute(q.order_by(Recommendation.id)
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
        sup = {pid: sup_id for pid, sup_id in s.execute(sa.select(Person.id, Person.supervisor_id))}
        return cls(UnitTree.load(s), load_calendar(s), _leaders(s), sup)


# One context per run and process, shared by that run's batches (20,000 units and 100,000
# people read once, not once per batch); a run names it with `context_key`.
_contexts: dict[str, PlanContext] = {}
_contexts_lock = Lock()


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
            N = Notice.__table__  # type: ignore[attr-defined]
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
    R, N = Recommendation.__table__, Notice.__table__  # type: ignore[attr-defined]
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


MAX_UNADDRESSED_REFS = 20  # refs named in a run's advice (the count says how many in all)


def _refs(ids: list[int]) -> list[str]:
    with session() as s:
        found = dict(s.execute(sa.select(Recommendation.id, Recommendation.ref)
                               .where(Recommendation.id.in_(ids))).all())
    return [found[i] for i in ids if i in found]


def _leaders(s: Session) -> dict[int, list[int]]:
    """unit id → ids of its leaders, reading only the people whose roles name a leader (a
    tenth of them) instead of everyone, once per planning batch."""
    out: dict[int, list[int]] = defaultdict(list)
    for pid, uid, roles in s.execute(sa.select(Person.id, Person.unit_id, Person.roles)
                                     .where(Person.roles.like("%leader%"))
                                     .order_by(Person.id)):
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


def compose_pending(now: datetime | None = None, batch: int = COMPOSE_BATCH,
                    workers: int | None = None, run_key: str | None = None,
                    as_of: date | None = None, timezones: Iterable[str] | None = None
                    ) -> ComposeReport:
    """Turn planned notices into outbox messages: one per recipient, kind and day.

    With `timezones`, only recipients whose unit keeps one of them: each timezone's run
    mails its own people, on their own day, so the runs of two timezones (or two dates)
    at once never split one person's notices of a day over two messages.

    Batch by batch of `batch` recipients: the messages are read and rendered (in `workers`
    processes when there are many, each reading its own recipients' notices), then queued
    here in one short write transaction, while the next batch is being rendered. A run
    whose planning started processes (`run_key`) renders on those.
    """
    now = now or datetime.now(UTC)
    report = ComposeReport()
    tzs = sorted(set(timezones)) if timezones else None
    shared = _plan_pools.get(run_key) if run_key and workers is None else None
    pool = shared or _render_pool(workers)
    try:
        while True:
            skipped = report.skipped
            _compose_pass(now, batch, pool, report, as_of, tzs)
            # A concurrent run took notices we had read: another pass for what it left.
            if report.skipped == skipped:
                return report
    finally:
        if pool is not None and pool is not shared:
            pool.shutdown(cancel_futures=True)


def _compose_pass(now: datetime, batch: int, pool: Executor | None,
                  report: ComposeReport, as_of: date | None = None,
                  timezones: list[str] | None = None) -> None:
    after = 0
    waiting: list = []  # the jobs of the batch before, queued once this one is handed out
    while True:
        recipients = _next_recipients(after, batch, timezones)
        jobs = _compose_jobs(recipients, pool, as_of, now)
        _queue_composed([c for job in waiting for c in job.result()], now, report)
        if not recipients:
            return
        after, waiting = recipients[-1], jobs


def _next_recipients(after: int, batch: int, timezones: list[str] | None = None
                     ) -> list[int]:
    """The next `batch` recipients (by id, above `after`) with notices not yet in a message;
    with `timezones`, only those whose unit keeps one of them."""
    N = Notice.__table__  # type: ignore[attr-defined]
    q = sa.select(N.c.recipient_id).where(N.c.outbox_id.is_(None), N.c.recipient_id > after)
    if timezones:
        q = (q.join(Person, Person.id == N.c.recipient_id).join(Unit, Unit.id == Person.unit_id)
             .where(Unit.timezone.in_(timezones)))
    with session() as s:
        return list(s.connection().execute(
            q.group_by(N.c.recipient_id).order_by(N.c.recipient_id).limit(batch)).scalars())


@dataclass
class _Draft:
    """One message to be: its key, envelope, content, and the notices it carries."""

    key: str
    rid: int  # the recipient's person id
    kind: str
    on: date
    to: str
    cc: list[str]
    notice_ids: list[int]
    mail: NoticeMail | None  # dropped once rendered


def _drafts(recipients: list[int], as_of: date | None = None, now: datetime | None = None
            ) -> tuple[list[_Draft], list[int]]:
    """The messages of these recipients (their notices not yet in a message, one message per
    recipient, kind and local day), and the ids of notices no longer true (to be dropped).

    Composed from what is true now, not at planning: an item closed, moved to another owner
    or given another deadline since is not mailed (its notice is dropped and planned again
    for whoever it concerns now). A recipient who already has today's message of a kind
    (another timezone's run sent it) gets these notices in their next day's message.
    """
    settings = get_settings()
    now = now or datetime.now(UTC)
    N = Notice.__table__  # type: ignore[attr-defined]
    with session() as s:
        notices = s.connection().execute(
            sa.select(N.c.id, N.c.recommendation_id, N.c.stage, N.c.kind, N.c.recipient_id,
                      N.c.cc_id, N.c.on_date)
            .where(N.c.outbox_id.is_(None), N.c.recipient_id.in_(recipients))
            .order_by(N.c.id)
        ).all()
        lines = _item_lines(s, {n.recommendation_id for n in notices})
        persons = _persons(s, {n.recipient_id for n in notices}
                           | {n.cc_id for n in notices if n.cc_id})
        tree = UnitTree.load(s) if settings.base_url and any(
            n.kind != REMINDER for n in notices) else None
    dropped = [n.id for n in notices if not _still_true(n, lines.get(n.recommendation_id))]
    gone = set(dropped)
    groups: dict[tuple[int, str], list] = defaultdict(list)
    for n in notices:
        if n.id not in gone:
            groups[(n.recipient_id, n.kind)].append(n)
    urls: dict[int, str | None] = {}  # one signed link per owner and batch, not per item

    def url(pid: int, email: str) -> str | None:
        if pid not in urls:
            urls[pid] = owner_url(pid, email)
        return urls[pid]

    drafts = []
    for (rid, kind), group in groups.items():
        who = persons[rid]
        # The recipient's own day: one message of a kind a day, whichever timezone's run.
        on = max(today_for(who.tz, as_of, now), max(n.on_date for n in group))
        latest: dict[int, Any] = {}  # one line per item: its latest notice
        for n in group:
            latest[n.recommendation_id] = n
        urgent = sorted(latest.values(),
                        key=lambda n: (lines[n.recommendation_id]["deadline"], n.id))
        shown = urgent[:MAX_ITEMS_PER_MESSAGE]
        own = url(rid, who.email) if kind == REMINDER else None  # the recipient's own link

        def link(facts: dict, own: str | None = own) -> str | None:
            return f"{own}#r{facts['id']}" if own else None

        def view(facts: dict, who: _Who = who) -> str | None:
            return _view_url(settings.base_url, who, facts, tree)
        items = [_line_for(lines[n.recommendation_id], n.stage, on, link if own else None,
                           view if kind != REMINDER else None) for n in shown]
        every = [_line_for(lines[n.recommendation_id], n.stage, on, None) for n in urgent]
        cc = sorted({persons[n.cc_id].email for n in shown if n.cc_id} - {who.email})
        msg = NoticeMail(kind=kind, on_date=on, recipient_name=who.name,
                         recipient_email=who.email, items=items, cc=cc,
                         update_url=(url(rid, who.email) if kind == REMINDER
                                     else _list_url(settings.base_url, who)),
                         lang=settings.language, omitted=len(urgent) - len(shown),
                         totals={**totals_of(every), "owners": len(
                             {lines[n.recommendation_id]["owner_id"] for n in urgent})})
        ids = [n.id for n in group]
        drafts.append(_Draft(message_key(kind, who.email, on, []), rid, kind, on, who.email,
                             cc, ids, msg))
    return drafts, dropped


def _still_true(n: Any, facts: dict | None) -> bool:
    """Whether a planned notice still holds: the item is active, still that owner's, and
    the stage's date is still the item's deadline (or last report, for a nudge)."""
    if facts is None or facts["status"] not in ACTIVE_STATUSES:
        return False
    owner = n.recipient_id if n.kind == REMINDER else n.cc_id
    if facts["owner_id"] != owner:
        return False
    head, _, when = n.stage.partition(":")
    if head.startswith("stale"):
        return when == facts["last_progress_on"].isoformat()
    return when == facts["deadline"].isoformat()


def totals_of(items: list[ItemLine]) -> dict[str, int]:
    """Section → number of items, over every item of a message (listed or not); 'within'
    is the farthest deadline of the approaching ones, in days."""
    from tindak.mail import section_of

    out: dict[str, int] = {}
    for it in items:
        key = section_of(it)
        out[key] = out.get(key, 0) + 1
        if key == "before":
            out["within"] = max(out.get("within", 0), it.days_left)
    return out


def _view_url(base: str | None, who: _Who, facts: dict, tree: UnitTree | None) -> str | None:
    """What a superior can open about an item: its planner's page when they may sign in to
    see it (a planner or leader of its unit tree), else its card on the forum's public
    page. Never the owner's signed link: that is the owner's credential."""
    if not base:
        return None
    if who.staff and tree is not None and who.unit_id in tree.ancestors(facts["unit_id"]):
        return f"{base}/kelola/rekomendasi/{facts['id']}"
    return f"{base}/forum/{facts['forum_id']}#r{facts['id']}"


def _list_url(base: str | None, who: _Who) -> str | None:
    """A superior who may sign in gets the overdue list of their tree; others, no button."""
    return f"{base}/kelola/rekomendasi?overdue=1" if base and who.staff else None


def compose_chunk(recipients: list[int], as_of: date | None = None,
                  now: datetime | None = None) -> list[tuple[_Draft, Rendered | None]]:
    """Read and render the messages of these recipients (in a render process, or here);
    a draft without a rendering carries the notices to drop."""
    from tindak import mail

    _contexts.clear()  # planning is over: its lookups are not needed any more
    out: list[tuple[_Draft, Rendered | None]] = []
    drafts, dropped = _drafts(recipients, as_of, now)
    for d in drafts:
        rendered = mail.render_notice(d.mail)  # type: ignore[arg-type]
        d.mail = None  # not sent back between processes: the rendered message is
        out.append((d, rendered))
    if dropped:
        out.append((_Draft("", 0, "drop", date.min, "", [], dropped, None), None))
    return out


def _release_memory() -> None:
    """Hand freed memory back to the system (glibc keeps it otherwise: tens of megabytes of
    message bodies pass through every batch)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# Below this many recipients a run renders in this process: starting a pool costs ~1 s.
POOL_MIN_MESSAGES = 2000
RENDER_CHUNK = 50  # recipients per job handed to a render process


class _Done:
    """A finished job, shaped like a Future (a batch rendered in this process)."""

    def __init__(self, value: list):
        self.value = value

    def result(self) -> list:
        return self.value


def _compose_jobs(recipients: list[int], pool: Executor | None, as_of: date | None = None,
                  now: datetime | None = None) -> list:
    if not recipients:
        return []
    if pool is None or len(recipients) < RENDER_CHUNK * 2:
        return [_Done(compose_chunk(recipients, as_of, now))]
    return [pool.submit(compose_chunk, recipients[i:i + RENDER_CHUNK], as_of, now)
            for i in range(0, len(recipients), RENDER_CHUNK)]


def _render_pool(workers: int | None) -> Executor | None:
    """Render processes when there is enough to render and more than one core to do it."""
    with session() as s:
        pending = s.execute(
            sa.select(sa.func.count(sa.distinct(Notice.recipient_id)))
            .where(Notice.outbox_id.is_(None))).scalar_one()
    return render_pool(workers) if pending >= POOL_MIN_MESSAGES else None


def _queue_composed(found: list[tuple[_Draft, Rendered | None]], now: datetime,
                    report: ComposeReport) -> None:
    """Queue the rendered messages whose notices are all still unsent, and link the notices
    to them, in one transaction: a message and its notices are written together or not.
    Notices no longer true are deleted (unsent ones only), so they are planned anew."""
    if not found:
        return
    composed = [(d, r) for d, r in found if r is not None]
    drop = [i for d, r in found if r is None for i in d.notice_ids]
    N = Notice.__table__  # type: ignore[attr-defined]
    with write_session() as s:
        lock_for(s, "tindak.compose")
        conn = s.connection()
        for i in range(0, len(drop), 5000):
            conn.execute(N.delete().where(N.c.id.in_(drop[i:i + 5000]),
                                          N.c.outbox_id.is_(None)))
        if not composed:
            return
        free = set(conn.execute(
            sa.select(N.c.id).where(N.c.outbox_id.is_(None),
                                    N.c.recipient_id.in_(sorted({d.rid for d, _ in composed})))
        ).scalars())
        ok = [(d, r) for d, r in composed if all(i in free for i in d.notice_ids)]
        report.skipped += len(composed) - len(ok)
        oids = queue_messages(s, [(d.key, d.kind, d.on, d.to, d.cc, r) for d, r in ok], now)
        links = [(oids[d.key], i) for d, _ in ok if d.key in oids for i in d.notice_ids]
        raw = conn.connection.dbapi_connection
        if links and conn.dialect.name == "postgresql":  # one statement over arrays
            raw.execute(  # type: ignore[union-attr]
                f"UPDATE {N.name} SET outbox_id = v.oid FROM unnest(%s::int[], %s::int[]) "
                f"AS v(oid, nid) WHERE {N.name}.id = v.nid AND {N.name}.outbox_id IS NULL",
                [list(c) for c in zip(*links, strict=True)])
        elif links:  # through the driver: a row each, and a hundred thousand of them
            raw.cursor().executemany(  # type: ignore[union-attr]
                f"UPDATE {N.name} SET outbox_id = ? WHERE id = ? AND outbox_id IS NULL",
                links)
        _release_memory()
        for d, _ in ok:
            if d.key in oids:
                report.messages += 1
                report.notices += len(d.notice_ids)
                report.by_kind[d.kind] = report.by_kind.get(d.kind, 0) + 1


@dataclass(frozen=True)
class _Who:
    """A recipient as a message needs them."""

    name: str
    email: str
    tz: str  # their unit's timezone: whose "today" a message is of
    unit_id: int
    staff: bool  # a planner or leader, who may sign in to the planners' pages


def _persons(s: Session, ids: set[int]) -> dict[int, _Who]:
    rows = s.execute(sa.select(Person.id, Person.name, Person.email, Unit.timezone,
                               Person.unit_id, Person.roles)
                     .join(Unit, Unit.id == Person.unit_id)
                     .where(Person.id.in_(sorted(ids)))).all()
    return {r[0]: _Who(r[1], r[2], r[3], r[4], bool({"planner", "leader"} & {
        x.strip() for x in (r[5] or "").split(";")})) for r in rows}


def _item_lines(s: Session, rec_ids: set[int]) -> dict[int, dict]:
    """The facts a message shows about each item, in one query."""
    R, F, U, P = Recommendation, Forum, Unit, Person
    out: dict[int, dict] = {}
    ids = sorted(rec_ids)
    for i in range(0, len(ids), 5000):
        for r in s.execute(
            sa.select(R.id, R.ref, R.text, F.title, U.name, R.deadline, U.timezone, R.status,
                      R.progress, P.name, P.email, P.id, R.forum_id, R.unit_id,
                      R.last_progress_at)
            .join(F, F.id == R.forum_id).join(U, U.id == R.unit_id)
            .join(P, P.id == R.owner_id).where(R.id.in_(ids[i:i + 5000]))
        ):
            out[r[0]] = dict(ref=r[1], text=r[2], forum=r[3], unit_name=r[4], deadline=r[5],
                             tz=r[6], status=r[7], progress=r[8], owner_name=r[9],
                             owner_email=r[10], owner_id=r[11], id=r[0], forum_id=r[12],
                             unit_id=r[13], last_progress_on=local_today(r[6], r[14]))
    return out


def _line_for(facts: dict, stage: str, on: date, url: Callable[[dict], str | None] | None,
              view: Callable[[dict], str | None] | None = None) -> ItemLine:
    days_left = (facts["deadline"] - on).days
    return ItemLine(
        ref=facts["ref"], text=facts["text"], forum=facts["forum"],
        unit_name=facts["unit_name"], deadline=facts["deadline"], tz=facts["tz"],
        status=facts["status"], progress=facts["progress"], owner_name=facts["owner_name"],
        owner_email=facts["owner_email"], stage=stage, days_left=days_left,
        days_overdue=max(0, -days_left),
        update_url=url(facts) if url else None,
        view_url=view(facts) if view else None,
    )


# Planning runs on every core from this many items on (starting the processes costs ~1 s).
PLAN_POOL_MIN_ITEMS = 50_000
_plan_pools: dict[str, Executor] = {}


def plan_ranges(ranges: list[tuple[int, int]], as_of: date | None = None,
                now: datetime | None = None, timezones: Iterable[str] | None = None,
                run_key: str | None = None) -> PlanReport:
    """Plan several id ranges of one run: in this process for a few, else on every core.

    The processes (one per core) are kept for the run's later calls until `end_run`; each
    loads the run's PlanContext once."""
    now = now or datetime.now(UTC)
    tzs = list(timezones) if timezones else None
    key = run_key or f"plan-{uuid.uuid4().hex}"
    pool = _plan_pools.get(key)
    if pool is None and len(ranges) * PLAN_BATCH >= PLAN_POOL_MIN_ITEMS:
        pool = render_pool()
        if pool is not None:
            _plan_pools[key] = pool
    total = PlanReport()
    try:
        if pool is None:
            decided = (decide_range(lo, hi, as_of, now, tzs, context_key=key)
                       for lo, hi in ranges)
        else:  # the processes decide; this one writes each batch as it comes
            decided = _in_order(pool, [(lo, hi, as_of, now, tzs) for lo, hi in ranges], key)
        for report, rows in decided:
            total.items += report.items
            total.notices += record_notices(rows, report.replaced)
            total.unaddressed += report.unaddressed
            room = MAX_UNADDRESSED_REFS - len(total.unaddressed_refs)
            total.unaddressed_refs += report.unaddressed_refs[:max(0, room)]
    finally:
        if run_key is None:
            end_run(key)
    return total


def _in_order(pool: Executor, jobs: list[tuple], key: str) -> Iterator[tuple[PlanReport,
                                                                          list[tuple]]]:
    """decide_range over `jobs` on the pool, results in order, at most two per process
    waiting at a time (a million items' notices are not all held at once)."""
    window = 2 * getattr(pool, "_max_workers", 2)
    waiting: deque = deque()
    for job in jobs:
        waiting.append(pool.submit(decide_range, *job, context_key=key))
        if len(waiting) >= window:
            yield waiting.popleft().result()
    while waiting:
        yield waiting.popleft().result()


def end_run(run_key: str) -> None:
    """Stop the processes `plan_ranges` started for a run."""
    pool = _plan_pools.pop(run_key, None)
    if pool is not None:
        pool.shutdown(cancel_futures=True)


def plan_all(as_of: date | None = None, now: datetime | None = None,
             timezones: Iterable[str] | None = None) -> PlanReport:
    """Plan every active item (the flow runs groups of ranges as tasks instead)."""
    return plan_ranges(active_id_ranges(timezones), as_of, now, timezones)


def run_daily(as_of: date | None = None, now: datetime | None = None,
              timezones: Iterable[str] | None = None, deliver: bool = True) -> dict:
    """The whole daily follow-up in this process, without Prefect (library use, tests)."""
    get_engine()
    key = f"run-{uuid.uuid4().hex}"
    try:
        plan = plan_ranges(active_id_ranges(timezones), as_of, now, timezones, run_key=key)
        comp = compose_pending(now, run_key=key, as_of=as_of, timezones=timezones)
    finally:
        end_run(key)
    out = {"items": plan.items, "notices": plan.notices, "unaddressed": plan.unaddressed,
           "unaddressed_refs": plan.unaddressed_refs, "messages": comp.messages}
    if deliver:
        from tindak import outbox

        out["delivery"] = outbox.deliver()
    return out


def calendar_now() -> WorkCalendar:
    with session() as s:
        return load_calendar(s)
