"""My patients: an injector's observed durations against what the model predicts for them.

For one injector (pseudonymous code) and each region, over the injector's episodes in the
duration analysis:

- **observed**: the Turnbull NPMLE of the interval-censored durations
  (:func:`analysis.survival.nonparametric.turnbull`), its median with a patient-level bootstrap
  interval (patients resampled with all their episodes);
- **predicted**: the population advice for each of those episodes (its own region, product,
  dose, bulk, exercise, sex, age, cycle, severity; no history), averaged over the episodes:
  ``S(t) = mean_i S_i(t)``, with the median and the central interval (``advice.interval_mass``,
  80%) of that mixture;
- **verdict**: "shorter" or "longer" when the observed interval excludes the predicted median,
  "as predicted" otherwise.

The advice model has no injector term, so a systematic difference is what this view is for.
Counts below ``report.min_count`` are shown as ``<min_count`` and get no estimate; regions with
fewer than ``serve.my_patients.min_episodes`` episodes get counts only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.advice.advise import AdviceRequest, predictive_law
from analysis.disclosure import format_count, is_small_count
from analysis.serve.sources import ServeSources
from analysis.serve.svg import Curve, curves_svg
from analysis.survival.nonparametric import turnbull

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
    lower = rows["dur_lower_days"].to_numpy(float)
    upper = rows["dur_upper_days"].to_numpy(float)
    days = np.linspace(0.0, float(settings.serve.curve_days), 151)
    observed = turnbull(
        lower,
        upper,
        rows["patient_key"].to_numpy(),
        n_boot=cfg.bootstrap_replicates,
        seed=settings.seed,
        ci_level=cfg.ci_level,
        report_weeks=tuple(settings.advice.survival_weeks),
        grid_days=days,
    )
    median = observed.summary.set_index("quantity").loc["median_duration"]
    pred_days, pred_surv = _predicted_survival(sources, rows)
    tail = (1.0 - settings.advice.interval_mass) / 2.0
    p_med, p_lo, p_hi = _quantiles(pred_days, pred_surv, [0.5, tail, 1.0 - tail])
    o_med, o_lo, o_hi = (float(median[c]) for c in ("estimate", "lower", "upper"))
    chart = curves_svg(
        [
            Curve("Predicted for these patients", pred_days, pred_surv),
            Curve("Observed (Turnbull)", days, observed.curve["survival"].to_numpy(), step=True),
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


def _predicted_survival(sources: ServeSources, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the episodes of each one's population predictive survival, on a day grid."""
    settings = sources.settings
    grid = np.arange(0.0, 3.0 * settings.serve.curve_days + 1.0, 1.0)
    total = np.zeros_like(grid)
    for rec in rows[list(REQUEST_COLUMNS)].to_dict(orient="records"):
        request = AdviceRequest(
            region=str(rec["region"]),
            product=str(rec["product"]),
            units=float(rec["units"]),
            muscle_bulk=float(rec["muscle_bulk"]),
            exercise_met_h_week=float(rec["exercise_met_h_week"]),
            sex=str(rec["sex"]),
            age_years=float(rec["age_years"]),
            baseline_severity=float(rec["baseline_severity"]),
            cycle=int(rec["cycle"]),
        )
        total += predictive_law(request, sources.draws, settings.advice).survival(grid)
    return grid, total / len(rows)


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
