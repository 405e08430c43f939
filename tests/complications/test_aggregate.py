"""Binomial cells keep every treatment and event, and bad input is named precisely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.complications.aggregate import aggregate_cells, episode_cells
from analysis.data.processed import check_table
from analysis.errors import InputValidationError
from analysis.vocabulary import Vocabulary


def test_cells_keep_every_treatment_and_event(synthetic, cells, type_regions):
    episodes = synthetic[0]
    for ctype, c in cells.items():
        at_risk = episodes["region"].isin(type_regions[ctype])
        assert c.n_treatments == int(at_risk.sum())
        assert c.n_events == int(episodes.loc[at_risk, f"c30_{ctype}"].sum())
        keys = ["region", "dose", "product", "clinic", "injector", "year_c"]
        assert not c.table.duplicated(keys).any()
        assert (c.table["y"] <= c.table["n"]).all()


def test_cells_are_fewer_than_episodes_and_bounded(synthetic, levels, type_regions):
    episodes = synthetic[0]
    big = pd.concat([episodes] * 5, ignore_index=True)
    small_cells = aggregate_cells(episodes, "headache", type_regions["headache"], levels)
    big_cells = aggregate_cells(big, "headache", type_regions["headache"], levels)
    # five copies of the same episodes: same patterns, five times the counts
    assert len(big_cells.table) == len(small_cells.table)
    assert big_cells.n_treatments == 5 * small_cells.n_treatments
    assert len(small_cells.table) < small_cells.n_treatments


def test_episode_cells_have_one_row_per_episode(synthetic, levels, type_regions):
    e = episode_cells(synthetic[0], "eyelid_ptosis", type_regions["eyelid_ptosis"], levels)
    assert (e.table["n"] == 1).all()
    assert e.n_treatments == int(synthetic[0]["region"].isin(type_regions["eyelid_ptosis"]).sum())


def _check(episodes, params):
    """The episode contract every stage reads through (analysis.data.processed.read_episodes)."""
    check_table(episodes, "episodes", "episodes.parquet", Vocabulary.from_params(params))


def test_episode_contract_names_file_row_column_value_and_rule(small_episodes, params):
    bad = small_episodes.head(50).copy()
    bad.loc[6, "region"] = "elbow"
    with pytest.raises(InputValidationError) as err:
        _check(bad, params)
    text = str(err.value)
    assert "episodes.parquet, row 7, column 'region', value 'elbow': region must be one of" in text
    bad = small_episodes.head(50).copy()
    bad["c30_headache"] = bad["c30_headache"].astype(object)
    bad.loc[11, "c30_headache"] = "maybe"
    with pytest.raises(InputValidationError, match="column 'c30_headache': must have type 'bool'"):
        _check(bad, params)


def test_episode_contract_never_echoes_identifiers(small_episodes, params):
    bad = small_episodes.head(20).copy()
    bad["injector"] = bad["injector"].astype(object)
    bad.loc[3, "injector"] = None
    with pytest.raises(InputValidationError) as err:
        _check(bad, params)
    assert "row 4, column 'injector', value '<key>': required value is missing" in str(err.value)


def test_missing_outcome_column_is_reported(small_episodes, params):
    with pytest.raises(
        InputValidationError, match="column 'c30_neck_weakness'.*required column is missing"
    ):
        _check(small_episodes.drop(columns="c30_neck_weakness"), params)


def test_dose_rounding_grid(synthetic, levels, type_regions):
    c = aggregate_cells(
        synthetic[0], "headache", type_regions["headache"], levels, dose_step_log2=0.5
    )
    assert np.allclose(c.table["dose"] * 2, np.round(c.table["dose"] * 2))
