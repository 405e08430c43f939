"""The ``complications`` section is parsed strictly: a misspelt key anywhere stops the stage with
the key's path and the nearest valid name (analysis/complications/config.py)."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.complications.config import ComplicationsConfig
from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.inference import GateConfig, SamplerConfig


def _with_key(params: dict, dotted: str, value) -> dict:
    """Deep copy of ``params`` with a key added (``with_overrides`` only changes known keys)."""
    out = with_overrides(params, {})
    *parents, leaf = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[leaf] = value
    return out


def _without_key(params: dict, dotted: str) -> dict:
    out = with_overrides(params, {})
    *parents, leaf = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    del node[leaf]
    return out


def test_the_study_section_parses_into_frozen_typed_settings(params):
    config = ComplicationsConfig.from_params(params)
    assert config.sampler == SamplerConfig(
        draws=800, tune=400, chains=4, cores=2, target_accept=0.9, sampler="nutpie"
    )
    assert config.sensitivity_sampler == config.sampler
    assert config.gate == GateConfig(1.01, 400.0, 400.0, 0)
    assert config.alternative_prior_set == "weak"
    assert config.priors.informative.rates["eyelid_ptosis"]["glabella"].published is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ppc_draws = 5  # type: ignore[misc]


def test_params_yaml_gives_every_sampler_and_gate_key(params):
    """Defaults live in params.yaml: no sampler or gate of the study falls back on a dataclass
    default."""
    section = params["complications"]
    for name, cls in (("sampler", SamplerConfig), ("sensitivity_sampler", SamplerConfig)):
        assert set(section[name]) == {f.name for f in dataclasses.fields(cls)}, name
    assert set(section["gate"]) == {f.name for f in dataclasses.fields(GateConfig)}


@pytest.mark.parametrize(
    ("dotted", "nearest"),
    [
        ("complications.ppc_draw", "ppc_draws"),
        ("complications.sampler.target_acept", "target_accept"),
        ("complications.sensitivity_sampler.draw", "draws"),
        ("complications.gate.max_rhats", "max_rhat"),
        ("complications.gate.max_divergence", "max_divergences"),
        ("complications.priors.informativ", "informative"),
        ("complications.priors.weak.clinic_sd_scale.scal", "scale"),
        ("complications.priors.informative.dose_log_or_per_doubling.means", "mean"),
        ("complications.priors.informative.default_rate.logit_s", "logit_sd"),
        ("complications.priors.informative.rates.headache.glabella.logit_sdd", "logit_sd"),
        ("complications.priors.informative.rates.headache.glabella.publshed", "published"),
    ],
)
def test_a_misspelt_key_anywhere_names_its_path_and_the_nearest_name(params, dotted, nearest):
    bad = _with_key(params, dotted, 1)
    with pytest.raises(ConfigError, match=rf"'{dotted}'.*did you mean '{nearest}'"):
        ComplicationsConfig.from_params(bad)


RATE = {"rate": 0.01, "logit_sd": 1.0, "source": "test"}
RATES = "complications.priors.informative.rates"


@pytest.mark.parametrize(
    ("dotted", "value", "hint"),
    [
        (f"{RATES}.headach", {"glabella": RATE}, "did you mean 'headache'"),
        (f"{RATES}.headache.glabela", RATE, "did you mean 'glabella'"),
        (f"{RATES}.dysphagia.glabella", RATE, "valid: platysma, _other"),
    ],
)
def test_an_unknown_type_or_region_of_a_rate_prior_is_not_silently_ignored(
    params, dotted, value, hint
):
    """Without this check a misspelt type or region would silently get the default prior (and
    a region where the type cannot occur would never be used)."""
    with pytest.raises(ConfigError, match=rf"unknown key '{dotted}' \({hint}"):
        ComplicationsConfig.from_params(_with_key(params, dotted, value))


def test_the_sensitivity_sampler_is_explicit_not_a_silent_copy_of_the_sampler(params):
    with pytest.raises(
        ConfigError, match=r"'complications\.sensitivity_sampler' is required and missing"
    ):
        ComplicationsConfig.from_params(_without_key(params, "complications.sensitivity_sampler"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"complications.sampler.sampler": "nutpy"}, r"'nutpy': use one of.*did you mean 'nutpie'"),
        ({"complications.prior_set": "flat"}, r"'complications\.prior_set' = 'flat': use one of"),
        ({"complications.sampler.target_accept": 1.2}, r"target_accept = 1\.2 must lie in"),
        ({"complications.gate.max_rhat": 0.9}, r"'complications\.gate': max_rhat = 0\.9"),
        ({"complications.flag_probability": 0.3}, r"flag_probability = 0\.3 must lie"),
        ({"complications.headline_types": ["headach"]}, r"unknown types: \['headach'\]"),
        ({"complications.ppc_draws": "many"}, r"'complications\.ppc_draws' must be a whole"),
        (
            {"complications.priors.weak.clinic_sd_scale.scale": -1},
            r"'complications\.priors\.weak\.clinic_sd_scale': scale = -1\.0 must be positive",
        ),
    ],
)
def test_a_value_of_the_wrong_type_or_range_names_key_and_rule(params, override, message):
    with pytest.raises(ConfigError, match=message):
        ComplicationsConfig.from_params(with_overrides(params, override))
