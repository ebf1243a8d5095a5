"""Charts as server-side SVG: no script, nothing from a CDN, readable at any width (viewBox scales)."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito), then greys.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999",
           "#666666"]
SEVERITY_COLOURS = {"low": "#9ecae1", "medium": "#4292c6", "high": "#E69F00", "critical": "#D55E00"}


def _legend(names: list[str], colours: dict[str, str], labels: dict[str, str], y: float,
            width: float) -> tuple[str, float]:
    out, x, row = [], 0.0, 0
    for name in names:
        text = labels.get(name, name)
        w = 34 + 10.5 * max(len(text), 2) + (7 * sum(1 for ch in text if ord(ch) > 0x2E80))
        if x + w > width and x > 0:
            x, row = 0.0, row + 1
        yy = y + 6 + row * 24
        out.append(f'<rect x="{x:.0f}" y="{yy - 13:.0f}" width="16" height="16" fill="{colours[name]}"/>'
                   f'<text x="{x + 21:.0f}" y="{yy:.0f}" class="lg">{escape(text)}</text>')
        x += w
    return "".join(out), (row + 1) * 24 + 6


def stacked_bars(buckets: list[str], series: dict[str, list[int]], labels: dict[str, str] | None = None,
                 colours: dict[str, str] | None = None, title: str = "") -> Markup:
    """One bar per bucket, stacked by series; the bucket's total above it."""
    labels = labels or {}
    names = [n for n in series if any(series[n])]
    colours = colours or {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(series)}
    width, height, left, bottom, top = 720.0, 260.0, 44.0, 40.0, 18.0
    totals = [sum(series[n][i] for n in names) for i in range(len(buckets))]
    peak = max(totals, default=0) or 1
    step = (width - left) / max(len(buckets), 1)
    bar = step * 0.7
    parts = []
    for frac in (0, 0.5, 1):
        y = top + (height - top - bottom) * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">{round(peak * frac)}</text>')
    for i, b in enumerate(buckets):
        x = left + i * step + (step - bar) / 2
        y = height - bottom
        for n in names:
            v = series[n][i]
            if not v:
                continue
            h = (height - top - bottom) * v / peak
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colours[n]}">'
                         f'<title>{escape(b)} {escape(labels.get(n, n))}: {v}</title></rect>')
        if totals[i]:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" class="ax" text-anchor="middle">'
                         f'{totals[i]}</text>')
        if len(buckets) <= 14 or i % 2 == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16:.1f}" class="ax" '
                         f'text-anchor="middle">{escape(b[5:] if len(b) == 10 else b)}</text>')
    legend, legend_h = _legend(names, colours, labels, height + 4, width)
    total_h = height + legend_h + 6
    return Markup(f'<svg class="chart" viewBox="0 0 {width:.0f} {total_h:.0f}" role="img" '
                  f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}{legend}</svg>')


def share_bars(rows: list[tuple[str, float | None, str]], title: str = "", colour: str = "#0072B2") -> Markup:
    """Horizontal bars of shares (0-1): one row per (label, share or None, note)."""
    width, row_h, left, right = 720.0, 30.0, 400.0, 110.0
    height = row_h * max(len(rows), 1) + 8
    parts = []
    for i, (label, share, note) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 19:.0f}" class="lb" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 5:.0f}" width="{width - left - right:.0f}" height="18" '
                     f'class="track"/>')
        if share is not None:
            w = (width - left - right) * max(0.0, min(1.0, share))
            fill = colour if share >= 0.9 else ("#E69F00" if share >= 0.7 else "#D55E00")
            parts.append(f'<rect x="{left}" y="{y + 5:.0f}" width="{w:.1f}" height="18" fill="{fill}"/>'
                         f'<text x="{width - right + 8}" y="{y + 19:.0f}" class="lb">{share * 100:.0f}% '
                         f'{escape(note)}</text>')
        else:
            parts.append(f'<text x="{width - right + 8}" y="{y + 19:.0f}" class="ax">— {escape(note)}</text>')
    return Markup(f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
                  f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>')
