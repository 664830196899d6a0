"""The *Laporan Tindak Lanjut Hasil FKP* (SPEC §8): what an evaluator (PEKPPP, Ombudsman,
BPK) asks for, as PDF (Jinja2 HTML through WeasyPrint) or XLSX (openpyxl).

`build_report` reads the items once into plain rows; `render_pdf` and `render_xlsx` only
format them, so both files say the same. Rates come from tindak/rates.py. Text from the
database is escaped in the PDF (autoescape) and neutralised in the XLSX (a cell that a
spreadsheet would run as a formula is written as text).
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import col

from models import Forum, Person, ProgressUpdate, Recommendation, Status, Unit, session
from tindak import i18n, rates
from tindak.calendar import local_today, tz_abbr
from tindak.directory import UnitTree
from tindak.errors import N_, InvalidInput, NotFound
from tindak.settings import get_settings
from tindak.status import days_overdue
from tindak.validators import FORMULA_START

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "report"
FORMATS = (".pdf", ".xlsx")
MAX_EVIDENCE = 5  # evidence items listed per recommendation (then "+N")
# WeasyPrint lays out the whole document in memory (~0.35 MB an item, 10k items: 3.7 GB):
# a larger PDF gives the totals and the table per unit, and leaves the list of items to the
# XLSX, which has no such limit.
MAX_PDF_ITEMS = 3_000


@dataclass
class Item:
    ref: str
    text: str
    unit: str  # the responsible unit's name
    owner: str
    status: str
    progress: int
    original_deadline: date  # the Berita Acara's
    deadline: date  # in force (an approved extension moves it, issue 13)
    completed_on: date | None
    days_overdue: int
    tz: str
    evidence: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # the public's sesuai / belum sesuai


@dataclass
class ForumPart:
    title: str
    held_on: date
    minutes_ref: str
    place: str
    unit: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Totals:
    count: int
    counts: dict[str, int]
    implementation_rate: float
    on_time_original: rates.OnTime
    on_time_current: rates.OnTime
    aging: dict[str, int]


@dataclass
class UnitRow:
    """One unit's share of the report: the unit just below the scope (or each top unit),
    with every unit below it."""

    name: str
    count: int
    completed: int
    implementation_rate: float
    on_time_original: rates.OnTime
    on_time_current: rates.OnTime
    overdue: int  # open or in progress, past the deadline in force


@dataclass
class Report:
    as_of: date
    scope: str
    period: tuple[date | None, date | None]
    forums: list[ForumPart]
    totals: Totals
    lang: str
    by_unit: list[UnitRow] = field(default_factory=list)

    @property
    def detailed(self) -> bool:
        """Whether the PDF lists every item (else the XLSX does)."""
        return self.totals.count <= MAX_PDF_ITEMS


def _deadlines(deadline: date, original: date | None) -> tuple[date, date]:
    """(original, in force): the Berita Acara's deadline and the one an approved extension
    moved it to (SPEC §7); both the stored deadline when it never moved."""
    return original or deadline, deadline


def build_report(forum_id: int | None = None, unit: str | None = None,
                 start: date | None = None, end: date | None = None,
                 as_of: date | None = None, unit_ids: frozenset[int] | None = None,
                 lang: str | None = None) -> Report:
    """The report of the items matching the filters: forum, a unit and every unit below it,
    forums held from `start` to `end`; `unit_ids` restricts to a viewer's tree."""
    if start and end and end < start:
        raise InvalidInput(N_("--to %(end)s is before --from %(start)s"),
                           end=end.isoformat(), start=start.isoformat())
    now = datetime.now(UTC)
    lang = i18n.normalize_lang(lang or get_settings().language)
    with session() as s:
        tree = UnitTree.load(s)
        r, f, p = Recommendation, Forum, Person
        q = (sa.select(col(r.id), col(r.ref), col(r.text), col(r.unit_id), col(p.name),
                       col(r.status), col(r.progress), col(r.deadline), col(f.id), col(f.title),
                       col(f.held_on), col(f.minutes_ref), col(f.place), col(f.unit_id),
                       col(r.original_deadline))
             .join(f, col(f.id) == r.forum_id).join(p, col(p.id) == r.owner_id)
             .order_by(col(f.held_on), col(f.id), col(r.ref)))
        scope = []
        root: int | None = None
        if forum_id is not None:
            if s.get(Forum, forum_id) is None:
                raise NotFound(N_("no forum %(id)s"), id=forum_id)
            q = q.where(col(r.forum_id) == forum_id)
        units: set[int] | None = None
        if unit:
            root = tree.id_of(unit)
            units = tree.subtree(root)
            scope.append(tree.name[root])
        if unit_ids is not None:
            units = set(unit_ids) if units is None else units & set(unit_ids)
        if units is not None:
            q = q.where(col(r.unit_id).in_(sorted(units)))
        if start:
            q = q.where(col(f.held_on) >= start)
        if end:
            q = q.where(col(f.held_on) <= end)
        rows = s.execute(q).all()
        ids = [row[0] for row in rows]
        evidence, done_on = _updates(s, ids, tree, {row[0]: row[3] for row in rows})
        unit_names = dict(s.execute(sa.select(col(Unit.id), col(Unit.name))).all())
    today_by_tz = {tz: local_today(tz, now) for tz in set(tree.tz.values())}
    if as_of is not None:
        today_by_tz = {tz: as_of for tz in today_by_tz}
    forums: dict[int, ForumPart] = {}
    group_of: dict[int, int] = {}  # a unit → the unit of the report's table per unit
    groups: list[int] = []  # each item's, in order
    for (rid, ref, text, uid, owner, status, progress, deadline, fid, title, held, minutes,
         place, funit, first_deadline) in rows:
        part = forums.get(fid)
        if part is None:
            part = forums[fid] = ForumPart(title, held, minutes or "", place or "",
                                           unit_names.get(funit, ""))
        tz = tree.tz[uid]
        original, current = _deadlines(deadline, first_deadline)
        part.items.append(Item(
            ref, text, unit_names.get(uid, ""), owner, status, int(progress), original,
            current, done_on.get(rid), days_overdue(status, current, today_by_tz[tz]), tz,
            evidence.get(rid, [])))
        if uid not in group_of:
            group_of[uid] = _group(tree, uid, root, units)
        groups.append(group_of[uid])
    items = [it for part in forums.values() for it in part.items]
    counts: dict[str, int] = {st.value: 0 for st in Status}
    for it in items:
        counts[it.status] = counts.get(it.status, 0) + 1
    some_day = as_of or (max(today_by_tz.values()) if today_by_tz else now.date())
    totals = Totals(
        len(items), counts, rates.implementation_rate(counts),
        rates.on_time(((it.status, it.original_deadline, it.completed_on) for it in items),
                      some_day),
        rates.on_time(((it.status, it.deadline, it.completed_on) for it in items), some_day),
        rates.aging((it.status, it.days_overdue) for it in items))
    return Report(some_day, ", ".join(scope), (start, end), list(forums.values()), totals,
                  lang, _by_unit(items, groups, unit_names, some_day))


def _group(tree: UnitTree, uid: int, root: int | None, units: set[int] | None) -> int:
    """The unit an item is counted under in the table per unit: the child of the scope's
    unit it falls under (the scope's unit itself for its own items); without a scope, the
    topmost unit above it that the viewer may see."""
    chain = tree.ancestors(uid)  # the unit, then up to the root
    if root is not None and root in chain:
        at = chain.index(root)
        return chain[at - 1] if at > 0 else root
    if units is not None:
        return [a for a in chain if a in units][-1]
    return chain[-1]


def _by_unit(items: list[Item], groups: list[int], names: dict[int, str],
             today: date) -> list[UnitRow]:
    members: dict[int, list[Item]] = defaultdict(list)
    for it, gid in zip(items, groups, strict=True):
        members[gid].append(it)
    out = []
    for gid, its in members.items():
        counts: dict[str, int] = defaultdict(int)
        for it in its:
            counts[it.status] += 1
        out.append(UnitRow(
            names.get(gid, ""), len(its), counts[Status.completed.value],
            rates.implementation_rate(counts),
            rates.on_time(((it.status, it.original_deadline, it.completed_on) for it in its),
                          today),
            rates.on_time(((it.status, it.deadline, it.completed_on) for it in its), today),
            sum(1 for it in its if it.days_overdue > 0)))
    return sorted(out, key=lambda row: row.name)


def _updates(s: Any, ids: list[int], tree: UnitTree,
             unit_of: dict[int, int]) -> tuple[dict[int, list[str]], dict[int, date]]:
    """Evidence (links and file names) and the day each completed item was reported done
    (the owner's report at 100 that a planner verified; else the verification's day)."""
    evidence: dict[int, list[str]] = defaultdict(list)
    days = rates.CompletionDays()
    u = ProgressUpdate
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        q = (sa.select(col(u.recommendation_id), col(u.at), col(u.progress), col(u.kind),
                       col(u.evidence_url), col(u.evidence_name))
             .where(col(u.recommendation_id).in_(chunk)).order_by(col(u.at), col(u.id)))
        for rid, at, progress, kind, url, name in s.execute(q):
            for ev in (url, name):
                if ev:
                    evidence[rid].append(ev)
            days.feed(rid, at, progress, kind)
    return evidence, days.days(lambda rid: tree.tz[unit_of[rid]])


# --- the files ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"])
    i18n.install_jinja(env)
    env.filters["tz"] = tz_abbr
    return env


def render_html(report: Report) -> str:
    return _environment().get_template("report.html").render(
        r=report, lang=report.lang, buckets=[b[0] for b in rates.AGE_BUCKETS],
        max_evidence=MAX_EVIDENCE, max_items=MAX_PDF_ITEMS)


def render_pdf(report: Report) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_html(report), base_url=str(TEMPLATES)).write_pdf()


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, written as text (like the export's)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def render_xlsx(report: Report) -> bytes:
    """Two sheets: the summary, then one row per item (written streaming: 100k rows fit)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    t = i18n.translator(report.lang)
    _ = t.gettext
    wb = Workbook(write_only=True)
    summary = wb.create_sheet(_("Summary")[:31])
    summary.column_dimensions["A"].width = 44
    tot = report.totals
    bold = Font(bold=True)
    wrapped = Alignment(wrap_text=True, vertical="top")

    def cell(ws: Any, value: Any, fmt: str | None = None, font: Any = None,
             wrap: bool = False) -> Any:
        c = WriteOnlyCell(ws, value=_cell(value))
        if fmt:
            c.number_format = fmt
        if font is not None:
            c.font = font
        if wrap:
            c.alignment = wrapped
        return c

    summary.append([cell(summary, _("Follow-up report of the public consultation forums"),
                         font=bold)])
    summary.append([_("As of"), cell(summary, report.as_of, "DD/MM/YYYY")])
    summary.append([_("Recommendations"), tot.count])
    for code, n in tot.counts.items():
        summary.append([t.status(code), n])
    summary.append([_("Implementation rate"),
                    cell(summary, round(tot.implementation_rate, 4), "0.0%")])
    for label, ot in ((_("On time (original deadline)"), tot.on_time_original),
                      (_("On time (deadline in force)"), tot.on_time_current)):
        summary.append([label, cell(summary, round(ot.rate, 4), "0.0%"),
                        f"{ot.on_time}/{ot.due}"])
    for label, n in tot.aging.items():
        summary.append([_("Open, days overdue %(range)s") % {"range": label}, n])

    per_unit = wb.create_sheet(_("Per unit")[:31])
    per_unit.column_dimensions["A"].width = 44
    per_unit.append([cell(per_unit, h, font=bold) for h in (
        _("Unit"), _("Recommendations"), _("Completed"), _("Implementation rate"),
        _("On time (original deadline)"), _("On time (deadline in force)"), _("Overdue"))])
    for u in report.by_unit:
        per_unit.append([_cell(u.name), u.count, u.completed,
                         cell(per_unit, round(u.implementation_rate, 4), "0.0%"),
                         cell(per_unit, round(u.on_time_original.rate, 4), "0.0%"),
                         cell(per_unit, round(u.on_time_current.rate, 4), "0.0%"), u.overdue])

    sheet = wb.create_sheet(_("Recommendations")[:31])
    for column, width in zip("ABCDEFGHIJKLMNO", (36, 12, 22, 22, 60, 30, 26, 24, 9, 12, 12, 12,
                                             8, 40, 20), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    heads = [_("Forum"), _("Forum date"), _("Berita Acara"), _("Ref"), _("Recommendation"),
             _("Responsible unit"), _("Owner"), _("Status"), _("Progress"),
             _("Original deadline"), _("Current deadline"), _("Date completed"),
             _("Days overdue"), _("Evidence"), _("Public answers")]
    sheet.append([cell(sheet, h, font=bold) for h in heads])
    day = "DD/MM/YYYY"
    for part in report.forums:
        title, minutes = _cell(part.title), _cell(part.minutes_ref)
        for it in part.items:
            sheet.append([
                title, cell(sheet, part.held_on, day), minutes, _cell(it.ref),
                cell(sheet, it.text, wrap=True), _cell(it.unit), _cell(it.owner),
                t.status(it.status), cell(sheet, it.progress / 100, "0%"),
                cell(sheet, it.original_deadline, day), cell(sheet, it.deadline, day),
                cell(sheet, it.completed_on, day), it.days_overdue,
                _cell("\n".join(it.evidence)), _cell("\n".join(it.answers))])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(path: Path | str, **filters: Any) -> tuple[Path, Report]:
    """Build the report and write it to `path` (.pdf or .xlsx, told by the suffix)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(N_("%(path)s: the report is written as .pdf or .xlsx"),
                           path=str(path))
    report = build_report(**filters)
    data = render_pdf(report) if suffix == ".pdf" else render_xlsx(report)
    target.write_bytes(data)
    return target, report
