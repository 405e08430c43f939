"""Held-out validation of the advice: calibration of the predictive interval and log score.

For each held-out patient with at least two duration episodes (sorted by treatment date), the
last episode is the *target* and the earlier ones are the *history*. Each target is predicted
twice: from the population (no history) and personalised on the history.

Coverage of the central ``mass`` predictive interval ``[q_lo, q_hi]`` is counted three ways,
because most targets are only known to lie in an interval ``(l, u]``:

- ``decided``: covered when ``(l, u]`` lies inside ``[q_lo, q_hi]``, not covered when it lies
  entirely outside; undecided targets are left out (their count is reported);
- ``expected``: the predictive probability of the interval given the observation,
  ``P(T in [q_lo, q_hi] and l < T <= u) / P(l < T <= u)``, averaged (no target is dropped);
- ``latent`` (simulated data only): whether the true latent duration lies in the interval.

The log predictive score of a target is ``log P(l < T <= u)`` (log density for exact times).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.advice.predict import PosteriorDraws, Predictive, predictive
from analysis.survival.covariates import COVARIATE_COLUMNS


@dataclass(frozen=True)
class HoldoutResult:
    """Per-target table and its one-row-per-prediction-kind summary."""

    targets: pd.DataFrame
    summary: pd.DataFrame


def holdout_patients(episodes: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Seeded choice of ``fraction`` of the patients (in first-appearance order) to hold out."""
    keys = episodes["patient_key"].unique()
    n = int(round(fraction * len(keys)))
    return np.sort(np.random.default_rng(seed).choice(keys, n, replace=False))


def _coverage(pred: Predictive, lower: float, upper: float, q_lo: float, q_hi: float) -> tuple:
    if lower == upper:
        decided = float(q_lo <= lower <= q_hi)
    elif q_lo <= lower and upper <= q_hi:
        decided = 1.0
    elif upper <= q_lo or lower >= q_hi:
        decided = 0.0
    else:
        decided = np.nan
    if lower == upper:
        expected = decided
    else:
        a, b = max(lower, q_lo), min(upper, q_hi)
        s = pred.survival(np.array([lower, upper if np.isfinite(upper) else 1e9, a, b]))
        mass = s[0] - s[1]
        inside = max(s[2] - s[3], 0.0) if a < b else 0.0
        expected = inside / mass if mass > 0 else np.nan
    return decided, expected


def evaluate_holdout(
    draws: PosteriorDraws,
    episodes: pd.DataFrame,
    patients: np.ndarray,
    mass: float = 0.8,
    latent_days: pd.Series | None = None,
    n_nodes: int = 61,
    max_targets: int | None = None,
) -> HoldoutResult:
    """Predict the last duration episode of each held-out patient, with and without history.

    ``latent_days`` (optional, indexed by ``episode_key``) adds the latent-truth coverage.
    """
    ep = episodes[episodes["in_duration_analysis"].astype(bool)]
    ep = ep[ep["patient_key"].isin(patients)].sort_values(["patient_key", "treatment_date"])
    tail = (1 - mass) / 2
    rows = []
    for _, grp in ep.groupby("patient_key", sort=True):
        if len(grp) < 2:
            continue
        target, history = grp.iloc[[-1]], grp.iloc[:-1]
        lower, upper = (
            float(target["dur_lower_days"].iloc[0]),
            float(target["dur_upper_days"].iloc[0]),
        )
        cov = target[list(COVARIATE_COLUMNS)]
        for kind, hist in (("population", None), ("personalised", history)):
            pred = predictive(draws, cov, hist, n_nodes=n_nodes)
            q_lo, q_hi = pred.quantile([tail, 1 - tail])
            decided, expected = _coverage(pred, lower, upper, q_lo, q_hi)
            row = {
                "kind": kind,
                "n_history": len(history),
                "lower_days": lower,
                "upper_days": upper,
                "q_lo": q_lo,
                "q_hi": q_hi,
                "log_score": pred.log_prob_interval(lower, upper),
                "covered_decided": decided,
                "covered_expected": expected,
            }
            if latent_days is not None:
                t = float(latent_days.get(target["episode_key"].iloc[0], np.nan))
                row["covered_latent"] = float(q_lo <= t <= q_hi) if np.isfinite(t) else np.nan
            rows.append(row)
        if max_targets and len(rows) >= 2 * max_targets:
            break
    targets = pd.DataFrame(rows)
    return HoldoutResult(targets=targets, summary=summarise(targets))


def summarise(targets: pd.DataFrame) -> pd.DataFrame:
    """Coverage (three ways) and mean log score per prediction kind, with the paired gain."""
    out = []
    for kind, g in targets.groupby("kind", sort=False):
        row = {
            "kind": kind,
            "n_targets": len(g),
            "coverage_decided": g["covered_decided"].mean(),
            "n_decided": int(g["covered_decided"].notna().sum()),
            "coverage_expected": g["covered_expected"].mean(),
            "mean_log_score": g["log_score"].mean(),
        }
        if "covered_latent" in g:
            row["coverage_latent"] = g["covered_latent"].mean()
        out.append(row)
    summary = pd.DataFrame(out)
    pop = targets[targets["kind"] == "population"]["log_score"].to_numpy()
    per = targets[targets["kind"] == "personalised"]["log_score"].to_numpy()
    if len(pop) and len(pop) == len(per):
        gain = per - pop
        summary["log_score_gain_vs_population"] = np.where(
            summary["kind"] == "personalised", gain.mean(), 0.0
        )
        summary["log_score_gain_se"] = np.where(
            summary["kind"] == "personalised", gain.std(ddof=1) / np.sqrt(len(gain)), 0.0
        )
    return summary
