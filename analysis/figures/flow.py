"""The participant flow diagram (STROBE item 13c) drawn from the released data-quality table.

The diagram shows only counts of the released ``data_quality`` table (``table, rows_in,
rows_kept, rows_excluded, reason``): a count the disclosure layer suppressed is printed as its
label, never recomputed. ``flow_steps`` turns the table into boxes; ``fig_participant_flow``
draws them. Call inside :func:`analysis.figures.theme.theme`; only stages save figures.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from analysis.figures.theme import PALETTE

#: Data-quality tables in the order a treatment passes through them, with the box labels.
FLOW_ORDER: tuple[tuple[str, str, str], ...] = (
    ("treatments", "Treatments in the export", "Treatments kept"),
    ("episodes", "Treatments kept", "Treatment episodes (one region treated at one visit)"),
    ("duration_analysis", "Treatment episodes", "Episodes in the duration analysis"),
)


@dataclass(frozen=True)
class FlowStep:
    """One step of the flow: a count in, the exclusions (reason, count) and the count kept."""

    label_in: str
    count_in: str
    exclusions: tuple[tuple[str, str], ...]
    label_kept: str
    count_kept: str


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def flow_steps(data_quality: pd.DataFrame) -> list[FlowStep]:
    """The steps of :data:`FLOW_ORDER` present in the released ``data_quality`` table.

    Counts are display text of the released cells (``suppressed`` stays ``suppressed``);
    exclusions with reason ``none`` or a zero count are left out.
    """
    steps = []
    for table, label_in, label_kept in FLOW_ORDER:
        rows = data_quality.loc[data_quality["table"] == table]
        if rows.empty:
            continue
        excluded = tuple(
            (str(r.reason), _text(r.rows_excluded))
            for r in rows.itertuples(index=False)
            if str(r.reason) != "none" and _text(r.rows_excluded) != "0"
        )
        first = rows.iloc[0]
        steps.append(
            FlowStep(
                label_in, _text(first["rows_in"]), excluded, label_kept, _text(first["rows_kept"])
            )
        )
    return steps


def _box(ax: plt.Axes, x: float, y: float, text: str, width: float, main: bool) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center" if main else "left",
        va="center",
        fontsize=8.5,
        wrap=False,
        bbox={
            "boxstyle": "round,pad=0.5",
            "facecolor": "white" if main else "#f2f2f2",
            "edgecolor": PALETTE[0] if main else "#777777",
            "linewidth": 1.2 if main else 0.8,
        },
    )


def fig_participant_flow(data_quality: pd.DataFrame) -> plt.Figure:
    """Vertical flow of counts with exclusion boxes to the right (one row per step)."""
    steps = flow_steps(data_quality)
    n_rows = 2 * len(steps) + 1
    fig, ax = plt.subplots(figsize=(6.8, 1.0 + 0.95 * n_rows))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, n_rows)
    ax.axis("off")
    y = n_rows - 0.5
    if steps:
        _box(ax, 3, y, f"{steps[0].label_in}\nn = {steps[0].count_in}", 4, True)
    for step in steps:
        y_next = y - 2
        ax.annotate(
            "",
            xy=(3, y_next + 0.35),
            xytext=(3, y - 0.35),
            arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.0},
        )
        if step.exclusions:
            lines = ["Excluded or merged:"] + [
                "\n  ".join(textwrap.wrap(f"{reason}: {count}", 44))
                for reason, count in step.exclusions
            ]
            ax.plot([3, 5.2], [y - 1, y - 1], color="#333333", lw=1.0)
            _box(ax, 5.3, y - 1, "\n".join(lines), 4.5, False)
        label = "\n".join(textwrap.wrap(step.label_kept, 34))
        _box(ax, 3, y_next, f"{label}\nn = {step.count_kept}", 4, True)
        y = y_next
    return fig
