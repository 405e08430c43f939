"""Published reference: BDA3 section 5.3, the 71 rat tumour experiments."""

from __future__ import annotations

import pytest

from analysis.inference import SamplerConfig
from analysis.validation.betabinomial import RAT_TUMOUR_N, RAT_TUMOUR_Y, fit_beta_binomial


def test_rat_tumour_data_match_bda():
    assert len(RAT_TUMOUR_Y) == len(RAT_TUMOUR_N) == 71
    assert RAT_TUMOUR_Y.sum() == 267 and RAT_TUMOUR_N.sum() == 1739
    assert (RAT_TUMOUR_Y[-1], RAT_TUMOUR_N[-1]) == (4, 14)  # the current experiment


@pytest.mark.slow
def test_rat_tumour_posterior_means_match_bda():
    """BDA3 reports posterior means alpha ~ 2.4, beta ~ 14.3 under p(a,b) ∝ (a+b)^(-5/2)."""
    fit = fit_beta_binomial(
        RAT_TUMOUR_Y, RAT_TUMOUR_N, SamplerConfig(draws=2000, tune=1000, chains=4), seed=20261124
    )
    s = fit.summary.set_index("parameter")
    # Monte Carlo SE of the means: sd/sqrt(ESS) ~ 0.9/sqrt(4000) ~ 0.015 (alpha), ~0.09 (beta)
    assert s.loc["alpha", "mean"] == pytest.approx(2.4, abs=0.15)
    assert s.loc["beta", "mean"] == pytest.approx(14.3, abs=0.9)
    assert s.loc["population_mean_rate", "mean"] == pytest.approx(0.144, abs=0.005)
    assert fit.diagnostics["divergences"] == 0
