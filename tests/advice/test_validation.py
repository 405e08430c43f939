"""Out-of-sample validation of the advice for new patients (analysis/advice/validation.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analysis.advice.fit import informative_patients, patient_loo, training_episodes
from analysis.advice.model import duration_data
from analysis.advice.predict import frailty_grid
from analysis.advice.validation import (
    ALL_PATIENTS,
    BAYES,
    FREQ,
    METRIC_UNITS,
    loo_predictions,
    population_survival,
    validate_new_patients,
)
from analysis.survival.families import surv_std


@pytest.mark.parametrize("family", ["lognormal", "weibull", "loglogistic"])
def test_population_survival_integrates_the_frailty(family):
    d = np.linspace(-3.0, 3.0, 41)
    sigma, tau = 0.45, 0.3
    z, w = frailty_grid(201)  # a fine direct quadrature as reference
    ref = surv_std((d[:, None] - tau * z[None, :]) / sigma, family) @ w
    np.testing.assert_allclose(population_survival(d, sigma, tau, family), ref, atol=2e-4)


slow = pytest.mark.slow


@pytest.fixture(scope="module")
def validation_config(advice_config):
    # fewer bootstrap replicates than the stage: the calibration bands are not tested here
    return replace(advice_config.validation, calibration_bootstrap_replicates=50)


@pytest.fixture(scope="module")
def train(small_episodes, advice_config, params):
    return training_episodes(small_episodes, advice_config, params["seed"])


@pytest.fixture(scope="module")
def validation(advice_fit, train, validation_config, params):
    return validate_new_patients(
        advice_fit.idata, advice_fit.family, advice_fit.spec, train, validation_config, 7
    )


@slow
def test_training_episodes_are_the_fits_patients(advice_fit, train):
    assert tuple(np.sort(train["patient_key"].unique())) == advice_fit.train_patient_keys


@slow
def test_table_has_both_models_both_subsets_and_sane_values(validation, advice_fit):
    s = validation.summary
    subsets = {ALL_PATIENTS, "pareto_k<=0.7"}
    assert set(s["patients"]) == subsets
    for model in (BAYES, FREQ):
        for patients in subsets:
            rows = s[(s["model"] == model) & (s["patients"] == patients)]
            assert set(METRIC_UNITS) <= set(rows["metric"])
        cal = s[(s["model"] == model) & s["metric"].str.startswith("calibration_")]
        assert len(cal) == 3  # weeks 12, 16, 20
    assert len(s) == 2 * 2 * len(METRIC_UNITS) + 2 * 3
    est = s.set_index(["model", "patients", "metric"])["estimate"]
    for model in (BAYES, FREQ):
        c = est[(model, ALL_PATIENTS, "c_harrell_interval")]
        assert 0.55 < c < 0.9, (model, c)
        assert 0.0 < est[(model, ALL_PATIENTS, "integrated_brier")] < 0.25
        assert -3.0 < est[(model, ALL_PATIENTS, "log_score_per_episode")] < 0.0
        assert est[(model, ALL_PATIENTS, "calibration_mean_abs_error_week_16")] < 0.1
    # the frailty model predicts a patient's episodes jointly: it must beat independence
    assert (
        est[(BAYES, ALL_PATIENTS, "log_score_per_patient")]
        > est[(FREQ, ALL_PATIENTS, "log_score_per_patient")]
    )
    all_rows = s[s["patients"] == ALL_PATIENTS]
    assert (all_rows["n_patients"] == advice_fit.n_patients).all()
    # the same PSIS as the stored fit's: the same count of unreliable patients
    assert validation.pareto_k_over_0_7 == advice_fit.diagnostics["pareto_k_over_0.7"]
    cal = validation.calibration
    assert set(cal["model"]) == {BAYES, FREQ} and set(cal["week"]) == {12, 16, 20}
    assert (
        (cal["observed_lower"] <= cal["observed"]) & (cal["observed"] <= cal["observed_upper"])
    ).all()


@slow
def test_frequentist_rows_are_the_survival_stages_cross_validation(
    validation, advice_fit, train, validation_config
):
    """The same folds, design and scoring as fit_survival's cv_aft (a reference implementation)."""
    from analysis.advice.validation import aft_design
    from analysis.survival.cv import cv_aft

    ref = cv_aft(
        train,
        advice_fit.family,
        aft_design(train, advice_fit.spec),
        validation_config.folds,
        tuple(validation_config.brier_weeks),
    ).summary.set_index("metric")
    s = validation.summary
    mine = s[(s["model"] == FREQ) & (s["patients"] == ALL_PATIENTS)].set_index("metric")
    for metric in ("c_harrell_interval", "integrated_brier"):
        assert mine.loc[metric, "estimate"] == pytest.approx(ref.loc[metric, "estimate"], rel=1e-9)
        assert mine.loc[metric, "fold_sd"] == pytest.approx(ref.loc[metric, "fold_sd"], rel=1e-6)


@slow
def test_log_scores_agree_with_arviz_loo_and_the_per_episode_quadrature(advice_fit, train):
    data = duration_data(train, advice_fit.spec)
    loo = loo_predictions(advice_fit.idata, data, advice_fit.family, (12.0, 16.0))
    keep = informative_patients(advice_fit.idata)
    ref = patient_loo(advice_fit.idata, keep)
    np.testing.assert_allclose(loo.patient_log_score[keep], ref.loo_i.values, rtol=1e-10)
    np.testing.assert_allclose(loo.pareto_k[keep], ref.pareto_k.values, rtol=1e-10)
    # a patient with one episode: the per-episode score is the per-patient one (the stored
    # log-likelihood's 21-node quadrature against this module's own frailty integral)
    n_ep = np.bincount(data.patient_idx)
    single = np.flatnonzero(n_ep[data.patient_idx] == 1)
    assert single.size > 20
    np.testing.assert_allclose(
        loo.episode_log_score[single],
        loo.patient_log_score[data.patient_idx[single]],
        atol=2e-3,
    )


@slow
def test_a_prediction_shifted_by_time_ratio_1_5_scores_visibly_worse(
    advice_fit, train, validation, validation_config
):
    shifted = validate_new_patients(
        advice_fit.idata,
        advice_fit.family,
        advice_fit.spec,
        train,
        validation_config,
        7,
        time_ratio=1.5,
    )

    def bayes(v, metric):
        s = v.summary
        row = s[(s["model"] == BAYES) & (s["patients"] == ALL_PATIENTS) & (s["metric"] == metric)]
        return float(row["estimate"].iloc[0])

    for week in (12, 16, 20):
        metric = f"calibration_mean_abs_error_week_{week}"
        assert bayes(shifted, metric) > bayes(validation, metric) + 0.05, week
    for metric in ("log_score_per_patient", "log_score_per_episode"):
        assert bayes(shifted, metric) < bayes(validation, metric) - 0.05, metric
    assert bayes(shifted, "integrated_brier") > bayes(validation, "integrated_brier")
    # a common shift keeps the ranking: discrimination is unchanged
    assert bayes(shifted, "c_harrell_interval") == pytest.approx(
        bayes(validation, "c_harrell_interval"), abs=0.005
    )


@slow
def test_stage_writes_both_tables_and_states_the_method(
    advice_fit, advice_draws, advice_config, validation, params, tmp_path
):
    from analysis.advice import narrative
    from analysis.advice.config import AdviceStudyConfig
    from analysis.advice.study import AdviceStudy
    from analysis.advice.table import advice_table
    from analysis.manifest import load_manifest
    from analysis.outputs import StageOutput

    cfg = AdviceStudyConfig.from_params(params)
    table = advice_table(advice_draws, advice_config)
    study = AdviceStudy(advice_fit, advice_draws, table, validation)
    out = StageOutput(tmp_path, stage=narrative.STAGE, title=narrative.TITLE)
    narrative.write_study(study, cfg, out)
    manifest = out.write_manifest(narrative.methods_text(study, cfg))
    load_manifest(tmp_path)  # every named file exists
    assert {"advice_validation", "advice_calibration"} <= set(out.tables)
    assert "Pareto-smoothed importance sampling" in manifest.methods
    assert f"{validation.pareto_k_over_0_7} of {validation.n_patients} patients" in (
        manifest.methods
    )
    assert study.metrics()["validation"]["bayesian_frailty_aft"]["c_harrell_interval"] > 0.5
