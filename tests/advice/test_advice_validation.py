"""Small held-out validation: calibration of the 80% interval and the personalisation gain."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data.pseudonym import pseudonymise
from analysis.validation.advice_holdout import evaluate_holdout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def holdout(advice_fit, advice_draws, small_episodes, small_cohort, pseudonym_key):
    # patients not used by the fit (max_train_patients = 800 of 1500) are held out
    ep = small_episodes
    held = np.array(sorted(set(ep["patient_key"]) - set(advice_fit.train_patient_keys)))
    truth = small_cohort.truth_tables["episodes"]
    latent = truth.set_index(pseudonymise(truth["episode_id"], pseudonym_key, "episode"))[
        "latent_duration_days"
    ]
    return evaluate_holdout(advice_draws, ep, held, mass=0.8, latent_days=latent)


def test_eighty_percent_intervals_cover_about_eighty_percent(holdout):
    s = holdout.summary.set_index("kind")
    n = s.loc["personalised", "n_targets"]
    assert n >= 100
    se = np.sqrt(0.8 * 0.2 / n)
    for kind in ("population", "personalised"):
        assert abs(s.loc[kind, "coverage_latent"] - 0.8) < 3 * se + 0.03, kind
        assert abs(s.loc[kind, "coverage_expected"] - 0.8) < 3 * se + 0.05, kind


def test_personalised_beats_population_on_log_score(holdout):
    s = holdout.summary.set_index("kind")
    gain = s.loc["personalised", "log_score_gain_vs_population"]
    assert gain > 0
    assert gain > 2 * s.loc["personalised", "log_score_gain_se"]
