"""Figures of the advice work: predicted duration by region and dose."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.figures.theme import PALETTE


def plot_duration_by_dose(
    table: pd.DataFrame, ax: plt.Axes, region: str, floor_days: float = 90.0
) -> plt.Axes:
    """Median and 80% interval of predicted duration against dose multiple, for one region.

    ``table`` is :func:`analysis.advice.table.advice_table` output; the rows with average
    muscle bulk are drawn, one line per exercise tier.
    """
    sel = table[(table["region"] == region) & (table["muscle_bulk"] == 2)]
    tiers = list(dict.fromkeys(sel["exercise_tier"]))
    for k, tier in enumerate(tiers):
        r = sel[sel["exercise_tier"] == tier].sort_values("dose_multiple")
        x = np.log2(r["dose_multiple"].to_numpy())
        ax.fill_between(
            x, r["lower_days"], r["upper_days"], color=PALETTE[k], alpha=0.15, linewidth=0
        )
        ax.plot(
            x, r["median_days"], color=PALETTE[k], marker="os^"[k % 3], label=f"{tier} exercise"
        )
    ax.axhline(floor_days, color="black", linewidth=1, linestyle=":")
    mults = sorted(sel["dose_multiple"].unique())
    ax.set_xticks(np.log2(mults), [f"{m:g}x" for m in mults])
    ax.set_title(region.replace("_", " "), fontsize=9)
    ax.tick_params(labelsize=8)
    return ax


def fig_duration_by_dose(table: pd.DataFrame, floor_days: float = 90.0) -> plt.Figure:
    """One panel per region (:func:`plot_duration_by_dose`), shared axes, 90-day line."""
    regions = list(dict.fromkeys(table["region"]))
    ncol = 5
    nrow = int(np.ceil(len(regions) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(7.0, 1.7 * nrow + 1.1), sharex=True, sharey=True, squeeze=False
    )
    for ax, region in zip(axes.flat, regions, strict=False):
        plot_duration_by_dose(table, ax, region, floor_days)
    for ax in list(axes.flat)[len(regions) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("days", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("x reference dose", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=len(labels),
        frameon=False,
        fontsize=8,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.suptitle(
        f"Predicted duration: median and 80% interval (average muscle bulk);\n"
        f"dotted line = label minimum {floor_days:.0f} days",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
