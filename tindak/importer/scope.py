"""An import bounded to the importing planner's unit tree (web uploads): every row must write
inside it, as the tree will be after the import; a row reaching elsewhere is refused."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from models import Recommendation, session, table_of
from tindak.errors import Forbidden
from tindak.importer.problems import At, Problems
from tindak.importer.rows import ABSENT, Parsed, RecIn
from tindak.importer.stored import CHUNK, Stored, unit_parents
from tindak.itemrules import lineage
from tindak.validators import short


def _stored_parents(db: Stored) -> dict[str, str | None]:
    return {k: db.unit_code.get(v[2]) if v[2] else None for k, v in db.units.items()}


class Scope:
    """An import bounded to one unit tree (the importing planner's): every row must write
    inside it, as the tree will be after the import; a row reaching elsewhere is refused,
    row by row. The CLI (an administrator at the server) imports without a scope."""

    def __init__(self, root: str, parsed: Parsed, db: Stored, p: Problems) -> None:
        self.root, self.parsed, self.db, self.p = root, parsed, db, p
        self.parent = unit_parents(parsed, db)
        stored = _stored_parents(db)
        self.was_inside = {c for c in db.units if root in lineage(c, stored)}
        for code in db.units.keys() - self.was_inside:  # their rows are refused: judge by the
            self.parent[code] = stored[code]            # others' as they are stored
        if self.parent.get(root) is not None:  # so is putting the top unit under another
            self.parent[root] = None
        self._inside: dict[str, bool] = {}

    @classmethod
    def of(cls, email: str, parsed: Parsed, db: Stored, p: Problems) -> Scope:
        """The tree of the top unit above the importing person's unit, as stored now."""
        person = db.people.get(email.strip().lower())
        if person is None:
            raise Forbidden(f"{email}: no such person")
        code = db.unit_code[person[2]]
        parents = _stored_parents(db)
        while (parent := parents.get(code)) is not None:
            code = parent
        return cls(code, parsed, db, p)

    def inside(self, code: str | None) -> bool:
        """Whether unit `code` is in the tree after the import."""
        if code is None:
            return False
        if code not in self._inside:
            self._inside[code] = self.root in lineage(code, self.parent)
        return self._inside[code]

    def outside(self, what: str) -> str:
        return f"{what} is outside your organisation's unit tree ('{self.root}'); an import " \
               "on the web writes only inside it"

    def check_units(self) -> None:
        for u in self.parsed.all_units():
            if u.code is None:
                continue
            if u.code in self.db.units and u.code not in self.was_inside:
                self.p.add(u.at, "code", self.outside(f"unit '{short(u.code)}'"), "units")
            elif u.code == self.root and u.parent not in (ABSENT, None):
                self.p.add(u.at, "parent", f"'{self.root}' is your organisation's top unit: "
                           "it cannot be put under another unit", "units")
            elif not self.inside(u.code):
                self.p.add(u.at, "parent", self.outside(f"parent '{short(u.parent)}'")
                           if isinstance(u.parent, str) else self.outside("a unit without a "
                                                                          "parent"), "units")

    def check_people(self) -> None:
        for person in self.parsed.all_people():
            if person.email is None:
                continue
            stored = self.db.people.get(person.email)
            if stored is not None and self.db.unit_code.get(stored[2]) not in self.was_inside:
                self.p.add(person.at, "email", self.outside(f"{person.email}'s unit"), "people")
            elif person.unit is not None and not self.inside(person.unit):
                self.p.add(person.at, "unit", self.outside(f"unit '{short(person.unit)}'"),
                           "people")
            elif isinstance(person.supervisor, str) and not self.inside(
                    self.person_unit(person.supervisor)):
                self.p.add(person.at, "supervisor",
                           self.outside(f"{person.supervisor}'s unit"), "people")

    def person_unit(self, email: str) -> str | None:
        if email in self.parsed.people:
            return self.parsed.people[email].unit
        stored = self.db.people.get(email)
        return self.db.unit_code.get(stored[2]) if stored else None

    def check_rec(self, r: RecIn) -> None:
        unit = r.unit or (self.person_unit(r.owner) if r.owner else None)
        if r.unit is not None and r.unit in self.parent and not self.inside(r.unit):
            self.p.add(r.at, "unit", self.outside(f"unit '{short(r.unit)}'"),
                       "recommendations")
        elif r.owner is not None and unit is not None and not self.inside(
                self.person_unit(r.owner)):
            self.p.add(r.at, "owner", self.outside(f"{r.owner}'s unit"), "recommendations")
        if r.forum is not None and r.forum_date is not None:
            stored = self.db.forums.get((r.forum, r.forum_date))
            if stored is not None and self.db.unit_code.get(stored[1]) not in self.was_inside:
                self.p.add(r.at, "forum", self.outside(f"forum '{short(r.forum)}'"),
                           "recommendations")

    def check_refs(self, refs: dict[str, int], where: Callable[[int], At]) -> None:
        """Refs already stored for an item of another tree: an import may not overwrite it."""
        keys = list(refs)
        rc = table_of(Recommendation).c
        with session() as s:
            for i in range(0, len(keys), CHUNK):
                for ref, unit_id in s.execute(sa.select(rc.ref, rc.unit_id).where(
                        rc.ref.in_(keys[i:i + CHUNK]))):
                    if self.db.unit_code.get(unit_id) not in self.was_inside:
                        self.p.add(where(refs[ref]), "ref", self.outside(
                            f"the item '{short(ref)}' already registered"), "recommendations")
