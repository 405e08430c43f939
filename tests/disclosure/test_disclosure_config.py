"""The ``disclosure`` section of params.yaml is read strictly (analysis/disclosure/config.py)."""

import pytest

from analysis.config import with_overrides
from analysis.disclosure.config import DisclosureConfig
from analysis.errors import ConfigError


def test_the_repository_params_give_every_setting(params):
    config = DisclosureConfig.from_params(params)
    assert config.min_count == params["disclosure"]["min_count"] == 5
    assert config.protection_width == params["disclosure"]["protection_width"]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("disclosure.min_count", 0, r"disclosure\.min_count must be >= 1"),
        ("disclosure.min_count", "five", r"'disclosure\.min_count' must be a whole number"),
        ("disclosure.protection_width", 0, r"disclosure\.protection_width must be > 0"),
        ("disclosure.total_cost", 0.5, r"disclosure\.total_cost must be >= 1"),
    ],
)
def test_a_wrong_value_names_the_key(params, key, value, message):
    with pytest.raises(ConfigError, match=message):
        DisclosureConfig.from_params(with_overrides(params, {key: value}))


def test_a_misspelt_key_names_the_nearest_one(params):
    bad = dict(params, disclosure={**params["disclosure"], "min_cuont": 5})
    with pytest.raises(ConfigError, match=r"'disclosure\.min_cuont' \(did you mean 'min_count'"):
        DisclosureConfig.from_params(bad)
