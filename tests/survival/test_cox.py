"""Cox model: published Rossi estimates, fast clustered sandwich, PH score tests and action."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from statsmodels.duration.hazard_regression import PHReg

from analysis.survival.cox import (
    _partial_likelihood,
    fit_cox,
    fit_retreatment,
    ph_score_tests,
    ph_test,
    score_residuals,
    split_at,
)

ROSSI = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def test_rossi_efron_estimates_match_published_values():
    """Published Rossi recidivism Cox model (Efron ties): fin -0.3794 (0.1914),
    age -0.0574 (0.0220), prio 0.0915 (0.0286) (Fox & Weisberg, Cox appendix; lifelines docs)."""
    r = load_rossi().assign(pid=lambda d: np.arange(len(d)))
    s = fit_cox(r, "week", "arrest", ROSSI, cluster_col="pid").summary.set_index("term")
    for term, coef, se in (
        ("fin", -0.3794, 0.1914),
        ("age", -0.0574, 0.0220),
        ("prio", 0.0915, 0.0286),
    ):
        assert s.loc[term, "coef"] == pytest.approx(coef, abs=5e-5)
        assert s.loc[term, "se_model"] == pytest.approx(se, abs=5e-5)


def _clustered_untied(n=600, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 150, n)
    x = rng.normal(size=(n, 3))
    u = rng.normal(0, 0.5, 150)[g]
    t = rng.exponential(1 / np.exp(x @ [0.5, -0.3, 0.2] + u))
    c = rng.exponential(2, n)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    return df.assign(t=np.minimum(t, c), e=t <= c, pid=g, s=rng.integers(0, 2, n))


@pytest.mark.parametrize("strata", [None, ["s"]])
def test_fast_clustered_se_equals_lifelines_cluster_col(strata):
    df = _clustered_untied()
    ref = CoxPHFitter().fit(
        df[["a", "b", "c", "t", "e", "pid"] + (strata or [])],
        "t",
        "e",
        cluster_col="pid",
        strata=strata,
    )
    ours = fit_cox(df, "t", "e", ["a", "b", "c"], cluster_col="pid", strata=strata)
    np.testing.assert_allclose(
        ours.summary["se_robust"], ref.standard_errors_.to_numpy(), atol=1e-6
    )


def test_episode_splitting_with_delayed_entry_leaves_fit_and_sandwich_unchanged():
    df = _clustered_untied()
    whole = fit_cox(df, "t", "e", ["a", "b", "c"], cluster_col="pid")
    split = fit_cox(
        split_at(df, "t", "e", float(df["t"].median()), []),
        "t",
        "e",
        ["a", "b", "c"],
        cluster_col="pid",
        entry_col="entry_days",
    )
    np.testing.assert_allclose(split.summary["coef"], whole.summary["coef"], atol=1e-6)
    np.testing.assert_allclose(split.summary["se_robust"], whole.summary["se_robust"], atol=1e-6)


def test_breslow_score_residuals_match_statsmodels_with_ties():
    r = load_rossi()
    x = r[ROSSI].to_numpy(float)
    model = PHReg(r["week"].to_numpy(float), x, status=r["arrest"].to_numpy(), ties="breslow")
    beta = model.fit().params
    ours = score_residuals(
        x, r["week"].to_numpy(float), r["arrest"].to_numpy(bool), beta, ties="breslow"
    )
    np.testing.assert_allclose(ours, model.score_residuals(beta), atol=1e-8)


def test_efron_score_residuals_sum_to_the_efron_score():
    r = load_rossi()
    x = r[ROSSI].to_numpy(float)
    fitted = CoxPHFitter().fit(r, "week", "arrest").params_[ROSSI].to_numpy()
    res = score_residuals(x, r["week"].to_numpy(float), r["arrest"].to_numpy(bool), fitted)
    # at the Efron MLE the total score vanishes; away from it the sum is the gradient of the
    # Efron loglik
    assert np.abs(res.sum(0)).max() < 1e-3
    beta = fitted + 0.05
    h = 1e-6
    cph = CoxPHFitter()
    grad = []
    for k in range(len(beta)):
        e = np.zeros(len(beta))
        e[k] = h
        grad.append((_efron_loglik(x, r, beta + e) - _efron_loglik(x, r, beta - e)) / (2 * h))
    np.testing.assert_allclose(
        score_residuals(x, r["week"].to_numpy(float), r["arrest"].to_numpy(bool), beta).sum(0),
        grad,
        rtol=1e-5,
        atol=1e-5,
    )
    del cph


def _efron_loglik(x, r, beta):
    t, e = r["week"].to_numpy(float), r["arrest"].to_numpy(bool)
    eta = x @ beta
    ll = 0.0
    for tk in np.unique(t[e]):
        d = e & (t == tk)
        risk = np.exp(eta[t >= tk]).sum()
        dsum = np.exp(eta[d]).sum()
        m = d.sum()
        ll += eta[d].sum() - sum(np.log(risk - j / m * dsum) for j in range(m))
    return ll


def _ph_data(violate: bool, n=3000, seed=7):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    if (
        violate
    ):  # group 1: Weibull shape 3 against shape 1 -> hazard ratio rising with time; x: no effect
        t = np.where(group == 1, rng.weibull(3.0, n) * 1.2, rng.exponential(1.0, n))
    else:
        t = rng.exponential(1.0, n) / np.exp(0.5 * group + 0.3 * x)
    c = rng.uniform(0.5, 3, n)
    return pd.DataFrame(
        {
            "region_b": group.astype(float),
            "x": x,
            "retreat_days": np.minimum(t, c),
            "retreat_event": t <= c,
            "patient_key": np.arange(n) // 2,
            "region": np.where(group == 1, "b", "a"),
        }
    )


def test_ph_violation_is_detected_and_stratified():
    res = fit_retreatment(_ph_data(True), ["region_b", "x"], alpha=0.01)
    assert "region_b" in res.action.failing_terms
    assert res.action.stratified == ("region",)
    assert res.final.strata == ("region",) and "region_b" not in res.final.covariates
    assert "x" not in res.action.failing_terms


def test_ph_holding_data_leaves_the_model_alone():
    res = fit_retreatment(_ph_data(False), ["region_b", "x"], alpha=0.01)
    assert res.action.failing_terms == ()
    assert res.final is res.initial
    hr = res.final.summary.set_index("term")
    assert (
        hr.loc["region_b", "hazard_ratio_lower"]
        < np.exp(0.5)
        < hr.loc["region_b", "hazard_ratio_upper"]
    )


#: R 4.2.2, survival 3.5-3: cox.zph(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar +
#: paro + prio, data = rossi, ties = "efron"), transform = t)$table[, "chisq"]
R_COX_ZPH_ROSSI = {
    "rank": {
        "fin": 1.38380845141,
        "age": 0.89642146157,
        "race": 2.25997815120,
        "wexp": 4.15968375317,
        "mar": 0.08959214185,
        "paro": 0.02185165569,
        "prio": 1.64080345194,
        "GLOBAL": 11.02518340712,
    },
    "km": {"fin": 0.06242975136, "age": 5.97398165342, "GLOBAL": 17.69441525445},
    "identity": {"age": 6.615943789294, "prio": 0.424798396303, "GLOBAL": 18.182687039129},
}


@pytest.mark.parametrize("transform", sorted(R_COX_ZPH_ROSSI))
def test_naive_ph_score_tests_equal_r_cox_zph(transform):
    r = load_rossi()
    res = fit_cox(r.assign(pid=np.arange(len(r))), "week", "arrest", ROSSI, cluster_col="pid")
    tests = ph_score_tests(
        r[ROSSI].to_numpy(float),
        r["week"].to_numpy(float),
        r["arrest"].to_numpy(bool),
        res.summary["coef"].to_numpy(),
        np.arange(len(r)),
        ROSSI,
        transform=transform,
    ).set_index("term")
    for term, chisq in R_COX_ZPH_ROSSI[transform].items():
        assert tests.loc[term, "chi2"] == pytest.approx(chisq, rel=1e-6), term
    # one row per patient: the clustered test differs from the naive only by the sandwich
    assert tests.loc["GLOBAL", "df"] == len(ROSSI)


def _frailty_episodes(seed, n_patients=60, per_patient=20, frailty_sd=2.0):
    """No covariate effect, a strong shared patient frailty: marginal PH holds for x (patient
    level) and z (episode level), but a patient's episodes are dependent."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients), per_patient)
    n = pid.size
    t = rng.exponential(1 / np.exp(rng.normal(0, frailty_sd, n_patients)[pid]))
    c = rng.uniform(0, 3, n)
    return pd.DataFrame(
        {
            "x": (rng.random(n_patients) < 0.5).astype(float)[pid],
            "z": rng.normal(size=n),
            "t": np.minimum(t, c),
            "e": t <= c,
            "pid": pid,
        }
    )


def test_clustered_ph_test_is_calibrated_where_the_naive_test_is_not():
    """Mean chi-square (1 df) over replicates: ~1 for a calibrated test. The naive test's
    variance ignores that a patient's episodes share the frailty and over-rejects for the
    patient-level covariate (validation/validate_ph_tests.py: rejection rates)."""
    stats = []
    for seed in range(30):
        d = _frailty_episodes(seed)
        res = fit_cox(d, "t", "e", ["x", "z"], cluster_col="pid")
        ph = ph_test(res, d, "t", "e", "rank").set_index("term")
        stats.append([ph.loc["x", "chi2"], ph.loc["x", "chi2_clustered"], ph.loc["z", "chi2"]])
    naive_x, clustered_x, naive_z = np.mean(stats, axis=0)
    assert naive_x > 2.5
    assert 0.5 < clustered_x < 1.7
    assert 0.5 < naive_z < 1.7  # episode-level covariate: little to correct


def test_ph_decision_follows_the_clustered_test():
    d = _frailty_episodes(0).assign(retreat_days=lambda f: f["t"], retreat_event=lambda f: f["e"])
    d = d.rename(columns={"pid": "patient_key"})
    res = fit_retreatment(d, ["x", "z"], alpha=0.01)
    x = res.ph_initial.set_index("term").loc["x"]
    assert x["p"] < 0.01 < x["p_clustered"]  # the naive test alone would have acted
    assert res.action.failing_terms == () and res.final is res.initial


def _tied_with_censoring_between_events(n=500, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    t = np.ceil(rng.exponential(20 / np.exp(x @ [0.4, -0.3, 0.1])))  # whole days: many ties
    c = rng.uniform(1, 60, n)  # censoring anywhere, also between event days
    return pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        t=np.minimum(t, c), e=t <= c, pid=np.arange(n) // 2
    )


def test_newton_fit_equals_lifelines_with_ties_and_censoring_between_event_times():
    df = _tied_with_censoring_between_events()
    ours = fit_cox(df, "t", "e", ["a", "b", "c"], cluster_col="pid")
    ref = CoxPHFitter().fit(df[["a", "b", "c", "t", "e"]], "t", "e")
    np.testing.assert_allclose(ours.summary["coef"], ref.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.summary["se_model"], ref.standard_errors_.to_numpy(), rtol=1e-5)
    assert ours.convergence.converged and ours.convergence.max_abs_gradient < 1e-6
    assert ours.loglik == pytest.approx(ref.log_likelihood_, abs=1e-6)


def test_efron_information_is_the_hessian_of_the_efron_loglik():
    df = _tied_with_censoring_between_events(n=200, seed=4)
    x = df[["a", "b", "c"]].to_numpy()
    r = df.rename(columns={"t": "week", "e": "arrest"})
    beta = np.array([0.3, -0.2, 0.05])
    part = _partial_likelihood(
        x, r["week"].to_numpy(float), r["arrest"].to_numpy(bool), beta, "efron"
    )
    assert part.loglik == pytest.approx(_efron_loglik(x, r, beta), rel=1e-12)
    h = 1e-5
    eye = np.eye(3) * h
    grad = np.array(
        [(_efron_loglik(x, r, beta + e) - _efron_loglik(x, r, beta - e)) / (2 * h) for e in eye]
    )
    np.testing.assert_allclose(part.score, grad, rtol=1e-6, atol=1e-7)
    hess = np.array(
        [
            [
                (
                    _efron_loglik(x, r, beta + ei + ej)
                    - _efron_loglik(x, r, beta + ei - ej)
                    - _efron_loglik(x, r, beta - ei + ej)
                    + _efron_loglik(x, r, beta - ei - ej)
                )
                / (4 * h * h)
                for ej in np.eye(3) * h
            ]
            for ei in np.eye(3) * h
        ]
    )
    np.testing.assert_allclose(part.info, -hess, rtol=1e-4)


def test_breslow_fit_equals_statsmodels():
    df = _tied_with_censoring_between_events(seed=5)
    ours = fit_cox(df, "t", "e", ["a", "b", "c"], cluster_col="pid", ties="breslow")
    ref = PHReg(
        df["t"].to_numpy(),
        df[["a", "b", "c"]].to_numpy(),
        status=df["e"].to_numpy(int),
        ties="breslow",
    ).fit()
    np.testing.assert_allclose(ours.summary["coef"], ref.params, atol=1e-6)
    np.testing.assert_allclose(ours.summary["se_model"], ref.bse, rtol=1e-5)
