"""Figures of the cohort description: quarterly trends and episodes by region.

``plot_*`` draw on a given axes; ``fig_*`` compose a figure. Call them inside
:func:`analysis.figures.theme.theme`; only stages save figures. Series are told apart by
marker and line style as well as colour, so the figures read in greyscale. The figures plot
counts: the disclosure layer draws the released ones from the released tables, where a
suppressed count and the values computed from it are NaN and are not drawn.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.figures.theme import LINESTYLES, MARKERS, PALETTE


def _quarter_axis(ax: plt.Axes, quarters: pd.Series) -> None:
    x = np.arange(len(quarters))
    ax.set_xlim(-0.6, len(quarters) - 0.4)
    step = max(1, len(quarters) // 8)
    ax.set_xticks(x[::step])
    ax.set_xticklabels(list(quarters)[::step], rotation=45, ha="right")
    ax.set_xlabel("Quarter of treatment")


def plot_episodes_per_quarter(trends: pd.DataFrame, ax: plt.Axes) -> plt.Axes:
    """Bars of treatment episodes per quarter (``quarterly_trends`` table)."""
    x = np.arange(len(trends))
    ax.bar(x, trends["n_episodes"], color=PALETTE[0], edgecolor="black", linewidth=0.5, hatch="//")
    ax.set_ylabel("Episodes (count)")
    ax.set_title("Treatment episodes")
    _quarter_axis(ax, trends["quarter"])
    return ax


def plot_complication_trend(trends: pd.DataFrame, ax: plt.Axes, ci_level: float = 0.95) -> plt.Axes:
    """30-day complication rate per quarter (%) with its Wilson interval as error bars."""
    x = np.arange(len(trends))
    rate = 100 * trends["complication_rate"].to_numpy(float)
    lo = 100 * trends["complication_rate_lower"].to_numpy(float)
    hi = 100 * trends["complication_rate_upper"].to_numpy(float)
    ax.errorbar(
        x,
        rate,
        yerr=[np.clip(rate - lo, 0, None), np.clip(hi - rate, 0, None)],  # rounding at 0
        color=PALETTE[5],
        marker=MARKERS[1],
        linestyle=LINESTYLES[1],
        capsize=2,
        label=f"rate with {round(100 * ci_level)}% interval",
    )
    ax.set_ylabel("Any complication within 30 days (%)")
    ax.set_title("Complication rate")
    ax.set_ylim(bottom=0)
    _quarter_axis(ax, trends["quarter"])
    return ax


def plot_retreat_trend(trends: pd.DataFrame, ax: plt.Axes, ci_level: float = 0.95) -> plt.Axes:
    """Kaplan-Meier median re-treatment interval per quarter (days) with its interval."""
    x = np.arange(len(trends))
    med = trends["median_retreat_days"].to_numpy(float)
    lo = trends["median_retreat_lower"].to_numpy(float)
    hi = trends["median_retreat_upper"].to_numpy(float)
    ax.plot(x, med, color=PALETTE[2], marker=MARKERS[2], linestyle=LINESTYLES[0], label="median")
    ax.fill_between(
        x,
        lo,
        hi,
        color=PALETTE[2],
        alpha=0.2,
        hatch="..",
        label=f"{round(100 * ci_level)}% interval",
    )
    ax.axhline(
        90, color=PALETTE[7], linestyle=LINESTYLES[3], linewidth=1, label="label minimum (90 days)"
    )
    shown = ~np.isnan(trends["n_retreated"].to_numpy(float))  # NaN: withheld, not drawn
    for xi in x[np.isnan(med) & shown]:  # too recent: fewer than half re-treated by the cut-off
        ax.annotate(
            "not\nreached",
            (xi, 0.02),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize="x-small",
            rotation=90,
        )
    ax.set_ylabel("Median time to re-treatment (days)")
    ax.set_title("Re-treatment interval")
    ax.legend(loc="best", fontsize="small")
    _quarter_axis(ax, trends["quarter"])
    return ax


def fig_quarterly_trends(trends: pd.DataFrame, ci_level: float = 0.95) -> plt.Figure:
    """Three panels: episodes, complication rate and median re-treatment interval by quarter."""
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 3.0), layout="constrained")
    plot_episodes_per_quarter(trends, axes[0])
    plot_complication_trend(trends, axes[1], ci_level)
    plot_retreat_trend(trends, axes[2], ci_level)
    for ax in axes:  # 8 pt at print size (the figure prints at its own width)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.title.set_fontsize(9)
        if ax.get_legend() is not None:
            for text in ax.get_legend().get_texts():
                text.set_fontsize(8)
    return fig


def plot_episodes_by_region(by_region: pd.DataFrame, ax: plt.Axes) -> plt.Axes:
    """Horizontal bars of episodes per region (``episodes_by_region`` table)."""
    y = np.arange(len(by_region))
    ax.barh(y, by_region["n_episodes"], color=PALETTE[0], edgecolor="black", linewidth=0.5)
    ax.set_yticks(y)
    ax.set_yticklabels(by_region["region"])
    ax.invert_yaxis()
    ax.set_xlabel("Episodes (count)")
    ax.set_title("Episodes by region")
    return ax


def fig_episodes_by_region(by_region: pd.DataFrame) -> plt.Figure:
    """One panel of episodes per region."""
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(by_region) + 1.5), layout="constrained")
    plot_episodes_by_region(by_region, ax)
    return fig
