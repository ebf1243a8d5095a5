"""PNG charts for the complaint report.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: pyplot keeps every figure in a
process-wide registry (and picks a GUI backend if it finds a screen), so a long-running process or a test run
drawing many reports would collect open figures and warnings; a plain ``Figure`` is freed like any object.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from complaint_triage.batch.report import DIMENSION_TITLES, DIMENSIONS, Dimension, Report
from complaint_triage.contract import SEVERITIES

MAX_TICK_LABELS = 24
TOTALS_UP_TO = 26
DPI = 110
# Ordered scales read best as a ramp from calm to alarming; the rest are categories and get distinct hues.
_RAMP = ["#4c9f70", "#e3b23c", "#e07a3f", "#c0392b"]


def _colors(dim: Dimension, values: list[str]) -> list:
    """A severity keeps its colour whichever other severities a file happens to contain."""
    ramp = {"severity": SEVERITIES, "escalation": ("0", "1", "2", "3")}.get(dim)
    if ramp and all(v in ramp for v in values):
        return [_RAMP[ramp.index(v)] for v in values]
    cmap = colormaps["tab10" if len(values) <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(len(values))]


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    return path


def stacked_bars(report: Report, dim: Dimension, path: Path) -> Path:
    n = len(report.periods)
    cols = report.columns(dim)
    fig = Figure(figsize=(min(18.0, max(6.0, 2.5 + 0.32 * n)), 4.2))
    ax = fig.add_subplot()
    xs = list(range(n))
    bottoms = [0] * n
    for value, color in zip(cols, _colors(dim, cols)):
        heights = [p.counts.by[dim][value] for p in report.periods]
        ax.bar(xs, heights, bottom=bottoms, width=0.8, color=color, label=report.column_label(dim, value),
               edgecolor="white", linewidth=0.4)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    if 0 < n <= TOTALS_UP_TO:
        for x, total in zip(xs, bottoms):
            if total:
                ax.annotate(str(total), (x, total), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7)
    step = max(1, math.ceil(n / MAX_TICK_LABELS))
    ax.set_xticks(xs[::step], [report.period_label(p) for p in report.periods][::step],
                  rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center", fontsize=8)
    pad = max(0.0, (4 - n) / 2)  # one or two bars stay bar-shaped instead of filling the axes
    ax.set_xlim(-0.7 - pad, n - 0.3 + pad)
    ax.set_ylim(0, max([*bottoms, 1]) * 1.12)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("complaints")
    ax.set_xlabel("week starting" if report.period == "week" else "month")
    ax.set_title(f"{DIMENSION_TITLES[dim]} per {report.period}")
    ax.spines[["top", "right"]].set_visible(False)
    if cols:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
                  reverse=True)
    return _save(fig, path)


def signal_bars(report: Report, path: Path) -> Path:
    top = report.signals.most_common()
    fig = Figure(figsize=(7.0, max(2.2, 0.6 + 0.38 * len(top))))
    ax = fig.add_subplot()
    ax.set_title("Signals in the complaints (complaints with the flag set)")
    if not top:
        ax.text(0.5, 0.5, "no signal flag was set", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _save(fig, path)
    names = [s for s, _ in top][::-1]
    counts = [c for _, c in top][::-1]
    bars = ax.barh(names, counts, color="#3b6ea5", height=0.65)
    ax.bar_label(bars, [f"{c} ({100 * c / report.rows:.0f} %)" for c in counts], padding=3, fontsize=8)
    ax.set_xlim(0, max(counts) * 1.25)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("complaints")
    ax.tick_params(axis="y", labelsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def write_charts(report: Report, out_dir: Path) -> dict[str, Path]:
    """Keys are the dimensions plus "signals"; file names are stable so a re-run overwrites its own charts."""
    charts = {dim: stacked_bars(report, dim, out_dir / f"{dim}.png") for dim in DIMENSIONS}
    charts["signals"] = signal_bars(report, out_dir / "signals.png")
    return charts
