"""Recommendations: list with the facts users ask for, record progress, verify.

The rules of who may change what live here, so the CLI and the web enforce the same ones.
"""

from __future__ import annotations

import mimetypes
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import (
    ACTIVE_STATUSES,
    Extension,
    Forum,
    Person,
    ProgressUpdate,
    Recommendation,
    Status,
    Unit,
    utcnow,
    write_session,
)
from models import session as read_session
from tindak import audit
from tindak.calendar import local_today
from tindak.directory import UnitTree, has_role, person_by_email
from tindak.errors import N_, Edge, Forbidden, InvalidInput, Msg, NotFound
from tindak.i18n import STATUS_MSGIDS
from tindak.settings import get_settings
from tindak.status import days_overdue, is_at_risk, is_overdue

STATUSES = tuple(s.value for s in Status)
EVIDENCE_TYPES = {
    ".pdf", ".jpg", ".jpeg", ".png", ".webp", ".doc", ".docx", ".xls", ".xlsx",
    ".odt", ".ods", ".ppt", ".pptx", ".txt", ".csv", ".zip",
}
EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
EVIDENCE_URL_MAX = 2000  # the column's length: PostgreSQL refuses more, SQLite would keep it
GIVE_NOTE = Edge(N_("give it with --note"), N_("give a reason in the note field"))


@dataclass(frozen=True)
class RecFilter:
    status: str | None = None
    overdue: bool = False
    owner: str | None = None
    unit: str | None = None  # a unit code: that unit and every unit below it
    forum_id: int | None = None
    unit_ids: frozenset[int] | None = None  # restrict to these units (permissions)
    owner_id: int | None = None


def list_recs(
    flt: RecFilter = RecFilter(), now: datetime | None = None, batch: int = 5000
) -> Iterator[dict[str, Any]]:
    """Yield one dict per recommendation (SPEC §4 `recs list` fields), streamed in batches."""
    if flt.status is not None and flt.status not in STATUSES:
        raise unknown_status(flt.status)
    now = now or datetime.now(UTC)
    with read_session() as s:
        tree = UnitTree.load(s)
        r, f, u, p = Recommendation, Forum, Unit, Person
        q = (
            sa.select(*map(col, (
                r.id, r.ref, f.title, u.code, p.email, r.text, r.category, r.priority,
                r.deadline, r.status, r.progress, r.unit_id, f.held_on, p.name,
                r.updated_at, r.public_note, f.id, r.original_deadline,
            )))
            .join(f, col(f.id) == r.forum_id)
            .join(u, col(u.id) == r.unit_id)
            .join(p, col(p.id) == r.owner_id)
            .order_by(col(r.id))
        )
        if flt.status:
            q = q.where(col(r.status) == flt.status)
        if flt.overdue:
            q = q.where(col(r.status).in_(ACTIVE_STATUSES))
        if flt.owner:
            q = q.where(col(p.email) == flt.owner.strip().lower())
        if flt.owner_id is not None:
            q = q.where(col(r.owner_id) == flt.owner_id)
        if flt.forum_id is not None:
            q = q.where(col(r.forum_id) == flt.forum_id)
        units: set[int] | None = None
        if flt.unit:
            units = tree.subtree(tree.id_of(flt.unit))
        if flt.unit_ids is not None:
            units = set(flt.unit_ids) if units is None else units & set(flt.unit_ids)
        if units is not None:
            q = q.where(col(r.unit_id).in_(sorted(units)))
        today_by_tz = {tz: local_today(tz, now) for tz in set(tree.tz.values())}
        extension = extensions_by_item(s)
        result = s.execute(q.execution_options(yield_per=batch))
        for row in result:
            today = today_by_tz[tree.tz[row[11]]]
            overdue = is_overdue(row[9], row[8], today)
            if flt.overdue and not overdue:
                continue
            yield {
                "ref": row[1],
                "forum": row[2],
                "unit": row[3],
                "owner": row[4],
                "text": row[5],
                "category": row[6],
                "priority": row[7],
                "deadline": row[8].isoformat(),
                "original_deadline": (row[17] or row[8]).isoformat(),
                "extension": extension.get(row[0]),
                "status": row[9],
                "progress": int(row[10]),
                "overdue": overdue,
                "days_overdue": days_overdue(row[9], row[8], today),
                "at_risk": is_at_risk(
                    row[9], row[10], row[12], row[8], today, get_settings().at_risk_points
                ),
                "owner_name": row[13],
                "forum_id": row[16],
                "public_note": row[15],
            }


def extensions_by_item(s: Session, rec_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Item id → its latest extension request as `recs list` shows it (SPEC §7)."""
    asker, decider = aliased(Person), aliased(Person)
    e = Extension
    q = (sa.select(*map(col, (e.recommendation_id, e.until, e.status, e.reason, asker.email,
                              decider.email, e.previous, e.note)))
         .join(asker, col(asker.id) == e.requested_by)
         .outerjoin(decider, col(decider.id) == e.decided_by)
         .order_by(col(e.id)))
    if rec_ids is not None:
        q = q.where(col(e.recommendation_id).in_(rec_ids))
    return {rid: {"until": until.isoformat(), "status": status, "reason": reason,
                  "requested_by": who, "decided_by": by}
            for rid, until, status, reason, who, by, _prev, _note in s.execute(q)}


def known_owner(email: str) -> str:
    """The stored email of the person `email` names; NotFound if there is none."""
    with read_session() as s:
        return person_by_email(s, email).email


@dataclass(frozen=True)
class Evidence:
    url: str | None = None
    path: Path | None = None  # a file to copy into TINDAK_HOME/files
    filename: str | None = None  # the name the user gave it


def clean_filename(raw: str) -> str:
    """A file name as pages show it and downloads offer it: no folders (either slash), no
    control or invisible characters (a right-to-left override makes 'x\u202efdp.zip' read
    'xpiz.pdf')."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if unicodedata.category(c)[0] != "C").strip() or "upload"


def store_evidence(src: Path, original_name: str | None = None) -> tuple[str, str]:
    """Copy an evidence file under TINDAK_HOME/files with a generated name; (stored, original)."""
    name = original_name or src.name
    ext = Path(name).suffix.lower()
    if ext not in EVIDENCE_TYPES:
        raise InvalidInput(
            N_("evidence file type '%(type)s' is not accepted (use one of: %(allowed)s)"),
            type=ext or name, allowed=", ".join(sorted(EVIDENCE_TYPES)))
    if not src.is_file():
        raise InvalidInput(N_("evidence file '%(path)s' does not exist"), path=str(src))
    if src.stat().st_size > EVIDENCE_MAX_BYTES:
        raise InvalidInput(N_("evidence file is larger than %(mb)s MB"),
                           mb=EVIDENCE_MAX_BYTES // 2**20)
    folder = get_settings().files_dir
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}{ext}"
    shutil.copyfile(src, folder / stored)
    return stored, clean_filename(name)[:300]


def evidence_mime(stored: str) -> str:
    return mimetypes.guess_type(stored)[0] or "application/octet-stream"


def unknown_status(status: str) -> InvalidInput:
    return InvalidInput(N_("unknown status '%(status)s' (one of: %(allowed)s)"),
                        status=status, allowed=", ".join(STATUSES))


def status_word(code: str) -> Msg | str:
    """A status as its label, worded in the reader's language when the line is."""
    return Msg(STATUS_MSGIDS[code]) if code in STATUS_MSGIDS else code


def find_rec(s: Session, ref: str) -> Recommendation:
    """The item a person means by `ref`: as stored, else the one ref equal to it ignoring
    case and surrounding spaces (refs are stored as the import gave them)."""
    typed = (ref or "").strip()
    ref_col = col(Recommendation.ref)
    rec = s.execute(sa.select(Recommendation).where(ref_col == typed)).scalars().first()
    if rec is not None:
        return rec
    found = s.execute(sa.select(Recommendation).where(
        sa.func.lower(ref_col) == typed.lower()).limit(2)).scalars().all()
    if len(found) > 1:
        raise InvalidInput(N_("more than one recommendation has the ref '%(ref)s' in other "
                              "capitals (%(refs)s): type it exactly"),
                           ref=typed, refs=", ".join(r.ref for r in found))
    if not found:
        raise NotFound(N_("no recommendation with ref '%(ref)s'"), ref=typed)
    return found[0]


_get_rec = find_rec


def _is_planner_for(s: Session, person: Person, unit_id: int) -> bool:
    return has_role(person, "planner") and unit_id in UnitTree.load(s).subtree(person.unit_id)


def can_update(s: Session, person: Person, rec: Recommendation) -> bool:
    return rec.owner_id == person.id or _is_planner_for(s, person, rec.unit_id)


def can_decide(s: Session, person: Person, rec: Recommendation) -> bool:
    """A planner of the item's unit tree (who decides on reports of done and extensions)."""
    return _is_planner_for(s, person, rec.unit_id)


def acting_on(s: Session, by: str, ref: str,
              may: Callable[[Session, Person, Recommendation], bool],
              refusal: str) -> tuple[Person, Recommendation]:
    """The acting person and the item they mean by `ref`, when `may(s, person, item)`; else
    Forbidden(`refusal`, its parameters `email` and `ref`)."""
    actor = person_by_email(s, by)
    rec = find_rec(s, ref)
    if not may(s, actor, rec):
        raise Forbidden(refusal, email=actor.email, ref=rec.ref)
    return actor, rec


def update_rec(
    ref: str,
    by: str,
    progress: int | None = None,
    status: str | None = None,
    note: str | None = None,
    evidence: Evidence | None = None,
    public: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Record a progress update (`at`: when, for back-fills). Returns the new status."""
    if progress is None and status is None and not note and evidence is None:
        raise InvalidInput(N_("nothing to record: %(how)s"), how=Edge(
            N_("give --progress, --status, --note or --evidence"),
            N_("give a progress, a status, a note or evidence")))
    if progress is not None and not 0 <= progress <= 100:
        raise InvalidInput(N_("progress must be between 0 and 100, not %(value)s"),
                           value=progress)
    if status is not None and status not in STATUSES:
        raise unknown_status(status)
    if status == Status.completed.value:
        raise InvalidInput(N_("'completed' is set only by a planner's verification: report "
                              "'awaiting_verification' and a planner verifies it"))
    if status == Status.open.value:
        raise InvalidInput(N_("an item cannot be set back to 'open' once reported on"))
    note = (note or "").strip() or None
    if status == Status.not_actionable.value and not note:
        raise InvalidInput(N_("'not_actionable' needs a reason: %(how)s"), how=GIVE_NOTE)
    stored = None
    evidence_url = evidence.url if evidence else None
    if evidence_url and not evidence_url.startswith(("http://", "https://")):
        raise InvalidInput(N_("an evidence link must start with http:// or https://"))
    if evidence_url and len(evidence_url) > EVIDENCE_URL_MAX:
        raise InvalidInput(N_("the evidence link is %(length)s characters long; at most "
                              "%(max)s are accepted"),
                           length=len(evidence_url), max=EVIDENCE_URL_MAX)
    with write_session() as s:
        actor, rec = acting_on(s, by, ref, can_update,
                               N_("%(email)s may not update %(ref)s: only its owner or a planner "
                                  "of its unit"))
        assert rec.id is not None and actor.id is not None  # rows read from the database
        planner = _is_planner_for(s, actor, rec.unit_id)
        if rec.status == Status.completed.value:
            raise InvalidInput(N_("%(ref)s is already verified as completed; it cannot be "
                                  "changed"), ref=rec.ref)
        if rec.status == Status.not_actionable.value and not (
            planner and status == Status.in_progress.value
        ):
            raise InvalidInput(
                N_("%(ref)s is closed as not actionable; only a planner may reopen it %(how)s"),
                ref=rec.ref, how=Edge(N_("with --status in_progress"),
                                      N_("by setting the status to In progress")))
        new_status = status
        new_progress = progress if progress is not None else rec.progress
        if new_status is None:
            if new_progress >= 100:
                new_status = Status.awaiting_verification.value
            elif rec.status == Status.open.value:
                new_status = Status.in_progress.value
            else:
                new_status = rec.status
        if new_status == Status.awaiting_verification.value:
            new_progress = 100
        if new_status == Status.in_progress.value and new_progress >= 100:
            raise InvalidInput(N_("progress 100 means done: report the status "
                                  "awaiting_verification"))
        if evidence is not None and evidence.path is not None:
            stored, original = store_evidence(evidence.path, evidence.filename)
        else:
            original = None
        before = {"status": rec.status, "progress": rec.progress}
        rec.status, rec.progress = new_status, new_progress
        when = at or utcnow()
        rec.updated_at = rec.last_progress_at = when
        if public and note:
            rec.public_note = note
        s.add(rec)
        s.add(
            ProgressUpdate(
                recommendation_id=rec.id, person_id=actor.id, progress=progress,
                status=new_status, note=note, evidence_url=evidence_url,
                evidence_file=stored, evidence_name=original, kind="report", at=when,
            )
        )
        audit.record(
            s, actor.email, "update", "recommendation", rec.ref,
            {**audit.diff(before, {"status": new_status, "progress": new_progress}),
             **({"note": note} if note else {}),
             **({"evidence": evidence_url or original} if (evidence_url or original) else {})},
        )
        return {"ref": rec.ref, "status": new_status, "progress": new_progress}


def reported_done_by(s: Session, rec_ids: list[int]) -> dict[int, int]:
    """Item id → the person who recorded the report that made it awaiting verification (the
    latest such report: a rejection and a new report of done make a new reporter)."""
    if not rec_ids:
        return {}
    u = ProgressUpdate
    rows = s.execute(
        sa.select(col(u.recommendation_id), col(u.person_id))
        .where(col(u.recommendation_id).in_(rec_ids),
               col(u.kind) == "report", col(u.status) == Status.awaiting_verification.value)
        .order_by(col(u.at), col(u.id))
    ).all()
    return {rid: pid for rid, pid in rows}  # the last report of each item wins


# Why a planner may not decide on a report of done (SPEC §7), as the error says it.
NOT_VERIFIER = {
    "reporter": N_("%(email)s reported %(ref)s done and may not verify it too: another "
                   "planner of its unit tree verifies it"),
    "owner": N_("%(ref)s is an item of %(email)s, who may not verify it: another planner of "
                "its unit tree verifies it"),
}


def why_not_decider(person_id: int, owner_id: int, asker_id: int | None,
                    asker: str) -> str | None:
    """SPEC §7 segregation of duties: why this person may not decide on what was asked of a
    planner about an item (a report of done, an extension), or None: `asker` (the role's
    word, e.g. 'reporter') when they asked it themselves, 'owner' when it is their own item.
    An owner who is also a planner needs another planner of the tree."""
    if asker_id == person_id:
        return asker
    if owner_id == person_id:
        return "owner"
    return None


def why_not_verifier(person_id: int, owner_id: int, reporter_id: int | None) -> str | None:
    """Why this person may not verify the item's report of done ('reporter', 'owner'), or
    None: nobody verifies what they reported done, nor their own item."""
    return why_not_decider(person_id, owner_id, reporter_id, "reporter")


def decision_note(note: str | None, rejecting: bool) -> str | None:
    """A planner's note on a decision, trimmed (None when empty); a rejection needs one."""
    note = (note or "").strip() or None
    if rejecting and not note:
        raise InvalidInput(N_("a rejection needs a reason: %(how)s"), how=GIVE_NOTE)
    return note




def verify_rec(ref: str, by: str, reject: bool = False, note: str | None = None,
               at: datetime | None = None) -> dict[str, Any]:
    """A planner accepts (→ completed) or rejects (→ in_progress, note required); never the
    planner who reported it done or who owns it (the one place this rule lives)."""
    note = decision_note(note, rejecting=reject)
    with write_session() as s:
        actor, rec = acting_on(s, by, ref, can_decide,
                               N_("%(email)s may not verify %(ref)s: only a planner of its unit "
                                  "may verify"))
        assert rec.id is not None and actor.id is not None  # rows read from the database
        if rec.status != Status.awaiting_verification.value:
            raise InvalidInput(
                N_("%(ref)s is '%(status)s', not awaiting verification: nothing to verify"),
                ref=rec.ref, status=status_word(rec.status))
        reason = why_not_verifier(actor.id, rec.owner_id,
                                  reported_done_by(s, [rec.id]).get(rec.id))
        if reason is not None:
            raise Forbidden(NOT_VERIFIER[reason], email=actor.email, ref=rec.ref)
        before = {"status": rec.status, "progress": rec.progress}
        if reject:
            rec.status = Status.in_progress.value
            rec.progress = min(rec.progress, 90)
        else:
            rec.status, rec.progress = Status.completed.value, 100
        rec.updated_at = at or utcnow()
        s.add(rec)
        s.add(
            ProgressUpdate(
                recommendation_id=rec.id, person_id=actor.id, progress=rec.progress,
                status=rec.status, note=note, kind="reject" if reject else "verify",
                at=rec.updated_at,
            )
        )
        audit.record(
            s, actor.email, "reject" if reject else "verify", "recommendation", rec.ref,
            {**audit.diff(before, {"status": rec.status, "progress": rec.progress}),
             **({"note": note} if note else {})},
        )
        return {"ref": rec.ref, "status": rec.status, "progress": rec.progress}


def history(ref: str) -> list[dict[str, Any]]:
    """Every progress update of an item, oldest first, with who made it; `tz` is the
    timezone of the item's unit (to show the times as its people read them)."""
    with read_session() as s:
        rec = _get_rec(s, ref)
        unit = s.get(Unit, rec.unit_id)
        tz = unit.timezone if unit is not None else get_settings().default_timezone
        rows = s.execute(
            sa.select(ProgressUpdate, col(Person.email), col(Person.name))
            .join(Person, col(Person.id) == ProgressUpdate.person_id)
            .where(col(ProgressUpdate.recommendation_id) == rec.id)
            .order_by(col(ProgressUpdate.at), col(ProgressUpdate.id))
        ).all()
        exts = s.execute(sa.select(Extension).where(
            col(Extension.recommendation_id) == rec.id).order_by(col(Extension.id))).scalars().all()
        asked = iter(exts)
        decided = iter(sorted((e for e in exts if e.decided_at is not None),
                              key=lambda e: (e.decided_at, e.id)))
        out = []
        for u, email, name in rows:
            until = None  # the date an extension asked for, on its request and decision
            if u.kind == "extend_request":
                until = next(asked, None)
            elif u.kind in ("extend_approve", "extend_reject"):
                until = next(decided, None)
            out.append(
                {"at": u.at, "by": email, "by_name": name, "progress": u.progress,
                 "status": u.status, "note": u.note, "evidence_url": u.evidence_url,
                 "evidence_file": u.evidence_file, "evidence_name": u.evidence_name,
                 "kind": u.kind, "ref": rec.ref, "tz": tz,
                 "until": until.until if until is not None else None})
        return out
