"""Figures of the complication models: caterpillar, funnel, dose-risk and predictive checks.

``plot_x(table, ax)`` draws on a given axes; ``fig_x(table) -> Figure`` composes a figure.
Call them inside :func:`analysis.figures.theme.theme`; only the stage saves figures.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize, special

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
    ax.set_yticklabels(t[level], fontsize=8)
    ax.set_xlabel(CATERPILLAR_XLABEL[reference])
    return ax


def fig_caterpillar(
    table: pd.DataFrame, level: str, multiplier: float, title: str, reference: str = "benchmark"
) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, max(3.0, 0.16 * len(table) + 1.2)))
    plot_caterpillar(table, ax, level, multiplier, reference)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def funnel_limits(
    expected_rate: float, n: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Binomial control limits of an observed rate around ``expected_rate`` for volumes ``n``.

    The binomial quantile is taken on the continuous extension of the binomial distribution
    function, ``P(X <= r) = I_{1-p}(n - r, r + 1)`` (regularised incomplete beta, exact at
    integer ``r``), so the limits are smooth curves in ``n`` instead of the saw-tooth of the
    integer quantiles divided by ``n``.
    """
    n = np.asarray(n, dtype=float)
    lower = np.array([_continuous_quantile((1 - level) / 2, m, expected_rate) for m in n])
    upper = np.array([_continuous_quantile(1 - (1 - level) / 2, m, expected_rate) for m in n])
    return lower / n, upper / n


def _continuous_quantile(q: float, n: float, p: float) -> float:
    def cdf(r: float) -> float:
        return float(special.betainc(n - r, r + 1, 1 - p)) - q

    lo, hi = -1 + 1e-9, n - 1e-9
    if cdf(lo) >= 0:
        return 0.0
    if cdf(hi) <= 0:
        return n
    return max(0.0, optimize.brentq(cdf, lo, hi, xtol=1e-10))


def plot_funnel(table: pd.DataFrame, ax: plt.Axes, multiplier: float) -> plt.Axes:
    """Observed standardised ratio (observed / benchmark rate) against treatment volume, with
    95% and 99.8% binomial limits around the benchmark (ratio 1) and the ``multiplier`` line.

    A table released without the region-mix benchmark (withheld by the disclosure layer when it
    pinned small counts) is drawn against the peers' rate, the reference of the flag."""
    t = table.loc[pd.to_numeric(table["n_treatments"], errors="coerce") > 0]
    column, reference = (
        ("benchmark_rate", "benchmark")
        if "benchmark_rate" in t.columns
        else ("peer_rate_mean", "peers")
    )
    expected = pd.to_numeric(t[column], errors="coerce")
    ratio = pd.to_numeric(t["observed_rate"], errors="coerce") / expected
    bench = float(np.average(expected, weights=pd.to_numeric(t["n_treatments"])))
    volumes = pd.to_numeric(t["n_treatments"])
    grid = np.unique(np.geomspace(max(1, volumes.min()), volumes.max() * 1.1, 200).round())
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
        multiplier,
        color=PALETTE[5],
        ls=LINESTYLES[1],
        lw=0.8,
        label=f"{multiplier:g} x {reference}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("treatments (volume)")
    ax.set_ylabel(f"observed / {reference} rate")
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
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.3 * nrows + 0.4), squeeze=False)
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_funnel(table.loc[table["complication"] == ctype], ax, multiplier)
        ax.set_title(_label(ctype), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Funnel plot: {level} complication rates against published benchmarks", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def region_style(k: int) -> dict:
    """Colour and line style of the ``k``-th region: no two of 64 regions share both."""
    return {
        "color": PALETTE[k % len(PALETTE)],
        "ls": LINESTYLES[(k + k // len(PALETTE)) % len(LINESTYLES)],
    }


def plot_dose_risk(table: pd.DataFrame, ax: plt.Axes, regions: list[str] | None = None) -> plt.Axes:
    """Posterior risk (95% CrI band) against relative dose, one line per region; ``regions``
    fixes each region's colour and style across panels (default: the table's regions)."""
    regions = regions or sorted(table["region"].unique())
    for region, t in table.groupby("region", sort=True):
        style = region_style(regions.index(region))
        ax.plot(t["rel_dose"], 100 * t["risk_mean"], label=_label(region), **style)
        ax.fill_between(
            t["rel_dose"],
            100 * t["risk_lower"],
            100 * t["risk_upper"],
            color=style["color"],
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
    regions = list(dict.fromkeys(table["region"]))  # one colour and style per region
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.2 * nrows + 1.0), squeeze=False)
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_dose_risk(table.loc[table["complication"] == ctype], ax, regions)
        ax.set_title(_label(ctype), fontsize=9)
        _small_axes(ax)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], **region_style(k)) for k in range(len(regions))]
    fig.legend(
        handles, [_label(r) for r in regions], loc="lower center", ncol=5, fontsize=8, frameon=False
    )
    fig.suptitle("Dose-risk curves (reference product, average clinic and injector)", fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * math.ceil(len(regions) / 5), 1, 1))
    return fig


def _small_axes(ax: plt.Axes) -> None:
    """Tick labels and axis labels at 8 pt (a panel of a figure printed 7.2 inches wide)."""
    ax.tick_params(labelsize=8)
    ax.xaxis.label.set_fontsize(8)
    ax.yaxis.label.set_fontsize(8)


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
        ax.set_yticklabels([_label(r) for r in t[key]], fontsize=8)
    ax.set_xlabel("events within 30 days")
    return ax


def fig_ppc(table: pd.DataFrame, key: str) -> plt.Figure:
    types = list(dict.fromkeys(table["complication"]))
    ncols = min(4, len(types))
    nrows = math.ceil(len(types) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.5 * ncols + 0.6, 2.3 * nrows + 0.8), squeeze=False
    )
    for ax, ctype in zip(axes.ravel(), types, strict=False):
        plot_ppc(table.loc[table["complication"] == ctype], ax, key)
        ax.set_title(_label(ctype), fontsize=9)
        _small_axes(ax)
    for ax in axes.ravel()[len(types) :]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Posterior predictive check: event counts per {key}", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
