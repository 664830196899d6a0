"""The write planned: each unit and person of the files compared with the stored one, as a
`Change` (what the audit records) or counted unchanged; `Counts` of every kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models import Role
from tindak.errors import N_, Msg
from tindak.importer.rows import Parsed
from tindak.importer.stored import Stored, supervisors, unit_parents
from tindak.settings import get_settings


@dataclass
class Change:
    """One row to create or update, in natural keys; `changes` is what the audit records."""

    key: Any
    values: dict[str, Any]
    changes: dict[str, Any]
    created: bool


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return str(self.words())

    def words(self) -> Msg:
        return Msg(N_("%(created)s created, %(updated)s updated, %(unchanged)s unchanged"),
                   created=self.created, updated=self.updated, unchanged=self.unchanged)


@dataclass
class Plan:
    """The units and people to create or update (forums and recommendations are compared and
    written a batch at a time), and the counts of every kind."""

    units: list[Change] = field(default_factory=list)
    people: list[Change] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [plain(before.get(k)), plain(v)] for k, v in after.items()
            if before.get(k) != v}


def plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def plan_units(parsed: Parsed, db: Stored, plan: Plan) -> None:
    parent = unit_parents(parsed, db)
    default_tz = get_settings().default_timezone
    counts = plan.counts.setdefault("units", Counts())
    for code, u in parsed.units.items():
        old = db.units.get(code)
        new = {"name": u.name, "parent": parent[code],
               "timezone": u.timezone or (old[3] if old else default_tz)}
        before = None if old is None else {
            "name": old[1], "parent": db.unit_code.get(old[2]) if old[2] else None,
            "timezone": old[3]}
        _compare(code, new, before, plan.units, counts)


def plan_people(parsed: Parsed, db: Stored, plan: Plan) -> None:
    sup = supervisors(parsed, db)
    counts = plan.counts.setdefault("people", Counts())
    for email, person in parsed.people.items():
        old = db.people.get(email)
        new = {"name": person.name, "unit": person.unit,
               "roles": person.roles or (old[3] if old else Role.owner.value),
               "supervisor": sup[email]}
        before = None if old is None else {
            "name": old[1], "unit": db.unit_code.get(old[2]), "roles": old[3],
            "supervisor": db.person_email.get(old[4]) if old[4] else None}
        _compare(email, new, before, plan.people, counts)


def _compare(key: str, new: dict[str, Any], before: dict[str, Any] | None,
             changes: list[Change], counts: Counts) -> None:
    """A row of the files against the stored one (None: not stored): a `Change`, or counted
    unchanged."""
    if before is None:
        counts.created += 1
        changes.append(Change(key, new, {k: v for k, v in new.items() if v is not None}, True))
        return
    found = diff(before, new)
    if found:
        counts.updated += 1
        changes.append(Change(key, new, found, False))
    else:
        counts.unchanged += 1
