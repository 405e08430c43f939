"""The survival study's configuration: params.yaml sections parsed strictly."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.survival.config import SurvivalConfig, SurvivalStudyConfig
from analysis.survival.covariates import DurationModelConfig


def test_the_repository_params_load(params):
    cfg = SurvivalStudyConfig.from_params(params)
    assert cfg.model.dose_knot_log2 == 1.0
    assert cfg.seed == params["seed"]
    assert cfg.reference_dose_units["glabella"] == 20.0
    # the choices that used to hide in the stage, now in params.yaml
    np.testing.assert_array_equal(cfg.survival.cv.cox_eval_grid, np.arange(90.0, 361.0, 10.0))
    np.testing.assert_array_equal(cfg.survival.dose_response.rel_doses, np.linspace(0.5, 2.5, 21))
    assert cfg.survival.dose_response.profile.exercise_met_h_week == "cohort_median"
    assert cfg.survival.cv.calibration_bootstrap_replicates == max(
        50, cfg.survival.bootstrap_replicates // 4
    )
    # whole weeks stay integers (they label table rows)
    assert all(isinstance(w, int) for w in cfg.survival.cv.brier_weeks)


@pytest.mark.parametrize(
    ("key", "bad_key", "suggestion"),
    [
        ("survival", "bootstrap_replicate", "bootstrap_replicates"),
        ("survival.cv", "brier_week", "brier_weeks"),
        ("survival.cox", "tie", "ties"),
        ("survival.dose_response.profile", "muscle_bulks", "muscle_bulk"),
    ],
)
def test_a_misspelt_survival_key_stops_with_its_path(params, key, bad_key, suggestion):
    node = params
    for part in key.split("."):
        node = node[part]
    good = bad_key if bad_key in node else suggestion
    section = {k: v for k, v in node.items() if k != good}
    section[bad_key] = node[good]
    bad = with_overrides(params, {key: section})
    with pytest.raises(ConfigError, match=rf"'{key}\.{bad_key}'.*did you mean '{suggestion}'"):
        SurvivalConfig.from_params(bad)


def test_a_misspelt_duration_model_key_stops_with_its_path(params):
    bad = with_overrides(params, {"duration_model": {"dose_knot_log": 1.0}})
    with pytest.raises(ConfigError, match=r"'duration_model\.dose_knot_log'.*dose_knot_log2"):
        DurationModelConfig.from_params(bad)


def test_the_old_per_model_knot_is_refused(params):
    bad = with_overrides(params, {"survival": {**params["survival"], "dose_knot_log2": 1.0}})
    with pytest.raises(ConfigError, match=r"unknown key 'survival\.dose_knot_log2'"):
        SurvivalConfig.from_params(bad)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"survival.families": ["lognormal", "gamma"]}, r"survival\.families: unknown \['gamma'\]"),
        ({"survival.ci_level": 1.5}, r"ci_level must lie in"),
        ({"survival.cox.ties": "exact"}, r"'survival\.cox\.ties' = 'exact'"),
        ({"survival.cv.folds": 1}, r"folds must be >= 2"),
        ({"survival.report_weeks": [8.5]}, r"'survival\.report_weeks\[0\]' must be a whole"),
    ],
)
def test_out_of_range_values_are_refused(params, override, message):
    with pytest.raises(ConfigError, match=message):
        SurvivalConfig.from_params(with_overrides(params, override))
