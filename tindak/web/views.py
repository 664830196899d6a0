"""What each page shows, read with the viewer's permissions applied: the public sees public
fields only; an owner their own items; planners and leaders their unit tree."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from models import Forum, Person, ProgressUpdate, Recommendation, Status, Unit, session
from tindak import extensions, recs
from tindak.directory import UnitTree
from tindak.errors import N_, Forbidden, NotFound
from tindak.mailmodel import ItemLine
from tindak.rates import implementation_rate
from tindak.settings import get_settings
from tindak.validators import FORMULA_START
from tindak.web.identity import Viewer

PUBLIC_FIELDS = ("ref", "text", "category", "priority", "deadline", "status", "progress",
                 "overdue", "days_overdue", "public_note")
EXPORT_FIELDS = ["ref", "forum", "unit", "owner", "text", "category", "priority", "deadline",
                 "status", "progress", "overdue", "days_overdue"]


def _forum_counts(unit_ids: set[int] | frozenset[int] | None = None) -> list[dict[str, Any]]:
    with session() as s:
        tree = UnitTree.load(s)
        q = sa.select(Forum).order_by(col(Forum.held_on).desc(), col(Forum.id).desc())
        if unit_ids is not None:
            q = q.where(col(Forum.unit_id).in_(sorted(unit_ids)))
        forums = s.execute(q).scalars().all()
        counts: dict[int, Counter[str]] = {f.id: Counter() for f in forums}
        for fid, status, n in s.execute(
            sa.select(col(Recommendation.forum_id), col(Recommendation.status), sa.func.count())
            .group_by(col(Recommendation.forum_id), col(Recommendation.status))
        ):
            if fid in counts:
                counts[fid][status] += n
    return [
        {"id": f.id, "title": f.title, "held_on": f.held_on, "place": f.place,
         "unit_name": tree.name.get(f.unit_id, ""), "unit_tz": tree.tz.get(f.unit_id),
         "total": sum(counts[f.id].values()), "counts": dict(counts[f.id]),
         "completed": counts[f.id][Status.completed.value],
         "rate": implementation_rate(counts[f.id])}
        for f in forums
    ]


def public_forums() -> list[dict[str, Any]]:
    """Every forum with its completion rate: the public index."""
    return _forum_counts()


def _unit_names() -> dict[str, tuple[str, str]]:
    with session() as s:
        return {code: (name, tz) for code, name, tz in
                s.execute(sa.select(col(Unit.code), col(Unit.name), col(Unit.timezone)))}


def public_forum(forum_id: int) -> dict[str, Any]:
    """A forum and its recommendations, public fields only (no people, notes or evidence)."""
    with session() as s:
        forum = s.get(Forum, forum_id)
        if forum is None:
            raise NotFound(N_("no forum %(id)s"), id=forum_id)
        unit = s.get(Unit, forum.unit_id)
    names = _unit_names()
    items = []
    rows = list(recs.list_recs(recs.RecFilter(forum_id=forum_id)))
    ids = _ids_by_ref([row["ref"] for row in rows])  # each card's anchor (#rN), as mailed
    for row in rows:
        item = {k: row[k] for k in PUBLIC_FIELDS}
        item["id"] = ids[row["ref"]]
        item["deadline"] = date.fromisoformat(row["deadline"])
        item["unit_name"], item["tz"] = names[row["unit"]]
        items.append(item)
    moves = extensions.approved_moves([i["id"] for i in items])
    for item in items:
        item["moves"] = moves.get(item["id"], [])
    counts = Counter(i["status"] for i in items)
    return {"id": forum.id, "title": forum.title, "held_on": forum.held_on,
            "place": forum.place, "minutes_ref": forum.minutes_ref,
            "unit_name": unit.name if unit else "", "items": items, "counts": dict(counts),
            "total": len(items), "rate": implementation_rate(counts)}


def _ids_by_ref(refs: list[str]) -> dict[str, int]:
    if not refs:
        return {}
    with session() as s:
        return dict(s.execute(sa.select(col(Recommendation.ref), col(Recommendation.id))
                              .where(col(Recommendation.ref).in_(refs))).all())


def _with_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = _ids_by_ref([r["ref"] for r in rows])
    names = _unit_names()
    for r in rows:
        r["id"] = ids[r["ref"]]
        r["deadline"] = date.fromisoformat(r["deadline"])
        r["original_deadline"] = date.fromisoformat(r["original_deadline"])
        if r["extension"]:
            r["extension"] = {**r["extension"],
                              "until": date.fromisoformat(r["extension"]["until"])}
        r["unit_name"], r["tz"] = names[r["unit"]]
    return rows


@dataclass(frozen=True)
class OwnerRef:
    """The owner a signed link speaks for."""

    id: int
    email: str
    name: str


def owner_of_token(person_id: int, email: str) -> OwnerRef:
    """The owner of a valid token, refused when the person is gone or their email changed."""
    with session() as s:
        person = s.get(Person, person_id)
    if person is None or person.email != email:
        raise Forbidden(N_("this link is no longer valid: use the link in your latest reminder"))
    return OwnerRef(person_id, person.email, person.name)


def owner_items(owner: OwnerRef) -> list[dict[str, Any]]:
    """The owner's own items, open ones first, each with its history."""
    rows = _with_ids(list(recs.list_recs(recs.RecFilter(owner_id=owner.id))))
    closed = {Status.completed.value, Status.not_actionable.value}
    rows.sort(key=lambda r: (r["status"] in closed, r["deadline"], r["ref"]))
    for r in rows:
        r["history"] = recs.history(r["ref"])
    return rows


def rec_owned_by(rec_id: int, owner_id: int) -> str:
    """The ref of item `rec_id` when it belongs to this owner; Forbidden otherwise."""
    with session() as s:
        rec = s.get(Recommendation, rec_id)
    if rec is None:
        raise NotFound(N_("no recommendation %(id)s"), id=rec_id)
    if rec.owner_id != owner_id:
        raise Forbidden(N_("this item is not yours: your link shows only your own items"))
    return rec.ref


def staff_units(viewer: Viewer) -> list[tuple[str, str]]:
    """(code, name) of the units a planner or leader may see, for the filters."""
    with session() as s:
        rows = s.execute(sa.select(col(Unit.id), col(Unit.code), col(Unit.name))
                         .order_by(col(Unit.code))).all()
    return [(c, n) for i, c, n in rows if i in viewer.tree]


def staff_recs(viewer: Viewer, flt: recs.RecFilter,
               disputed: bool = False) -> list[dict[str, Any]]:
    """Items of the viewer's unit tree matching the filter (`disputed`: only those a
    subscriber answered "belum sesuai" on); each says whether it is disputed."""
    from tindak.public_loop import disputed_ids

    scoped = recs.RecFilter(status=flt.status or None, overdue=flt.overdue,
                            owner=flt.owner or None, unit=flt.unit or None,
                            forum_id=flt.forum_id, unit_ids=viewer.tree)
    rows = _with_ids(list(recs.list_recs(scoped)))
    contested = disputed_ids([r["id"] for r in rows]) if rows else set()
    for r in rows:
        r["disputed"] = r["id"] in contested
    return [r for r in rows if r["disputed"]] if disputed else rows


def _export_cell(value: Any) -> Any:
    """Booleans as true/false; text that a spreadsheet would run as a formula, quoted."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_FIELDS)
    for r in rows:
        w.writerow([_export_cell(r[k].isoformat() if isinstance(r[k], date) else r[k])
                    for k in EXPORT_FIELDS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def export_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("recommendations")
    ws.append(EXPORT_FIELDS)
    for r in rows:
        ws.append([_export_cell(r[k]) for k in EXPORT_FIELDS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rec_in_tree(s: Any, rec_id: int, viewer: Viewer) -> Recommendation:
    rec = s.get(Recommendation, rec_id)
    if rec is None:
        raise NotFound(N_("no recommendation %(id)s"), id=rec_id)
    if rec.unit_id not in viewer.tree:
        raise Forbidden(N_("%(ref)s is not in your unit tree"), ref=rec.ref)
    return rec


def rec_detail(rec_id: int, viewer: Viewer) -> dict[str, Any]:
    """One item of the viewer's tree with its forum, owner and history."""
    with session() as s:
        rec = _rec_in_tree(s, rec_id, viewer)
        forum = s.get(Forum, rec.forum_id)
        owner = s.get(Person, rec.owner_id)
        tree = UnitTree.load(s)
    return {"id": rec.id, "ref": rec.ref, "text": rec.text, "category": rec.category,
            "priority": rec.priority, "deadline": rec.deadline,
            "deadline_rule": rec.deadline_rule, "original_deadline": rec.original_deadline,
            "status": rec.status, "progress": rec.progress, "public_note": rec.public_note,
            "unit": tree.code[rec.unit_id], "unit_name": tree.name[rec.unit_id],
            "tz": tree.tz[rec.unit_id],
            "forum": {"id": forum.id, "title": forum.title, "held_on": forum.held_on}
            if forum else None,
            "owner": owner.email if owner else "", "owner_name": owner.name if owner else "",
            "history": recs.history(rec.ref), "answers": _answers(rec_id, viewer)}


def _answers(rec_id: int, viewer: Viewer) -> list[dict[str, Any]]:
    """The public's answers on an item; the subscriber's address only for planners."""
    from tindak.public_loop import answers_of

    rows = answers_of(rec_id)
    if not viewer.is_planner:
        for r in rows:
            r["email"] = None
    return rows


def ref_in_tree(rec_id: int, viewer: Viewer) -> str:
    with session() as s:
        return _rec_in_tree(s, rec_id, viewer).ref


def verification_queue(viewer: Viewer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items of the tree awaiting verification, each with its reports' evidence: those the
    viewer may decide on, and those waiting for another planner (each with `why`: 'reporter'
    or 'owner', recs.why_not_verifier's segregation of duties)."""
    rows = staff_recs(viewer, recs.RecFilter(status=Status.awaiting_verification.value))
    with session() as s:
        reporters = recs.reported_done_by(s, [r["id"] for r in rows])
        owners = dict(s.execute(
            sa.select(col(Recommendation.id), col(Recommendation.owner_id)).where(
                col(Recommendation.id).in_([r["id"] for r in rows]))).all()) if rows else {}
    mine: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for r in rows:
        r["history"] = recs.history(r["ref"])
        r["evidence"] = [h for h in r["history"] if h["evidence_url"] or h["evidence_file"]]
        r["why"] = recs.why_not_verifier(viewer.id, owners[r["id"]], reporters.get(r["id"]))
        (others if r["why"] else mine).append(r)
    return mine, others


def may_verify(rec_id: int, viewer: Viewer) -> bool:
    """Whether the rec page offers this planner the verify form (recs.verify_rec decides)."""
    with session() as s:
        rec = _rec_in_tree(s, rec_id, viewer)
        reporter = recs.reported_done_by(s, [rec_id]).get(rec_id)
        return viewer.is_planner and recs.why_not_verifier(
            viewer.id, rec.owner_id, reporter) is None


def staff_forums(viewer: Viewer) -> list[dict[str, Any]]:
    return _forum_counts(viewer.tree)


def staff_forum(forum_id: int, viewer: Viewer) -> dict[str, Any]:
    """A forum of the viewer's tree with its items (all fields)."""
    with session() as s:
        forum = s.get(Forum, forum_id)
        if forum is None:
            raise NotFound(N_("no forum %(id)s"), id=forum_id)
        if forum.unit_id not in viewer.tree:
            raise Forbidden(N_("forum %(id)s is not in your unit tree"), id=forum_id)
        unit = s.get(Unit, forum.unit_id)
    items = staff_recs(viewer, recs.RecFilter(forum_id=forum_id))
    return {"id": forum.id, "title": forum.title, "held_on": forum.held_on,
            "place": forum.place or "", "minutes_ref": forum.minutes_ref or "",
            "unit": unit.code if unit else "", "unit_name": unit.name if unit else "",
            "items": items}


@dataclass(frozen=True)
class EvidenceFile:
    path: Path
    name: str


def evidence(stored: str, viewer: Viewer | None = None,
             owner_id: int | None = None) -> EvidenceFile:
    """An evidence file (by its generated name), for the item's owner and the planners and
    leaders of its tree only."""
    with session() as s:
        row = s.execute(
            sa.select(col(ProgressUpdate.evidence_file), col(ProgressUpdate.evidence_name),
                      col(Recommendation.unit_id), col(Recommendation.owner_id))
            .join(Recommendation, col(Recommendation.id) == ProgressUpdate.recommendation_id)
            .where(col(ProgressUpdate.evidence_file) == stored)
        ).first()
    if row is None:
        raise NotFound(N_("no such evidence file"))
    stored, name, unit_id, item_owner = row
    allowed = (owner_id is not None and owner_id == item_owner) or (
        viewer is not None and (viewer.id == item_owner
                                or (viewer.is_staff and unit_id in viewer.tree)))
    if not allowed:
        raise Forbidden(N_("this evidence is for the item's owner and its unit's planners "
                        "and leaders only"))
    path = get_settings().files_dir / Path(stored).name
    if not path.is_file():
        raise NotFound(N_("the evidence file is missing from the server"))
    return EvidenceFile(path, name or path.name)


LIST_CAP = 50  # completions listed on the dashboard, newest first


def leader_digest(viewer: Viewer, now: datetime | None = None) -> Any:
    """The digest's numbers for the viewer's tree as of today in their unit's timezone; its
    "completed this week" is live: the seven days up to now, today's completions included
    (the mail's week ends at the midnight before it is sent)."""
    from dataclasses import replace

    from tindak.calendar import local_today
    from tindak.digest import digest_for_leader

    now = now or datetime.now(UTC)
    with session() as s:
        tz = UnitTree.load(s).tz.get(viewer.unit_id, "Asia/Jakarta")
    today = local_today(tz, now)
    digest = digest_for_leader(viewer.id, as_of=today)
    return replace(digest, completions=completed_since(viewer, today - timedelta(days=6), tz))


def completed_since(viewer: Viewer, first_day: date, tz: str) -> list[ItemLine]:
    """Items of the viewer's tree verified completed from `first_day` (midnight in `tz`) on."""
    from zoneinfo import ZoneInfo

    since = datetime.combine(first_day, datetime.min.time(), ZoneInfo(tz)).astimezone(UTC)
    R, U, P, PU = Recommendation, Unit, Person, ProgressUpdate
    with session() as s:
        done = (sa.select(col(PU.recommendation_id), sa.func.max(col(PU.at)).label("at"))
                .where(col(PU.kind) == "verify", col(PU.at) >= since)
                .group_by(col(PU.recommendation_id)).subquery())
        rows = s.execute(
            sa.select(col(R.ref), col(R.text), col(U.name), col(R.deadline), col(U.timezone),
                      col(R.status), col(R.progress), col(P.name), col(P.email))
            .join(done, done.c.recommendation_id == col(R.id))
            .join(U, col(U.id) == R.unit_id).join(P, col(P.id) == R.owner_id)
            .where(col(R.status) == Status.completed.value,
                   col(R.unit_id).in_(sorted(viewer.tree)))
            .order_by(done.c.at.desc(), col(R.ref)).limit(LIST_CAP)
        ).all()
    return [ItemLine(ref=r[0], text=r[1], forum="", unit_name=r[2], deadline=r[3], tz=r[4],
                     status=r[5], progress=r[6], owner_name=r[7], owner_email=r[8])
            for r in rows]


def leader_chart(viewer: Viewer, lang: str) -> bytes | None:
    from tindak.charts import digest_chart

    return digest_chart(leader_digest(viewer).per_unit, lang)
