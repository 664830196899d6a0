"""Composing, the second step of the daily follow-up: the planned notices become outbox
messages, one per recipient, kind and local day, read from what is true now, rendered (on
the run's processes when there are many) and queued.

Exactly once: a message is unique per key and is written to the outbox, with its notices,
in one transaction before anyone tries to send it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import (
    ACTIVE_STATUSES,
    Forum,
    Notice,
    Person,
    Recommendation,
    Unit,
    session,
    table_of,
    write_session,
)
from tindak import pool
from tindak.calendar import local_today, today_for
from tindak.directory import UnitTree
from tindak.followup.plan import drop_contexts
from tindak.links import owner_url
from tindak.mailmodel import ItemLine, NoticeMail, Rendered
from tindak.outbox.store import message_key, queue_messages
from tindak.rules import REMINDER
from tindak.settings import get_settings

COMPOSE_BATCH = 2000  # recipients per write transaction (fewer: more rewrites of notice pages)
# A message lists at most this many items, most urgent first: a leader escalated hundreds
# of items reads the first ones and the count of the rest, then opens the dashboard.
MAX_ITEMS_PER_MESSAGE = 50


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
    # The run's processes when its planning started them; else some if there is enough.
    reuse = run_key is not None and workers is None and pool.started(run_key) is not None
    with pool.for_run(run_key, reuse or _many_pending(), workers) as executor:
        while True:
            skipped = report.skipped
            _compose_pass(now, batch, executor, report, as_of, tzs)
            # A concurrent run took notices we had read: another pass for what it left.
            if report.skipped == skipped:
                return report


def _compose_pass(now: datetime, batch: int, executor: Executor | None,
                  report: ComposeReport, as_of: date | None = None,
                  timezones: list[str] | None = None) -> None:
    after = 0
    waiting: list = []  # the jobs of the batch before, queued once this one is handed out
    while True:
        recipients = _next_recipients(after, batch, timezones)
        jobs = _compose_jobs(recipients, executor, as_of, now)
        _queue_composed([c for job in waiting for c in job.result()], now, report)
        if not recipients:
            return
        after, waiting = recipients[-1], jobs


def _next_recipients(after: int, batch: int, timezones: list[str] | None = None
                     ) -> list[int]:
    """The next `batch` recipients (by id, above `after`) with notices not yet in a message;
    with `timezones`, only those whose unit keeps one of them."""
    N = table_of(Notice)
    q = sa.select(N.c.recipient_id).where(N.c.outbox_id.is_(None), N.c.recipient_id > after)
    if timezones:
        q = (q.join(Person, col(Person.id) == N.c.recipient_id)
             .join(Unit, col(Unit.id) == col(Person.unit_id))
             .where(col(Unit.timezone).in_(timezones)))
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
    N = table_of(Notice)
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

    drop_contexts()  # planning is over: its lookups are not needed any more
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


def _compose_jobs(recipients: list[int], executor: Executor | None, as_of: date | None = None,
                  now: datetime | None = None) -> list:
    if not recipients:
        return []
    if executor is None or len(recipients) < RENDER_CHUNK * 2:
        return [_Done(compose_chunk(recipients, as_of, now))]
    return [executor.submit(compose_chunk, recipients[i:i + RENDER_CHUNK], as_of, now)
            for i in range(0, len(recipients), RENDER_CHUNK)]


def _many_pending() -> bool:
    """Whether there is enough to render for render processes to pay off."""
    with session() as s:
        pending = s.execute(
            sa.select(sa.func.count(sa.distinct(col(Notice.recipient_id))))
            .where(col(Notice.outbox_id).is_(None))).scalar_one()
    return bool(pending >= POOL_MIN_MESSAGES)


def _queue_composed(found: list[tuple[_Draft, Rendered | None]], now: datetime,
                    report: ComposeReport) -> None:
    """Queue the rendered messages whose notices are all still unsent, and link the notices
    to them, in one transaction: a message and its notices are written together or not.
    Notices no longer true are deleted (unsent ones only), so they are planned anew."""
    if not found:
        return
    composed = [(d, r) for d, r in found if r is not None]
    drop = [i for d, r in found if r is None for i in d.notice_ids]
    N = table_of(Notice)
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
    rows = s.execute(sa.select(col(Person.id), col(Person.name), col(Person.email),
                               col(Unit.timezone), col(Person.unit_id), col(Person.roles))
                     .join(Unit, col(Unit.id) == col(Person.unit_id))
                     .where(col(Person.id).in_(sorted(ids)))).all()
    return {r[0]: _Who(r[1], r[2], r[3], r[4], bool({"planner", "leader"} & {
        x.strip() for x in (r[5] or "").split(";")})) for r in rows}


def _item_lines(s: Session, rec_ids: set[int]) -> dict[int, dict]:
    """The facts a message shows about each item, in one query."""
    R, F, U, P = Recommendation, Forum, Unit, Person
    out: dict[int, dict] = {}
    ids = sorted(rec_ids)
    for i in range(0, len(ids), 5000):
        for r in s.execute(
            sa.select(col(R.id), col(R.ref), col(R.text), col(F.title), col(U.name),
                      col(R.deadline), col(U.timezone), col(R.status), col(R.progress),
                      col(P.name), col(P.email), col(P.id), col(R.forum_id), col(R.unit_id),
                      col(R.last_progress_at))
            .join(F, col(F.id) == col(R.forum_id)).join(U, col(U.id) == col(R.unit_id))
            .join(P, col(P.id) == col(R.owner_id)).where(col(R.id).in_(ids[i:i + 5000]))
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

