"""The digest chart: one horizontal stacked bar per unit, by status, as PNG bytes.

Matplotlib's object API with the Agg canvas (no pyplot state) and the DejaVu Sans font that
ships with matplotlib, so nothing is fetched and output is stable.

A national run draws tens of thousands of these, so a process keeps one figure per number
of bars and only changes its data; what costs is text (matplotlib lays out and rasterizes
every glyph of every label on each draw), so:

- the ticks, grid and labels are a few plain artists on a hidden axis, placed where
  matplotlib's own axis puts them (its tick locator chooses the ticks): the picture is the
  same pixels, without the axis machinery measuring every label twice per draw;
- the legend depends only on the language and the statuses shown, and sits in the top
  margin where nothing else is drawn: it is drawn once, and its rows of pixels are reused;
- the PNG is written as RGB (the figure is opaque) with light compression.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from io import BytesIO
from typing import Any

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
BAR_HEIGHT = 0.62
TICK_PAD = 3.5 + 3.5  # points from the axis to a tick label: matplotlib's tick length + pad
LABEL_PAD = 4.0  # points from the tick labels to the axis label (matplotlib's labelpad)
PNG_COMPRESSION = 3  # zlib level: ~the size of level 6 at half the time
SAME_CHARTS = 256  # charts remembered per process (leaders of the same unit share one)

_lock = threading.Lock()  # the web app draws from several threads; figures are not shared
_figures: dict[int, _Chart] = {}  # number of bars → its figure
_strips: dict[tuple, Any] = {}  # legend or axis label → its rows of pixels (False: draw it)
_recent: OrderedDict[tuple, bytes] = OrderedDict()


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
    key = (lang, tuple((name, tuple(sorted(counts.items()))) for name, counts in rows))
    with _lock:
        png = _recent.get(key)
        if png is None:
            chart = _figures.get(len(rows))
            if chart is None:
                chart = _figures[len(rows)] = _Chart(len(rows))
            png = chart.png(rows, lang)
            _recent[key] = png
            if len(_recent) > SAME_CHARTS:
                _recent.popitem(last=False)
        else:
            _recent.move_to_end(key)
    return png


class _Chart:
    """A figure for `n` bars, drawn again and again with other data."""

    def __init__(self, n: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.lines import TICKDOWN, TICKLEFT, Line2D
        from matplotlib.text import Text
        from matplotlib.ticker import AutoLocator
        from matplotlib.transforms import ScaledTranslation

        self.n = n
        self.height = 1.3 + 0.36 * n  # inches
        self.fig = fig = Figure(figsize=(WIDTH_IN, self.height), dpi=DPI)
        self.canvas = FigureCanvasAgg(fig)
        self.ax = ax = fig.add_subplot()
        self.y = list(range(n))
        self.bars: dict[str, Any] = {}  # status → its BarContainer, made when first shown
        self.lang: str | None = None

        # The axes as matplotlib draws them by default, but for the tick machinery.
        ax.xaxis.set_visible(False)
        ax.yaxis.set_visible(False)
        ax.tick_params(axis="x", labelsize=8)  # the locator spaces ticks for 8 pt labels
        self.locator = AutoLocator()
        self.locator.set_params(integer=True)
        self.locator.set_axis(ax.xaxis)
        span = n - 1 + BAR_HEIGHT  # the y range barh's autoscaling gives (5 % margins)
        ax.set_ylim(-BAR_HEIGHT / 2 - 0.05 * span, n - 1 + BAR_HEIGHT / 2 + 0.05 * span)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        xaxis = ax.get_xaxis_transform()  # x in data, y in axes coordinates
        self.grid = LineCollection([], colors="#e4e8ee", linewidths=0.6, zorder=0.5,
                                   transform=xaxis, capstyle="projecting")
        ax.add_collection(self.grid, autolim=False)
        marks = {"linestyle": "", "markersize": 3.5, "markeredgewidth": 0.8, "color": "black",
                 "clip_on": False, "zorder": 2.01}
        self.xmarks = Line2D([], [], marker=TICKDOWN, transform=xaxis, **marks)
        ax.add_artist(self.xmarks)
        ax.add_artist(Line2D([0] * n, self.y, marker=TICKLEFT,
                             transform=ax.get_yaxis_transform(), **marks))
        self.xtick_transform = ax.get_xaxis_text1_transform(TICK_PAD)[0]
        self.xticks: list[Text] = []
        ytick_transform = ax.get_yaxis_text1_transform(TICK_PAD)[0]
        self.names = [ax.text(0, yi, "", transform=ytick_transform, va="center_baseline",
                              ha="right", fontsize=8, family="DejaVu Sans", clip_on=False,
                              zorder=2.01) for yi in self.y]
        self.shares = [ax.text(0, yi, "", va="center", ha="left", fontsize=8,
                               color="#1f2933", family="DejaVu Sans") for yi in self.y]
        # The axis label goes under the tick labels, as far down as matplotlib puts it.
        probe = Text(0, 0, "0", fontsize=8, figure=fig)
        tick_h = probe.get_window_extent(self.canvas.get_renderer()).height
        below = ScaledTranslation(0, -(TICK_PAD + LABEL_PAD) / 72 - tick_h / DPI,
                                  fig.dpi_scale_trans)
        self.xlabel = ax.text(0.5, 0, "", transform=ax.transAxes + below, va="top",
                              ha="center", fontsize=7, family="DejaVu Sans", color="#52606d",
                              clip_on=False)

    def _container(self, code: str) -> Any:
        bars = self.bars.get(code)
        if bars is None:
            bars = self.bars[code] = self.ax.barh(
                self.y, [0] * self.n, height=BAR_HEIGHT, color=COLORS.get(code, "#CC79A7"),
                edgecolor="white", linewidth=0.6)
        return bars

    def _set_bars(self, data: list[dict[str, int]]) -> tuple[list[str], list[int]]:
        left = [0] * self.n
        codes = list(STATUS_ORDER) + sorted({c for d in data for c in d} - set(STATUS_ORDER))
        shown = []
        for code in codes:
            widths = [d.get(code, 0) for d in data]
            if not any(widths):
                continue
            shown.append(code)
            # Drawn in this order whatever order the containers were made in (bars touch:
            # the white edge of the later one is on top).
            zorder = 1 + len(shown) / 1000
            for patch, x0, w in zip(self._container(code).patches, left, widths, strict=True):
                patch.set_x(x0)
                patch.set_width(w)
                patch.set_visible(True)
                patch.set_zorder(zorder)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for code, bars in self.bars.items():  # statuses of an earlier chart, not in this one
            if code not in shown:
                for patch in bars.patches:
                    patch.set_visible(False)
        return shown, left

    def _set_xticks(self, xmax: float) -> None:
        locs = [x for x in self.locator.tick_values(0, xmax) if 0 <= x <= xmax]
        self.grid.set_segments([[(x, 0), (x, 1)] for x in locs])
        self.xmarks.set_data(locs, [0] * len(locs))
        while len(self.xticks) < len(locs):
            self.xticks.append(self.ax.text(0, 0, "", transform=self.xtick_transform,
                                            va="top", ha="center", fontsize=8,
                                            family="DejaVu Sans", clip_on=False,
                                            zorder=2.01))
        for i, label in enumerate(self.xticks):
            label.set_visible(i < len(locs))
            if i < len(locs):
                label.set_text(str(int(round(locs[i]))))
                label.set_x(locs[i])

    def png(self, rows: list[tuple[str, dict[str, int]]], lang: str) -> bytes:
        import numpy as np
        from PIL import Image

        names = [_label(name) for name, _ in rows][::-1]
        data = [counts for _, counts in rows][::-1]
        shown, totals = self._set_bars(data)
        for text, name in zip(self.names, names, strict=True):
            text.set_text(name)
        for text, d, total in zip(self.shares, data, totals, strict=True):
            base = total - d.get("not_actionable", 0)
            share = d.get("completed", 0) / base if base else 0.0
            text.set_text(f"  {int(share * 100)}%")
            text.set_x(total)
        if lang != self.lang:
            self.xlabel.set_text(translator(lang).gettext(
                "Recommendations (% at the end of a bar: completed)"))
            self.lang = lang
        # Fixed margins (not tight_layout): room for the names, and two rows of legend.
        longest = max(len(name) for name in names)
        left = min(0.45, (16 + 6.3 * longest) / (WIDTH_IN * DPI))
        self.fig.subplots_adjust(left=left, right=0.97, top=1 - 0.42 / self.height,
                                 bottom=0.55 / self.height)
        xmax = max(totals) * 1.15
        self.ax.set_xlim(0, xmax)
        self._set_xticks(xmax)

        # The legend (top rows) and the axis label (bottom rows) are the same pixels for
        # every chart of a language, statuses shown and left margin: drawn once, then copied.
        top_key, bottom_key = ("legend", lang, tuple(shown)), ("xlabel", lang, left)
        top, bottom = _strips.get(top_key), _strips.get(bottom_key)
        legend = None if isinstance(top, np.ndarray) else self.fig.legend(
            [self.bars[c] for c in shown], [status_label(c, lang) for c in shown],
            loc="upper center", ncol=3, frameon=False, prop={"family": "DejaVu Sans", "size": 7},
            handlelength=1.2, columnspacing=1.0, borderaxespad=0.2)
        self.xlabel.set_visible(not isinstance(bottom, np.ndarray))
        self.canvas.draw()
        pixels = np.asarray(self.canvas.buffer_rgba())
        height = pixels.shape[0]
        if legend is None:
            pixels[:len(top)] = top
        else:
            if top is None:  # kept if nothing else is ever drawn in its rows (the top margin)
                rows = int(height - legend.get_window_extent().y0) + 2
                axes_top = int(height * (1 - self.ax.get_position().y1))
                _strips[top_key] = pixels[:rows].copy() if rows < axes_top - 1 else False
            legend.remove()
        if isinstance(bottom, np.ndarray):
            pixels[height - len(bottom):] = bottom
        elif bottom is None:  # kept if it is below the tick labels' lowest row
            first = int(height - self.xlabel.get_window_extent().y1) - 1
            ticks_end = height - self.xticks[0].get_window_extent().y0
            _strips[bottom_key] = pixels[first:].copy() if ticks_end < first - 1 else False
        buf = BytesIO()
        # RGB: the figure is opaque. No timestamps or version: the same data, the same bytes.
        Image.frombuffer("RGBA", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGBA", 0,
                         1).convert("RGB").save(buf, format="png", dpi=(DPI, DPI),
                                                compress_level=PNG_COMPRESSION)
        return buf.getvalue()
