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


# ------------------------------------------------------------------ patient-clustered intervals
def _clustered_binary(rng, n_reps, n_patients, per_patient, p, icc):
    """Events of ``n_reps`` cohorts: beta-binomial patients (intra-class correlation ``icc``)."""
    a = p * (1 - icc) / icc
    b = (1 - p) * (1 - icc) / icc
    risk = rng.beta(a, b, size=(n_reps, n_patients))
    return rng.random((n_reps, n_patients, per_patient)) < risk[..., None]


def test_design_effect_matches_one_plus_cluster_size_minus_one_times_icc():
    from analysis.cohort.intervals import design_effect

    rng = np.random.default_rng(5)
    events = _clustered_binary(rng, 1, 20000, 4, 0.2, 0.25)[0]
    deff = design_effect(events.sum(axis=1), np.full(20000, 4))
    assert deff == pytest.approx(1 + 3 * 0.25, rel=0.06)
    # independent episodes: no inflation (floored at 1, close to it)
    independent = rng.random((20000, 4)) < 0.2
    assert design_effect(independent.sum(axis=1), np.full(20000, 4)) == pytest.approx(1, abs=0.04)


def test_clustered_wilson_covers_nominally_where_the_naive_interval_under_covers():
    from analysis.cohort.intervals import clustered_rate

    rng = np.random.default_rng(11)
    n_reps, n_pat, per, p = 600, 250, 4, 0.06
    events = _clustered_binary(rng, n_reps, n_pat, per, p, 0.3)
    patient = np.repeat(np.arange(n_pat), per)
    naive_hits = clustered_hits = 0
    for rep in events.reshape(n_reps, -1):
        lo, hi = wilson_interval(np.array([rep.sum()]), np.array([rep.size]), 0.95)
        naive_hits += lo[0] <= p <= hi[0]
        r = clustered_rate(rep, patient, 0.95)
        clustered_hits += r.lower <= p <= r.upper
    se = np.sqrt(0.95 * 0.05 / n_reps)
    assert naive_hits / n_reps < 0.95 - 5 * se  # about 0.84: the naive interval is too narrow
    assert abs(clustered_hits / n_reps - 0.95) < 3 * se + 0.01


def test_clustered_rate_reports_the_counts_and_effective_size():
    from analysis.cohort.intervals import clustered_rate

    r = clustered_rate(np.array([1, 1, 0, 0, 0, 0]), np.array([1, 1, 2, 2, 3, 3]), 0.95)
    assert (r.n, r.k, r.n_patients, r.rate) == (6, 2, 3, pytest.approx(1 / 3))
    # both events in one patient: deff = 3/2 * (2 - 2/3)^2 + 2 (2/3)^2 ... over 6 p(1-p)
    expected = 1.5 * ((2 - 2 / 3) ** 2 + 2 * (2 / 3) ** 2) / 36 / ((1 / 3) * (2 / 3) / 6)
    assert r.design_effect == pytest.approx(expected)
    assert r.effective_n == pytest.approx(6 / expected)
    none = clustered_rate(np.zeros(6, bool), np.array([1, 1, 2, 2, 3, 3]), 0.95)
    assert none.design_effect == 1.0  # no event: no information on the correlation
    assert none.upper == pytest.approx(wilson_interval(np.array([0]), np.array([6]), 0.95)[1][0])


def test_weighted_km_median_equals_lifelines_with_unit_weights():
    from analysis.cohort.intervals import km_median_clustered

    rng = np.random.default_rng(3)
    for n in (7, 60, 500):
        days = np.round(rng.exponential(100, n))  # ties
        event = rng.random(n) < 0.7
        med, _, _ = km_median_clustered(days, event, np.arange(n), 0.95, 100, 1)
        ref, _, _ = km_median(pd.Series(days), pd.Series(event), 0.95)
        assert med == ref


def _dense_bootstrap_medians(days, event, patient, n_boot, seed):
    """The previous implementation as a reference: the weighted Kaplan-Meier curve of each
    replicate over a dense replicates x episodes array of patient counts."""
    order = np.argsort(days, kind="stable")
    t, d = days[order], event[order].astype(float)
    codes, _ = pd.factorize(patient[order], sort=False)
    m = int(codes.max()) + 1
    picks = np.random.default_rng(seed).integers(0, m, size=(n_boot, m))  # the same draws
    counts = np.stack([np.bincount(row, minlength=m) for row in picks])
    w = counts[:, codes].astype(float)
    uniq, start = np.unique(t, return_index=True)
    end = np.r_[start[1:], len(t)]
    cum_w = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(w, axis=1)], axis=1)
    cum_d = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(w * d, axis=1)], axis=1)
    at_risk = cum_w[:, -1:] - cum_w[:, start]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, (cum_d[:, end] - cum_d[:, start]) / at_risk, 0.0)
    below = np.cumprod(1.0 - hazard, axis=1) <= 0.5 + 1e-12
    return np.where(below.any(axis=1), uniq[np.argmax(below, axis=1)], np.inf)


def test_bootstrap_interval_equals_the_dense_replicates_x_episodes_computation():
    """The replicates are fitted from sparse (patient x distinct day) tables; the percentile
    interval is exactly that of the dense weighted Kaplan-Meier curves (integer weights)."""
    from analysis.cohort.intervals import km_median_clustered

    rng = np.random.default_rng(5)
    patient = rng.integers(0, 80, 400).astype(str)  # about 5 episodes a patient, unsorted
    days = np.round(rng.exponential(100, 400))  # ties within and across patients
    event = rng.random(400) < 0.6
    n_boot, seed = 200, 11
    _, lo, hi = km_median_clustered(days, event, patient, 0.9, n_boot, seed)
    reps = np.sort(_dense_bootstrap_medians(days, event, patient, n_boot, seed))
    assert (lo, hi) == (reps[int(np.floor(0.05 * 199))], reps[int(np.ceil(0.95 * 199))])
    assert lo < hi


def test_patient_bootstrap_median_covers_nominally_on_clustered_times():
    from analysis.cohort.intervals import km_median_clustered

    rng = np.random.default_rng(8)
    n_reps, n_pat, per = 150, 120, 4
    frailty, resid, log_med = 0.8, 0.3, np.log(120.0)
    true_median = 120.0  # log T ~ N(log 120, 0.8^2 + 0.3^2): the marginal median is 120
    patient = np.repeat(np.arange(n_pat), per)
    naive_hits = boot_hits = 0
    for _ in range(n_reps):
        u = rng.normal(0, frailty, n_pat)[patient]
        t = np.exp(log_med + u + rng.normal(0, resid, n_pat * per))
        cens = rng.uniform(100, 600, n_pat * per)
        days, event = np.minimum(t, cens), t <= cens
        _, lo, hi = km_median(pd.Series(days), pd.Series(event), 0.95)
        naive_hits += lo <= true_median <= hi
        _, lo, hi = km_median_clustered(days, event, patient, 0.95, 300, int(rng.integers(1e9)))
        boot_hits += lo <= true_median <= hi
    se = np.sqrt(0.95 * 0.05 / n_reps)
    assert naive_hits / n_reps < 0.95 - 4 * se  # about 0.75 with 4 episodes a patient
    assert abs(boot_hits / n_reps - 0.95) < 3 * se + 0.02
