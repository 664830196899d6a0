"""Tables that fit the terminal: key columns (refs, ids, dates) are never cut, the others
wrap, and the least needed are left out (and named) when the terminal is too narrow for
them. Every cell is plain text with no terminal control codes from the data.

The width comes from Rich's console (COLUMNS when set) and cells are measured with Rich's
`cell_len` (wide characters count double); the layout is done here, row by row, because
Rich's own Table measures every row before printing the first (10 ms a row on this
project's machine: minutes for a list of ten thousand)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import zip_longest

from rich.cells import cell_len
from rich.console import Console
from rich.control import strip_control_codes

GAP = 2  # spaces between columns
NARROWEST = 8  # a wrapped column narrower than this is unreadable: leave it out instead
WIDEST = 70  # a wrapped column wider than this reads badly even on a wide terminal


@dataclass(frozen=True)
class Col:
    title: str
    key: bool = False  # shown whole on one line, whatever the width (a ref, an id)
    justify: str = "left"
    drop: int = 0  # when the terminal is too narrow, the highest are left out first


def _cell(value: object) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return "".join(c if c.isprintable() else "?" for c in strip_control_codes(text))


def _widths(cols: Sequence[Col], shown: list[int], widest: dict[int, int],
            need: dict[int, int], width: int) -> dict[int, int]:
    """Key columns at their widest; the others share what is left, up to their widest."""
    out = {i: need[i] for i in shown}
    room = width - sum(out.values()) - GAP * (len(shown) - 1)
    wrapped = [i for i in shown if not cols[i].key]
    while room > 0:
        hungry = [i for i in wrapped if out[i] < min(widest[i], WIDEST)]
        if not hungry:
            break
        i = min(hungry, key=lambda i: out[i])  # widen the narrowest first: fair shares
        out[i] += 1
        room -= 1
    return out


def _pad(text: str, width: int, justify: str) -> str:
    space = " " * max(0, width - cell_len(text))
    return space + text if justify == "right" else text + space


def print_table(cols: Sequence[Col], rows: Iterable[Sequence[object]]) -> list[str]:
    """Print the rows as a table as wide as the terminal (COLUMNS when set); the titles of
    the columns left out to fit, if any."""
    data = [[_cell(v) for v in row] for row in rows]
    width = Console().width
    widest = {i: max([cell_len(col.title), *(cell_len(r[i]) for r in data)])
              for i, col in enumerate(cols)}
    need = {i: widest[i] if col.key else min(widest[i], max(NARROWEST, cell_len(col.title)))
            for i, col in enumerate(cols)}
    shown = list(range(len(cols)))

    def total() -> int:
        return sum(need[i] for i in shown) + GAP * (len(shown) - 1)

    for i in sorted((i for i in shown if cols[i].drop), key=lambda i: -cols[i].drop):
        if total() <= width:
            break
        shown.remove(i)
    # Never narrower than the key columns: a ref is never cut, even if the terminal wraps it.
    widths = _widths(cols, shown, widest, need, max(width, total()))

    def line(cells: Sequence[str]) -> str:
        return (" " * GAP).join(_pad(c, widths[i], cols[i].justify)
                                for i, c in zip(shown, cells, strict=True)).rstrip()

    print(line([cols[i].title for i in shown]))
    print("─" * (sum(widths.values()) + GAP * (len(shown) - 1)))
    for r in data:
        parts = [[r[i]] if cols[i].key or cell_len(r[i]) <= widths[i] else
                 textwrap.wrap(r[i], widths[i], break_on_hyphens=False) or [""]
                 for i in shown]
        for cells in zip_longest(*parts, fillvalue=""):
            print(line(cells))
    return [cols[i].title for i in range(len(cols)) if i not in shown]
