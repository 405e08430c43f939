"""The prepare stage's configuration: params.yaml ``data`` and ``prepare`` are read strictly."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from analysis.config import with_overrides
from analysis.data.prepare_config import DataConfig, PrepareConfig
from analysis.errors import ConfigError


def misspelt(params: dict, dotted: str, wrong: str) -> dict:
    """A copy of ``params`` in which the key at ``dotted`` is renamed ``wrong``."""
    out = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[wrong] = node.pop(leaf)
    return out


@pytest.mark.parametrize(
    ("dotted", "wrong"),
    [
        ("data.cutoff_date", "cutof_date"),
        ("data.input_dir", "inputdir"),
        ("prepare.use_reported_wearoff", "use_reported_wearof"),
        ("prepare.exclude.min_age_years", "min_age_year"),
        ("prepare.recent_episode_days", "recent_episodes_days"),
    ],
)
def test_a_misspelt_data_or_prepare_key_stops_with_its_path(params, dotted, wrong):
    path = ".".join([*dotted.split(".")[:-1], wrong]).replace(".", r"\.")
    leaf = dotted.split(".")[-1]
    with pytest.raises(ConfigError, match=rf"unknown key '{path}'.*did you mean '{leaf}'"):
        PrepareConfig.from_params(misspelt(params, dotted, wrong))


def test_the_stage_configuration_carries_vocabulary_and_cutoff(params):
    data = DataConfig.from_params(params)
    assert (data.input_dir, data.mapping, data.cutoff_date) == ("data/raw/demo", None, None)
    cfg = PrepareConfig.from_params(with_overrides(params, {"data.cutoff_date": date(2024, 6, 30)}))
    assert cfg.cutoff_date == date(2024, 6, 30)
    assert cfg.exclude.min_age_years == 18 and cfg.exercise_tier_cutoffs == (10.0, 30.0)
    assert cfg.regions[0] == "glabella" and cfg.units_per_ona_unit["abo"] == 2.5
    assert "masseter" in cfg.complication_regions["chewing_fatigue"]
    text = PrepareConfig.from_params(with_overrides(params, {"data.cutoff_date": "2024-06-30"}))
    assert text.cutoff_date == date(2024, 6, 30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data.cutoff_date": "30.06.2024"}, r"'data\.cutoff_date' must be a date YYYY-MM-DD"),
        ({"prepare.exercise_tier_cutoffs": [30, 10]}, r"two increasing positive numbers"),
        ({"prepare.exercise_tier_cutoffs": [10]}, r"must be a list of 2 values"),
        ({"prepare.exclude.max_age_years": 10}, r"min_age_years < max_age_years"),
        ({"prepare.reported_wearoff_window_days": -1}, r"must be >= 0"),
        ({"prepare.use_reported_wearoff": "yes"}, r"must be true or false"),
    ],
)
def test_values_out_of_range_are_named(params, overrides, message):
    with pytest.raises(ConfigError, match=message):
        PrepareConfig.from_params(with_overrides(params, overrides))
