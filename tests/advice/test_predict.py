"""The predictive mixture against closed forms (log-normal model, known parameters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.advice.predict import PosteriorDraws, predictive, weighted_quantile
from analysis.advice.spec import design_arrays
from analysis.validation.advice_synthetic import default_truth

SIGMA, TAU = 0.25, 0.20


@pytest.fixture(scope="module")
def spec(advice_spec):
    return advice_spec


@pytest.fixture(scope="module")
def point_draws(spec):
    """A 'posterior' of 4 identical draws at the synthetic truth: predictions have closed forms."""
    truth = default_truth(spec)
    mu = np.array([truth.mu_region[r] for r in spec.regions])
    beta = np.array([truth.beta[c] for c in spec.covariate_names])
    s = 4
    return PosteriorDraws(
        family="lognormal",
        spec=spec,
        mu_region=np.tile(mu, (s, 1)),
        beta=np.tile(beta, (s, 1)),
        sigma=np.full(s, SIGMA),
        tau=np.full(s, TAU),
    )


def _row(**over) -> pd.DataFrame:
    base = dict(
        region="glabella",
        product="ona",
        log2_rel_dose=0.0,
        muscle_bulk=2,
        exercise_met_h_week=10.0,
        sex="F",
        age_years=45,
        cycle=1,
        baseline_severity=2,
    )
    base.update(over)
    return pd.DataFrame([base])


def _eta(draws, row):
    idx, X = design_arrays(row, draws.spec)
    return float(draws.mu_region[0, idx[0]] + X[0] @ draws.beta[0])


def test_population_prediction_is_the_frailty_marginal(point_draws):
    row = _row()
    pred = predictive(point_draws, row)
    eta = _eta(point_draws, row)
    total_sd = np.hypot(SIGMA, TAU)  # log T = eta + u + sigma eps, u ~ N(0, tau^2)
    t = np.array([60.0, 120.0, 200.0])
    np.testing.assert_allclose(
        pred.survival(t), stats.norm.sf((np.log(t) - eta) / total_sd), atol=1e-6
    )
    q = pred.quantile([0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        np.log(q), eta + total_sd * stats.norm.ppf([0.1, 0.5, 0.9]), atol=1e-5
    )
    assert not pred.personalised


def test_exact_history_gives_the_conjugate_frailty_posterior(point_draws):
    row = _row()
    eta = _eta(point_draws, row)
    # three exact past durations of 0.7 x the population median in the same region
    past = np.exp(eta) * 0.7
    hist = pd.concat([_row(cycle=k) for k in (1, 2, 3)], ignore_index=True)
    hist["cycle"] = [1, 2, 3]
    etas = np.array([_eta(point_draws, hist.iloc[[j]]) for j in range(3)])
    hist["dur_lower_days"] = hist["dur_upper_days"] = past
    pred = predictive(point_draws, _row(cycle=4), hist)
    # u | data ~ N(m, v): v = 1 / (1/tau^2 + n/sigma^2), m = v * sum(log t - eta_j) / sigma^2
    v = 1.0 / (1.0 / TAU**2 + 3 / SIGMA**2)
    m = v * np.sum(np.log(past) - etas) / SIGMA**2
    eta_new = _eta(point_draws, _row(cycle=4))
    sd = np.sqrt(SIGMA**2 + v)
    q = pred.quantile([0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        np.log(q), eta_new + m + sd * stats.norm.ppf([0.1, 0.5, 0.9]), atol=2e-4
    )
    assert pred.personalised and pred.n_history == 3
    # a patient who wore off early is predicted to wear off early again
    assert q[1] < predictive(point_draws, _row(cycle=4)).quantile([0.5])[0]


def test_right_censored_history_lengthens_the_prediction(point_draws):
    row = _row(cycle=2)
    hist = _row()
    hist["dur_lower_days"] = 250.0  # still responding at day 250: a long-lasting patient
    hist["dur_upper_days"] = np.inf
    base = predictive(point_draws, row).quantile([0.5])[0]
    pers = predictive(point_draws, row, hist).quantile([0.5])[0]
    assert pers > base * 1.05


def test_log_prob_interval_matches_survival_difference(point_draws):
    pred = predictive(point_draws, _row())
    got = pred.log_prob_interval(90.0, 150.0)
    s = pred.survival(np.array([90.0, 150.0]))
    assert got == pytest.approx(np.log(s[0] - s[1]), rel=1e-9)


def test_weighted_quantile_agrees_with_numpy_for_equal_weights():
    x = np.random.default_rng(1).normal(size=(2001, 2))
    got = weighted_quantile(x, np.ones(2001), np.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(got, np.quantile(x, [0.1, 0.5, 0.9], axis=0, method="inverted_cdf"))


def test_frailty_grid_matches_closed_form_when_history_is_uninformative(point_draws):
    # a history censored at 1e-6 days has likelihood ~1: the grid path must reproduce the
    # closed-form frailty marginal of the no-history log-normal shortcut
    row = _row(cycle=2)
    hist = _row()
    hist["dur_lower_days"], hist["dur_upper_days"] = 1e-6, np.inf
    grid = predictive(point_draws, row, hist)
    exact = predictive(point_draws, row)
    assert grid.personalised and len(grid.loc) > len(exact.loc)
    np.testing.assert_allclose(
        grid.quantile([0.1, 0.5, 0.9]), exact.quantile([0.1, 0.5, 0.9]), rtol=1e-4
    )
    t = np.array([56.0, 84.0, 112.0, 140.0])
    np.testing.assert_allclose(grid.survival(t), exact.survival(t), atol=1e-6)


@pytest.mark.parametrize("family", ["weibull", "loglogistic"])
def test_quantile_inverts_the_predictive_cdf(point_draws, family):
    from dataclasses import replace

    draws = replace(point_draws, family=family)
    pred = predictive(draws, _row())
    q = pred.quantile([0.1, 0.5, 0.8, 0.9])
    np.testing.assert_allclose(1 - pred.survival(q), [0.1, 0.5, 0.8, 0.9], atol=2e-5)
