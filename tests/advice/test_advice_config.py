"""The advice configuration (params.yaml ``advice``, parsed strictly) and its covariate coding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.advice.config import AdviceConfig, AdviceStudyConfig
from analysis.advice.spec import design_arrays
from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.survival.covariates import design_matrix, make_spec


def test_the_repository_params_load(params):
    cfg = AdviceStudyConfig.from_params(params)
    assert cfg.model.dose_knot_log2 == 1.0
    assert cfg.advice.table.reference.describe() == (
        "sex F, age_years 45, product ona, cycle 1, baseline_severity 2"
    )
    assert cfg.advice.validation.holdout_fraction == 0.2
    assert cfg.advice.max_train_patients is None


@pytest.mark.parametrize(
    ("key", "bad_key", "suggestion"),
    [
        ("advice", "stored_draw", "stored_draws"),
        ("advice.sampler", "target_acept", "target_accept"),
        ("advice.priors", "beta_sds", "beta_sd"),
        ("advice.table.reference", "ages_years", "age_years"),
    ],
)
def test_a_misspelt_advice_key_stops_with_its_path(params, key, bad_key, suggestion):
    node = params
    for part in key.split("."):
        node = node[part]
    section = {k: v for k, v in node.items() if k != suggestion}
    section[bad_key] = node[suggestion]
    bad = with_overrides(params, {key: section})
    with pytest.raises(ConfigError, match=rf"'{key}\.{bad_key}'.*did you mean '{suggestion}'"):
        AdviceConfig.from_params(bad)


def test_the_old_per_model_knot_is_refused(params):
    bad = with_overrides(params, {"advice": {**params["advice"], "dose_knot_log2": 1.0}})
    with pytest.raises(ConfigError, match=r"unknown key 'advice\.dose_knot_log2'"):
        AdviceConfig.from_params(bad)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"advice.families": ["lognormal", "gengamma"]}, r"advice\.families: unknown"),
        ({"advice.booking_probs": [0.8, 0.5]}, r"two increasing probabilities"),
        ({"advice.interval_mass": 1.2}, r"interval_mass must lie in"),
        ({"advice.compare_patients": "many"}, r"'advice\.compare_patients' must be a whole number"),
        ({"advice.default_family": "weibul"}, r"default_family 'weibul' must be one of"),
    ],
)
def test_out_of_range_values_are_refused(params, override, message):
    with pytest.raises(ConfigError, match=message):
        AdviceConfig.from_params(with_overrides(params, override))


def test_advice_and_survival_models_code_covariates_alike(small_episodes, advice_spec):
    """One covariate specification: the shared terms have the same names and values."""
    ep = small_episodes[small_episodes["in_duration_analysis"]].head(500)
    _, x_advice = design_arrays(ep, advice_spec)
    advice = pd.DataFrame(x_advice, columns=advice_spec.covariate_names, index=ep.index)
    spec = make_spec(ep, "glabella", "ona", advice_spec.dose_knot_log2)
    survival = design_matrix(ep, spec)
    shared = [c for c in advice.columns if c in survival.columns]
    assert len(shared) == len(advice.columns)  # every advice covariate is a survival term
    np.testing.assert_array_equal(advice[shared].to_numpy(), survival[shared].to_numpy())
