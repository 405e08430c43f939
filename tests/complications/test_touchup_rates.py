"""The touch-up rate model's own rules (analysis/complications/touchups.py); its fit against the
simulator's truth is checked end to end in test_fit_complications_stage.py."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.complications.aggregate import aggregate_cells, levels_from_episodes
from analysis.complications.config import ComplicationsConfig
from analysis.complications.touchups import DOSE_COLUMN, OUTCOME_COLUMN, eligible
from analysis.config import with_overrides
from analysis.errors import ConfigError


def test_episodes_without_enough_followup_are_left_out():
    ep = pd.DataFrame(
        {
            "retreat_event": [True, False, False, False],
            "retreat_days": [14.0, 27.0, 28.0, 400.0],
        }
    )
    # re-treated (even early, as a clinic's mark may say), or followed >= 28 days to the cut-off
    assert eligible(ep, 28).tolist() == [True, False, True, True]


def test_cells_count_touchups_by_first_dose(params):
    ep = pd.DataFrame(
        {
            "region": ["masseter"] * 3 + ["glabella"],
            "product": ["ona"] * 4,
            "clinic": ["C-000001"] * 4,
            "injector": ["I-000001"] * 4,
            "year": [2024] * 4,
            "log2_rel_dose": [0.3, 0.0, 0.0, 0.0],  # total: would blur the first dose
            DOSE_COLUMN: [0.0, 0.0, 0.0, 0.0],
            OUTCOME_COLUMN: [True, False, False, True],
        }
    )
    levels = levels_from_episodes(ep, list(params["regions"]), list(params["products"]))
    cells = aggregate_cells(
        ep, "touchup", ["masseter", "glabella"], levels, 0.125, False, OUTCOME_COLUMN, DOSE_COLUMN
    )
    t = cells.table.set_index("region")
    assert (t.loc["masseter", "n"], t.loc["masseter", "y"]) == (3, 1)
    assert (t.loc["glabella", "n"], t.loc["glabella", "y"]) == (1, 1)


def test_priors_name_only_the_touchup_outcome_and_known_regions(params):
    bad_region = with_overrides(
        params,
        {
            "complications.touchup.priors.rates": {
                "touchup": {"jaw": params["complications"]["touchup"]["priors"]["default_rate"]}
            }
        },
    )
    with pytest.raises(ConfigError, match="jaw"):
        ComplicationsConfig.from_params(bad_region)
    bad_outcome = with_overrides(
        params,
        {"complications.touchup.priors.rates": {"headache": {}}},
    )
    with pytest.raises(ConfigError, match="headache"):
        ComplicationsConfig.from_params(bad_outcome)


def test_followup_rule_equals_the_touchup_window(params):
    """The follow-up a touch-up needs is the window that defines one (prepare)."""
    assert (
        params["complications"]["touchup"]["min_followup_days"]
        == params["prepare"]["touchup_window_days"]
    )
