"""Forums and their recommendations from forms: validate by the importer's rules (one home:
tindak.itemrules), check that the acting planner's unit tree covers the change, write it with
an audit record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Forum, Person, Recommendation, utcnow, write_session
from tindak import audit, itemrules
from tindak.calendar import load_calendar, parse_hk
from tindak.directory import UnitTree, has_role, normalize_email, person_by_email
from tindak.errors import Forbidden, InvalidInput, NotFound
from tindak.i18n import N_
from tindak.validators import FORMULA_START, REF_MAX, is_email, parse_date

# Field messages are fixed msgids so the page can show them in the reader's language.
REQUIRED = N_("Required.")
BAD_DATE = N_("Not a date: use YYYY-MM-DD or DD/MM/YYYY.")
BAD_DEADLINE = N_("Not a deadline: use a date or '+N hk' (N working days after the forum).")
BEFORE_FORUM = N_("The deadline is before the forum.")
FORMULA = N_("May not start with =, +, - or @.")
TOO_LONG = N_("Too long.")
UNKNOWN_UNIT = N_("Unknown unit.")
OUTSIDE_TREE = N_("Not a unit of your tree.")
UNKNOWN_OWNER = N_("No person with this email.")
BAD_EMAIL = N_("Not an email address.")
UNKNOWN_CATEGORY = N_("Unknown category.")
UNKNOWN_PRIORITY = N_("Unknown priority.")
DUPLICATE_FORUM = N_("A forum with this title and date already exists.")
DUPLICATE_REF = N_("This ref is already used by another recommendation.")
OWNER_OUTSIDE = N_("This person belongs to a unit that is neither the item's unit nor above "
                   "or below it.")
TOO_MANY_HK = N_("More than a year of working days (at most +260 hk).")  # itemrules.MAX_HK
OUT_OF_RANGE = N_("Out of range (years 2000–2100).")
INVISIBLE = N_("Contains a line break or an invisible character; type it again.")
EXTENDED = N_("This deadline was moved by an approved extension: to move it again, the owner "
              "asks for another extension, and another planner decides.")


class FormErrors(InvalidInput):
    """A form with wrong fields; `fields` maps each field to its message (a msgid)."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


@dataclass
class _Check:
    """Collects every field error of one form, so the page shows them all at once."""

    data: dict[str, Any]
    errors: dict[str, str]

    def text(self, name: str, max_len: int, required: bool = False) -> str | None:
        value = str(self.data.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = REQUIRED
            return None
        if len(value) > max_len:
            self.errors[name] = TOO_LONG
        elif value.startswith(FORMULA_START):
            self.errors[name] = FORMULA
        return value

    def date(self, name: str) -> date | None:
        value = self.text(name, 20, required=True)
        if value is None or name in self.errors:
            return None
        try:
            day = parse_date(value)
        except InvalidInput:
            self.errors[name] = BAD_DATE
            return None
        if not itemrules.year_ok(day):
            self.errors[name] = OUT_OF_RANGE
            return None
        return day

    def ident(self, name: str, max_len: int, required: bool = False) -> str | None:
        """A code or ref: as `text`, and refused with an invisible character ('A\u200bB')."""
        value = self.text(name, max_len, required)
        if value is not None and name not in self.errors and not value.isprintable():
            self.errors[name] = INVISIBLE
        return value

    def done(self) -> None:
        if self.errors:
            raise FormErrors(self.errors)


def _planner(s: Session, by: str) -> tuple[Person, UnitTree, set[int]]:
    actor = person_by_email(s, by)
    if not has_role(actor, "planner"):
        raise Forbidden(N_("%(email)s is not a planner"), email=actor.email)
    tree = UnitTree.load(s)
    return actor, tree, tree.subtree(actor.unit_id)


def _unit(chk: _Check, tree: UnitTree, mine: set[int], name: str = "unit") -> int | None:
    code = chk.text(name, 64, required=True)
    if code is None or name in chk.errors:
        return None
    uid = next((i for i, c in tree.code.items() if c == code), None)
    if uid is None:
        chk.errors[name] = UNKNOWN_UNIT
    elif uid not in mine:
        chk.errors[name] = OUTSIDE_TREE
    return uid


def _forum_fields(s: Session, chk: _Check, tree: UnitTree, mine: set[int]) -> dict[str, Any]:
    return {
        "title": chk.text("title", 500, required=True),
        "held_on": chk.date("held_on"),
        "unit_id": _unit(chk, tree, mine),
        "place": chk.text("place", 300),
        "minutes_ref": chk.text("minutes_ref", 500),
    }


def _no_twin(s: Session, chk: _Check, fields: dict[str, Any], forum_id: int | None) -> None:
    if chk.errors:
        return
    twin = s.execute(sa.select(col(Forum.id)).where(
        col(Forum.title) == fields["title"], col(Forum.held_on) == fields["held_on"])).scalar()
    if twin is not None and twin != forum_id:
        chk.errors["title"] = DUPLICATE_FORUM


def create_forum(data: dict[str, Any], by: str) -> int:
    """A new forum in the acting planner's tree; its id."""
    with write_session() as s:
        actor, tree, mine = _planner(s, by)
        chk = _Check(data, {})
        fields = _forum_fields(s, chk, tree, mine)
        _no_twin(s, chk, fields, None)
        chk.done()
        forum = Forum(**fields)
        s.add(forum)
        s.flush()
        audit.record(s, actor.email, "create", "forum", str(forum.id), audit.diff({}, fields))
        return forum.id  # type: ignore[return-value]


def _planners_forum(s: Session, by: str,
                    forum_id: int) -> tuple[Person, UnitTree, set[int], Forum]:
    """`_planner`'s answer and the forum, when it is in the planner's tree."""
    actor, tree, mine = _planner(s, by)
    forum = s.get(Forum, forum_id)
    if forum is None:
        raise NotFound(N_("no forum %(id)s"), id=forum_id)
    if forum.unit_id not in mine:
        raise Forbidden(N_("%(email)s may not change forum %(id)s: it is not in their unit "
                           "tree"), email=actor.email, id=forum_id)
    return actor, tree, mine, forum


def _apply(row: Forum | Recommendation, fields: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set `fields` on `row`; what changed, as the audit records it."""
    changes = audit.diff({k: getattr(row, k) for k in fields}, fields)
    for k, v in fields.items():
        setattr(row, k, v)
    return changes


def update_forum(forum_id: int, data: dict[str, Any], by: str) -> None:
    with write_session() as s:
        actor, tree, mine, forum = _planners_forum(s, by, forum_id)
        chk = _Check(data, {})
        fields = _forum_fields(s, chk, tree, mine)
        _no_twin(s, chk, fields, forum_id)
        chk.done()
        changes = _apply(forum, fields)
        s.add(forum)
        audit.record(s, actor.email, "update", "forum", str(forum_id), changes)


def _rec_fields(s: Session, chk: _Check, forum: Forum, tree: UnitTree,
                mine: set[int]) -> dict[str, Any]:
    if not str(chk.data.get("unit") or "").strip():
        chk.data = {**chk.data, "unit": tree.code[forum.unit_id]}
    out: dict[str, Any] = {
        "text": chk.text("text", itemrules.TEXT_MAX, required=True),
        "unit_id": _unit(chk, tree, mine),
    }
    category, priority = chk.text("category", 40), chk.text("priority", 10)
    out["category"] = itemrules.category_code(category) if category else "lainnya"
    out["priority"] = itemrules.priority_code(priority) if priority else "normal"
    if out["category"] is None:
        chk.errors["category"] = UNKNOWN_CATEGORY
    if out["priority"] is None:
        chk.errors["priority"] = UNKNOWN_PRIORITY
    email = normalize_email(str(chk.data.get("owner") or ""))
    if not email:
        chk.errors["owner"] = REQUIRED
    elif not is_email(email):
        chk.errors["owner"] = BAD_EMAIL
    else:
        row = s.execute(sa.select(col(Person.id), col(Person.unit_id))
                        .where(col(Person.email) == email)).first()
        if row is None:
            chk.errors["owner"] = UNKNOWN_OWNER
        elif out["unit_id"] is not None and not itemrules.owner_fits(
                row[1], out["unit_id"], lambda u: set(tree.ancestors(u))):
            chk.errors["owner"] = OWNER_OUTSIDE  # the import's rule, the same function
        out["owner_id"] = row[0] if row else None
    raw = str(chk.data.get("deadline") or "").strip()
    out["deadline_rule"] = None
    if not raw:
        chk.errors["deadline"] = REQUIRED
    elif (n := parse_hk(raw)) is not None:
        if n > itemrules.MAX_HK:
            chk.errors["deadline"] = TOO_MANY_HK
        else:
            out["deadline"] = load_calendar(s).add_working_days(forum.held_on, n)
            out["deadline_rule"] = f"+{n} hk"
    else:
        try:
            out["deadline"] = parse_date(raw)
        except InvalidInput:
            chk.errors["deadline"] = BAD_DEADLINE
        else:
            if not itemrules.year_ok(out["deadline"]):
                chk.errors["deadline"] = OUT_OF_RANGE
            elif not itemrules.deadline_ok(out["deadline"], forum.held_on):
                chk.errors["deadline"] = BEFORE_FORUM
    return out


def _next_ref(s: Session, forum: Forum) -> str:
    """FKP<forum id>-<n>: the first free number for this forum."""
    n = s.execute(sa.select(sa.func.count()).select_from(Recommendation)
                  .where(col(Recommendation.forum_id) == forum.id)).scalar() or 0
    while True:
        n += 1
        ref = f"FKP{forum.id}-{n:02d}"
        taken = sa.select(col(Recommendation.id)).where(col(Recommendation.ref) == ref)
        if s.execute(taken).first() is None:
            return ref


def add_rec(forum_id: int, data: dict[str, Any], by: str) -> str:
    """A new recommendation of a forum in the planner's tree; its ref (made when not given)."""
    with write_session() as s:
        actor, tree, mine, forum = _planners_forum(s, by, forum_id)
        chk = _Check(data, {})
        ref = chk.ident("ref", REF_MAX)
        fields = _rec_fields(s, chk, forum, tree, mine)
        if ref and "ref" not in chk.errors and s.execute(
                sa.select(col(Recommendation.id)).where(  # refs are matched ignoring case
                    sa.func.lower(col(Recommendation.ref)) == ref.lower())).first():
            chk.errors["ref"] = DUPLICATE_REF
        chk.done()
        ref = ref or _next_ref(s, forum)
        s.add(Recommendation(ref=ref, forum_id=forum_id, **fields))
        audit.record(s, actor.email, "create", "recommendation", ref, audit.diff({}, fields))
        return ref


def edit_rec(rec_id: int, data: dict[str, Any], by: str) -> str:
    """Change what a planner owns about an item (not its status: that is reports and
    verification); the public note too. Its ref."""
    with write_session() as s:
        actor, tree, mine = _planner(s, by)
        rec = s.get(Recommendation, rec_id)
        if rec is None:
            raise NotFound(N_("no recommendation %(id)s"), id=rec_id)
        if rec.unit_id not in mine:
            raise Forbidden(N_("%(email)s may not change %(ref)s: not in their unit tree"),
                            email=actor.email, ref=rec.ref)
        forum = s.get(Forum, rec.forum_id)
        assert forum is not None
        chk = _Check(data, {})
        fields = _rec_fields(s, chk, forum, tree, mine)
        fields["public_note"] = chk.text("public_note", 2000)
        if (rec.original_deadline is not None and "deadline" not in chk.errors
                and fields.get("deadline") not in (None, rec.deadline)):
            chk.errors["deadline"] = EXTENDED  # a deadline never moves silently (SPEC §7)
        chk.done()
        changes = _apply(rec, fields)
        if not changes:  # nothing set differs: no write, no audit line
            return rec.ref
        rec.updated_at = utcnow()
        s.add(rec)
        audit.record(s, actor.email, "update", "recommendation", rec.ref, changes)
        return rec.ref
