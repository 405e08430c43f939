"""Priors are read from params.yaml, centred on the published rates they cite."""

from __future__ import annotations

import pytest
from scipy.special import expit

from analysis.complications.config import ComplicationsConfig
from analysis.complications.priors import benchmark_table
from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.vocabulary import Vocabulary


def test_informative_priors_centre_on_published_rates(informative):
    glabella_ptosis = informative.rate_prior("eyelid_ptosis", "glabella")
    assert glabella_ptosis.rate == pytest.approx(0.024)  # 16/665, PMC10682279
    assert "PMC10682279" in glabella_ptosis.source
    assert expit(glabella_ptosis.logit_mean) == pytest.approx(0.024)
    # a type's `_other` entry covers every region without its own entry
    assert informative.rate_prior("injection_site_reaction", "masseter").rate == pytest.approx(0.09)


def test_every_informative_rate_cites_a_source(params, informative):
    table = benchmark_table(informative, Vocabulary.from_params(params).complication_regions)
    assert len(table) == sum(len(v["regions"]) for v in params["complication_types"].values())
    assert (table["benchmark_source"].str.len() > 10).all()


def test_weak_priors_are_wider(params, informative, complications_config):
    weak = complications_config.priors.prior_set("weak")
    for ctype in params["complication_types"]:
        for region in params["complication_types"][ctype]["regions"]:
            assert (
                weak.rate_prior(ctype, region).logit_sd
                >= informative.rate_prior(ctype, region).logit_sd
            )
    assert weak.effects.injector_scale > informative.effects.injector_scale


def test_bad_prior_values_raise_config_errors(params, complications_config):
    with pytest.raises(ConfigError, match="use one of informative, weak"):
        complications_config.priors.prior_set("flat")
    broken = with_overrides(params, {"complications.priors.informative.default_rate.rate": 1.5})
    with pytest.raises(
        ConfigError, match="default_rate': rate 1.5 must lie strictly between 0 and 1"
    ):
        ComplicationsConfig.from_params(broken)


def test_a_calendar_term_that_is_off_has_no_prior_row(informative):
    """A term that is off is neither described nor reported (issue 16)."""
    from analysis.complications.priors import prior_table

    regions = {"headache": ["glabella"]}
    off = prior_table(informative, regions, calendar_trend=False)["parameter"].tolist()
    on = prior_table(informative, regions, calendar_trend=True)["parameter"].tolist()
    assert "calendar log-OR per year" in on and "calendar log-OR per year" not in off
    assert len(on) == len(off) + 1
