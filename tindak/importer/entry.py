"""The entry point: every file imported as one change, all rows written or none. Checks run
before the write lock; if units or people changed meanwhile, again under it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Forum, session, utcnow, write_session
from tindak.calendar import load_calendar
from tindak.errors import N_, Forbidden, ImportFailed, Msg
from tindak.importer.bulk import write_forums, write_recs, write_small
from tindak.importer.checks import check_files
from tindak.importer.plan import Counts, Plan, plan_people, plan_units
from tindak.importer.rows import Parsed
from tindak.importer.stored import Stored
from tindak.settings import get_settings

KIND_WORDS = {"units": Msg(N_("units")), "people": Msg(N_("people")),
              "forums": Msg(N_("forums")), "recommendations": Msg(N_("recommendations")),
              "participants": Msg(N_("invitations (created: queued now; unchanged: invited "
                                     "or subscribed before)"))}


@dataclass
class ImportReport:
    """How many rows of each kind were (or, on a dry run, would be) created, updated, unchanged."""

    counts: dict[str, Counts]
    dry_run: bool = False
    invitations: list[int] = field(default_factory=list)  # outbox ids, to send at once

    def lines(self) -> list[Msg]:
        """Worded by the edge in the reader's language (`str()` of each is English)."""
        out = [Msg("%(kind)s: %(counts)s", kind=KIND_WORDS[kind], counts=self.counts[kind]
                   .words()) for kind in KIND_WORDS if kind in self.counts]
        if self.dry_run:
            out.append(Msg(N_("dry run: every row is valid; nothing was written")))
        return out


def _check_actor(by: str, parsed: Parsed, db: Stored) -> str:
    email = by.strip().lower()
    if email in parsed.people:
        roles = parsed.people[email].roles or (db.people[email][3] if email in db.people
                                               else "owner")
    elif email in db.people:
        roles = db.people[email][3]
    else:
        raise Forbidden(N_("--by %(email)s: no such person (register them first, or in this "
                           "import)"), email=by)
    if "planner" not in roles.split(";"):
        raise Forbidden(N_("--by %(email)s: only a person with the planner role may import"),
                        email=email)
    return email


def import_files(paths: Sequence[Path | str], dry_run: bool = False,
                 by: str | None = None, scope: str | None = None,
                 link_base: str | None = None) -> ImportReport:
    """Import every file as one change: all rows are written, or none (ImportFailed lists why).

    `scope` (an email): every row must write inside that person's organisation (the tree of
    the top unit above their unit); the web's upload passes the importing planner.

    Participants are invited (a confirmation mail each, queued in the same transaction;
    `link_base`, else TINDAK_BASE_URL, is where its link points): the report's
    `invitations` are their outbox ids, for the edge to send at once.

    Errors name each file as given here (a str keeps the user's spelling, e.g. './a.csv').
    The files are checked before the write lock is taken; if units or people changed in the
    database meanwhile, they are checked again under the lock.
    """
    if not paths:
        raise ImportFailed([Msg(N_("no files given"))])
    actor = by or "import:" + ",".join(Path(path).name for path in paths)
    with session() as s:
        db = Stored.load(s)
    checked = check_files(paths, db) if scope is None else check_files(paths, db, scope)
    try:
        if by is not None:
            actor = _check_actor(by, checked.parsed, db)
        base = link_base or get_settings().base_url
        if checked.parsed.participants and not base:
            raise ImportFailed([Msg(N_("participants are invited by a link to the web app: "
                                       "set TINDAK_BASE_URL first"))])
        if checked.p:
            raise checked.p.refusal()
        invitations: list[int] = []
        with (session if dry_run else write_session)() as s:
            fresh = Stored.load(s)
            changed, db = not fresh.same(db), fresh
            if changed:
                checked.close()
                checked = (check_files(paths, db) if scope is None
                           else check_files(paths, db, scope))
                if by is not None:
                    actor = _check_actor(by, checked.parsed, db)
                if checked.p:
                    raise checked.p.refusal()
            conn, now, actor = s.connection(), utcnow(), actor[:254]
            plan = Plan()
            plan_units(checked.parsed, db, plan)
            plan_people(checked.parsed, db, plan)
            ids = None if dry_run else write_small(conn, plan, now, actor)
            counts = plan.counts
            del plan  # the units' and people's changes: written, and not needed any more
            if "recommendations" in checked.parsed.kinds:
                forum_id = write_forums(conn, checked.forums, db,
                                        counts.setdefault("forums", Counts()),
                                        ids[0] if ids else None, now, actor)
                cal = load_calendar(s, get_settings().language)
                write_recs(conn, checked.spool, db, cal,
                           counts.setdefault("recommendations", Counts()),
                           (*ids, forum_id) if ids else None, now, actor)
            if checked.parsed.participants and base:  # (no base with participants: refused)
                invitations = _invite(s, checked.parsed.participants, base, dry_run,
                                      counts.setdefault("participants", Counts()))
    finally:
        checked.close()
    kinds = checked.parsed.kinds
    shown = kinds | ({"forums"} if "recommendations" in kinds else set())
    return ImportReport({k: c for k, c in counts.items() if k in shown}, dry_run, invitations)


def _invite(s: Session, people: list[tuple[str, str, date]], base: str, dry_run: bool,
            counts: Counts) -> list[int]:
    from tindak.public_loop import queue_invitations

    if dry_run:  # (a forum of this import is not written, so count the rows)
        counts.created = len(set(people))
        return []
    keys = {(title, held_on) for _, title, held_on in people}
    forum_ids = {(t, d): i for i, t, d in s.execute(
        sa.select(col(Forum.id), col(Forum.title), col(Forum.held_on)).where(
            sa.tuple_(col(Forum.title), col(Forum.held_on)).in_(sorted(keys))))}
    wanted = list(dict.fromkeys((email, forum_ids[(title, held_on)])
                                for email, title, held_on in people
                                if (title, held_on) in forum_ids))
    ids = queue_invitations(s, wanted, base, get_settings().language)
    counts.created, counts.unchanged = len(ids), len(wanted) - len(ids)
    return ids
