"""Interval-censored AFT models: likelihood, clustered sandwich, recovery, model choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import WeibullAFTFitter
from lifelines.datasets import load_diabetes, load_rossi
from scipy import optimize
from survival_synth import TRUE_COEF, TRUE_LOG_MEDIAN, TRUE_SIGMA, TRUE_TAU, synthetic_episodes

from analysis.survival.aft import (
    choose_family,
    clustered_covariance,
    compare_dose_slopes,
    fit_aft,
    loglik_rows,
    predicted_medians,
)
from analysis.survival.covariates import make_spec


@pytest.fixture(scope="session")
def lognormal_choice(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    return choose_family(lognormal_episodes, spec, ("weibull", "lognormal", "loglogistic"))


@pytest.mark.parametrize("family", ["loglogistic", "lognormal", "weibull"])
def test_row_loglik_sums_to_lifelines_loglik(lognormal_choice, lognormal_episodes, family):
    fit = lognormal_choice.fits[family]
    ll = loglik_rows(
        family,
        fit.linear_predictor(lognormal_episodes),
        fit.log_sigma,
        np.maximum(lognormal_episodes["dur_lower_days"], 1e-3).where(
            lognormal_episodes["dur_lower_days"] != lognormal_episodes["dur_upper_days"],
            lognormal_episodes["dur_lower_days"],
        ),
        lognormal_episodes["dur_upper_days"],
    )
    assert ll.sum() == pytest.approx(fit.loglik, abs=1e-6)


def test_model_choice_picks_the_generating_family(lognormal_choice, weibull_episodes):
    assert lognormal_choice.chosen == "lognormal"
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


def test_sandwich_equals_lifelines_robust_variance_with_one_row_per_cluster():
    rossi = load_rossi()
    cols = ["fin", "age", "prio"]
    ref = WeibullAFTFitter().fit(rossi[cols + ["week", "arrest"]], "week", "arrest", robust=True)
    fitter = WeibullAFTFitter().fit(rossi[cols + ["week", "arrest"]], "week", "arrest")
    data = rossi[cols].astype(float).copy()
    data["dur_lower_days"] = rossi["week"].astype(float)
    data["dur_upper_days"] = np.where(rossi["arrest"] == 1, rossi["week"], np.inf)
    cov = clustered_covariance(fitter, "weibull", data, np.arange(len(rossi)))
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.standard_errors_.to_numpy(), rtol=1e-4)


def test_interval_censored_weibull_reproduces_published_diabetes_loglik():
    """lifelines docs, Survival Regression, "Left, right and interval censored data":
    WeibullAFTFitter on load_diabetes (gender) prints log-likelihood = -2027.20,
    coefficients gender 0.05, intercept 2.91, rho intercept 1.04. Maximised here with our own
    per-row likelihood (independent of lifelines' optimiser)."""
    df = load_diabetes()
    male = (df["gender"] == "male").to_numpy(float)
    lo, up = df["left"].to_numpy(float), df["right"].to_numpy(float)

    def nll(theta):
        return -loglik_rows("weibull", theta[0] + theta[1] * male, theta[2], lo, up).sum()

    res = optimize.minimize(
        nll,
        x0=[np.log(np.median(up)), 0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 5000},
    )
    assert -res.fun == pytest.approx(-2027.20, abs=0.005)
    assert res.x[0] == pytest.approx(2.91, abs=0.005)
    assert res.x[1] == pytest.approx(0.05, abs=0.005)
    assert -res.x[2] == pytest.approx(1.04, abs=0.005)  # rho = 1 / sigma


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
            "region": ["glabella"],
            "product": ["ona"],
            "log2_rel_dose": [0.0],
            "muscle_bulk": [2],
            "exercise_met_h_week": [0.0],
            "sex": ["F"],
            "age_years": [45.0],
            "cycle": [1],
            "baseline_severity": [2],
        }
    )
    out = predicted_medians(lognormal_choice.fits["lognormal"], profile).iloc[0]
    assert out["median_lower"] <= 140.0 <= out["median_upper"]


def test_generalised_gamma_likelihood_matches_lifelines_and_nests_the_lognormal():
    df = synthetic_episodes(300, seed=21)
    spec = make_spec(df, "glabella", "ona", 1.0)
    gg = fit_aft(df, "gengamma", spec)
    ln = fit_aft(df, "lognormal", spec)
    lo = df["dur_lower_days"].where(
        df["dur_lower_days"] == df["dur_upper_days"], df["dur_lower_days"].clip(lower=1e-3)
    )
    ll = loglik_rows(
        "gengamma", gg.linear_predictor(df), gg.log_sigma, lo, df["dur_upper_days"], gg.shape
    )
    assert ll.sum() == pytest.approx(gg.loglik, abs=1e-6)
    assert gg.loglik >= ln.loglik - 1e-3  # lambda = 0 is the log-normal
    assert abs(gg.shape) < 3 * gg.summary.set_index("parameter").loc["lambda_", "se_model"]
