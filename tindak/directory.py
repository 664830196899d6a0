"""Units as a tree and people by email: the look-ups every part of Tindak shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Person, Unit
from tindak.errors import N_, NotFound


@dataclass(frozen=True)
class UnitTree:
    """id → parent id, code, timezone; answers descendants and ancestors without queries."""

    parent: dict[int, int | None]
    code: dict[int, str]
    tz: dict[int, str]
    name: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> UnitTree:
        rows = session.execute(
            sa.select(col(Unit.id), col(Unit.parent_id), col(Unit.code), col(Unit.timezone),
                      col(Unit.name))
        ).all()
        return cls(
            parent={r[0]: r[1] for r in rows},
            code={r[0]: r[2] for r in rows},
            tz={r[0]: r[3] for r in rows},
            name={r[0]: r[4] for r in rows},
        )

    def children(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = defaultdict(list)
        for uid, pid in self.parent.items():
            if pid is not None:
                kids[pid].append(uid)
        return kids

    def subtree(self, root: int) -> set[int]:
        """`root` and every unit below it."""
        kids = self.children()
        seen, stack = set(), [root]
        while stack:
            uid = stack.pop()
            if uid in seen:
                continue
            seen.add(uid)
            stack.extend(kids.get(uid, ()))
        return seen

    def ancestors(self, uid: int) -> list[int]:
        """The unit itself, then its parent, up to the root."""
        out: list[int] = []
        cur: int | None = uid
        while cur is not None and cur not in out:
            out.append(cur)
            cur = self.parent.get(cur)
        return out

    def id_of(self, code: str) -> int:
        for uid, c in self.code.items():
            if c == code:
                return uid
        raise NotFound(N_("unknown unit '%(code)s'"), code=code)


def has_role(person: Person, role: str) -> bool:
    return role in {r.strip() for r in person.roles.split(";")}


def person_by_email(session: Session, email: str) -> Person:
    person = session.exec(select(Person).where(Person.email == normalize_email(email))).first()
    if person is None:
        raise NotFound(N_("no person with email '%(email)s'"), email=email)
    return person


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def nearest_leader(tree: UnitTree, leaders: dict[int, list[int]], uid: int,
                   exclude: Iterable[int] = ()) -> int | None:
    """The first leader found walking up from unit `uid` (skipping `exclude`)."""
    skip = set(exclude)
    for unit in tree.ancestors(uid):
        for pid in leaders.get(unit, ()):
            if pid not in skip:
                return pid
    return None
