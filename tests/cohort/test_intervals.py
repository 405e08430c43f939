"""Wilson intervals and Kaplan-Meier medians (analysis/cohort/intervals.py)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from synthetic_study import TRUE_COMPLICATION_P

from analysis.cohort.intervals import km_median, wilson_interval


def test_wilson_interval_matches_scipy_reference():
    k, n = np.array([0, 3, 47, 200]), np.array([10, 40, 886, 200])
    lo, hi = wilson_interval(k, n, 0.95)
    for i in range(len(k)):
        ref = binomtest(int(k[i]), int(n[i])).proportion_ci(0.95, method="wilson")
        assert lo[i] == pytest.approx(ref.low, abs=1e-9)
        assert hi[i] == pytest.approx(ref.high, abs=1e-9)


def test_wilson_interval_has_near_nominal_exact_coverage():
    # exact coverage at the simulated rate: sum of binomial probabilities of the k whose
    # interval contains p (Wilson is close to nominal, slightly conservative at small p)
    from scipy.stats import binom

    n = 300
    k = np.arange(n + 1)
    lo, hi = wilson_interval(k, np.full(n + 1, n), 0.95)
    covered = (lo <= TRUE_COMPLICATION_P) & (TRUE_COMPLICATION_P <= hi)
    coverage = binom.pmf(k[covered], n, TRUE_COMPLICATION_P).sum()
    assert 0.93 < coverage < 0.98
    # a 50% interval must cover far less often: the level is really used
    lo50, hi50 = wilson_interval(k, np.full(n + 1, n), 0.5)
    covered50 = (lo50 <= TRUE_COMPLICATION_P) & (TRUE_COMPLICATION_P <= hi50)
    assert 0.4 < binom.pmf(k[covered50], n, TRUE_COMPLICATION_P).sum() < 0.6


def test_km_median_without_censoring_is_the_sample_median_and_open_when_not_reached():
    days = pd.Series(np.arange(1.0, 11.0))
    med, lo, hi = km_median(days, pd.Series([True] * 10), 0.95)
    assert med == 5.0  # first time the survival curve reaches 0.5
    assert lo <= med <= hi
    # 2 of 10 re-treated: the median is not reached (inf, shown as "not reached")
    med, _, _ = km_median(days, pd.Series([True, True] + [False] * 8), 0.95)
    assert med == np.inf
    assert all(np.isnan(km_median(pd.Series([], dtype=float), pd.Series([], dtype=bool), 0.95)))
