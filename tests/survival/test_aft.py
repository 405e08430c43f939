"""Interval-censored AFT models: the Newton-Raphson maximiser, its sandwich, recovery, choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter
from lifelines.datasets import load_diabetes, load_rossi
from survival_synth import TRUE_COEF, TRUE_LOG_MEDIAN, TRUE_SIGMA, TRUE_TAU

from analysis.survival.aft import (
    FitError,
    choose_family,
    compare_dose_slopes,
    design_with_intercept,
    fit_aft,
    fit_matrix,
    predicted_medians,
)
from analysis.survival.covariates import make_spec
from analysis.survival.families import interval_loglik

LIFELINES = {
    "weibull": (WeibullAFTFitter, "lambda_", "rho_", -1.0),
    "lognormal": (LogNormalAFTFitter, "mu_", "sigma_", 1.0),
    "loglogistic": (LogLogisticAFTFitter, "alpha_", "beta_", -1.0),
}


@pytest.fixture(scope="session")
def lognormal_choice(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    return choose_family(lognormal_episodes, spec, ("weibull", "lognormal", "loglogistic"))


def _lifelines_fit(df, spec, family):
    """lifelines' interval-censored fit as (theta in our order, its log-likelihood)."""
    cls, loc, scale, sign = LIFELINES[family]
    x, names = design_with_intercept(df, spec)
    data = pd.DataFrame(x[:, 1:], columns=names[1:])
    lower, upper = df["dur_lower_days"].to_numpy(), df["dur_upper_days"].to_numpy()
    # lifelines' log-normal likelihood is NaN at a lower bound of 0 days
    data["lo"] = np.where(lower == upper, lower, np.maximum(lower, 1e-3))
    data["up"] = upper
    fitter = cls().fit_interval_censoring(data, lower_bound_col="lo", upper_bound_col="up")
    beta = fitter.params_.loc[loc]
    theta = np.r_[beta["Intercept"], beta[names[1:]].to_numpy(), sign * fitter.params_.loc[scale]]
    return theta, float(fitter.log_likelihood_)


def _gradient(df, spec, family, theta, h=1e-6):
    """Central-difference gradient of the total log-likelihood (independent of the fit)."""
    x, _ = design_with_intercept(df, spec)
    lo, up = df["dur_lower_days"].to_numpy(), df["dur_upper_days"].to_numpy()

    def ll(th):
        return interval_loglik(lo, up, x @ th[:-1], np.exp(th[-1]), family).sum()

    eye = np.eye(theta.size) * h
    return np.array([(ll(theta + e) - ll(theta - e)) / (2 * h) for e in eye])


@pytest.mark.parametrize("family", ["loglogistic", "lognormal", "weibull"])
def test_fit_reaches_a_higher_maximum_than_lifelines_with_a_smaller_gradient(
    lognormal_choice, lognormal_episodes, family
):
    fit = lognormal_choice.fits[family]
    spec = fit.spec
    theta_ll, loglik_ll = _lifelines_fit(lognormal_episodes, spec, family)
    # same maximum to lifelines' own tolerance, and never below it
    assert fit.loglik >= loglik_ll - 1e-9
    assert fit.loglik == pytest.approx(loglik_ll, abs=1e-2)
    np.testing.assert_allclose(fit.coef.to_numpy(), theta_ll, atol=5e-3)
    # the gradient, by finite differences of the independent per-row likelihood
    ours = np.abs(_gradient(lognormal_episodes, spec, family, fit.coef.to_numpy())).max()
    theirs = np.abs(_gradient(lognormal_episodes, spec, family, theta_ll)).max()
    assert ours < 1e-4 and ours < theirs
    assert fit.convergence.converged and fit.convergence.max_scaled_gradient <= 1e-8
    assert fit.convergence.max_abs_gradient == pytest.approx(ours, abs=1e-4)


def test_model_choice_picks_the_generating_family(lognormal_choice, weibull_episodes):
    assert lognormal_choice.chosen == "lognormal"
    table = lognormal_choice.aic_table
    assert table["converged"].all() and (table["max_scaled_gradient"] <= 1e-8).all()
    assert (table["iterations"] >= 1).all()
    spec = make_spec(weibull_episodes, "glabella", "ona", 1.0)
    assert choose_family(weibull_episodes, spec, ("weibull", "lognormal")).chosen == "weibull"


def test_lognormal_time_ratios_cover_the_truth(lognormal_choice):
    s = lognormal_choice.fits["lognormal"].summary.set_index(["parameter", "term"]).loc["mu_"]
    truth = pd.Series(0.0, index=s.index)
    truth[list(TRUE_COEF)] = list(TRUE_COEF.values())
    truth["Intercept"] = TRUE_LOG_MEDIAN
    z = (s["coef"] - truth) / s["se_robust"]
    assert (z.abs() < 3.3).all(), z[z.abs() >= 3.3]
    assert (z.abs() < 1.96).mean() >= 0.8
    sigma = lognormal_choice.fits["lognormal"].log_sigma
    assert np.exp(sigma) == pytest.approx(np.hypot(TRUE_SIGMA, TRUE_TAU), rel=0.08)


def test_clustered_se_exceeds_model_se_for_patient_level_covariate(lognormal_choice):
    s = lognormal_choice.fits["lognormal"].summary.set_index("term")
    # sex is constant within patient and the frailty is shared: clustering must widen its interval
    assert s.loc["sex_male", "se_robust"] > 1.05 * s.loc["sex_male", "se_model"]


def test_sandwich_equals_an_independent_numerical_sandwich(lognormal_choice, lognormal_episodes):
    """Scores and Hessian by central differences of the per-row log-likelihood at the fit."""
    fit = lognormal_choice.fits["loglogistic"]
    df = lognormal_episodes
    x, _ = design_with_intercept(df, fit.spec)
    lo, up = df["dur_lower_days"].to_numpy(), df["dur_upper_days"].to_numpy()
    theta = fit.coef.to_numpy()
    h = 1e-5

    def rows(th):
        return interval_loglik(lo, up, x @ th[:-1], np.exp(th[-1]), "loglogistic")

    def scores(th):
        eye = np.eye(th.size) * h
        return np.column_stack([(rows(th + e) - rows(th - e)) / (2 * h) for e in eye])

    s = scores(theta)
    eye = np.eye(theta.size) * 1e-4
    hess = np.column_stack([(scores(theta + e) - scores(theta - e)).sum(0) / 2e-4 for e in eye])
    bread = np.linalg.inv(-(hess + hess.T) / 2)
    per = pd.DataFrame(s).groupby(df["patient_key"].to_numpy()).sum().to_numpy()
    se_num = np.sqrt(np.diag(bread @ per.T @ per @ bread))
    np.testing.assert_allclose(fit.summary["se_robust"], se_num, rtol=1e-5)
    np.testing.assert_allclose(fit.summary["se_model"], np.sqrt(np.diag(bread)), rtol=1e-5)


def test_sandwich_equals_lifelines_robust_variance_with_one_row_per_cluster():
    rossi = load_rossi()
    cols = ["fin", "age", "prio"]
    ref = WeibullAFTFitter().fit(rossi[cols + ["week", "arrest"]], "week", "arrest", robust=True)
    x = np.column_stack([np.ones(len(rossi)), rossi[cols].to_numpy(float)])
    upper = np.where(rossi["arrest"] == 1, rossi["week"], np.inf).astype(float)
    fit = fit_matrix(
        x,
        ["Intercept", *cols],
        rossi["week"].to_numpy(float),
        upper,
        np.arange(len(rossi)),
        "weibull",
    )
    ours = np.sqrt(np.diag(fit.cov_robust.to_numpy()))
    # lifelines orders lambda_ (fin, age, prio, Intercept) then rho_; rho = -log sigma
    theirs = ref.standard_errors_
    np.testing.assert_allclose(
        ours, np.r_[theirs.loc["lambda_"][["Intercept", *cols]], theirs.loc["rho_"]], rtol=1e-4
    )
    assert fit.coef["fin"] == pytest.approx(ref.params_.loc["lambda_"]["fin"], abs=1e-5)


def test_interval_censored_weibull_reproduces_published_diabetes_loglik():
    """lifelines docs, Survival Regression, "Left, right and interval censored data":
    WeibullAFTFitter on load_diabetes (gender) prints log-likelihood = -2027.20,
    coefficients gender 0.05, intercept 2.91, rho intercept 1.04."""
    df = load_diabetes()
    male = (df["gender"] == "male").to_numpy(float)
    x = np.column_stack([np.ones(male.size), male])
    fit = fit_matrix(
        x,
        ["Intercept", "male"],
        df["left"].to_numpy(float),
        df["right"].to_numpy(float),
        np.arange(male.size),
        "weibull",
    )
    assert fit.loglik == pytest.approx(-2027.20, abs=0.005)
    assert fit.coef["Intercept"] == pytest.approx(2.91, abs=0.005)
    assert fit.coef["male"] == pytest.approx(0.05, abs=0.005)
    assert -fit.coef["log_sigma"] == pytest.approx(1.04, abs=0.005)  # rho = 1 / sigma


def test_a_fit_that_does_not_converge_names_the_family_and_gradient(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    with pytest.raises(FitError, match=r"weibull AFT did not converge in 1 Newton.*gradient"):
        fit_aft(lognormal_episodes, "weibull", spec, max_iter=1)


def test_a_level_absent_from_the_data_is_named(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    no_daxi = lognormal_episodes[lognormal_episodes["product"] != "daxi"]
    with pytest.raises(FitError, match=r"product_daxi.*do not vary"):
        fit_aft(no_daxi, "lognormal", spec)


def test_region_slope_test_finds_slopes_only_when_they_differ(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    same, _, _ = compare_dose_slopes(lognormal_episodes, spec, "lognormal", 0.05)
    assert not same.region_specific
    df = lognormal_episodes.copy()
    lip = df["region"] == "lip_flip"
    shift = 0.35 * np.minimum(df["log2_rel_dose"], 1.0)
    # a steeper lip slope: move the observed bounds by the extra dose effect (AFT: scale time)
    for col in ("dur_lower_days", "dur_upper_days"):
        df.loc[lip, col] = df.loc[lip, col] * np.exp(shift[lip])
    differ, _, _ = compare_dose_slopes(df, spec, "lognormal", 0.05)
    assert differ.region_specific and differ.p_value < 1e-3


def test_predicted_median_interval_contains_the_true_reference_median(lognormal_choice):
    profile = pd.DataFrame(
        {
            "region": ["glabella", "glabella"],
            "product": ["ona", "ona"],
            "log2_rel_dose": [0.0, 1.0],
            "muscle_bulk": [2, 2],
            "exercise_met_h_week": [0.0, 0.0],
            "sex": ["F", "F"],
            "age_years": [45.0, 45.0],
            "cycle": [1, 1],
            "baseline_severity": [2, 2],
        }
    )
    fit = lognormal_choice.fits["lognormal"]
    out = predicted_medians(fit, profile)
    assert out.loc[0, "median_lower"] <= 140.0 <= out.loc[0, "median_upper"]
    # the median is exp(x'beta) for the log-normal; twice the dose adds the slope below the knot
    ratio = out.loc[1, "median_days"] / out.loc[0, "median_days"]
    assert ratio == pytest.approx(np.exp(fit.coef["dose_slope_below_knot"]), rel=1e-12)
    np.testing.assert_allclose(out["median_days"], fit.median_days(profile), rtol=1e-12)
