"""Factories with defaults: make_unit(), make_person(), make_forum(), make_rec(**overrides)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from models import Forum, Person, Recommendation, Unit, session

_seq = itertools.count(1)


class Factory:
    """Writes real rows (through the ORM, one short session per call)."""

    def unit(self, code: str | None = None, parent: Unit | None = None,
             timezone: str = "Asia/Jakarta", name: str | None = None) -> Unit:
        n = next(_seq)
        code = code or f"U{n}"
        return self._add(Unit(code=code, name=name or f"Unit {code}", timezone=timezone,
                              parent_id=parent.id if parent else None))

    def person(self, email: str | None = None, unit: Unit | None = None, roles: str = "owner",
               supervisor: Person | None = None, name: str | None = None) -> Person:
        n = next(_seq)
        unit = unit or self.unit()
        return self._add(Person(email=email or f"person{n}@example.go.id",
                                name=name or f"Person {n}", roles=roles, unit_id=unit.id,
                                supervisor_id=supervisor.id if supervisor else None))

    def forum(self, unit: Unit | None = None, title: str | None = None,
              held_on: date = date(2026, 1, 12)) -> Forum:
        n = next(_seq)
        unit = unit or self.unit()
        return self._add(Forum(title=title or f"FKP {n}", held_on=held_on, unit_id=unit.id))

    def rec(self, **over: Any) -> Recommendation:
        """A recommendation; any field may be overridden (owner=, unit=, forum= take rows)."""
        n = next(_seq)
        owner = over.pop("owner", None) or self.person()
        unit_id = over.pop("unit").id if "unit" in over else owner.unit_id
        forum = over.pop("forum", None) or self.forum(unit=None)
        fields: dict[str, Any] = dict(
            ref=f"REC-{n}", text=f"Recommendation {n}", category="prosedur",
            priority="normal", deadline=date(2026, 3, 2), status="open", progress=0,
        )
        fields.update(over)
        return self._add(Recommendation(forum_id=forum.id, unit_id=unit_id,
                                        owner_id=owner.id, **fields))

    def _add(self, row):  # type: ignore[no-untyped-def]
        with session() as s:
            s.add(row)
            s.commit()
            s.refresh(row)
        return row


def change(row: Any, **fields: Any) -> None:
    """Write `fields` to the database row of `row` (a unit, person, forum or item made
    earlier) in a short session of its own, as another request or process would."""
    with session() as s:
        current = s.get(type(row), row.id)
        for name, value in fields.items():
            setattr(current, name, value)
        s.add(current)
        s.commit()


@pytest.fixture
def make(home) -> Factory:  # type: ignore[no-untyped-def]
    return Factory()
