"""Units as a tree and people by email: the look-ups every part of Tindak shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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


@dataclass
class Units:
    """The unit tree with its children map made once: many digests, one load."""

    tree: UnitTree
    kids: dict[int, list[int]]
    _sizes: dict[int, int] = field(default_factory=dict)
    _order: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session) -> Units:
        tree = UnitTree.load(s)
        return cls(tree, tree.children())

    def subtree(self, root: int) -> set[int]:
        seen, stack = set(), [root]
        while stack:
            uid = stack.pop()
            if uid not in seen:
                seen.add(uid)
                stack.extend(self.kids.get(uid, ()))
        return seen

    def size(self, root: int) -> int:
        if root not in self._sizes:
            self._sizes[root] = len(self.subtree(root))
        return self._sizes[root]

    def tree_order(self) -> dict[int, int]:
        """unit → its place when the whole forest is walked top-down (each unit after its
        parent, a unit's tree in one run)."""
        if not self._order:
            tops = sorted(u for u, p in self.tree.parent.items() if p not in self.tree.parent)
            stack = tops[::-1]
            while stack:
                uid = stack.pop()
                if uid not in self._order:
                    self._order[uid] = len(self._order)
                    stack.extend(sorted(self.kids.get(uid, ()), reverse=True))
        return self._order

    def post_order(self, roots: Iterable[int]) -> list[int]:
        """Every unit of these trees, each after all the units below it."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [(r, False) for r in roots]
        while stack:
            uid, below_done = stack.pop()
            if below_done:
                out.append(uid)
            elif uid not in seen:
                seen.add(uid)
                stack.append((uid, True))
                stack.extend((k, False) for k in self.kids.get(uid, ()))
        return out


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
