"""Survival curves as inline SVG, drawn on the server (the pages need no JavaScript).

One chart: probability the effect still holds (0-1) against weeks since treatment, one line per
curve (colour and dash pattern both differ, so the chart reads in grey print and for colour-
blind readers: Okabe-Ito colours as in :mod:`analysis.figures.theme`), optional shaded day
ranges (the booking window) and vertical markers (the label floor), the legend under the plot.
The SVG carries a ``<title>`` and ``<desc>`` for screen readers and uses presentation attributes
only (the app's content security policy allows no inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

#: Okabe-Ito: blue, vermillion, bluish green, reddish purple; orange shades the bands.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
BAND_COLOUR = "#E69F00"
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


#: Layout (SVG user units; the chart scales to its box, so these are proportions). A narrow
#: viewBox keeps the text legible when a phone shrinks the chart to ~330 px.
WIDTH, PLOT_H = 480, 220
LEFT, RIGHT, TOP, AXIS = 60, 12, 12, 40
FONT, ROW = 14, 20


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

    The legend sits under the plot, one row per curve, band and marker. ``chart_id``
    prefixes the ids of the title and description (unique per page).
    """
    plot_w = WIDTH - LEFT - RIGHT
    n_rows = len(curves) + len(bands) + len(markers)
    height = TOP + PLOT_H + AXIS + ROW * n_rows + 4

    def x(day: float) -> float:
        return LEFT + plot_w * min(max(day, 0.0), max_days) / max_days

    def y(prob: float) -> float:
        return TOP + PLOT_H * (1.0 - min(max(prob, 0.0), 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for band in bands:
        x0, x1 = x(band.start_day), x(band.end_day)
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1.5):.1f}" height="{PLOT_H}" '
            f'fill="{BAND_COLOUR}" fill-opacity="0.22"><title>{escape(band.label)}</title></rect>'
        )
    parts += _axes(x, y, max_days, plot_w)
    for marker in markers:
        parts.append(
            f'<line x1="{x(marker.day):.1f}" x2="{x(marker.day):.1f}" y1="{TOP}" '
            f'y2="{TOP + PLOT_H}" stroke="#444" stroke-width="1.5" stroke-dasharray="2 3">'
            f"<title>{escape(marker.label)}</title></line>"
        )
    for k, curve in enumerate(curves):
        days, prob = np.asarray(curve.days, dtype=float), np.asarray(curve.prob, dtype=float)
        shown = days <= max_days
        cropped = Curve(curve.label, days[shown], prob[shown], curve.step)
        parts.append(_path(cropped, x, y, COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]))
    parts += _legend(curves, bands, markers, TOP + PLOT_H + AXIS)
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{FONT}"{extra}>'
        f"{escape(text)}</text>"
    )


def _axes(x, y, max_days: float, plot_w: float) -> list[str]:
    out = []
    for prob in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(prob):.1f}" y2="{y(prob):.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            + _text(LEFT - 5, y(prob) + 5, f"{100 * prob:.0f}%", "end")
        )
    step_weeks = 4 if max_days <= 36 * 7 else 8
    for week in range(0, int(max_days // 7) + 1, step_weeks):
        out.append(
            f'<line x1="{x(7 * week):.1f}" x2="{x(7 * week):.1f}" y1="{TOP + PLOT_H}" '
            f'y2="{TOP + PLOT_H + 4}" stroke="#333"/>'
            + _text(x(7 * week), TOP + PLOT_H + 18, str(week), "middle")
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{PLOT_H}" fill="none" '
        f'stroke="#333" stroke-width="1"/>'
        + _text(LEFT + plot_w / 2, TOP + PLOT_H + 35, "weeks since treatment", "middle")
        + _text(
            13,
            TOP + PLOT_H / 2,
            "effect holds",
            "middle",
            f' transform="rotate(-90 13 {TOP + PLOT_H / 2:.1f})"',
        )
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
        f'stroke-width="3"{dash_attr}><title>{escape(curve.label)}</title></polyline>'
    )


def _legend(
    curves: Sequence[Curve], bands: Sequence[Band], markers: Sequence[Marker], top: float
) -> list[str]:
    out = []
    x0, yy = LEFT, top + ROW / 2 + 2
    for k, curve in enumerate(curves):
        dash = DASHES[k % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x0}" x2="{x0 + 32}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="{COLOURS[k % len(COLOURS)]}" stroke-width="3"{dash_attr}/>'
            + _text(x0 + 40, yy + 5, curve.label)
        )
        yy += ROW
    for band in bands:
        out.append(
            f'<rect x="{x0}" y="{yy - 7:.1f}" width="32" height="14" fill="{BAND_COLOUR}" '
            f'fill-opacity="0.35"/>' + _text(x0 + 40, yy + 5, band.label)
        )
        yy += ROW
    for marker in markers:
        out.append(
            f'<line x1="{x0 + 16}" x2="{x0 + 16}" y1="{yy - 8:.1f}" y2="{yy + 8:.1f}" '
            f'stroke="#444" stroke-width="1.5" stroke-dasharray="2 3"/>'
            + _text(x0 + 40, yy + 5, marker.label)
        )
        yy += ROW
    return out
