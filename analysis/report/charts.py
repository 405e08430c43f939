"""Small inline SVG charts of the clinic pages, drawn from released rows (no file, no script).

SVG text scales with the page, stays sharp, weighs a few kilobytes and needs nothing outside the
HTML file. Colours are Okabe-Ito (:data:`analysis.figures.theme.PALETTE` order); flagged
providers are vermillion with a filled diamond, others blue circles, so colour is never the only
cue. Suppressed or missing values are not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

BLUE, VERMILLION, GREY, INK = "#0072B2", "#D55E00", "#777777", "#1a1a1a"


@dataclass(frozen=True)
class Interval:
    """One row of a caterpillar plot: a label, an estimate with its interval, and a mark."""

    label: str
    value: float
    lower: float
    upper: float
    flagged: bool = False


def _finite(*xs: float) -> bool:
    return all(isinstance(x, int | float) and math.isfinite(x) and x > 0 for x in xs)


def caterpillar_svg(
    rows: Sequence[Interval],
    *,
    title: str,
    reference_label: str,
    multiplier: float,
    width: int = 560,
) -> str:
    """Rate ratios (log scale) with their intervals, one row per provider, with the reference
    the flag uses drawn: 1 (the reference itself) and ``multiplier`` times it (dashed).

    Returns an ``<svg>`` element (text); an empty string if no row can be drawn.
    """
    rows = [r for r in rows if _finite(r.value, r.lower, r.upper)]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda r: r.value)
    left, right, top, step = 150, 20, 34, 18
    height = top + step * len(rows) + 34
    lo = min(min(r.lower for r in rows), 1 / multiplier, 0.5)
    hi = max(max(r.upper for r in rows), multiplier * 1.25, 2.0)
    span = math.log(hi) - math.log(lo)

    def x(v: float) -> float:
        return left + (width - left - right) * (math.log(v) - math.log(lo)) / span

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" font-weight="bold" fill="{INK}">{escape(title)}</text>',
    ]
    bottom = top + step * len(rows)
    for value, dash, text in (
        (1.0, "", reference_label),
        (multiplier, "5,4", f"{multiplier:g}× {reference_label}"),
    ):
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top - 8}" y2="{bottom}" '
            f'stroke="{GREY}" stroke-dasharray="{dash}"/>'
            f'<text x="{x(value):.1f}" y="{top - 11}" text-anchor="middle" fill="{GREY}" '
            f'font-size="11">{escape(text)}</text>'
        )
    for k, r in enumerate(rows):
        y = top + step * k + step / 2
        colour = VERMILLION if r.flagged else BLUE
        mark = (
            f'<path d="M{x(r.value):.1f},{y - 5:.1f} l5,5 l-5,5 l-5,-5 z" fill="{colour}"/>'
            if r.flagged
            else f'<circle cx="{x(r.value):.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(r.label)}{' (flagged)' if r.flagged else ''}</text>"
            f'<line x1="{x(r.lower):.1f}" x2="{x(r.upper):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="2"/>{mark}'
        )
    for tick in _ticks(lo, hi):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle" fill="{INK}" '
            f'font-size="11">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{bottom + 30}" text-anchor="middle" '
        f'fill="{INK}" font-size="11">rate ÷ {escape(reference_label)} (log scale; line: 95% '
        "credible interval)</text></svg>"
    )
    return "".join(parts)


def _ticks(lo: float, hi: float) -> list[float]:
    candidates = [0.1, 0.2, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 16]
    return [t for t in candidates if lo <= t <= hi]


@dataclass(frozen=True)
class Series:
    """A line of a trend chart: label, values per x position (None: not drawn), dashed or not,
    and optionally an interval per x position drawn as a shaded band (``lower`` and ``upper``;
    drawn where both and the value are finite); ``marked`` draws a dot at every value."""

    label: str
    values: Sequence[float | None]
    dashed: bool = False
    colour: str = BLUE
    lower: Sequence[float | None] | None = None
    upper: Sequence[float | None] | None = None
    marked: bool = False


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _runs(keep: Sequence[bool]) -> list[list[int]]:
    """Maximal runs of consecutive positions where ``keep`` is true."""
    runs: list[list[int]] = []
    for k, ok in enumerate(keep):
        if not ok:
            continue
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def trend_svg(
    xs: Sequence[str], series: Sequence[Series], *, title: str, y_label: str, width: int = 560
) -> str:
    """Lines over quarters (category axis), one per series, with a legend in words; a series
    with ``lower``/``upper`` gets a shaded band (a single position: a vertical bar)."""
    values = [v for s in series for v in (*s.values, *(s.upper or ()))]
    points = [v for v in values if v is not None and math.isfinite(v)]
    if not points or len(xs) < 2:
        return ""
    left, right, top, height = 44, 12, 40, 200
    bottom = height - 40
    hi = max(points) * 1.1 or 1.0

    def px(k: int) -> float:
        return left + (width - left - right) * k / (len(xs) - 1)

    def py(v: float) -> float:
        return bottom - (bottom - top) * v / hi

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" font-weight="bold" fill="{INK}">{escape(title)}</text>',
        f'<line x1="{left}" x2="{width - right}" y1="{bottom}" y2="{bottom}" stroke="{GREY}"/>',
        f'<text x="0" y="{top - 8}" fill="{INK}" font-size="11">{escape(y_label)}</text>',
    ]
    for v in (0, hi / 2, hi / 1.1):
        parts.append(
            f'<text x="{left - 4}" y="{py(v) + 4:.1f}" text-anchor="end" fill="{INK}" '
            f'font-size="11">{v:.0f}</text>'
        )
    every = max(1, math.ceil(len(xs) / 6))
    for k, label in enumerate(xs):
        if k % every == 0:
            parts.append(
                f'<text x="{px(k):.1f}" y="{bottom + 16}" text-anchor="middle" fill="{INK}" '
                f'font-size="11">{escape(label)}</text>'
            )
    for s in series:
        parts += _band(s, px, py)
    legend_x = left
    for s in series:
        segments: list[list[str]] = []
        current: list[str] = []
        for k, value in enumerate(s.values):
            if value is None or not math.isfinite(value):
                if current:
                    segments.append(current)
                current = []
                continue
            current.append(f"{px(k):.1f},{py(value):.1f}")
        if current:
            segments.append(current)
        dash = ' stroke-dasharray="6,4"' if s.dashed else ""
        for seg in segments:
            parts.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{s.colour}" '
                f'stroke-width="2"{dash}/>'
            )
            if s.marked:  # a point between two gaps is still seen
                parts += [
                    f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" '
                    f'fill="{s.colour}"/>'
                    for p in seg
                ]
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{height - 10}" y2="{height - 10}" '
            f'stroke="{s.colour}" stroke-width="2"{dash}/>'
            f'<text x="{legend_x + 26}" y="{height - 6}" fill="{INK}" font-size="11">'
            f"{escape(s.label)}</text>"
        )
        legend_x += 34 + 7 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)


def _band(s: Series, px, py) -> list[str]:
    """The shaded interval of ``s``: one polygon per run of positions with a finite value and
    interval (a lone position: a bar)."""
    if s.lower is None or s.upper is None:
        return []
    lows, highs = list(s.lower), list(s.upper)
    keep = [_ok(v) and _ok(lo) and _ok(hi) for v, lo, hi in zip(s.values, lows, highs, strict=True)]
    out = []
    for run in _runs(keep):
        if len(run) == 1:
            k = run[0]
            out.append(
                f'<line x1="{px(k):.1f}" x2="{px(k):.1f}" y1="{py(lows[k]):.1f}" '
                f'y2="{py(highs[k]):.1f}" stroke="{s.colour}" stroke-width="6" '
                'stroke-opacity="0.2"/>'
            )
            continue
        top = [f"{px(k):.1f},{py(highs[k]):.1f}" for k in run]
        bottom = [f"{px(k):.1f},{py(lows[k]):.1f}" for k in reversed(run)]
        out.append(
            f'<polygon points="{" ".join(top + bottom)}" fill="{s.colour}" fill-opacity="0.15" '
            'stroke="none"/>'
        )
    return out
