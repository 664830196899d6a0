"""The digest chart: one horizontal stacked bar per unit, by status, as PNG bytes.

Matplotlib's object API with the Agg canvas (no pyplot state, safe in threads) and the
DejaVu Sans font that ships with matplotlib, so nothing is fetched and output is stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

from tindak.i18n import status_label, translator
from tindak.mailmodel import UnitCount

STATUS_ORDER = ("completed", "awaiting_verification", "in_progress", "open", "not_actionable")
# Colour-blind-safe (Okabe–Ito), green for done through grey for closed without action.
COLORS = {
    "completed": "#009E73",
    "awaiting_verification": "#56B4E9",
    "in_progress": "#E69F00",
    "open": "#D55E00",
    "not_actionable": "#999999",
}
MAX_UNITS = 12  # more units than this are summed into one "other units" bar
WIDTH_IN, DPI = 5.52, 100  # 552 px: the content width of the 600 px mail layout


def _rows(per_unit: Sequence[UnitCount], lang: str) -> list[tuple[str, dict[str, int]]]:
    rows = [(u.unit_name, dict(u.counts)) for u in per_unit if sum(u.counts.values()) > 0]
    if len(rows) > MAX_UNITS:
        rows.sort(key=lambda r: -sum(r[1].values()))
        rest: dict[str, int] = {}
        for _name, counts in rows[MAX_UNITS - 1:]:
            for code, n in counts.items():
                rest[code] = rest.get(code, 0) + n
        other = translator(lang).ngettext(
            "%(num)d other unit", "%(num)d other units", len(rows) - MAX_UNITS + 1
        ) % {"num": len(rows) - MAX_UNITS + 1}
        rows = rows[: MAX_UNITS - 1] + [(other, rest)]
    return rows


def _label(name: str, limit: int = 28) -> str:
    name = " ".join(name.split())
    return name if len(name) <= limit else name[: limit - 1] + "…"


def digest_chart(per_unit: Sequence[UnitCount], lang: str = "id") -> bytes | None:
    """PNG bytes of the chart, or None when there is nothing to draw."""
    rows = _rows(per_unit, lang)
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(rows)
    fig = Figure(figsize=(WIDTH_IN, 1.3 + 0.36 * n), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = [_label(name) for name, _ in rows][::-1]
    data = [counts for _, counts in rows][::-1]
    y = list(range(n))
    left = [0] * n
    codes = list(STATUS_ORDER) + sorted({c for d in data for c in d} - set(STATUS_ORDER))
    for code in codes:
        widths = [d.get(code, 0) for d in data]
        if not any(widths):
            continue
        ax.barh(y, widths, left=left, height=0.62, color=COLORS.get(code, "#CC79A7"),
                label=status_label(code, lang), edgecolor="white", linewidth=0.6)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    totals = left
    for yi, d, total in zip(y, data, totals, strict=True):
        base = total - d.get("not_actionable", 0)
        share = d.get("completed", 0) / base if base else 0.0
        ax.text(total, yi, f"  {int(share * 100)}%", va="center", ha="left", fontsize=8,
                color="#1f2933", family="DejaVu Sans")
    ax.set_yticks(y, names, fontsize=8, family="DejaVu Sans")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlim(0, max(totals) * 1.15)
    ax.xaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e4e8ee", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(translator(lang).gettext("Recommendations (% at the end of a bar: completed)"),
                  fontsize=7, family="DejaVu Sans", color="#52606d")
    handles, labels = ax.get_legend_handles_labels()
    top = 1 - 0.42 / (1.3 + 0.36 * n)  # room for the legend: two rows of 7 pt text
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False,
               prop={"family": "DejaVu Sans", "size": 7}, handlelength=1.2,
               columnspacing=1.0, borderaxespad=0.2)
    # Fixed margins (not tight_layout): one layout pass less keeps a chart well under 150 ms.
    longest = max(len(name) for name in names)
    height = 1.3 + 0.36 * n
    fig.subplots_adjust(left=min(0.45, (16 + 6.3 * longest) / (WIDTH_IN * DPI)), right=0.97,
                        top=top, bottom=0.55 / height)
    buf = BytesIO()
    # No timestamps or version in the file: the same data gives the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
