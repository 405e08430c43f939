"""My patients: an injector's observed durations against what the model predicts for them.

For one injector (pseudonymous code) and each region, over the injector's episodes in the
duration analysis:

- **observed**: the Turnbull NPMLE of the interval-censored durations
  (:func:`analysis.survival.nonparametric.fit_npmle`), its median with a patient-level
  bootstrap interval (patients resampled with all their episodes, as the survival stage does);
- **predicted**: the population advice for each of those episodes (its own region, product,
  dose, bulk, exercise, sex, age, cycle, severity; no history), averaged over the episodes:
  ``S(t) = mean_i S_i(t)``, with the median and the central interval (``advice.interval_mass``,
  80%) of that mixture;
- **verdict**: "shorter" or "longer" when the observed interval excludes the predicted median,
  "as predicted" otherwise.

The advice model has no injector term, so a systematic difference is what this view is for.
Counts below ``disclosure.min_count`` are shown as ``<min_count`` and get no estimate; regions with
fewer than ``serve.my_patients.min_episodes`` episodes get counts only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.advice.advise import population_survival
from analysis.disclosure import format_count, is_small_count
from analysis.serve.sources import ServeSources
from analysis.serve.svg import Curve, curves_svg
from analysis.survival.nonparametric import NPMLE, fit_npmle, median_days

#: KKT tolerance of the fit and of every bootstrap replicate (as ``survival.turnbull_kkt_tol``).
KKT_TOL = 1e-7

#: Episode columns the prediction needs (processed episodes contract).
REQUEST_COLUMNS = (
    "region",
    "product",
    "units",
    "muscle_bulk",
    "exercise_met_h_week",
    "sex",
    "age_years",
    "baseline_severity",
    "cycle",
)


@dataclass(frozen=True)
class RegionCalibration:
    """One region's comparison (estimates ``None`` when counts only)."""

    region: str
    episodes: str
    patients: str
    estimated: bool
    note: str | None
    observed_median: float | None = None
    observed_lower: float | None = None
    observed_upper: float | None = None
    predicted_median: float | None = None
    predicted_lower: float | None = None
    predicted_upper: float | None = None
    verdict: str | None = None
    chart_svg: str | None = None


@dataclass(frozen=True)
class InjectorCalibration:
    """Every region of one injector, in the order of the study's vocabulary."""

    injector: str
    regions: tuple[RegionCalibration, ...]
    interval_mass: float
    ci_level: float


def injector_calibration(sources: ServeSources, injector: str) -> InjectorCalibration:
    """The comparison for ``injector`` (see the module docstring)."""
    settings = sources.settings
    episodes = sources.episodes
    assert episodes is not None
    mine = episodes[(episodes["injector"] == injector) & episodes["in_duration_analysis"]]
    order = [r for r in sources.draws.spec.regions if r in set(mine["region"])]
    regions = tuple(_region(sources, mine[mine["region"] == r], r) for r in order)
    return InjectorCalibration(
        injector,
        regions,
        settings.advice.interval_mass,
        settings.serve.my_patients.ci_level,
    )


def _region(sources: ServeSources, rows: pd.DataFrame, region: str) -> RegionCalibration:
    settings = sources.settings
    cfg = settings.serve.my_patients
    n, n_pat = len(rows), int(rows["patient_key"].nunique())
    shown_n, shown_p = format_count(n, settings.min_count), format_count(n_pat, settings.min_count)
    if is_small_count(n, settings.min_count) or is_small_count(n_pat, settings.min_count):
        return RegionCalibration(region, shown_n, shown_p, False, "too few to show")
    if n < cfg.min_episodes:
        return RegionCalibration(
            region, shown_n, shown_p, False, f"fewer than {cfg.min_episodes} episodes: no estimate"
        )
    days = np.linspace(0.0, float(settings.serve.curve_days), 151)
    observed, o_med, o_lo, o_hi = _observed(
        rows, cfg.bootstrap_replicates, cfg.ci_level, settings.seed
    )
    pred_days, pred_surv = _predicted_survival(sources, rows)
    tail = (1.0 - settings.advice.interval_mass) / 2.0
    p_med, p_lo, p_hi = _quantiles(pred_days, pred_surv, [0.5, tail, 1.0 - tail])
    chart = curves_svg(
        [
            Curve("Predicted for these patients", pred_days, pred_surv),
            Curve("Observed (Turnbull)", days, observed.survival(days)),
        ],
        float(settings.serve.curve_days),
        f"{region}: observed against predicted",
        f"Observed median {_days(o_med)}; predicted median {p_med:.0f} days.",
        chart_id=f"cal-{region}",
    )
    return RegionCalibration(
        region,
        shown_n,
        shown_p,
        True,
        None,
        _finite(o_med),
        _finite(o_lo),
        _finite(o_hi),
        p_med,
        p_lo,
        p_hi,
        _verdict(o_med, o_lo, o_hi, p_med),
        chart,
    )


def _observed(
    rows: pd.DataFrame, n_boot: int, ci_level: float, seed: int
) -> tuple[NPMLE, float, float, float]:
    """Turnbull NPMLE, its median and a patient-bootstrap percentile interval of the median.

    As :func:`analysis.survival.nonparametric.turnbull` (patients resampled with all their
    episodes; every replicate a weighted NPMLE stopped on the same Kuhn-Tucker rule). No
    interval if over 10% of replicates have no median (the curve stays above 1/2).
    """
    lower = rows["dur_lower_days"].to_numpy(float)
    upper = rows["dur_upper_days"].to_numpy(float)
    codes = pd.factorize(rows["patient_key"].to_numpy())[0]
    n_pat = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_pat, size=(n_boot, n_pat))
    counts = np.stack([np.bincount(p, minlength=n_pat) for p in picks], axis=1)
    fit = fit_npmle(lower, upper, kkt_tol=KKT_TOL)
    boot = fit_npmle(lower, upper, weights=counts[codes].astype(float), kkt_tol=KKT_TOL)
    medians = median_days(boot)
    finite = medians[np.isfinite(medians)]
    lo = hi = np.nan
    if finite.size > 0.9 * n_boot:
        lo, hi = np.quantile(finite, [(1 - ci_level) / 2, (1 + ci_level) / 2])
    return fit, float(median_days(fit)[0]), float(lo), float(hi)


def _predicted_survival(sources: ServeSources, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the episodes of each one's population predictive survival, on a day grid
    long enough for the upper end of the predictive interval."""
    grid = np.linspace(0.0, 3.0 * sources.settings.serve.curve_days, 301)
    surv = population_survival(rows[list(REQUEST_COLUMNS)], sources.draws, grid)
    return grid, surv.mean(axis=0)


def _quantiles(days: np.ndarray, surv: np.ndarray, probs: list[float]) -> list[float]:
    """Days at which the (decreasing) survival curve falls to ``1 - p``, interpolated."""
    cdf = 1.0 - surv
    return [float(np.interp(p, cdf, days)) for p in probs]


def _verdict(o_med: float, o_lo: float, o_hi: float, p_med: float) -> str:
    if not np.isfinite(o_med):
        return "not estimable: more than half still effective at the last visit"
    if not (np.isfinite(o_lo) and np.isfinite(o_hi)):
        return "observed interval not estimable"
    if o_hi < p_med:
        return "shorter than predicted"
    if o_lo > p_med:
        return "longer than predicted"
    return "as predicted"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _days(value: float) -> str:
    return f"{value:.0f} days" if np.isfinite(value) else "not reached"
