"""The first pass: every row of every file read once and checked against the others and
the database (known codes and emails, circles, an owner's unit), keeping only what checks
across rows need and spooling each checked recommendation; nothing is written here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tindak.errors import N_, Msg
from tindak.importer.problems import At, Problems
from tindak.importer.readers import Source, Unreadable, close_sources, open_sources
from tindak.importer.rows import (
    Parsed,
    RecIn,
    parse_person,
    parse_rec,
    parse_unit,
    read_rows,
    row_word,
)
from tindak.importer.scope import Scope
from tindak.importer.spool import Spool
from tindak.importer.stored import Stored, supervisors, unit_parents
from tindak.itemrules import owner_fits
from tindak.validators import short


def _cycle(start: str, parent: dict[str, str | None], safe: set[str]) -> list[str] | None:
    """The cycle through `start` when following `parent` comes back to it; marks safe nodes."""
    path: list[str] = []
    seen: set[str] = set()
    node: str | None = start
    while node is not None and node not in safe:
        if node in seen:
            loop = path[path.index(node):]
            return loop if start in loop else None
        seen.add(node)
        path.append(node)
        node = parent.get(node)
    safe.update(path)
    return None


def by_lower(codes: Iterable[str]) -> dict[str, str]:
    """Each code by its lower case, for `hint` (one look-up per wrong row, not a scan)."""
    lower: dict[str, str] = {}
    for code in codes:
        lower.setdefault(code.lower(), code)
    return lower


def _unknown_unit(value: str, lower: dict[str, str]) -> Msg:
    found = lower.get(value.lower())
    if found is not None:
        return Msg(N_("unknown unit '%(value)s' (did you mean '%(found)s'?)"),
                   value=short(value), found=found)
    return Msg(N_("unknown unit '%(value)s'"), value=short(value))


def _unknown_person(email: str) -> Msg:
    return Msg(N_("unknown person '%(email)s' (not in this import nor registered before)"),
               email=email)


def hint(value: str, lower: dict[str, str]) -> str:
    """' (did you mean 'X'?)' when `value` is a known code in other case (the .docx reader)."""
    found = lower.get(value.lower())
    return f" (did you mean '{found}'?)" if found is not None else ""


def _check_units(parsed: Parsed, db: Stored, p: Problems) -> None:
    known = set(db.units) | set(parsed.units)
    lower = by_lower(known)
    for u in parsed.all_units():
        if isinstance(u.parent, str) and u.parent not in known:
            p.add(u.at, "parent", _unknown_unit(u.parent, lower), "units")
    _report_cycles(parsed.units, unit_parents(parsed, db), "parent",
                   Msg(N_("the units' parents go round in a circle: %(circle)s")), "units", p)


def _report_cycles(rows: dict[str, Any], links: dict[str, str | None], column: str,
                   what: Msg, file: str, p: Problems) -> None:
    """One error per row of a circle of links (parents, supervisors)."""
    safe: set[str] = set()
    for key, row in rows.items():
        loop = _cycle(key, links, safe)
        if loop:
            p.add(row.at, column, Msg(what.msgid, circle=" → ".join([*loop, loop[0]])), file)


def _check_people(parsed: Parsed, db: Stored, p: Problems) -> None:
    units = set(db.units) | set(parsed.units)
    lower = by_lower(units)
    for person in parsed.all_people():
        if person.unit is not None and person.unit not in units:
            p.add(person.at, "unit", _unknown_unit(person.unit, lower), "people")
        s = person.supervisor
        if isinstance(s, str) and s not in parsed.people and s not in db.people:
            p.add(person.at, "supervisor", _unknown_person(s), "people")
    _report_cycles(parsed.people, supervisors(parsed, db), "supervisor",
                   Msg(N_("supervisors go round in a circle: %(circle)s")), "people", p)


def _pack(at: At) -> int:
    """Where a row is, in one int (the label is found again by the order)."""
    return at.order << 32 | at.row


class RecChecks:
    """The checks of each recommendation against the others and the units and people, one
    row at a time: what it keeps grows by a ref per row, and a little per forum."""

    def __init__(self, parsed: Parsed, db: Stored, p: Problems, spool: Spool,
                 labels: dict[int, str]) -> None:
        self.p, self.spool, self.labels = p, spool, labels
        self.units = set(db.units) | set(parsed.units)
        self.lower = by_lower(self.units)
        self.parent = unit_parents(parsed, db)
        self.lineage: dict[str, set[str]] = {}
        self.owner_unit = {e: db.unit_code.get(r[2]) for e, r in db.people.items()}
        self.owner_unit.update({e: person.unit for e, person in parsed.people.items()})
        self.refs: dict[str, int] = {}  # ref → where it was first given
        # (title, date) → [unit, place, minutes_ref, where place and minutes_ref were given]
        self.forums: dict[tuple[str, date], list[Any]] = {}

    def where(self, packed: int, at: At) -> Msg | str:
        """Where a row packed by `_pack` is, as an error at `at` names it."""
        order, row = packed >> 32, packed & 0xFFFFFFFF
        return row_word(self.labels[order], row, at, order)

    def line_of(self, code: str) -> set[str]:
        if code not in self.lineage:
            seen: list[str] = []
            node: str | None = code
            while node is not None and node not in seen:
                seen.append(node)
                node = self.parent.get(node)
            self.lineage[code] = set(seen)
        return self.lineage[code]

    def add(self, r: RecIn, forum_unit: str | None = None) -> None:
        p, at = self.p, r.at
        keyed = False
        if r.ref is not None:
            first = self.refs.get(r.ref)
            if first is None:
                self.refs[r.ref] = _pack(at)
                keyed = True
            else:
                p.add(at, "ref", Msg(N_("%(what)s '%(value)s' is given twice (also at "
                                        "%(where)s)"), what="ref", value=short(r.ref),
                                     where=self.where(first, at)), "recommendations")
        ounit = None
        if r.owner is not None:
            if r.owner not in self.owner_unit:
                p.add(at, "owner", _unknown_person(r.owner), "recommendations")
            ounit = self.owner_unit.get(r.owner)
        unit = r.unit or ounit
        if r.unit is not None and r.unit not in self.units:
            p.add(at, "unit", _unknown_unit(r.unit, self.lower), "recommendations")
        elif (unit is not None and ounit is not None and ounit in self.units
              and not owner_fits(ounit, unit, self.line_of)):
            p.add(at, "owner", Msg(N_("%(owner)s belongs to unit '%(owner_unit)s', which is "
                                      "neither '%(unit)s' nor above or below it"),
                                   owner=r.owner, owner_unit=ounit, unit=unit),
                  "recommendations")
        if r.forum is None or r.forum_date is None:
            return
        fkey = (r.forum, r.forum_date)
        forum = self.forums.get(fkey)
        if forum is None:
            forum = self.forums[fkey] = [forum_unit or unit, None, None, None, None]
        for i, col, value in ((1, "place", r.place), (2, "minutes_ref", r.minutes_ref)):
            if value is None:
                continue
            if forum[i] is None:
                forum[i], forum[i + 2] = value, _pack(at)
            elif forum[i] != value:
                p.add(at, col, Msg(N_("'%(value)s' differs from '%(first)s' given for the "
                                      "same forum at %(where)s"), value=short(value),
                                   first=short(forum[i]), where=self.where(forum[i + 2], at)),
                      "recommendations")
        if keyed and not p:  # once anything is wrong nothing is written: stop spooling
            self.spool.add((r.ref, r.forum, r.forum_date.toordinal(), unit, r.owner, r.text,
                            r.category, r.priority,
                            r.deadline.toordinal() if r.deadline is not None else None, r.hk,
                            r.rule))


@dataclass
class Checked:
    """What the first pass leaves for the second: every problem, the units and people, the
    forums and the spooled recommendations."""

    p: Problems
    parsed: Parsed
    spool: Spool
    forums: dict[tuple[str, date], list[Any]] = field(default_factory=dict)

    def close(self) -> None:
        self.spool.close()


def check_files(paths: Sequence[Path | str], db: Stored, scope: str | None = None) -> Checked:
    """The first pass: every row of every file read once and checked. A file found unreadable
    part-way (a broken quote, a damaged workbook) is reported alone and the pass starts again
    without it, so that none of its rows counts."""
    broken: dict[int, Callable[[Problems], None]] = {}
    while True:
        p = Problems()
        checked = Checked(p, Parsed(), Spool())
        sources: list[Source] = []
        try:
            sources = open_sources(paths, p, broken)
            _check_sources(sources, db, checked, scope)
            return checked
        except Unreadable as exc:
            checked.close()
            broken[exc.index] = exc.report
        except BaseException:
            checked.close()
            raise
        finally:
            close_sources(sources)


def _check_sources(sources: list[Source], db: Stored, checked: Checked,
                   scope_of: str | None = None) -> None:
    p, parsed = checked.p, checked.parsed
    parsed.kinds.update(src.kind for src in sources)
    # Units, then people, then recommendations, whatever the order of the files: each kind
    # is checked against the kinds before it, complete.
    for kind, parse in (("units", parse_unit), ("people", parse_person)):
        for src in sources:
            if src.kind == kind:
                for row in read_rows(src, p):
                    parse(row, parsed)
    _check_units(parsed, db, p)
    _check_people(parsed, db, p)
    scope = Scope.of(scope_of, parsed, db, p) if scope_of is not None else None
    if scope is not None:
        scope.check_units()
        scope.check_people()
    if "recommendations" not in parsed.kinds:
        _check_participants(sources, db, parsed, {}, p)
        return
    recs = RecChecks(parsed, db, p, checked.spool, {src.order: src.label for src in sources})
    for src in sources:
        if src.kind == "recommendations":
            # A planner's import names its organiser only inside the planner's tree.
            organiser = (src.forum_unit if scope is None or scope.inside(src.forum_unit)
                         else None)
            for row in read_rows(src, p):
                rec = parse_rec(row)
                recs.add(rec, organiser)
                if scope is not None:
                    scope.check_rec(rec)
    if scope is not None:
        labels = {src.order: src.label for src in sources}
        scope.check_refs(recs.refs, lambda packed: At(labels[packed >> 32],
                                                      packed & 0xFFFFFFFF, packed >> 32))
    checked.forums = recs.forums
    _check_participants(sources, db, parsed, recs.forums, p)


def _check_participants(sources: list[Source], db: Stored, parsed: Parsed,
                        forums: dict[tuple[str, date], list[Any]], p: Problems) -> None:
    """Participants of a forum registered before or in this import; the invitations are
    queued only once every row of every file is right."""
    for src in sources:
        if src.kind != "participants":
            continue
        for row in read_rows(src, p):
            title = row.text("forum", required=True, max_len=500)
            held_on = row.day("forum_date")
            row.text("name", max_len=200)
            row.text("organisation", max_len=300)
            email = row.email("email", required=True)
            if title is None or held_on is None or email is None:
                continue
            if (title, held_on) not in db.forums and (title, held_on) not in forums:
                row.bad("forum", Msg(N_("no forum '%(title)s' held on %(date)s: register it "
                                        "first, or in this import"),
                                     title=short(title), date=held_on.isoformat()))
                continue
            parsed.participants.append((email, title, held_on))
