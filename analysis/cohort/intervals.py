"""Interval estimates of the cohort description: Wilson intervals and Kaplan-Meier medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from statsmodels.stats.proportion import proportion_confint


def wilson_interval(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` events in ``n`` trials (NaN where ``n == 0``).

    Parameters
    ----------
    k, n
        Events and trials (arrays of the same shape).
    level
        Coverage of the interval, e.g. 0.95.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds of the proportion ``k / n``.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(k[ok], n[ok], alpha=1 - level, method="wilson")
    return lo, hi


def km_median(days: pd.Series, event: pd.Series, level: float) -> tuple[float, float, float]:
    """Kaplan-Meier median of right-censored times with its interval.

    Parameters
    ----------
    days
        Follow-up time (days).
    event
        True where the event was observed, False where the time is censored.
    level
        Coverage of the interval from the Kaplan-Meier confidence band.

    Returns
    -------
    tuple of float
        Median, lower, upper (days); NaN for no data, ``inf`` when not reached.
    """
    if len(days) == 0:
        return (np.nan, np.nan, np.nan)
    kmf = KaplanMeierFitter(alpha=1 - level)
    kmf.fit(days.to_numpy(float), event.to_numpy(bool))
    ci = median_survival_times(kmf.confidence_interval_)
    return float(kmf.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])
