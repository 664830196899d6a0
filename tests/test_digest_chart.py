"""The digest chart, drawn on a reused figure with its legend, axis label and labels drawn
once and copied, is the picture matplotlib draws on a new figure with its own axes, legend
and labels: the same pixels but for labels placed on the nearest whole pixel."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from tindak import charts
from tindak.charts import (
    COLORS,
    DPI,
    STATUS_ORDER,
    WIDTH_IN,
    _label,
    _longest_line,
    _rows,
    digest_chart,
)
from tindak.i18n import status_label, translator
from tindak.mailmodel import UnitCount


def plain_chart(per_unit, lang: str) -> bytes:  # type: ignore[no-untyped-def]
    """The chart drawn the plain way: a new figure, barh, set_yticks, the axis's own ticks
    and label, fig.legend, savefig."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _rows(per_unit, lang)
    n = len(rows)
    height = 1.3 + 0.36 * n
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = [_label(name) for name, _ in rows][::-1]
    data = [counts for _, counts in rows][::-1]
    y = list(range(n))
    left = [0] * n
    codes = list(STATUS_ORDER) + sorted({c for d in data for c in d} - set(STATUS_ORDER))
    for code in codes:
        widths = [d.get(code, 0) for d in data]
        if any(widths):
            ax.barh(y, widths, left=left, height=0.62, color=COLORS.get(code, "#CC79A7"),
                    label=status_label(code, lang), edgecolor="white", linewidth=0.6)
            left = [a + b for a, b in zip(left, widths, strict=True)]
    for yi, d, total in zip(y, data, left, strict=True):
        base = total - d.get("not_actionable", 0)
        share = d.get("completed", 0) / base if base else 0.0
        ax.text(total, yi, f"  {int(share * 100)}%", va="center", ha="left", fontsize=8,
                color="#1f2933", family="DejaVu Sans")
    ax.set_yticks(y, names, fontsize=8, family="DejaVu Sans")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlim(0, max(left) * 1.15)
    ax.xaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e4e8ee", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(translator(lang).gettext("Recommendations (% at the end of a bar: completed)"),
                  fontsize=7, family="DejaVu Sans", color="#52606d")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False,
               prop={"family": "DejaVu Sans", "size": 7}, handlelength=1.2,
               columnspacing=1.0, borderaxespad=0.2)
    longest = _longest_line(names)
    fig.subplots_adjust(left=min(0.45, (16 + 6.3 * longest) / (WIDTH_IN * DPI)), right=0.97,
                        top=1 - 0.42 / height, bottom=0.55 / height)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(png)).convert("RGB"))


def cases() -> list[tuple[list[UnitCount], str]]:
    """Charts one after another on the same figures: bars, statuses, names, languages and
    scales that differ from one chart to the next."""
    full = {"completed": 9, "awaiting_verification": 4, "in_progress": 30, "open": 41,
            "not_actionable": 3}
    out = [
        ([UnitCount("Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", full)], "id"),
        ([UnitCount("RSUD", {"open": 2})], "id"),
        ([UnitCount("RSUD", {"open": 2, "weird": 1})], "en"),  # a status of its own colour
        ([UnitCount("Satu", {"completed": 1})], "id"),
        ([UnitCount(f"Unit kerja {i} dengan nama yang sangat panjang sekali",
                    {"open": i, "in_progress": 2, "completed": 3}) for i in range(30)], "id"),
        ([UnitCount("A", {"open": 4000, "completed": 12000}),
          UnitCount("Dinas Kesehatan", {"in_progress": 7})], "en"),
        ([UnitCount(f"Dinas {i}", {"open": 3 * i + 1, "not_actionable": i % 2}) for i in
          range(7)], "id"),
        ([UnitCount("Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", full)], "en"),
        ([UnitCount("RSUD", {"open": 2})], "id"),
    ]
    return out


def blurred(image: np.ndarray) -> np.ndarray:
    """Each pixel the mean of its 3×3 neighbourhood: a label moved by less than a pixel
    changes little; a label missing, another number or a bar of another length, much."""
    padded = np.pad(image.astype(float), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    return sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9


def test_the_chart_is_the_picture_of_a_new_figure():
    for per_unit, lang in cases():
        png = digest_chart(per_unit, lang)
        assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
        ours, plain = pixels(png), pixels(plain_chart(per_unit, lang))
        assert ours.shape == plain.shape
        # Labels sit within half a pixel of matplotlib's place: ~70 at most after the blur;
        # one tick label left out gives ~120.
        assert np.abs(blurred(ours) - blurred(plain)).max() < 90, per_unit
        # The rest is the same pixels (names wrapped on up to three lines are more text
        # placed within half a pixel: a twelve-bar chart differs in ~6.5 % of its pixels).
        assert (ours != plain).any(axis=2).mean() < 0.08
        legend_rows = 22  # (at least one row of legend; the top margin has nothing else)
        assert np.array_equal(ours[:legend_rows], plain[:legend_rows])


def test_a_missing_label_is_seen():
    per_unit, lang = cases()[0]
    ours, plain = pixels(digest_chart(per_unit, lang)).copy(), pixels(plain_chart(per_unit,
                                                                                  lang))
    h = ours.shape[0]
    ours[h - 45:h - 30, 180:200] = 255  # the "0" under the axis
    assert np.abs(blurred(ours) - blurred(plain)).max() > 100


def test_a_chart_does_not_depend_on_the_charts_drawn_before(monkeypatch):
    first = [digest_chart(p, lang) for p, lang in cases()]
    for name in ("_figures", "_strips", "_recent", "_labels"):  # a process new to charts
        monkeypatch.setattr(charts, name, type(getattr(charts, name))())
    assert [digest_chart(p, lang) for p, lang in reversed(cases())] == first[::-1]
    monkeypatch.setattr(charts, "SAME_CHARTS", 0)  # every chart drawn again, none remembered
    assert [digest_chart(p, lang) for p, lang in cases()] == first


def test_nothing_to_draw_is_no_chart():
    assert digest_chart([]) is None
    assert digest_chart([UnitCount("Kosong", {}), UnitCount("Nol", {"open": 0})]) is None


def test_long_unit_names_are_wrapped_never_cut():
    name = "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu"
    label = _label(name)
    assert "…" not in label and label.replace("\n", " ") == name
    assert all(len(line) <= 28 for line in label.split("\n"))
