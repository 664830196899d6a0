"""Who is signed in and what they may do: the viewer of a request, their roles and unit
tree, and the checks each page starts with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from models import Person, session
from tindak.directory import UnitTree, has_role
from tindak.errors import N_, Forbidden, TindakError
from tindak.web.session import SESSION_MAX_AGE


class SignInRequired(TindakError):
    """A page for signed-in planners and leaders was asked for without a session."""

    http_status = 401


@dataclass(frozen=True)
class Viewer:
    """The signed-in person and the units they may see (their unit and everything below)."""

    id: int
    email: str
    name: str
    roles: frozenset[str]
    unit_id: int
    unit_name: str
    tree: frozenset[int]
    at_top: bool = False  # their unit has no parent: the top of an organisation

    @property
    def may_import(self) -> bool:
        """Only a planner of a top unit uploads import files (tindak.web.imports decides)."""
        return self.is_planner and self.at_top

    @property
    def is_planner(self) -> bool:
        return "planner" in self.roles

    @property
    def is_leader(self) -> bool:
        return "leader" in self.roles

    @property
    def is_staff(self) -> bool:
        """Planners and leaders see their unit tree's items; owners only their own."""
        return self.is_planner or self.is_leader


def load_viewer(person_id: int) -> Viewer | None:
    with session() as s:
        person = s.get(Person, person_id)
        if person is None:
            return None
        tree = UnitTree.load(s)
        roles = frozenset(r for r in ("planner", "owner", "leader") if has_role(person, r))
        return Viewer(person_id, person.email, person.name, roles,
                      person.unit_id, tree.name.get(person.unit_id, ""),
                      frozenset(tree.subtree(person.unit_id)),
                      tree.parent.get(person.unit_id) is None)


def current_person(request: Request) -> Viewer | None:
    """The signed-in person, looked up once per request (None for visitors and owners' links)."""
    if "viewer" not in request.state._state:
        pid, at = request.session.get("pid"), request.session.get("at")
        # The cookie is re-signed whenever the session changes (a flash after each saved
        # form), so its signature's age says nothing: the sign-in time inside it does.
        fresh = isinstance(at, int) and 0 <= time.time() - at < SESSION_MAX_AGE
        request.state.viewer = load_viewer(pid) if isinstance(pid, int) and fresh else None
    return request.state.viewer


def require_viewer(request: Request) -> Viewer:
    viewer = current_person(request)
    if viewer is None:
        raise SignInRequired(N_("sign in to see this page"))
    return viewer


def _require(viewer: Viewer, may: Callable[[Viewer], bool], refusal: str) -> Viewer:
    """The viewer when `may` says yes; Forbidden with `refusal` (a msgid) otherwise."""
    if not may(viewer):
        raise Forbidden(refusal)
    return viewer


def require_staff(request: Request) -> Viewer:
    return _require(require_viewer(request), lambda v: v.is_staff,
                    N_("this page is for planners and leaders"))


def require_importer(request: Request) -> Viewer:
    return _require(require_planner(request), lambda v: v.may_import,
                    N_("only a planner of a top unit may import files: imports can "
                       "change units and people of the whole organisation"))


def require_planner(request: Request) -> Viewer:
    return _require(require_viewer(request), lambda v: v.is_planner,
                    N_("only a planner may do this"))
