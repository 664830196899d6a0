"""A Berita Acara in Word (.docx) read as a recommendations file of the import (SPEC §8).

The reader finds the recommendations table by its header, the forum's title, number, place
and date in the text around it (a date in words too), matches each Penanggung Jawab to a
registered unit or person and turns each Waktu into a deadline. What it yields are rows of
the importer's recommendations kind, so the import's own checks, all-or-nothing write and
counts apply unchanged; its own errors are `FILE:ROW: column: reason` with ROW the table's
row (its header is row 1) and column the table's header as the document writes it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from models import session
from tindak.calendar import WorkCalendar, load_calendar
from tindak.importer.checks import by_lower, hint
from tindak.importer.columns import COLUMNS
from tindak.importer.problems import At, Problems
from tindak.importer.readers import Source
from tindak.importer.stored import Stored
from tindak.settings import get_settings
from tindak.timeexpr import Deadline, find_date, parse_time
from tindak.validators import short

# What a header cell says, by the first keyword found in it (checked in this order).
HEADER_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("plan", ("rencana", "tindak lanjut", "rencana aksi", "langkah")),
    ("owner", ("penanggung", "pic", "unit", "pelaksana", "pj", "bidang", "instansi",
               "pengampu")),
    ("time", ("waktu", "target", "tenggat", "batas", "jadwal", "deadline", "tanggal")),
    ("text", ("masukan", "usulan", "saran", "rekomendasi", "aspirasi", "uraian",
              "permasalahan", "hasil")),
    ("category", ("kategori", "komponen", "unsur", "aspek")),
    ("no", ("no", "nomor", "nmr")),
)
NEEDED = ("text", "time", "owner")
EMAIL_IN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TITLES = re.compile(r"^(?:(?:prof|dr|drs|dra|ir|h|hj|kh|apt|ns)\.?\s+)+", re.I)
BULLET = re.compile(r"^[\s\-–—•*·▪●]+")


@dataclass(frozen=True)
class Options:
    """What the command line may say instead of the document."""

    forum_date: date | None = None
    unit: str | None = None  # the organising unit's code
    title: str | None = None


class BeritaAcaraPath(str):
    """A path given to `import_files` with the options of its Berita Acara."""

    options: Options

    def __new__(cls, path: str, options: Options) -> BeritaAcaraPath:
        obj = super().__new__(cls, path)
        obj.options = options
        return obj


@dataclass
class Meta:
    title: str | None = None
    held_on: date | None = None
    minutes_ref: str | None = None
    place: str | None = None
    organiser: str | None = None  # unit code


@dataclass
class Item:
    """One recommendation of the table, resolved (or with `problems`)."""

    row: int
    no: str
    text: str
    time_text: str
    owner_text: str
    category: str = ""
    ref: str = ""
    deadline: Deadline | None = None
    due: date | None = None  # the deadline as a date, working days counted
    owner: str | None = None  # email
    unit: str | None = None  # code
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Reading:
    meta: Meta
    items: list[Item]
    label: str
    file_problems: list[str] = field(default_factory=list)


# --- the document ------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _kind(cell: str) -> str | None:
    norm = _norm(cell)
    if not norm or len(norm) > 60:
        return None
    words = norm.split()
    for kind, keys in HEADER_WORDS:
        for key in keys:
            if (" " in key and key in norm) or key in words:
                return kind
    return None


def _cells(row: Any) -> list[Any]:
    """The row's cells, one per grid column (a merged cell repeats)."""
    return list(row.cells)


def _header(table: Any) -> tuple[int, dict[str, int], dict[str, str]] | None:
    """(row index, kind → column, kind → header text) of the table's header, if it has one."""
    for i, row in enumerate(table.rows[:3]):
        kinds: dict[str, int] = {}
        names: dict[str, str] = {}
        last = None
        for j, cell in enumerate(_cells(row)):
            if last is not None and cell._tc is last:
                continue
            last = cell._tc
            kind = _kind(cell.text)
            if kind is not None and kind not in kinds:
                kinds[kind] = j
                names[kind] = " ".join(cell.text.split())[:40]
        if all(k in kinds for k in NEEDED):
            return i, kinds, names
    return None


def _lines(doc: Any, skip: set[int]) -> list[str]:
    """The text of the document outside the recommendations tables, line by line."""
    out = [p.text for p in doc.paragraphs]
    for i, table in enumerate(doc.tables):
        if i in skip:
            continue
        for row in table.rows:
            seen: list[Any] = []
            parts = []
            for cell in _cells(row):
                if any(cell._tc is s for s in seen):
                    continue
                seen.append(cell._tc)
                parts.append(cell.text.strip())
            out.append(" ".join(p for p in parts if p))
    return [" ".join(line.split()) for line in out if line.strip()]


FIELD = re.compile(r"^(nomor|no|kegiatan|acara|judul|perihal|tempat|hari\s*/\s*tanggal|"
                   r"tanggal|penyelenggara)\s*[.:]?\s*[:]\s*(.+)$", re.I)


def _meta(lines: list[str], registry: Stored, opts: Options, problems: list[str]) -> Meta:
    meta = Meta(title=opts.title, held_on=opts.forum_date, organiser=opts.unit)
    fields: dict[str, str] = {}
    for line in lines:
        m = FIELD.match(line) or re.match(r"^(nomor|no)\s*[.:]?\s+(\S.*)$", line, re.I)
        if m:
            fields.setdefault(re.sub(r"\s+", "", m[1].lower()), m[2].strip())
    meta.minutes_ref = (fields.get("nomor") or fields.get("no") or None)
    if meta.minutes_ref:
        meta.minutes_ref = meta.minutes_ref[:500]
    place = fields.get("tempat")
    if place is None:
        for line in lines:
            if m := re.search(r"\bbertempat di\s+([^,;]+)", line, re.I):
                place = m[1].strip().rstrip(".")
                break
    meta.place = place[:300] if place else None
    if meta.title is None:
        meta.title = fields.get("kegiatan") or fields.get("acara") or fields.get("judul")
    if meta.title is None:
        heading: list[str] = []
        for line in lines:
            low = line.lower()
            if FIELD.match(line) or low.startswith(("nomor", "pada hari", "pada tanggal")):
                break
            if low.strip() in ("berita acara", "berita acara:"):
                continue
            heading.append(re.sub(r"^berita acara\s*", "", line, flags=re.I))
        meta.title = _title_case(" ".join(h for h in heading if h), registry)[:500] or None
    if meta.title is None:
        problems.append("forum: the document does not say the forum's title (a heading "
                        "above 'Nomor', or 'Kegiatan: …'); give --title")
    if meta.held_on is None:
        for line in ([fields[k] for k in ("hari/tanggal", "tanggal") if k in fields] + lines):
            found, problem = find_date(line)
            if problem:
                problems.append(f"forum date: {problem}; correct it or give --forum-date")
                break
            if found is not None:
                meta.held_on = found
                break
        else:
            problems.append("forum date: the document writes no date of the forum (e.g. 'Pada "
                            "hari ini Selasa tanggal … bulan … tahun …'); give --forum-date")
    if meta.organiser is None:
        said = fields.get("penyelenggara")
        text = said or " ".join(lines[:12])
        meta.organiser = _unit_named(text, registry, whole=bool(said))
    return meta


SMALL_WORDS = frozenset("dan di ke dari yang untuk pada atau dengan serta oleh dalam".split())


def _title_case(text: str, registry: Stored) -> str:
    """A heading in capitals as the title is written elsewhere: 'FORUM KONSULTASI PUBLIK
    BPS KABUPATEN SLEMAN' → 'Forum Konsultasi Publik BPS Kabupaten Sleman' (acronyms are
    those the registered unit names write in capitals), so it names the same forum."""
    if not text.isupper():
        return text
    acronyms = {"FKP", "RI", "OPD", "UPT", "UPTD", "SKPD"}
    for _, name, _, _ in registry.units.values():
        acronyms.update(w for w in re.findall(r"[\w-]+", name) if len(w) > 1 and w.isupper())
    words = []
    for i, word in enumerate(text.split(" ")):
        bare = re.sub(r"[^\w-]", "", word)
        if bare in acronyms or any(c.isdigit() for c in bare):
            words.append(word)
        elif i and word.lower() in SMALL_WORDS:
            words.append(word.lower())
        else:
            words.append(word.capitalize())
    return " ".join(words)


def _unit_named(text: str, registry: Stored, whole: bool) -> str | None:
    """The registered unit a text names: by its whole name, else the longest name in it."""
    norm = _norm(text)
    best: tuple[int, str] | None = None
    for code, (_, name, _, _) in registry.units.items():
        n = _norm(name)
        if n == norm or _norm(code) == norm:
            return code
        if not whole and n and f" {n} " in f" {norm} " and (best is None or len(n) > best[0]):
            best = (len(n), code)
    return best[1] if best else None


def _ref(meta: Meta, key: str) -> str:
    if meta.minutes_ref:
        base = re.sub(r"[^A-Za-z0-9]+", "-", meta.minutes_ref).strip("-")[:70]
        base = base if base.upper().startswith("BA") else f"BA-{base}"
    else:
        digest = hashlib.sha1(_norm(meta.title or "").encode()).hexdigest()[:6]
        base = f"BA-{meta.held_on:%Y%m%d}-{digest}" if meta.held_on else f"BA-{digest}"
    return f"{base}-{key}"[:100]


def _row_key(no: str, position: int) -> str:
    key = re.sub(r"[^A-Za-z0-9]+", "-", no).strip("-")
    if not key:
        key = str(position)
    return key.zfill(2) if key.isdigit() else key[:20]


# --- owners ------------------------------------------------------------------------------


class Owners:
    """Penanggung Jawab → (email, unit code), or the reason with a hint."""

    def __init__(self, registry: Stored, organiser: str | None) -> None:
        self.r = registry
        scope = set(registry.units)
        if organiser in registry.units:
            root = registry.units[organiser][0]
            scope = {c for c, u in registry.units.items() if root in self._line(u[0])}
        self.scope = scope
        self.unit_names = {c: _norm(registry.units[c][1]) for c in scope}
        self.people = {e: p for e, p in registry.people.items()
                       if registry.unit_code.get(p[2]) in scope}
        self.person_names = {e: _person_norm(p[1]) for e, p in self.people.items()}

    def _line(self, uid: int) -> set[int]:
        seen: set[int] = set()
        node: int | None = uid
        while node is not None and node not in seen:
            seen.add(node)
            node = next((u[2] for u in self.r.units.values() if u[0] == node), None)
        return seen

    def resolve(self, text: str) -> tuple[str, str] | str:
        raw = " ".join(text.split())
        if not raw:
            return "is empty: name the unit or the person responsible"
        if m := EMAIL_IN.search(raw):
            email = m[0].lower()
            person = self.r.people.get(email)
            if person is None:
                return f"unknown person '{email}' (not registered)"
            return email, self.r.unit_code[person[2]]
        norm = _norm(raw)
        code = next((c for c in self.scope if _norm(c) == norm), None)
        code = code or next((c for c, n in self.unit_names.items() if n == norm), None)
        if code is not None:
            return self._unit_owner(code)
        who = [e for e, n in self.person_names.items() if n == _person_norm(raw)]
        if len(who) == 1:
            return who[0], self.r.unit_code[self.people[who[0]][2]]
        # "Tim PST" for "Tim Pelayanan Statistik Terpadu …": every word of the cell, in order,
        # in one unit's name (as a word or as the initials of consecutive words).
        units = [c for c, n in self.unit_names.items() if _words_in(norm, n)]
        if len(units) == 1:
            return self._unit_owner(units[0])
        if len(units) > 1:
            names = ", ".join(f"'{self.r.units[c][1]}'" for c in sorted(units)[:4])
            return f"'{short(raw)}' names more than one unit ({names}): write the unit's code"
        return f"'{short(raw)}' is not a registered unit or person" + self._hint(raw)

    def _hint(self, raw: str) -> str:
        choices = {self.r.units[c][1]: c for c in self.scope}
        choices |= {self.people[e][1]: e for e in self.people}
        choices |= {c: c for c in self.scope}
        close = difflib.get_close_matches(raw, list(choices), n=1, cutoff=0.6)
        if not close:
            by_norm = {_norm(k): k for k in choices}
            close = difflib.get_close_matches(_norm(raw), list(by_norm), n=1, cutoff=0.6)
            close = [by_norm[c] for c in close]
        lower = by_lower(self.scope)
        if close:
            lower[raw.lower()] = close[0]
        return hint(raw, lower)

    def _unit_owner(self, code: str) -> tuple[str, str] | str:
        uid = self.r.units[code][0]
        staff = sorted((e, p[3].split(";")) for e, p in self.r.people.items() if p[2] == uid)
        for role in ("leader", "owner"):
            picked = [e for e, roles in staff if role in roles]
            if len(picked) == 1:
                return picked[0], code
        if not staff:
            return (f"unit '{code}' ({self.r.units[code][1]}) has nobody registered: register "
                    "its head, or name a person")
        return (f"unit '{code}' has no single head (leader) to own it: name the person "
                "(one of: " + ", ".join(e for e, _ in staff[:4]) + ")")


def _person_norm(name: str) -> str:
    return _norm(TITLES.sub("", name.split(",")[0]))


def _words_in(short: str, long: str) -> bool:
    words, target = short.split(), long.split()
    if not words:
        return False
    i = 0
    for w in words:
        while i < len(target):
            if target[i] == w:
                i += 1
                break
            n = len(w)
            if n > 1 and i + n <= len(target) and "".join(t[0] for t in target[i:i + n]) == w:
                i += n
                break
            i += 1
        else:
            return False
    return True


# --- reading -----------------------------------------------------------------------------


def unreadable(path: Path) -> str | None:
    """Why the file is not a Word document this reader can open, or None."""
    suffix = path.suffix.lower()
    if suffix in (".doc", ".rtf", ".odt"):
        return (f"{suffix} files are not read: open it in Word and save it as Word Document "
                "(.docx)")
    if not zipfile.is_zipfile(path):
        return "not a readable .docx document (not a zip file: save it again as .docx)"
    return None


def read(path: Path, label: str, registry: Stored, cal: WorkCalendar,
         opts: Options) -> Reading:
    """The Berita Acara at `path`: its forum and every item, resolved, with their problems."""
    import docx

    problems: list[str] = []
    try:
        doc = docx.Document(str(path))
        tables = [(i, t, h) for i, t in enumerate(doc.tables) if (h := _header(t))]
    except Exception as exc:  # python-docx raises what its XML parts raise: all mean one thing
        return Reading(Meta(), [], label,
                       [f"not a readable .docx document ({short(exc, 80)})"])
    lines = _lines(doc, {i for i, _, _ in tables})
    meta = _meta(lines, registry, opts, problems)
    if opts.unit is not None and opts.unit not in registry.units:
        problems.append(f"--unit: unknown unit '{short(opts.unit)}'"
                        + hint(opts.unit, by_lower(registry.units)))
    if not tables:
        problems.append("no recommendations table: none has a header with "
                        "Masukan/Usulan/Saran/Rekomendasi, Waktu and Penanggung Jawab/PIC/Unit")
    owners = Owners(registry, meta.organiser)
    items: list[Item] = []
    for _, table, (head, cols, names) in tables[:1]:
        for r, row in enumerate(table.rows[head + 1:], start=head + 2):
            item = _item(row, r, cols, names, len(items) + 1, meta, owners, cal)
            if item is not None:
                items.append(item)
    if tables and not items:
        problems.append("the recommendations table has no rows")
    return Reading(meta, items, label, problems)


def _item(row: Any, r: int, cols: dict[str, int], names: dict[str, str], position: int,
          meta: Meta, owners: Owners, cal: WorkCalendar) -> Item | None:
    cells = _cells(row)
    texts = [" ".join(c.text.split()) for c in cells]
    if all(not t or re.fullmatch(r"\(?\d+\)?\.?", t) for t in texts):
        return None  # blank, or the column numbers "(1) (2) (3)" under the header
    if len({id(c._tc) for c in cells}) == 1 or len(set(texts)) == 1:
        return None  # a heading spanning the row ("A. Persyaratan")

    def cell(kind: str) -> str:
        j = cols.get(kind)
        if j is None or j >= len(cells):
            return ""
        lines = [BULLET.sub("", ln).strip() for ln in cells[j].text.splitlines()]
        return "\n".join(ln for ln in lines if ln)

    text, plan = cell("text"), cell("plan")
    item = Item(r, cell("no").replace("\n", " "), text, cell("time").replace("\n", " "),
                cell("owner").replace("\n", " "), cell("category"))
    if plan and plan != text:
        item.text = f"{text}\nRencana tindak lanjut: {plan}" if text else ""
    item.ref = _ref(meta, _row_key(item.no, position))
    if not text:
        item.problems.append((names["text"], "is empty"))
    due = parse_time(item.time_text, meta.held_on)
    if isinstance(due, str):
        item.problems.append((names["time"], due))
    else:
        item.deadline = due
        if due.hk is not None:
            if meta.held_on is not None:
                item.due = cal.add_working_days(meta.held_on, due.hk)
        else:
            item.due = due.day
        if item.due is not None and meta.held_on is not None and item.due < meta.held_on:
            item.problems.append((names["time"], f"'{short(item.time_text)}' is "
                                  f"{item.due.isoformat()}, before the forum date "
                                  f"{meta.held_on.isoformat()}"))
    owner = owners.resolve(item.owner_text)
    if isinstance(owner, str):
        item.problems.append((names["owner"], owner))
    else:
        item.owner, item.unit = owner
    return item


def _registry() -> tuple[Stored, WorkCalendar]:
    with session() as s:
        return Stored.load(s), load_calendar(s, get_settings().language)


def _options(given: Any) -> Options:
    return getattr(given, "options", None) or Options()


def open_docx(given: Any, path: Path, label: str, index: int, order: int,
              p: Problems) -> list[Source]:
    """The importer's hook: the Berita Acara as one recommendations source (its problems to
    `p`). Rows with a problem of their own are reported here and not passed on."""
    why = unreadable(path)
    if why is not None:
        p.file(label, order, why)
        return []
    registry, cal = _registry()
    reading = read(path, label, registry, cal, _options(given))
    for line in reading.file_problems:
        p.file(label, order, line)
    meta = reading.meta
    rows: list[tuple[int, list[Any]]] = []
    for item in reading.items:
        for column, reason in item.problems:
            p.add(At(label, item.row, order), column, reason, "recommendations")
        if item.problems or item.deadline is None:
            continue
        due = item.deadline.cell()
        rows.append((item.row, [
            item.ref, meta.title or "", meta.held_on.isoformat() if meta.held_on else "",
            item.unit or "", item.text, item.category, item.owner or "", due, "",
            meta.place or "", meta.minutes_ref or "",
        ]))
    if reading.file_problems:
        return []

    def reader() -> Iterator[tuple[int, list[Any]]]:
        return iter(rows)

    return [Source(index=index, label=label, kind="recommendations", order=order,
                   columns=list(COLUMNS["recommendations"]), path=path, reader=reader,
                   forum_unit=meta.organiser)]


def preview(path: Path | str, opts: Options | None = None) -> list[str]:
    """What a dry run shows: the forum, then each row's time as written and the date it
    became, and its owner."""
    registry, cal = _registry()
    reading = read(Path(path), str(path), registry, cal, opts or Options())
    m = reading.meta
    out = [f"{path}: {m.title} ({m.held_on.isoformat() if m.held_on else '?'})"
           + (f", {m.minutes_ref}" if m.minutes_ref else "")
           + (f", organised by {m.organiser}" if m.organiser else "")]
    for item in reading.items:
        rule = f" = {item.deadline.rule()}" if item.deadline and item.deadline.hk else ""
        due = item.due.isoformat() if item.due else "?"
        out.append(f"  row {item.row}: {item.ref}: '{short(item.time_text, 30)}'{rule} → {due};"
                   f" {short(item.owner_text, 40)} → {item.owner} ({item.unit})")
    return out
