"""Cox model: published Rossi estimates, fast clustered sandwich, PH test and action."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from statsmodels.duration.hazard_regression import PHReg

from analysis.survival.cox import fit_cox, fit_retreatment, score_residuals, split_at

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
