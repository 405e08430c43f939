"""Turnbull NPMLE, bootstrap intervals and the generalised log-rank test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from analysis.survival.nonparametric import (
    NPMLEError,
    TurnbullData,
    bootstrap_npmle,
    fit_npmle,
    generalised_logrank,
    innermost_intervals,
    median_days,
    turnbull,
    turnbull_by,
)


def _right_censored(n=400, seed=1):
    rng = np.random.default_rng(seed)
    t = rng.weibull(1.5, n) * 100
    c = rng.uniform(20, 200, n)
    obs = np.minimum(t, c).round(1)
    event = t <= c
    return obs, event


def test_npmle_equals_kaplan_meier_on_exact_and_right_censored_data():
    obs, event = _right_censored()
    npmle = fit_npmle(obs, np.where(event, obs, np.inf), kkt_tol=1e-10)
    km = KaplanMeierFitter().fit(obs, event)
    times = np.array([10.0, 40.0, 80.0, 120.05, 150.0])
    np.testing.assert_allclose(
        npmle.survival(times), km.survival_function_at_times(times).to_numpy(), atol=1e-6
    )


def _visit_intervals(n, seed, visits=6, ties=False):
    rng = np.random.default_rng(seed)
    grid = np.sort(rng.uniform(0, 250, (n, visits)), 1)
    if ties:
        grid = grid.round(-1)
    t = rng.lognormal(np.log(120), 0.3, n)
    k = (grid < t[:, None]).sum(1)
    lo = np.where(k > 0, grid[np.arange(n), np.maximum(k - 1, 0)], 0)
    up = np.where(k < visits, grid[np.arange(n), np.minimum(k, visits - 1)], np.inf)
    up = np.where(up == lo, up + 5, up)
    return lo, up


def _dense_kkt(lo, up, npmle, w=None):
    """``d_j / n`` from the dense clique matrix (independent of the solver's blocks)."""
    w = np.ones(lo.size) if w is None else w
    keep = w > 0
    lo, up, w = lo[keep], up[keep], w[keep]
    alpha = (lo[:, None] <= npmle.left[None, :]) & (npmle.right[None, :] <= up[:, None])
    return (w[:, None] * alpha / (alpha @ npmle.mass)[:, None]).sum(0) / w.sum()


def test_npmle_matches_lifelines_turnbull_on_interval_data():
    lo, up = _visit_intervals(400, 2)  # no ties: lifelines reads intervals as closed
    ours = fit_npmle(lo, up, kkt_tol=1e-10)
    ref = KaplanMeierFitter().fit_interval_censoring(lo, up).survival_function_
    # compare where lifelines' curve is determined (its upper and lower versions agree)
    determined = ref[np.isclose(ref["NPMLE_estimate_upper"], ref["NPMLE_estimate_lower"])]
    np.testing.assert_allclose(
        ours.survival(determined.index.to_numpy()),
        determined["NPMLE_estimate_lower"].to_numpy(),
        atol=5e-3,
    )
    assert len(determined) > 50


@pytest.mark.parametrize("ties", [False, True])
def test_npmle_meets_the_kkt_conditions_it_reports(ties):
    """Gentleman & Geyer (1994): d_j <= n everywhere, = n where the NPMLE puts mass."""
    lo, up = _visit_intervals(500, 3, ties=ties)
    fit = fit_npmle(lo, up, kkt_tol=1e-9)
    d = _dense_kkt(lo, up, fit)
    assert fit.converged and fit.kkt_violation <= 1e-9
    assert d.max() - 1 == pytest.approx(fit.kkt_violation, abs=1e-12)
    np.testing.assert_allclose(d[fit.mass > 1e-6], 1.0, atol=1e-8)
    # a looser rule stops earlier with a larger, still reported, violation
    loose = fit_npmle(lo, up, kkt_tol=1e-2)
    assert 1e-9 < loose.kkt_violation <= 1e-2 or loose.n_iter <= fit.n_iter


def test_npmle_is_the_maximum_plain_em_converges_to():
    """The self-consistency (EM) iteration of Turnbull (1976), run to a standstill on the dense
    clique matrix, reaches the same curve and no higher likelihood."""
    lo, up = _visit_intervals(300, 4, visits=4)
    fit = fit_npmle(lo, up, kkt_tol=1e-10)
    alpha = ((lo[:, None] <= fit.left[None, :]) & (fit.right[None, :] <= up[:, None])).astype(float)
    p = np.full(fit.left.size, 1 / fit.left.size)
    for _ in range(20000):
        p = p * (alpha / (alpha @ p)[:, None]).mean(0)
    assert np.log(alpha @ fit.mass).sum() >= np.log(alpha @ p).sum() - 1e-9
    grid = np.linspace(0, 260, 131)
    em = type(fit)(fit.left, fit.right, p, 0, 0.0, 1.0)
    np.testing.assert_allclose(fit.survival(grid), em.survival(grid), atol=2e-4)


def test_npmle_reaches_the_kkt_conditions_where_an_active_set_step_used_to_stall():
    """A 657-episode risk group of the demo cohort (simulated bounds only) on which the solver
    used to stop at a KKT violation of 2.9e-4, then 2.2e-7 after 490 iterations: the active
    set's blocking coordinate was left at 1e-18 instead of 0, the inner loop ran out and
    returned an infeasible target with negative masses, which no later step could remove. It
    must now meet a tight rule in a few Newton steps, with no negative mass."""
    data = pd.read_csv(Path(__file__).parent / "data" / "npmle_slow_support.csv")
    lower, upper = data["dur_lower_days"].to_numpy(), data["dur_upper_days"].to_numpy()
    fit = fit_npmle(lower, upper, kkt_tol=1e-10)
    assert fit.kkt_violation <= 1e-10 and fit.n_iter <= 20
    assert fit.mass.min() >= 0.0 and fit.mass.sum() == pytest.approx(1.0, abs=1e-12)
    d = _dense_kkt(lower, upper, fit)
    assert d.max() - 1 == pytest.approx(fit.kkt_violation, abs=1e-12)


def test_bootstrap_replicates_are_weighted_npmles_from_any_start():
    """A replicate (warm-started at the full-sample NPMLE) equals the weighted NPMLE fitted
    from uniform masses, and meets the KKT conditions of its own weights."""
    lo, up = _visit_intervals(600, 5)
    patient = np.arange(lo.size) // 3
    data = TurnbullData.from_bounds(lo, up)
    full = fit_npmle(lo, up, kkt_tol=1e-9)
    boot = bootstrap_npmle(data, full, patient, 12, np.random.default_rng(9), kkt_tol=1e-9)
    assert boot.mass.shape == (full.mass.size, 12) and boot.converged
    counts = np.random.default_rng(9).integers(0, 200, size=(12, 200))
    grid = np.linspace(0, 260, 66)
    for b in (0, 7):
        w = np.bincount(counts[b], minlength=200)[patient].astype(float)
        ref = fit_npmle(lo, up, weights=w, kkt_tol=1e-11)
        one = type(full)(full.left, full.right, boot.mass[:, b], 0, 0.0, 1.0)
        np.testing.assert_allclose(one.survival(grid), ref.survival(grid), atol=1e-6)
        assert _dense_kkt(lo, up, one, w).max() - 1 <= 1e-9


def test_replicates_split_over_threads_equal_one_loop_over_them():
    """The bootstrap's threads (one per core) give exactly the compiled solver's single loop."""
    from analysis.survival import npmle_solver

    lo, up = _visit_intervals(600, 5)
    patient = np.arange(lo.size) // 3
    data = TurnbullData.from_bounds(lo, up)
    full = fit_npmle(lo, up, kkt_tol=1e-9)
    boot = bootstrap_npmle(data, full, patient, 13, np.random.default_rng(4), kkt_tol=1e-9)
    counts = np.random.default_rng(4).integers(0, 200, size=(13, 200))
    per_patient = np.stack([np.bincount(row, minlength=200) for row in counts], axis=1)
    w = data.block_weights(per_patient[patient].astype(float))
    mass, iters, viol = npmle_solver.fit_many(data.first, data.last, w, full.mass, 1e-9, 500)
    assert np.array_equal(boot.mass, mass) and np.array_equal(boot.kkt_violation, viol)
    assert np.array_equal(boot.n_iter, iters)


def test_point_estimate_that_misses_the_kkt_rule_raises():
    lo, up = _visit_intervals(300, 6)
    with pytest.raises(NPMLEError, match=r"group=x: KKT violation .* above the tolerance"):
        turnbull(lo, up, np.arange(lo.size), n_boot=20, seed=1, group="group=x", max_iter=1)


def test_innermost_intervals_treat_touching_intervals_as_disjoint():
    left, right = innermost_intervals(np.array([0.0, 10.0]), np.array([10.0, 20.0]))
    np.testing.assert_array_equal(left, [0.0, 10.0])
    np.testing.assert_array_equal(right, [10.0, 20.0])


def test_median_and_bootstrap_interval_cover_a_known_median():
    rng = np.random.default_rng(3)
    n = 600
    t = rng.lognormal(np.log(130), 0.25, n)
    visits = np.sort(rng.uniform(20, 260, (n, 6)), 1)
    k = (visits < t[:, None]).sum(1)
    lo = np.where(k > 0, visits[np.arange(n), np.maximum(k - 1, 0)], 0)
    up = np.where(k < 6, visits[np.arange(n), np.minimum(k, 5)], np.inf)
    res = turnbull(lo, up, np.arange(n) // 3, n_boot=100, seed=1)
    med = res.summary.set_index("quantity").loc["median_duration"]
    assert med["lower"] <= 130.0 <= med["upper"]
    assert med["kkt_violation"] <= 1e-7 and med["boot_kkt_violation_max"] <= 1e-7
    assert med["n_boot_not_converged"] == 0
    assert abs(med["estimate"] - 130.0) / 130.0 < 0.05
    wk16 = res.summary.set_index("quantity").loc["still_effective_week_16"]
    true16 = 1 - __import__("scipy.stats").stats.norm.cdf(np.log(112 / 130) / 0.25)
    assert wk16["lower"] <= true16 <= wk16["upper"]
    assert (res.curve["lower"] <= res.curve["survival"] + 1e-9).all()
    assert (res.curve["survival"] <= res.curve["upper"] + 1e-9).all()


def test_turnbull_by_lists_levels_too_small_to_estimate(lognormal_episodes):
    df = lognormal_episodes.copy()
    small = df["region"].unique()[0]
    keep = df.index[df["region"] == small][:7]
    df = df[(df["region"] != small) | df.index.isin(keep)]
    res, too_few = turnbull_by(
        df, "region", n_boot=20, seed=1, report_weeks=(12, 16), min_episodes=20
    )
    assert str(small) not in res
    assert set(res) == set(map(str, df["region"].unique())) - {str(small)}
    # one row per quantity, same format as an estimated level's summary, counts kept, no estimates
    assert too_few["quantity"].tolist() == [
        "median_duration",
        "still_effective_week_12",
        "still_effective_week_16",
    ]
    assert (too_few["group"] == f"region={small}").all() and (too_few["level"] == str(small)).all()
    assert (too_few["n_episodes"] == 7).all()
    assert (too_few["n_patients"] == df.loc[keep, "patient_key"].nunique()).all()
    assert too_few[["estimate", "lower", "upper"]].isna().all().all()
    estimated = next(iter(res.values())).summary
    assert set(estimated.columns) <= set(too_few.columns)


def test_median_is_nan_when_curve_stays_above_half():
    # mass 1/3 on (10, 20], 2/3 beyond 60 days: the curve never falls to 0.5
    npmle = fit_npmle(np.array([10.0, 50.0, 60.0]), np.array([20.0, np.inf, np.inf]))
    assert np.isnan(median_days(npmle)[0])


def test_generalised_logrank_reduces_to_logrank_on_right_censored_data():
    obs, event = _right_censored(n=500, seed=4)
    rng = np.random.default_rng(5)
    g = rng.integers(0, 2, obs.size)
    obs = np.where(g == 1, obs * 1.6, obs)
    df = pd.DataFrame(
        {
            "dur_lower_days": obs,
            "dur_upper_days": np.where(event, obs, np.inf),
            "g": g,
            "patient_key": np.arange(obs.size),
        }
    )
    ours = generalised_logrank(df, "g")
    ref = logrank_test(obs[g == 0], obs[g == 1], event[g == 0], event[g == 1])
    assert ref.p_value < 1e-3 and ours.p_value < 1e-3
    # same scores; the variance differs (clustered sandwich vs hypergeometric)
    assert ours.chi2 == pytest.approx(ref.test_statistic, rel=0.15)


def test_generalised_logrank_does_not_reject_under_the_null(lognormal_episodes):
    df = lognormal_episodes[lognormal_episodes["region"] == "glabella"].copy()
    df["coin"] = np.random.default_rng(6).integers(0, 3, len(df))
    assert generalised_logrank(df, "coin").p_value > 0.01


def test_stratified_logrank_detects_a_covariate_effect(lognormal_episodes):
    res = generalised_logrank(lognormal_episodes, "product", strata="region")
    assert res.df == 2
    assert res.p_value < 1e-6  # daxi lasts 25% longer in the simulation
