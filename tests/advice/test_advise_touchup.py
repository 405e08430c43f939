"""What the advice says about touch-ups (issue 14), on a model with known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.advice.advise import AdviceRequest, PastEpisode, advise, touchup_time_ratio
from analysis.advice.config import AdviceConfig
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import with_trained_ranges
from analysis.survival.covariates import TOUCHUP
from analysis.validation.advice_synthetic import synthetic_episodes

#: Touch-up time ratios of the four 'posterior draws' (median 1.10 by construction).
RATIOS = np.array([1.04, 1.08, 1.12, 1.16])


@pytest.fixture(scope="module")
def draws(advice_spec) -> PosteriorDraws:
    episodes, truth, _ = synthetic_episodes(advice_spec, 400, seed=2)
    spec = with_trained_ranges(advice_spec, episodes)
    beta = np.tile([truth.beta[c] for c in spec.covariate_names], (len(RATIOS), 1))
    beta[:, spec.covariate_names.index(TOUCHUP)] = np.log(RATIOS)
    s = len(RATIOS)
    return PosteriorDraws(
        family="lognormal",
        spec=spec,
        mu_region=np.tile([truth.mu_region[r] for r in spec.regions], (s, 1)),
        beta=beta,
        sigma=np.full(s, truth.sigma),
        tau=np.full(s, truth.tau),
    )


@pytest.fixture(scope="module")
def config(params) -> AdviceConfig:
    return AdviceConfig.from_params(params)


def _request(**over) -> AdviceRequest:
    base = dict(
        region="glabella",
        product="ona",
        units=24.0,
        muscle_bulk=2,
        exercise_met_h_week=10.0,
        sex="F",
        age_years=45.0,
    )
    return AdviceRequest(**{**base, **over})


def test_advice_model_has_the_touchup_term(advice_spec):
    assert TOUCHUP in advice_spec.covariate_names


def test_time_ratio_is_the_posterior_of_the_touchup_term(draws):
    med, lo, hi = touchup_time_ratio(draws)
    assert med == pytest.approx(np.median(RATIOS))
    assert lo == pytest.approx(np.quantile(RATIOS, 0.025)) and hi == pytest.approx(
        np.quantile(RATIOS, 0.975)
    )


def test_an_adjusted_treatment_lasts_longer_at_the_same_total_dose(draws, config):
    plain = advise(_request(), draws, config)
    adjusted = advise(_request(touchup=True), draws, config)
    # each draw's whole predictive law is scaled by its ratio: the mixture median lies between
    assert RATIOS.min() < adjusted.median_days / plain.median_days < RATIOS.max()
    text = plain.to_text()
    assert "Touch-up: adjusting this treatment at the two-week check" in text
    assert "1.10 (95% credible interval 1.04-1.16)" in text
    assert "Touch-up: included" in adjusted.to_text()
    assert plain.to_dict()["touchup_time_ratio"] == pytest.approx(
        [1.10, np.quantile(RATIOS, 0.025), np.quantile(RATIOS, 0.975)]
    )


def test_a_past_touchup_is_part_of_the_history(draws, config):
    """A past episode that was adjusted explains part of its longer duration by the touch-up:
    the personalised prediction is lower than if the same history had no touch-up."""
    past = dict(region="glabella", product="ona", units=24.0, lower_days=150.0, upper_days=170.0)
    with_touchup = advise(
        _request(history=(PastEpisode(**past, touchup=True),)), draws, config
    ).median_days
    without = advise(_request(history=(PastEpisode(**past),)), draws, config).median_days
    assert with_touchup < without
