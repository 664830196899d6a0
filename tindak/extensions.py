"""Deadline extensions (perpanjangan waktu, SPEC §7): a request is a record, never a silent edit.

The owner of an item, or a planner of its tree, asks for a later deadline with a reason; a
planner of the tree who neither asked nor owns the item approves or rejects it. Until it is
approved the deadline in force does not move; on approval `Recommendation.deadline` becomes
the new date (reminders, escalations and rates follow it, with a fresh ladder: their stages
are keyed by the deadline) and `original_deadline` keeps the Berita Acara's. The one who
asked is told the decision by mail, at once. The CLI and the web call these functions, so
the rules live here once.
"""

from __future__ import annotations

from datetime import date, datetime
from email.utils import make_msgid, parseaddr
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import (
    ACTIVE_STATUSES,
    Extension,
    ExtensionStatus,
    OutboxStatus,
    Person,
    ProgressUpdate,
    Recommendation,
    Unit,
    insert_messages,
    utcnow,
    write_session,
)
from models import session as read_session
from tindak import audit, links, mail, recs
from tindak.directory import UnitTree, person_by_email
from tindak.errors import N_, Edge, Forbidden, InvalidInput
from tindak.mailmodel import DecisionMail
from tindak.settings import get_settings
from tindak.validators import parse_date

GIVE_REASON = Edge(N_("give it with --reason"), N_("give a reason"))
GIVE_UNTIL = Edge(N_("give it with --until DATE"), N_("choose the new deadline"))


def parse_until(text: str | None) -> date:
    """The new deadline as typed on a page or the command line."""
    if not (text or "").strip():
        raise InvalidInput(N_("an extension needs the new deadline: %(how)s"), how=GIVE_UNTIL)
    day = parse_date(text or "")
    if day.year > 2100:
        raise InvalidInput(N_("'%(value)s' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
                           value=text)
    return day

# Why a person may not decide on a request (SPEC §7), as the error says it.
NOT_DECIDER = {
    "requester": N_("%(email)s asked for this extension of %(ref)s and may not decide it "
                    "too: another planner of its unit tree decides"),
    "owner": N_("%(ref)s is an item of %(email)s, who may not decide its extension: another "
                "planner of its unit tree decides"),
}


def why_not_decider(person_id: int, owner_id: int, requester_id: int) -> str | None:
    """Nobody decides an extension they asked for ('requester'), nor one of their own item."""
    return recs.why_not_decider(person_id, owner_id, requester_id, "requester")


def _waiting(s: Session, rec_id: int) -> Extension | None:
    return s.execute(sa.select(Extension).where(
        col(Extension.recommendation_id) == rec_id,
        col(Extension.status) == ExtensionStatus.requested.value)).scalars().first()


def request_extension(ref: str, until: date, reason: str | None, by: str,
                      at: datetime | None = None) -> dict[str, Any]:
    """Ask for `until` as the item's deadline. The deadline in force does not move."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("an extension needs a reason: %(how)s"), how=GIVE_REASON)
    with write_session() as s:
        actor, rec = recs.acting_on(s, by, ref, recs.can_update,
                                    N_("%(email)s may not ask to extend %(ref)s: only its owner "
                                       "or a planner of its unit"))
        assert rec.id is not None and actor.id is not None  # rows read from the database
        if rec.status not in ACTIVE_STATUSES:
            raise InvalidInput(N_("%(ref)s is no longer open or in progress: its deadline "
                                  "cannot be extended"), ref=rec.ref)
        if until <= rec.deadline:
            raise InvalidInput(N_("the new deadline %(until)s must be after the deadline in "
                                  "force, %(deadline)s"),
                               until=until.isoformat(), deadline=rec.deadline.isoformat())
        waiting = _waiting(s, rec.id)
        if waiting is not None:
            raise InvalidInput(N_("%(ref)s already has an extension request waiting for a "
                                  "decision (until %(until)s)"),
                               ref=rec.ref, until=waiting.until.isoformat())
        when = at or utcnow()
        ext = Extension(recommendation_id=rec.id, previous=rec.deadline, until=until,
                        reason=reason, requested_by=actor.id, requested_at=when)
        s.add(ext)
        s.add(ProgressUpdate(recommendation_id=rec.id, person_id=actor.id, note=reason,
                             kind="extend_request", at=when))
        audit.record(s, actor.email, "extend_request", "recommendation", rec.ref,
                     {"until": until.isoformat(), "reason": reason})
        return {"ref": rec.ref, "deadline": rec.deadline.isoformat(),
                "extension": {"until": until.isoformat(), "status": ext.status,
                              "reason": reason, "requested_by": actor.email,
                              "decided_by": None}}


def decide_extension(ref: str, by: str, approve: bool, note: str | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
    """Approve (the deadline in force becomes the date asked for) or reject (a note says
    why) the request waiting on the item, then tell the one who asked, at once."""
    note = recs.decision_note(note, rejecting=not approve)
    with write_session() as s:
        actor, rec = recs.acting_on(s, by, ref, recs.can_decide,
                                    N_("%(email)s may not decide extensions of %(ref)s: only a "
                                       "planner of its unit"))
        assert rec.id is not None and actor.id is not None  # rows read from the database
        ext = _waiting(s, rec.id)
        if ext is None:
            raise InvalidInput(N_("%(ref)s has no extension request waiting for a decision"),
                               ref=rec.ref)
        reason = why_not_decider(actor.id, rec.owner_id, ext.requested_by)
        if reason is not None:
            raise Forbidden(NOT_DECIDER[reason], email=actor.email, ref=rec.ref)
        when = at or utcnow()
        ext.status = (ExtensionStatus.approved if approve else ExtensionStatus.rejected).value
        ext.decided_by, ext.decided_at, ext.note = actor.id, when, note
        s.add(ext)
        before = rec.deadline
        if approve:
            rec.original_deadline = rec.original_deadline or rec.deadline
            rec.deadline = ext.until
            rec.updated_at = when
            s.add(rec)
        s.add(ProgressUpdate(recommendation_id=rec.id, person_id=actor.id, note=note,
                             kind="extend_approve" if approve else "extend_reject", at=when))
        audit.record(s, actor.email, "extend_approve" if approve else "extend_reject",
                     "recommendation", rec.ref,
                     {**({"deadline": [before.isoformat(), ext.until.isoformat()]}
                         if approve else {}),
                      "until": ext.until.isoformat(), **({"note": note} if note else {})})
        requester = s.get(Person, ext.requested_by)
        outbox_id = _queue_decision(s, rec, ext, requester, actor)  # type: ignore[arg-type]
        result = {"ref": rec.ref, "deadline": rec.deadline.isoformat(),
                  "extension": {"until": ext.until.isoformat(), "status": ext.status,
                                "reason": ext.reason, "requested_by": requester.email,  # type: ignore[union-attr]
                                "decided_by": actor.email}}
    from tindak.outbox import send_soon

    send_soon([outbox_id])  # after the commit: no transaction across SMTP I/O
    return result


def _queue_decision(s: Session, rec: Recommendation, ext: Extension, requester: Person,
                    decider: Person) -> int:
    unit = s.get(Unit, rec.unit_id)
    settings = get_settings()
    m = DecisionMail(
        lang=settings.language, name=requester.name, ref=rec.ref, text=rec.text,
        approved=ext.status == ExtensionStatus.approved.value, previous=ext.previous,
        until=ext.until, reason=ext.reason, note=ext.note, decider=decider.name,
        tz=unit.timezone if unit is not None else settings.default_timezone,
        page_url=(links.owner_url(requester.id, requester.email)
                  if requester.id == rec.owner_id else None))
    rendered = mail.render_extension_decision(m)
    domain = parseaddr(settings.mail_from)[1].partition("@")[2] or "localhost"
    key = f"extension:{ext.id}"
    ids = insert_messages(s, [dict(
        key=key, kind="extension", on_date=utcnow().date(), recipient=requester.email,
        cc="", subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
        message_id=make_msgid(domain=domain), status=OutboxStatus.pending.value,
        attempts=0, created_at=utcnow())])
    return ids[key]


def queue(person_email: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The requests waiting in this person's tree, oldest first: those they may decide, and
    those another planner decides (each with `why`: 'requester' or 'owner')."""
    with read_session() as s:
        actor = person_by_email(s, person_email)
        tree = UnitTree.load(s)
        units = tree.subtree(actor.unit_id)
        asker = aliased(Person)
        owner = aliased(Person)
        r, e = Recommendation, Extension
        rows = s.execute(
            sa.select(*map(col, (r.id, r.ref, r.text, r.deadline, r.unit_id, e.until, e.reason,
                                 asker.email, asker.name, owner.id, owner.name, asker.id,
                                 e.requested_at)))
            .join(r, col(r.id) == e.recommendation_id)
            .join(asker, col(asker.id) == e.requested_by)
            .join(owner, col(owner.id) == r.owner_id)
            .where(col(e.status) == ExtensionStatus.requested.value,
                   col(r.unit_id).in_(sorted(units)))
            .order_by(col(e.requested_at), col(e.id))).all()
    mine: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for (rid, ref, text, deadline, uid, until, reason, email, name, owner_id, owner_name,
         asker_id, when) in rows:
        why = why_not_decider(actor.id, owner_id, asker_id)  # type: ignore[arg-type]
        (others if why else mine).append(
            {"id": rid, "ref": ref, "text": text, "deadline": deadline, "until": until,
             "reason": reason, "requested_by": email, "requested_by_name": name,
             "owner_name": owner_name, "requested_at": when, "tz": tree.tz[uid],
             "unit_name": tree.name[uid], "why": why})
    return mine, others


def approved_moves(rec_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Item id → each approved move of its deadline, oldest first: from, to, when, why
    (what the public page shows: a deadline never moves silently)."""
    if not rec_ids:
        return {}
    e = Extension
    out: dict[int, list[dict[str, Any]]] = {}
    with read_session() as s:
        for rid, prev, until, when, reason, unit in s.execute(
                sa.select(*map(col, (e.recommendation_id, e.previous, e.until, e.decided_at,
                                     e.reason, Unit.name)))
                .join(Person, col(Person.id) == e.decided_by)
                .join(Unit, col(Unit.id) == Person.unit_id)
                .where(col(e.recommendation_id).in_(rec_ids),
                       col(e.status) == ExtensionStatus.approved.value)
                .order_by(col(e.decided_at), col(e.id))):
            # Who decided, as the public may read it: the decider's unit, never a name.
            out.setdefault(rid, []).append({"previous": prev, "until": until,
                                            "decided_at": when, "reason": reason,
                                            "decided_by_unit": unit})
    return out
