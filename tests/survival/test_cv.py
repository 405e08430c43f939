"""Prediction metrics for interval-censored durations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from analysis.survival.covariates import make_spec
from analysis.survival.cv import calibration_table, concordance_interval, cv_aft, status_probability
from analysis.survival.nonparametric import fit_npmle


def test_interval_concordance_equals_harrell_on_exact_times():
    rng = np.random.default_rng(0)
    t = rng.exponential(100, 300)
    pred = t * np.exp(rng.normal(0, 0.5, 300))
    c, pairs = concordance_interval(t, t, pred)
    ref = concordance_index_censored(np.ones(300, bool), t, -pred)[
        0
    ]  # sksurv: higher risk = shorter
    assert c == pytest.approx(ref, abs=1e-12)
    assert pairs == 300 * 299 // 2


def test_status_probability_is_certain_outside_the_interval_and_conditional_inside():
    npmle = fit_npmle(np.array([0.0, 0.0, 50.0]), np.array([50.0, 100.0, 100.0]), kkt_tol=1e-10)
    p = status_probability(npmle, np.array([10.0, 10.0, 10.0]), np.array([90.0, 90.0, 90.0]), 5.0)
    np.testing.assert_allclose(p, 1.0)
    assert status_probability(npmle, np.array([10.0]), np.array([90.0]), 95.0)[0] == 0.0
    inside = status_probability(npmle, np.array([0.0]), np.array([100.0]), 50.0)[0]
    assert inside == pytest.approx(npmle.survival(np.array([50.0]))[0], abs=1e-9)


@pytest.fixture(scope="session")
def aft_cv(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    return cv_aft(lognormal_episodes, "lognormal", spec, folds=3, brier_weeks=(12, 16, 20, 24))


def test_cross_validated_model_beats_the_null(aft_cv):
    s = aft_cv.summary.set_index("metric")
    assert s.loc["c_harrell_interval", "estimate"] > 0.65
    # a constant prediction of 0.5 scores 0.25; the model must do clearly better
    assert s.loc["integrated_brier", "estimate"] < 0.2
    assert set(aft_cv.predictions["patient_key"]) == set(aft_cv.predictions["patient_key"].unique())


def test_correct_model_is_calibrated(aft_cv):
    cal = calibration_table(aft_cv.predictions, (16.0,), groups=4, n_boot=50, seed=1)
    inside = (cal["observed_lower"] - 0.03 <= cal["predicted"]) & (
        cal["predicted"] <= cal["observed_upper"] + 0.03
    )
    assert inside.all(), cal


def test_folds_do_not_depend_on_the_pseudonymisation_key():
    """Same patients in the same row order under two keys: the same folds (GroupKFold breaks
    ties between equally sized groups by label, so pseudonyms as labels would not)."""
    import pandas as pd
    from sklearn.model_selection import GroupKFold

    from analysis.data.pseudonym import pseudonymise
    from analysis.survival.cv import patient_groups

    ids = pd.Series([f"P{i:03d}" for i in np.repeat(np.arange(40), 3)])
    folds = []
    for key in (b"one key", b"another key"):
        df = pd.DataFrame({"patient_key": pseudonymise(ids, key, "patient")})
        split = GroupKFold(n_splits=5).split(df, groups=patient_groups(df))
        folds.append([tuple(te) for _, te in split])
    assert folds[0] == folds[1]
    labels = [
        [
            tuple(te)
            for _, te in GroupKFold(n_splits=5).split(ids, groups=pseudonymise(ids, k, "patient"))
        ]
        for k in (b"one key", b"another key")
    ]
    assert labels[0] != labels[1]  # what the codes prevent


def test_breslow_survival_is_nelson_aalen_at_beta_zero_and_one_before_the_first_event():
    from lifelines import CoxPHFitter, NelsonAalenFitter

    from analysis.survival.cox_cv import breslow_survival

    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "s": rng.choice(["a", "b"], size=n),
            "t": np.round(rng.exponential(100, n)) + 20,  # ties; no event before day 20
            "e": rng.random(n) < 0.7,
        }
    )
    train, test = frame.iloc[:300], frame.iloc[300:]
    times = np.array([10.0, 50.0, 100.0, 200.0])
    zero = breslow_survival(train, test, ["x"], ["s"], "t", "e", np.zeros(1), times)
    for stratum in ("a", "b"):
        rows = train["s"] == stratum
        na = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(
            train.loc[rows, "t"], train.loc[rows, "e"]
        )
        expected = np.exp(-na.cumulative_hazard_at_times(times).to_numpy())
        np.testing.assert_allclose(zero[(test["s"] == stratum).to_numpy()][0], expected, atol=1e-12)
    # with lifelines' coefficients: its Breslow baseline of each stratum at the event times
    # (its baseline is for covariates at their training mean)
    cph = CoxPHFitter().fit(train[["x", "s", "t", "e"]], "t", "e", strata=["s"])
    beta = cph.params_.to_numpy()
    for stratum in ("a", "b"):
        at = np.unique(train.loc[(train["s"] == stratum) & train["e"], "t"])
        row = test[test["s"] == stratum].iloc[:1].assign(x=cph._norm_mean["x"])
        ours = breslow_survival(train, row, ["x"], ["s"], "t", "e", beta, at)[0]
        theirs = cph.baseline_cumulative_hazard_[stratum].reindex(at).to_numpy()
        np.testing.assert_allclose(-np.log(ours), theirs, rtol=1e-9)
        before = breslow_survival(train, row, ["x"], ["s"], "t", "e", beta, at[:1] - 1)
        assert before[0, 0] == 1.0  # no event yet: S = 1 (lifelines' prediction fills backwards)
