"""What the database holds of units, people and forums, loaded whole (a few per hundred
items), and the unit tree and supervisors as they will be once the files are written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from models import Forum, Person, Unit, table_of
from tindak.importer.rows import ABSENT, Parsed

CHUNK = 900  # below SQLite's bound-parameter limit on any version


@dataclass
class Stored:
    """What the database holds of units, people and forums (a few per hundred items), loaded
    whole: natural keys → ids and registered fields. Recommendations are read by batch."""

    units: dict[str, tuple[int, str, int | None, str]]  # code → id, name, parent id, tz
    unit_code: dict[int, str]
    people: dict[str, tuple[int, str, int, str, int | None]]  # email → id, name, unit, roles, sup
    person_email: dict[int, str]
    forums: dict[tuple[str, date], tuple[int, int, str | None, str | None]]
    forum_key: dict[int, tuple[str, date]]

    @classmethod
    def load(cls, s: Session) -> Stored:
        conn = s.connection()
        u = table_of(Unit).c
        units = {r[1]: (r[0], r[2], r[3], r[4]) for r in conn.execute(
            sa.select(u.id, u.code, u.name, u.parent_id, u.timezone))}
        pc = table_of(Person).c
        people = {r[1]: (r[0], r[2], r[3], r[4], r[5]) for r in conn.execute(
            sa.select(pc.id, pc.email, pc.name, pc.unit_id, pc.roles, pc.supervisor_id))}
        fc = table_of(Forum).c
        forums = {(r[1], r[2]): (r[0], r[3], r[4], r[5]) for r in conn.execute(
            sa.select(fc.id, fc.title, fc.held_on, fc.unit_id, fc.place, fc.minutes_ref))}
        return cls(
            units=units, unit_code={v[0]: k for k, v in units.items()},
            people=people, person_email={v[0]: k for k, v in people.items()},
            forums=forums, forum_key={v[0]: k for k, v in forums.items()},
        )

    def same(self, other: Stored) -> bool:
        """Whether the checks of a file hold for both (they depend on units and people)."""
        return (self.units, self.people) == (other.units, other.people)


def unit_parents(parsed: Parsed, db: Stored) -> dict[str, str | None]:
    """Every unit code → its parent code, as it will be after this import."""
    return _links_after(db.units, 2, db.unit_code, parsed.units, "parent")


def supervisors(parsed: Parsed, db: Stored) -> dict[str, str | None]:
    """Every person's email → their supervisor's, as it will be after this import."""
    return _links_after(db.people, 4, db.person_email, parsed.people, "supervisor")


def _links_after(stored: dict[str, tuple[Any, ...]], column: int, key_of: dict[int, str],
                 given: dict[str, Any], field: str) -> dict[str, str | None]:
    """Each key → the key its row links to (stored row's `column`, an id), as the files
    leave it: a file's row without that column keeps the stored link."""
    links: dict[str, str | None] = {
        key: key_of.get(row[column]) if row[column] is not None else None
        for key, row in stored.items()
    }
    for key, row in given.items():
        value = getattr(row, field)
        if value is not ABSENT:
            links[key] = value
        else:
            links.setdefault(key, None)
    return links
