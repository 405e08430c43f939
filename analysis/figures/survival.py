"""Figures of the survival analysis: ``plot_x(table, ax)`` draws, ``fig_x(table)`` composes.

Only the stage saves figures (``analysis.figures.theme.save_figure`` inside ``theme()``).
"""

from __future__ import annotations

import re
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.figures.theme import LINESTYLES, PALETTE, SERIES_LINESTYLES

#: Colour and style of the fitted model's curves (thin black dots over every group's curve).
MODEL_STYLE = {"color": "#000000", "ls": ":", "lw": 1.1}


def group_label(group: str) -> str:
    """Legend text of a group: ``region=crows_feet`` -> ``crows feet``."""
    return str(group).split("=")[-1].replace("_", " ")


def plot_survival_curves(
    curves: pd.DataFrame, ax, groups: list[str] | None = None, model: pd.DataFrame | None = None
):
    """Turnbull curves with 95% bands (``curves``: group, time_days, survival, lower, upper)."""
    groups = groups or list(dict.fromkeys(curves["group"]))
    for k, g in enumerate(groups):
        c = curves[curves["group"] == g]
        color = PALETTE[k % len(PALETTE)]
        style = SERIES_LINESTYLES[k % len(SERIES_LINESTYLES)]
        ax.plot(c["time_days"], c["survival"], color=color, ls=style, label=group_label(g))
        ax.fill_between(c["time_days"], c["lower"], c["upper"], color=color, alpha=0.15, lw=0)
        if model is not None:
            m = model[model["group"] == g]
            label = "chosen AFT model" if k == len(groups) - 1 else None
            ax.plot(m["time_days"], m["survival"], label=label, **MODEL_STYLE)
    ax.set_xlabel("Days since treatment")
    ax.set_ylabel("Proportion still effective")
    ax.set_ylim(0, 1.02)
    return ax


#: Days between the columns of the numbers-still-effective table under the survival curves.
TICK_DAYS = 60.0


def numbers_known_effective(curves: pd.DataFrame, step_days: float = TICK_DAYS) -> pd.DataFrame:
    """Episodes known to be still effective (lower bound >= day) at every ``step_days``, per
    group of ``curves`` (group, time_days, n_known_effective): the table printed under the
    curves. Columns ``group, level, day, n_known_effective``."""
    ticks = np.arange(0, curves["time_days"].max() + 1, step_days)
    rows = []
    for g in dict.fromkeys(curves["group"]):
        c = curves[curves["group"] == g].set_index("time_days")["n_known_effective"]
        vals = c.reindex(ticks, method="nearest")
        rows += [
            (g, str(g).split("=")[-1], float(t), int(v)) for t, v in zip(ticks, vals, strict=True)
        ]
    return pd.DataFrame(rows, columns=["group", "level", "day", "n_known_effective"])


def plot_numbers_known_effective(numbers: pd.DataFrame, ax, groups: list[str], ticks: np.ndarray):
    """Table of episodes known to be still effective under the x axis (``numbers``: group,
    day, n_known_effective); a suppressed number (NaN) is left blank."""
    ax.set_axis_off()
    for k, g in enumerate(groups):
        c = numbers[numbers["group"] == g].set_index("day")["n_known_effective"]
        vals = pd.to_numeric(c.reindex(ticks), errors="coerce")
        y = 1 - (k + 0.5) / len(groups)
        ax.text(
            -0.01,
            y,
            group_label(g),
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=8,
            color=PALETTE[k % len(PALETTE)],
        )
        for t, v in zip(ticks, vals, strict=True):
            if pd.isna(v):
                continue
            ax.text(
                t,
                y,
                f"{int(v)}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="center",
                fontsize=8,
            )
    return ax


def fig_survival_by_region(
    curves: pd.DataFrame,
    numbers: pd.DataFrame | None = None,
    model: pd.DataFrame | None = None,
    variable: str | None = "region",
) -> Figure:
    """Turnbull curves by region (two panels) with the numbers known still effective
    (:func:`numbers_known_effective`; computed from ``curves`` when not given, as in an
    analyst's notebook); ``variable`` selects the curves' groups."""
    if variable is not None and "variable" in curves:
        curves = curves[curves["variable"] == variable]
    if numbers is None:
        numbers = numbers_known_effective(curves)
    groups = list(dict.fromkeys(curves["group"]))
    halves = [groups[: (len(groups) + 1) // 2], groups[(len(groups) + 1) // 2 :]]
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 6.4), gridspec_kw={"height_ratios": [3, 1.3]})
    ticks = np.arange(0, curves["time_days"].max() + 1, TICK_DAYS)
    for col, gs in enumerate(halves):
        plot_survival_curves(curves, axes[0, col], gs, model)
        axes[0, col].set_xticks(ticks)
        axes[0, col].legend(fontsize=8, loc="lower left", frameon=True)
        plot_numbers_known_effective(numbers, axes[1, col], gs, ticks)
        axes[1, col].set_xlim(axes[0, col].get_xlim())
        axes[1, col].set_title("Episodes known still effective", fontsize=8, loc="left")
    fig.suptitle(
        "Duration of effect by region\n(Turnbull NPMLE, 95% patient-bootstrap band"
        + ("; black dots: chosen AFT model)" if model is not None else ")"),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_forest(table: pd.DataFrame, ax, estimate: str = "time_ratio"):
    """Forest plot of ratios with intervals (``label``, ``<estimate>``, ``_lower``, ``_upper``)."""
    t = table.reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    est, lo, hi = (
        t[c].to_numpy(float) for c in (estimate, f"{estimate}_lower", f"{estimate}_upper")
    )
    ax.errorbar(  # arrays: matplotlib calls float() on a one-row Series (FutureWarning)
        est,
        y,
        xerr=[est - lo, hi - est],
        fmt="o",
        color=PALETTE[0],
        ecolor=PALETTE[0],
        capsize=2,
        ms=4,
    )
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels([forest_label(v) for v in t["label"]], fontsize=8)
    for yi, (_, row) in zip(y, t.iterrows(), strict=True):  # the numbers beside each interval
        ax.text(
            1.02,
            yi,
            forest_text(row[estimate], row[f"{estimate}_lower"], row[f"{estimate}_upper"]),
            transform=ax.get_yaxis_transform(),
            va="center",
            ha="left",
            fontsize=8,
        )
    ax.set_xscale("log")
    lo, hi = float(t[f"{estimate}_lower"].min()), float(t[f"{estimate}_upper"].max())
    ticks = [v for v in (0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0) if lo / 1.1 <= v <= hi * 1.1]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.set_xlabel("Time ratio (95% CI, clustered by patient); > 1 = longer effect")
    return ax


def forest_label(label: object, width: int = 42) -> str:
    """A row label of the forest plot: a long label loses its parenthetical remark (the table
    keeps it) and wraps at ``width`` characters."""
    text = str(label)
    if len(text) > width:
        text = re.sub(r"\s*\([^)]*\)", "", text)
    return textwrap.fill(text, width)


#: Tallest forest plot (inches): it still fits one printed page with its caption.
FOREST_MAX_HEIGHT_IN = 8.5


def forest_text(estimate: float, lower: float, upper: float) -> str:
    """``1.02 (1.01-1.03)``: the numbers printed beside a forest-plot interval."""
    return f"{estimate:.2f} ({lower:.2f}\u2013{upper:.2f})"


def fig_forest(table: pd.DataFrame, title: str) -> Figure:
    """Forest plot with the estimate and interval printed beside each row (7 in wide)."""
    fig, ax = plt.subplots(figsize=(7, min(FOREST_MAX_HEIGHT_IN, 0.3 * len(table) + 1.5)))
    plot_forest(table, ax)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.label.set_fontsize(8)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    return fig


def plot_dose_response(table: pd.DataFrame, ax, regions: list[str]):
    """Predicted median duration (days) against units for each region."""
    for k, r in enumerate(regions):
        t = table[table["region"] == r]
        color = PALETTE[k % len(PALETTE)]
        ax.plot(
            t["units_ona_eq"],
            t["median_days"],
            color=color,
            ls=LINESTYLES[k % len(LINESTYLES)],
            label=r,
        )
        ax.fill_between(
            t["units_ona_eq"], t["median_lower"], t["median_upper"], color=color, alpha=0.15, lw=0
        )
        ref = t.loc[t["rel_dose"].sub(1).abs().idxmin()]
        ax.plot(ref["units_ona_eq"], ref["median_days"], "o", color=color, ms=4)
    ax.set_xlabel("Dose (onabotulinumtoxinA-equivalent units)")
    ax.set_ylabel("Predicted median duration (days)")
    return ax


def fig_dose_response(table: pd.DataFrame) -> Figure:
    regions = list(dict.fromkeys(table["region"]))
    n = len(regions)
    ncol = min(5, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.9 * ncol, 1.9 * nrow + 0.5), squeeze=False)
    for ax, r in zip(axes.ravel(), regions, strict=False):
        plot_dose_response(table, ax, [r])
        ax.set_title(group_label(r), fontsize=9)
        ax.set_xlabel("units (ona-eq.)", fontsize=8)
        ax.set_ylabel("median days", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    fig.suptitle(
        "Dose-response: predicted median duration (95% CI); dot = reference dose", fontsize=10
    )
    fig.tight_layout()
    return fig


def plot_calibration(table: pd.DataFrame, ax, week: float):
    t = table[(table["week"] == week) & table["observed"].notna()]  # NaN: withheld
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    obs, lo, hi = (t[c].to_numpy(float) for c in ("observed", "observed_lower", "observed_upper"))
    ax.errorbar(  # arrays: matplotlib calls float() on a one-row Series (FutureWarning)
        t["predicted"].to_numpy(float),
        obs,
        yerr=[obs - lo, hi - obs],
        fmt="o",
        color=PALETTE[0],
        capsize=2,
    )
    ax.set_xlabel(f"Predicted P(effective), week {week:g}", fontsize=8)
    ax.set_ylabel("Observed (Turnbull, 95% CI)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    return ax


def fig_calibration(table: pd.DataFrame) -> Figure:
    weeks = list(dict.fromkeys(table["week"]))
    fig, axes = plt.subplots(1, len(weeks), figsize=(2.4 * len(weeks), 2.8), squeeze=False)
    for ax, w in zip(axes[0], weeks, strict=True):
        plot_calibration(table, ax, w)
        ax.set_title(f"Week {w:g}")
    fig.suptitle("Calibration under patient-grouped cross-validation", fontsize=10)
    fig.tight_layout()
    return fig
