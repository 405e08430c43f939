"""Session fixtures of the advice tests: one small fit of the duration models per test run.

The fit uses the small simulated cohort (tests/conftest.py) through the real code path
(`fit_duration_models`), with short chains: 2 families compared on 300 patients, the chosen
one refitted on 800 patients with 2 chains x 500 draws. The gate thresholds are lowered for
these short chains (ESS >= 150, R-hat <= 1.02); the production gate (params.yaml) is exercised
by `test_gate_rejects_a_short_run`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.advice.config import AdviceConfig
from analysis.advice.fit import fit_duration_models
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import spec_from_vocabulary
from analysis.inference import GateConfig, SamplerConfig
from analysis.survival.covariates import DurationModelConfig
from analysis.vocabulary import Vocabulary

TEST_FAMILIES = ("lognormal", "weibull")


@pytest.fixture(scope="session")
def advice_config(params) -> AdviceConfig:
    base = AdviceConfig.from_params(params)
    return replace(
        base,
        families=TEST_FAMILIES,
        compare_patients=300,
        max_train_patients=800,
        compare_sampler=SamplerConfig(draws=300, tune=300, chains=2, cores=2),
        sampler=SamplerConfig(draws=500, tune=500, chains=2, cores=2),
        gate=GateConfig(max_rhat=1.02, min_ess_bulk=150, min_ess_tail=150, max_divergences=0),
        advice_draws=300,
    )


@pytest.fixture(scope="session")
def advice_spec(params):
    knot = DurationModelConfig.from_params(params).dose_knot_log2
    return spec_from_vocabulary(Vocabulary.from_params(params), knot)


@pytest.fixture(scope="session")
def advice_fit(small_episodes, advice_spec, advice_config, params):
    return fit_duration_models(small_episodes, advice_spec, advice_config, seed=params["seed"])


@pytest.fixture(scope="session")
def advice_draws(advice_fit, advice_config) -> PosteriorDraws:
    return PosteriorDraws.from_dataset(
        advice_fit.posterior, advice_fit.family, advice_fit.spec, advice_config.advice_draws
    )
