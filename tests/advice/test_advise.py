"""Edge cases of the advice function, on a model with known parameters (no sampling)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from analysis.advice.advise import (
    SCOPE_NOTE,
    AdviceExtrapolationWarning,
    AdviceRequest,
    PastEpisode,
    advise,
)
from analysis.advice.config import AdviceConfig
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import with_trained_ranges
from analysis.errors import AdviceInputError
from analysis.validation.advice_synthetic import synthetic_episodes


@pytest.fixture(scope="module")
def draws(advice_spec) -> PosteriorDraws:
    """Truth of the synthetic generator as a 4-draw 'posterior', with trained ranges."""
    spec = advice_spec
    episodes, truth, _ = synthetic_episodes(spec, 400, seed=2)
    spec = with_trained_ranges(spec, episodes)
    s = 4
    return PosteriorDraws(
        family="lognormal",
        spec=spec,
        mu_region=np.tile([truth.mu_region[r] for r in spec.regions], (s, 1)),
        beta=np.tile([truth.beta[c] for c in spec.covariate_names], (s, 1)),
        sigma=np.full(s, truth.sigma),
        tau=np.full(s, truth.tau),
    )


@pytest.fixture(scope="module")
def config(params) -> AdviceConfig:
    return AdviceConfig.from_params(params)


def request(**over) -> AdviceRequest:
    base = dict(
        region="glabella",
        product="ona",
        units=20.0,
        muscle_bulk=2,
        exercise_met_h_week=10.0,
        sex="F",
        age_years=45.0,
    )
    base.update(over)
    return AdviceRequest(**base)


def past(lower, upper, **over) -> PastEpisode:
    base = dict(region="glabella", product="ona", units=20.0, lower_days=lower, upper_days=upper)
    base.update(over)
    return PastEpisode(**base)


def test_no_history_gives_the_population_advice(draws, config):
    a = advise(request(), draws, config)
    assert not a.personalised and a.n_history == 0
    assert a.interval_lower_days < a.median_days < a.interval_upper_days
    s = a.survival["prob_effect_holds"].to_numpy()
    assert np.all(np.diff(s) < 0) and np.all((0 < s) & (s < 1))
    assert np.all(a.survival["prob_lower"] <= s + 1e-12) and np.all(
        s <= a.survival["prob_upper"] + 1e-12
    )
    # booking window: from P(worn off) = 50% (the median) to 80%
    assert a.booking_start_days == pytest.approx(max(a.median_days, 90.0))
    assert a.booking_end_days > a.booking_start_days
    assert a.wearoff_50_days == pytest.approx(a.median_days, rel=1e-6)


def test_one_early_episode_shortens_and_one_late_lengthens(draws, config):
    base = advise(request(cycle=2), draws, config).median_days
    early = advise(request(history=(past(60.0, 60.0),)), draws, config)
    late = advise(request(history=(past(220.0, 220.0),)), draws, config)
    assert early.personalised and early.n_history == 1
    assert early.median_days < base < late.median_days


def test_censored_history_still_responding(draws, config):
    base = advise(request(cycle=2), draws, config).median_days
    still = advise(request(history=(past(250.0, np.inf),)), draws, config)
    assert still.median_days > base
    # a censoring time well below the expected duration carries almost no information
    weak = advise(request(history=(past(20.0, np.inf),)), draws, config)
    assert weak.median_days == pytest.approx(base, rel=0.01)


def test_history_from_assessments_uses_the_derivation_rule():
    ep = PastEpisode.from_assessments("glabella", "ona", 20, [(14, 0), (90, 1), (120, 2)], 2)
    assert (ep.lower_days, ep.upper_days) == (90.0, 120.0)
    censored = PastEpisode.from_assessments("glabella", "ona", 20, [(14, 0), (100, 1)], 2)
    assert (censored.lower_days, censored.upper_days) == (100.0, np.inf)


def test_cycle_counts_past_episodes_in_the_same_region(draws, config):
    hist = (past(120, 150), past(120, 150, region="forehead"), past(110, 140))
    a = advise(request(history=hist), draws, config)
    b = advise(request(cycle=3, history=hist), draws, config)
    assert a.median_days == pytest.approx(b.median_days)


@pytest.mark.parametrize(
    ("over", "column", "value"),
    [
        ({"region": "earlobe"}, "region", "earlobe"),
        ({"product": "botox"}, "product", "botox"),
        ({"sex": "X"}, "sex", "X"),
    ],
)
def test_unknown_codes_raise_a_clear_error(draws, config, over, column, value):
    with pytest.raises(AdviceInputError, match=f"column '{column}', value '{value}'"):
        advise(request(**over), draws, config)


def test_unknown_product_in_history_names_the_episode(draws, config):
    with pytest.raises(
        AdviceInputError, match="history, episode 1, column 'product', value 'dysport'"
    ):
        advise(request(history=(past(90, 120, product="dysport"),)), draws, config)


@pytest.mark.parametrize(
    "over", [{"units": 0}, {"muscle_bulk": 7}, {"age_years": -3}, {"baseline_severity": 0}]
)
def test_impossible_values_raise(draws, config, over):
    with pytest.raises(AdviceInputError, match="request, column"):
        advise(request(**over), draws, config)


def test_bad_history_interval_raises(draws, config):
    with pytest.raises(AdviceInputError, match="lower_days"):
        advise(request(history=(past(150, 100),)), draws, config)


def test_outside_trained_range_warns_extrapolation(draws, config):
    with pytest.warns(AdviceExtrapolationWarning, match="extrapolation"):
        a = advise(request(units=200.0), draws, config)  # 10x the glabella reference dose
    assert any("log2_rel_dose" in w for w in a.warnings)
    with pytest.warns(AdviceExtrapolationWarning, match="age_years"):
        advise(request(age_years=99), draws, config)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AdviceExtrapolationWarning)
        assert advise(request(), draws, config).warnings == ()


def test_floor_binds_for_a_short_lasting_treatment(draws, config):
    # brow lift (shortest region), half dose, hypertrophic muscle, very active man
    a = advise(
        request(region="brow_lift", units=4.0, muscle_bulk=4, exercise_met_h_week=60, sex="M"),
        draws,
        config,
    )
    assert a.median_days < 90 and a.floor_binds
    assert a.booking_start_days == 90.0
    assert "minimum re-treatment interval of 90 days binds" in a.to_text()
    ok = advise(request(), draws, config)
    assert not ok.floor_binds and "binds" not in ok.to_text()


def test_text_and_json_outputs(draws, config):
    import datetime as dt

    a = advise(request(treatment_date=dt.date(2026, 11, 24)), draws, config)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["scope_note"] == SCOPE_NOTE and "not units" in d["scope_note"]
    assert [r["week"] for r in d["survival"]] == [8, 12, 16, 20]
    assert (
        d["booking_start_date"]
        == (dt.date(2026, 11, 24) + dt.timedelta(days=round(a.booking_start_days))).isoformat()
    )
    text = a.to_text()
    assert "Recommended booking window" in text and "not units" in text and "week 12" in text
