"""The digest chart: one horizontal stacked bar per unit, by status, as PNG bytes.

Matplotlib's object API with the Agg canvas (no pyplot state) and the DejaVu Sans font that
ships with matplotlib, so nothing is fetched and output is stable.

A national run draws tens of thousands of these. Matplotlib draws the bars, grid, ticks and
spines of each; what costs is text (matplotlib 3.11 lays out and rasterizes every glyph of
every label on every draw, ~2 ms for a unit's name), and the same texts come back chart
after chart. So a process keeps one figure per number of bars and only changes its data:

- the ticks, grid and tick marks are a few plain artists on a hidden axis, placed where
  matplotlib's own axis puts them (its tick locator chooses the ticks), without the axis
  machinery measuring every label twice per draw;
- the legend (language, statuses shown) and the axis label (language, left margin) sit in
  margins where nothing else is drawn: drawn once, their rows of pixels are copied;
- labels (tick numbers, percentages, unit names) are drawn by matplotlib once each, on
  white at a whole pixel, and their pixels put in place (darkest wins, so grid lines stay):
  a label lands within half a pixel of where matplotlib would draw it;
- the PNG is written as RGB (the figure is opaque) with light compression.

tests/test_digest_chart.py compares the result with a new figure drawn the plain way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from io import BytesIO
from typing import Any

from tindak.i18n import status_label, translator
from tindak.mailmodel import UnitCount
from tindak.rates import implementation_rate

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
SAME_LABELS = 2048  # labels remembered per process (<10 kB each): numbers, unit names

_lock = threading.Lock()  # the web app draws from several threads; figures are not shared
_figures: dict[int, _Chart] = {}  # number of bars → its figure
_strips: dict[tuple, Any] = {}  # legend or axis label → its rows of pixels (False: draw it)
_recent: OrderedDict[tuple, bytes] = OrderedDict()
_labels: OrderedDict[tuple[str, str], tuple[Any, int, int]] = OrderedDict()  # see _paste


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


def _label(name: str, limit: int = 28, lines: int = 3) -> str:
    """A unit's name on up to `lines` lines of `limit` characters, broken between words:
    never cut, unless longer than the lines hold (a bar is 36 px apart: three 8 pt lines)."""
    import textwrap

    parts = textwrap.wrap(" ".join(name.split()), limit, break_long_words=True) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: limit - 1] + "…"
    return "\n".join(parts)


def _longest_line(names: Sequence[str]) -> int:
    return max(len(line) for name in names for line in name.split("\n"))


# How each kind of repeated label is drawn: (horizontal, vertical alignment, colour).
LABELS = {"tick": ("center", "top", "black"), "share": ("left", "center", "#1f2933"),
          "name": ("right", "center_baseline", "black")}


def _label_pixels(kind: str, text: str) -> tuple[Any, int, int]:
    """A label as matplotlib draws it on white, anchored at a whole pixel: its pixels (the box
    of its ink) and their offset from the anchor. Tick labels and percentages are a few
    hundred strings drawn again and again: each is laid out and rasterized once a process."""
    hit = _labels.get((kind, text))
    if hit is not None:
        _labels.move_to_end((kind, text))
    else:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.transforms import IdentityTransform

        ha, va, color = LABELS[kind]
        fig = Figure(figsize=(4, 0.6), dpi=DPI)
        canvas = FigureCanvasAgg(fig)
        anchor_x, anchor_y = {"left": 10, "center": 200, "right": 390}[ha], 30
        fig.text(anchor_x, anchor_y, text, transform=IdentityTransform(), ha=ha, va=va,
                 color=color, fontsize=8, family="DejaVu Sans")
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
        rows, cols = np.nonzero((pixels[..., :3] < 255).any(axis=2))
        if not len(rows):
            hit = (pixels[:0, :0].copy(), 0, 0)
        else:
            top, left = int(rows.min()), int(cols.min())
            hit = (pixels[top:rows.max() + 1, left:cols.max() + 1].copy(), left - anchor_x,
                   top - (pixels.shape[0] - anchor_y))
        _labels[(kind, text)] = hit
        if len(_labels) > SAME_LABELS:
            _labels.popitem(last=False)
    return hit


def _paste(pixels: Any, kind: str, text: str, x: float, y: float) -> int:
    """Put a label whose anchor is at display point (x, y) (the nearest whole pixel) on the
    chart's pixels, over what is there (light grid lines stay); the row below its ink."""
    import numpy as np

    label, dx, dy = _label_pixels(kind, text)
    height, width = pixels.shape[:2]
    top, left = height - round(y) + dy, round(x) + dx
    h, w = label.shape[:2]
    r0, r1, c0, c1 = max(top, 0), min(top + h, height), max(left, 0), min(left + w, width)
    if r0 < r1 and c0 < c1:
        area = pixels[r0:r1, c0:c1]
        np.minimum(area, label[r0 - top:r1 - top, c0 - left:c1 - left], out=area)
    return top + h


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
        from matplotlib.lines import Line2D
        from matplotlib.markers import TICKDOWN, TICKLEFT, MarkerStyle
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

        def marks(x: list[int], y: list[int], marker: int, transform: Any) -> Line2D:
            return Line2D(x, y, marker=MarkerStyle(marker), transform=transform, linestyle="",
                          markersize=3.5, markeredgewidth=0.8, color="black", clip_on=False,
                          zorder=2.01)

        self.xmarks = marks([], [], TICKDOWN, xaxis)
        ax.add_artist(self.xmarks)
        ax.add_artist(marks([0] * n, self.y, TICKLEFT, ax.get_yaxis_transform()))
        self.xtick_transform = ax.get_xaxis_text1_transform(TICK_PAD)[0]
        self.ytick_transform = ax.get_yaxis_text1_transform(TICK_PAD)[0]
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

    def _set_xticks(self, xmax: float) -> list[float]:
        locs = [x for x in self.locator.tick_values(0, xmax) if 0 <= x <= xmax]
        self.grid.set_segments([[(x, 0), (x, 1)] for x in locs])
        self.xmarks.set_data(locs, [0] * len(locs))
        return locs

    def png(self, rows: list[tuple[str, dict[str, int]]], lang: str) -> bytes:
        import numpy as np
        from PIL import Image

        names = [_label(name) for name, _ in rows][::-1]
        data = [counts for _, counts in rows][::-1]
        shown, totals = self._set_bars(data)
        if lang != self.lang:
            self.xlabel.set_text(translator(lang).gettext(
                "Recommendations (% at the end of a bar: completed)"))
            self.lang = lang
        # Fixed margins (not tight_layout): room for the names, and two rows of legend.
        longest = _longest_line(names)
        left = min(0.45, (16 + 6.3 * longest) / (WIDTH_IN * DPI))
        self.fig.subplots_adjust(left=left, right=0.97, top=1 - 0.42 / self.height,
                                 bottom=0.55 / self.height)
        xmax = max(totals) * 1.15
        self.ax.set_xlim(0, xmax)
        locs = self._set_xticks(xmax)

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
            assert isinstance(top, np.ndarray)  # the legend's kept rows: it was not drawn
            pixels[:len(top)] = top
        else:
            if top is None:  # kept if nothing else is ever drawn in its rows (the top margin)
                legend_rows = int(height - legend.get_window_extent().y0) + 2
                axes_top = int(height * (1 - self.ax.get_position().y1))
                _strips[top_key] = (pixels[:legend_rows].copy() if legend_rows < axes_top - 1
                                    else False)
            legend.remove()
        # The labels: ticks' (on white, below the axis), each bar's share of completed items
        # and each bar's unit name (left of the axis).
        ticks_end = 0
        for loc, (x, y) in zip(locs, self.xtick_transform.transform([(v, 0) for v in locs]),
                               strict=True):
            ticks_end = max(ticks_end, _paste(pixels, "tick", str(int(round(loc))), x, y))
        ends = self.ax.transData.transform([(t, yi) for t, yi in zip(totals, self.y,
                                                                     strict=True)])
        for d, (x, y) in zip(data, ends, strict=True):
            share = implementation_rate(d)
            _paste(pixels, "share", f"  {int(share * 100)}%", x, y)
        starts = self.ytick_transform.transform([(0, yi) for yi in self.y])
        for name, (x, y) in zip(names, starts, strict=True):
            _paste(pixels, "name", name, x, y)
        if isinstance(bottom, np.ndarray):
            pixels[height - len(bottom):] = bottom
        elif bottom is None:  # kept if it is below the tick labels' lowest row
            first = int(height - self.xlabel.get_window_extent().y1) - 1
            _strips[bottom_key] = pixels[first:].copy() if ticks_end < first - 1 else False
        buf = BytesIO()
        # RGB: the figure is opaque. No timestamps or version: the same data, the same bytes.
        Image.frombuffer("RGBA", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGBA", 0,
                         1).convert("RGB").save(buf, format="png", dpi=(DPI, DPI),
                                                compress_level=PNG_COMPRESSION)
        return buf.getvalue()
