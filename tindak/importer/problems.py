"""Where a row is (`At`) and every error found in the files (`Problems`), listed in file
order, counted beyond the first MAX_ERRORS without being kept."""

from __future__ import annotations

import operator
from typing import NamedTuple

from tindak.errors import N_, ImportFailed, Msg
from tindak.importer.columns import COLUMNS

MAX_ERRORS = 1_000  # errors listed; beyond that they are counted, not kept


class At(NamedTuple):
    """Where a row is, as the user sees it."""

    label: str  # FILE, or FILE[sheet] for a workbook
    row: int  # header = 1
    order: int  # position of the sheet among all those read, to list errors in order

    def __str__(self) -> str:
        return f"{self.label}:{self.row}"


class Problems:
    """Every error found, listed in file order as `FILE:ROW: column: reason`.

    All are counted; only the first MAX_ERRORS (in file order) are kept, so that a file
    wrong on every one of a million rows does not fill the memory with messages.
    """

    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int, int, int], Msg]] = []
        self.total = 0

    def _keep(self, key: tuple[int, int, int, int], text: Msg) -> None:
        self.total += 1
        self._items.append((key, text))
        if len(self._items) >= 2 * MAX_ERRORS:
            self._items.sort()
            del self._items[MAX_ERRORS:]

    def add(self, at: At, column: str, reason: Msg | str, kind: str = "") -> None:
        cols = COLUMNS.get(kind, ())
        pos = cols.index(column) if column in cols else -1
        self._keep((at.order, at.row, pos, self.total),
                   Msg("%(where)s: %(column)s: %(reason)s", where=str(at), column=column,
                       reason=reason))

    def file(self, label: str, order: int, reason: Msg | str) -> None:
        self._keep((order, 0, -1, self.total),
                   Msg("%(where)s: %(reason)s", where=label, reason=reason))

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[Msg]:
        """The errors as lines to word in the reader's language (`str()` gives English)."""
        out = [text for _, text in sorted(self._items, key=operator.itemgetter(0))
               [:MAX_ERRORS]]
        if self.total > len(out):
            out.append(Msg(N_("… and %(count)s more error(s), not listed: correct these "
                              "first"), count=self.total - len(out)))
        return out

    def refusal(self) -> ImportFailed:
        lines: list[object] = list(self.lines())  # ImportFailed takes any line, not only Msg
        return ImportFailed(lines, count=self.total)
