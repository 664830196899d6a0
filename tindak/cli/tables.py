"""Tables that fit the terminal (Rich): key columns (refs, ids) are never cut, the others
wrap, and the least needed are left out (and named) when the terminal is too narrow for
them. Every cell is plain text: no Rich markup and no terminal control codes from data."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.control import strip_control_codes
from rich.table import Table
from rich.text import Text

GAP = 2  # spaces between columns
NARROWEST = 8  # a wrapped column narrower than this is unreadable: leave it out instead


@dataclass(frozen=True)
class Col:
    title: str
    key: bool = False  # shown whole on one line, whatever the width (a ref, an id)
    justify: str = "left"
    drop: int = 0  # when the terminal is too narrow, the highest are left out first


def _cell(value: object) -> str:
    return strip_control_codes(" ".join(str(value if value is not None else "").split()))


def _need(col: Col, cells: list[str]) -> int:
    widest = max([len(col.title), *map(len, cells)])
    return widest if col.key else min(widest, max(NARROWEST, len(col.title)))


def print_table(cols: Sequence[Col], rows: Iterable[Sequence[object]]) -> list[str]:
    """Print the rows as a table as wide as the terminal (COLUMNS when set); the titles of
    the columns left out to fit, if any."""
    data = [[_cell(v) for v in row] for row in rows]
    width = Console().width
    shown = list(range(len(cols)))
    needs = {i: _need(cols[i], [r[i] for r in data]) for i in shown}

    def total() -> int:
        return sum(needs[i] for i in shown) + GAP * (len(shown) - 1)

    for i in sorted((i for i in shown if cols[i].drop), key=lambda i: -cols[i].drop):
        if total() <= width:
            break
        shown.remove(i)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1),
                  collapse_padding=True, header_style="")
    for i in shown:
        col = cols[i]
        table.add_column(col.title, justify=col.justify,  # type: ignore[arg-type]
                         no_wrap=col.key, overflow="fold",
                         min_width=needs[i] if col.key else None)
    for r in data:
        table.add_row(*(Text(r[i]) for i in shown))
    # Never narrower than the key columns: a ref is never cut, even if the terminal wraps it.
    console = Console(width=max(width, total()), file=sys.stdout, highlight=False,
                      markup=False, emoji=False, color_system=None)
    with console.capture() as cap:
        console.print(table)
    for line in cap.get().splitlines():
        print(line.rstrip())
    return [cols[i].title for i in range(len(cols)) if i not in shown]
