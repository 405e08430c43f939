"""Survival curves as inline SVG, drawn on the server (the pages need no JavaScript).

One chart: probability the effect still holds (0-1) against weeks since treatment, one line per
curve (colour and dash pattern both differ, so the chart reads in grey print and for colour-
blind readers: Okabe-Ito colours as in :mod:`analysis.figures.theme`), optional shaded day
ranges (the booking window) and vertical markers (the label floor). The SVG carries a
``<title>`` and ``<desc>`` for screen readers and uses presentation attributes only (the app's
content security policy allows no inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

#: Okabe-Ito: blue, vermillion, bluish green, orange (analysis.figures.theme.PALETTE).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#E69F00")
DASHES = ("6 4", "", "2 3", "10 3 2 3")


@dataclass(frozen=True)
class Curve:
    """``days`` and ``prob`` (same length); ``step`` draws a step function (Turnbull)."""

    label: str
    days: np.ndarray
    prob: np.ndarray
    step: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded day range with a label (e.g. the booking window)."""

    label: str
    start_day: float
    end_day: float


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``day`` with a label (e.g. the label's 90-day floor)."""

    label: str
    day: float


WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 44


def curves_svg(
    curves: Sequence[Curve],
    max_days: float,
    title: str,
    description: str,
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    chart_id: str = "chart",
) -> str:
    """The chart as an SVG string (escaped; safe to insert into a page).

    ``chart_id`` prefixes the ids of the title and description (unique per page).
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: float) -> float:
        return LEFT + plot_w * min(max(day, 0.0), max_days) / max_days

    def y(prob: float) -> float:
        return TOP + plot_h * (1.0 - min(max(prob, 0.0), 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for band in bands:
        x0, x1 = x(band.start_day), x(band.end_day)
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1.5):.1f}" height="{plot_h}" '
            f'fill="#E69F00" fill-opacity="0.18"><title>{escape(band.label)}</title></rect>'
        )
    parts += _axes(x, y, max_days, plot_w, plot_h)
    for marker in markers:
        parts.append(
            f'<line x1="{x(marker.day):.1f}" x2="{x(marker.day):.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="#555" stroke-width="1" stroke-dasharray="1 3">'
            f"<title>{escape(marker.label)}</title></line>"
        )
    for k, curve in enumerate(curves):
        days, prob = np.asarray(curve.days, dtype=float), np.asarray(curve.prob, dtype=float)
        shown = days <= max_days
        cropped = Curve(curve.label, days[shown], prob[shown], curve.step)
        parts.append(_path(cropped, x, y, COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]))
    parts += _legend(curves, bands, markers)
    parts.append("</svg>")
    return "".join(parts)


def _axes(x, y, max_days: float, plot_w: float, plot_h: float) -> list[str]:
    out = []
    for prob in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(prob):.1f}" y2="{y(prob):.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(prob) + 4:.1f}" text-anchor="end" font-size="12">'
            f"{100 * prob:.0f}%</text>"
        )
    step_weeks = 4 if max_days <= 40 * 7 else 8
    for week in range(0, int(max_days // 7) + 1, step_weeks):
        out.append(
            f'<line x1="{x(7 * week):.1f}" x2="{x(7 * week):.1f}" y1="{TOP + plot_h}" '
            f'y2="{TOP + plot_h + 4}" stroke="#333"/>'
            f'<text x="{x(7 * week):.1f}" y="{TOP + plot_h + 17}" text-anchor="middle" '
            f'font-size="12">{week}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#333" stroke-width="1"/>'
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'font-size="12">weeks since treatment</text>'
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">effect still holds</text>'
    )
    return out


def _path(curve: Curve, x, y, colour: str, dash: str) -> str:
    days = np.asarray(curve.days, dtype=float)
    prob = np.asarray(curve.prob, dtype=float)
    ok = np.isfinite(days) & np.isfinite(prob)
    days, prob = days[ok], prob[ok]
    points = []
    for k, (d, p) in enumerate(zip(days, prob, strict=True)):
        if curve.step and k:
            points.append(f"{x(d):.1f},{y(prob[k - 1]):.1f}")
        points.append(f"{x(d):.1f},{y(p):.1f}")
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
        f'stroke-width="2.5"{dash_attr}><title>{escape(curve.label)}</title></polyline>'
    )


def _legend(curves: Sequence[Curve], bands: Sequence[Band], markers: Sequence[Marker]) -> list[str]:
    out = []
    x0, y0 = WIDTH - RIGHT - 230, TOP + 14
    for k, curve in enumerate(curves):
        yy = y0 + 18 * k
        dash = DASHES[k % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x0}" x2="{x0 + 28}" y1="{yy}" y2="{yy}" '
            f'stroke="{COLOURS[k % len(COLOURS)]}" stroke-width="2.5"{dash_attr}/>'
            f'<text x="{x0 + 34}" y="{yy + 4}" font-size="12">{escape(curve.label)}</text>'
        )
    yy = y0 + 18 * len(curves)
    for band in bands:
        out.append(
            f'<rect x="{x0}" y="{yy - 6}" width="28" height="12" fill="#E69F00" '
            f'fill-opacity="0.3"/><text x="{x0 + 34}" y="{yy + 4}" font-size="12">'
            f"{escape(band.label)}</text>"
        )
        yy += 18
    for marker in markers:
        out.append(
            f'<line x1="{x0 + 14}" x2="{x0 + 14}" y1="{yy - 7}" y2="{yy + 7}" stroke="#555" '
            f'stroke-dasharray="1 3"/><text x="{x0 + 34}" y="{yy + 4}" font-size="12">'
            f"{escape(marker.label)}</text>"
        )
        yy += 18
    return out
