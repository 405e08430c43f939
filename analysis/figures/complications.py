"""Figures of the complication models: caterpillar, funnel, dose-risk and predictive checks.

``plot_x(table, ax)`` draws on a given axes; ``fig_x(table) -> Figure`` composes a figure.
Call them inside :func:`analysis.figures.theme.theme`; only the stage saves figures.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from analysis.figures.theme import LINESTYLES, MARKERS, PALETTE

GREY = "#999999"


def _label(code: str) -> str:
    return code.replace("_", " ")


#: x-axis label of the caterpillar plot by reference (``plot_caterpillar(reference=...)``).
CATERPILLAR_XLABEL = {
    "benchmark": "rate / region-mix benchmark (posterior mean, 95% CrI)",
    "peers": "rate / peers' rate on the same treatments (posterior mean, 95% CrI)",
}


def plot_caterpillar(
    table: pd.DataFrame, ax: plt.Axes, level: str, multiplier: float, reference: str = "benchmark"
) -> plt.Axes:
    """Posterior rate ratio to the reference (95% CrI) per provider, sorted; too-few in grey,
    flagged providers (``flagged`` column, if present) in the warning colour.

    ``reference`` is ``"benchmark"`` (columns ``rate_ratio_{mean,lower,upper}``) or ``"peers"``
    (``rate_ratio_vs_peers_*``: the touch-up rates, which have no published benchmark).
    """
    if reference == "peers":
        ratio = {
            f"rate_ratio_{k}": table[f"rate_ratio_vs_peers_{k}"] for k in ("mean", "lower", "upper")
        }
        table = table.assign(**ratio)
    t = table.sort_values("rate_ratio_mean").reset_index(drop=True)
    y = np.arange(len(t))
    judged = ~t["too_few_to_judge"].to_numpy()
    flagged = t["flagged"].to_numpy(bool) if "flagged" in t else np.zeros(len(t), bool)
    for mask, colour, marker, label in (
        (judged & ~flagged, PALETTE[0], MARKERS[0], "judged"),
        (flagged, PALETTE[5], MARKERS[2], "flagged"),
        (~judged, GREY, MARKERS[1], "too few to judge"),
    ):
        if mask.any():
            # arrays, not Series: matplotlib calls float() on a one-row Series (FutureWarning)
            mean = t.loc[mask, "rate_ratio_mean"].to_numpy(float)
            ax.errorbar(
                mean,
                y[mask],
                xerr=[
                    mean - t.loc[mask, "rate_ratio_lower"].to_numpy(float),
                    t.loc[mask, "rate_ratio_upper"].to_numpy(float) - mean,
                ],
                fmt=marker,
                color=colour,
                ms=3,
                lw=0.8,
                label=label,
            )
    ax.axvline(1.0, color=PALETTE[7], ls=LINESTYLES[0], lw=0.8, label=reference)
    ax.axvline(
        multiplier,
        color=PALETTE[5],
        ls=LINESTYLES[1],
        lw=0.8,
        label=f"{multiplier:g} x {reference}",
    )
    ax.set_yticks(y)
    ax.set_yticklabels(t[level], fontsize=5)
    ax.set_xlabel(CATERPILLAR_XLABEL[reference])
    return ax


def fig_caterpillar(
    table: pd.DataFrame, level: str, multiplier: float, title: str, reference: str = "benchmark"
) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, max(3.0, 0.12 * len(table) + 1.0)))
    plot_caterpillar(table, ax, level, multiplier, reference)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def funnel_limits(
    expected_rate: float, n: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Binomial control limits of an observed rate around ``expected_rate`` for volumes ``n``."""
    lo = stats.binom.ppf((1 - level) / 2, n, expected_rate) / n
    hi = stats.binom.ppf(1 - (1 - level) / 2, n, expected_rate) / n
    return lo, hi


def plot_funnel(table: pd.DataFrame, ax: plt.Axes, multiplier: float) -> plt.Axes:
    """Observed standardised ratio (observed / benchmark rate) against treatment volume, with
    95% and 99.8% binomial limits around the benchmark (ratio 1) and the ``multiplier`` line."""
    t = table.loc[pd.to_numeric(table["n_treatments"], errors="coerce") > 0]
    ratio = pd.to_numeric(t["observed_rate"], errors="coerce") / t["benchmark_rate"]
    bench = float(np.average(t["benchmark_rate"], weights=t["n_treatments"]))
    grid = np.unique(
        np.geomspace(max(1, t["n_treatments"].min()), t["n_treatments"].max() * 1.1, 120).round()
    )
    for level, ls in ((0.95, LINESTYLES[1]), (0.998, LINESTYLES[3])):
        lo, hi = funnel_limits(bench, grid, level)
        ax.plot(grid, hi / bench, color=GREY, ls=ls, lw=0.8, label=f"{level:.1%} limits")
        ax.plot(grid, lo / bench, color=GREY, ls=ls, lw=0.8)
    judged = ~t["too_few_to_judge"].to_numpy()
    ax.scatter(
        t.loc[judged, "n_treatments"],
        ratio[judged],
        s=10,
        color=PALETTE[0],
        marker=MARKERS[0],
        label="injector",
    )
    ax.scatter(
        t.loc[~judged, "n_treatments"],
        ratio[~judged],
        s=10,
        color=GREY,
        marker=MARKERS[1],
        label="too few to judge",
    )
    ax.axhline(1.0, color=PALETTE[7], lw=0.8)
    ax.axhline(
        multiplier, color=PALETTE[5], ls=LINESTYLES[1], lw=0.8, label=f"{multiplier:g} x benchmark"
    )
    ax.set_xscale("log")
    ax.set_xlabel("treatments (volume)")
    ax.set_ylabel("observed / benchmark rate")
    return ax


def fig_funnel_of(
    rates: pd.DataFrame, multiplier: float, structure: str, level: str = "injector"
) -> plt.Figure:
    """:func:`fig_funnel` of the rows of ``rates`` fitted with model ``structure`` (rare types
    have no provider effects). Rows whose counts are suppressed (NaN) are not drawn."""
    return fig_funnel(rates.loc[rates["model_structure"] == structure], multiplier, level)


def fig_funnel(table: pd.DataFrame, multiplier: float, level: str = "injector") -> plt.Figure:
    """One funnel panel per complication type in ``table``."""
    types = list(dict.fromkeys(table["complication"]))
    ncols = min(3, len(types))
    nrows = math.ceil(len(types) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_funnel(table.loc[table["complication"] == ctype], ax, multiplier)
        ax.set_title(_label(ctype), fontsize=10)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"Funnel plot: {level} complication rates against published benchmarks")
    fig.tight_layout()
    return fig


def plot_dose_risk(table: pd.DataFrame, ax: plt.Axes) -> plt.Axes:
    """Posterior risk (95% CrI band) against relative dose, one line per region."""
    for k, (region, t) in enumerate(table.groupby("region", sort=True)):
        colour = PALETTE[k % len(PALETTE)]
        ax.plot(
            t["rel_dose"],
            100 * t["risk_mean"],
            color=colour,
            ls=LINESTYLES[k % len(LINESTYLES)],
            label=_label(region),
        )
        ax.fill_between(
            t["rel_dose"],
            100 * t["risk_lower"],
            100 * t["risk_upper"],
            color=colour,
            alpha=0.15,
            lw=0,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("dose relative to the region's reference dose")
    ax.set_ylabel("30-day risk (%)")
    return ax


def fig_dose_risk(table: pd.DataFrame) -> plt.Figure:
    types = list(dict.fromkeys(table["complication"]))
    ncols = min(3, len(types))
    nrows = math.ceil(len(types) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_dose_risk(table.loc[table["complication"] == ctype], ax)
        ax.set_title(_label(ctype), fontsize=10)
        ax.legend(fontsize=5)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    fig.suptitle("Dose-risk curves (reference product, average clinic and injector)")
    fig.tight_layout()
    return fig


def plot_ppc(table: pd.DataFrame, ax: plt.Axes, key: str) -> plt.Axes:
    """Observed event counts against the 95% posterior predictive interval (an observed count
    that is suppressed, NaN, is not drawn)."""
    t = table.sort_values("replicated_mean").reset_index(drop=True)
    y = np.arange(len(t))
    ax.hlines(
        y,
        t["replicated_lower"],
        t["replicated_upper"],
        color=GREY,
        lw=1.5,
        label="95% predictive interval",
    )
    # a suppressed count (NaN, with its within_95) is not drawn
    inside = t["within_95"].eq(True).to_numpy()
    outside = t["within_95"].eq(False).to_numpy()
    ax.scatter(
        t.loc[inside, "observed_events"],
        y[inside],
        s=8,
        color=PALETTE[0],
        marker=MARKERS[0],
        zorder=3,
        label="observed",
    )
    ax.scatter(
        t.loc[outside, "observed_events"],
        y[outside],
        s=14,
        color=PALETTE[5],
        marker=MARKERS[2],
        zorder=3,
        label="observed (outside)",
    )
    ax.set_yticks(y if key == "region" else [])
    if key == "region":
        ax.set_yticklabels([_label(r) for r in t[key]], fontsize=6)
    ax.set_xlabel("events within 30 days")
    return ax


def fig_ppc(table: pd.DataFrame, key: str) -> plt.Figure:
    types = list(dict.fromkeys(table["complication"]))
    ncols = min(4, len(types))
    nrows = math.ceil(len(types) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.8 * nrows), squeeze=False)
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_ppc(table.loc[table["complication"] == ctype], ax, key)
        ax.set_title(_label(ctype), fontsize=9)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=5, loc="lower right")
    fig.suptitle(f"Posterior predictive check: event counts per {key}")
    fig.tight_layout()
    return fig
