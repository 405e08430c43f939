"""The processed-table contract: prepare's output passes its schemas, a broken table does not."""

from __future__ import annotations

import dataclasses

import handmade
import numpy as np
import pandas as pd
import pytest

from analysis.data.prepare import PROCESSED_FILES, prepare, write_prepared
from analysis.data.processed import (
    TABLE_FILES,
    read_data_cutoff,
    read_episodes,
    read_processed,
    read_simulated,
)
from analysis.errors import InputValidationError
from analysis.io import read_json


@pytest.fixture(scope="module")
def processed_dir(small_prepared, small_params, tmp_path_factory):
    from analysis.vocabulary import Vocabulary

    out = tmp_path_factory.mktemp("processed") / "processed"
    write_prepared(small_prepared, out, Vocabulary.from_params(small_params))
    return out


def test_every_processed_table_passes_its_schema_when_read_back(
    processed_dir, small_prepared, small_params
):
    from analysis.vocabulary import Vocabulary

    vocab = Vocabulary.from_params(small_params)
    assert sorted(p.name for p in processed_dir.iterdir()) == sorted(PROCESSED_FILES)
    for table in TABLE_FILES:
        got = read_processed(processed_dir, table, vocab)
        assert len(got) == len(getattr(small_prepared, table)), table
    pd.testing.assert_frame_equal(
        read_episodes(processed_dir / "episodes.parquet"), small_prepared.episodes
    )


def test_the_cutoff_is_written_once_and_agrees_with_the_censored_episodes(
    processed_dir, small_prepared
):
    record = read_json(processed_dir / "study_period.json")
    # demo mapping.yaml; the simulator's export carries truth/ (small_raw_dir does)
    assert record == {"data_cutoff": "2024-12-31", "source": "export date", "simulated": True}
    assert read_simulated(processed_dir)
    cutoff = read_data_cutoff(processed_dir)
    assert cutoff == small_prepared.cutoff_date
    ep = small_prepared.episodes
    censored = ep[~ep["retreat_event"]]
    ends = censored["treatment_date"] + pd.to_timedelta(censored["retreat_days"], unit="D")
    assert (ends == cutoff).all()


def test_a_cutoff_from_params_says_so(hand_cfg, tmp_path):
    got = prepare(handmade.write(handmade.tables(), tmp_path / "raw"), hand_cfg, key=b"k")
    write_prepared(got, tmp_path / "out")
    record = read_json(tmp_path / "out" / "study_period.json")
    assert record == {"data_cutoff": handmade.CUTOFF, "source": "params", "simulated": False}
    assert not read_simulated(tmp_path / "out")


def _broken(processed_dir, tmp_path, change) -> object:
    ep = pd.read_parquet(processed_dir / "episodes.parquet")
    path = tmp_path / "episodes.parquet"
    change(ep).to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda ep: ep.drop(columns=["dur_upper_days"]), "column 'dur_upper_days': required"),
        (
            lambda ep: ep.assign(muscle_bulk=ep["muscle_bulk"].astype(float)),
            "column 'muscle_bulk': must have type 'int64', found float64",
        ),
        (
            lambda ep: ep.assign(dur_lower_days=np.where(ep.index == 4, -3.0, ep.dur_lower_days)),
            "row 5, column 'dur_lower_days', value '-3.0': must be >= 0",
        ),
        (
            lambda ep: ep.assign(dur_status=np.where(ep.index == 0, "gone", ep.dur_status)),
            "row 1, column 'dur_status', value 'gone': dur_status must be one of",
        ),
        (
            lambda ep: ep.assign(patient_key=np.where(ep.index == 1, "P000001", ep.patient_key)),
            "row 2, column 'patient_key', value '<key>': must be a patient pseudonym",
        ),
        (lambda ep: ep.assign(extra=1), "column 'extra': column not in the contract"),
    ],
)
def test_a_corrupted_episode_table_is_rejected_naming_file_and_column(
    processed_dir, tmp_path, change, expected
):
    path = _broken(processed_dir, tmp_path, change)
    with pytest.raises(InputValidationError) as info:
        read_episodes(path)
    assert f"{path}, {expected}" in str(info.value)
    assert "P000001" not in str(info.value)


def test_an_interval_ending_before_it_starts_is_rejected(processed_dir, tmp_path):
    def swap(ep):
        ep = ep.copy()
        ep.loc[2, "dur_upper_days"] = ep.loc[2, "dur_lower_days"] - 1
        return ep

    with pytest.raises(InputValidationError, match="row 3.*dur_upper_days must be >="):
        read_episodes(_broken(processed_dir, tmp_path, swap))


def test_a_missing_table_and_an_unchecked_write_are_refused(small_prepared, tmp_path):
    with pytest.raises(InputValidationError, match="does not exist; run the prepare stage"):
        read_episodes(tmp_path / "nowhere" / "episodes.parquet")
    with pytest.raises(InputValidationError, match="does not exist"):
        read_data_cutoff(tmp_path / "nowhere")
    broken = dataclasses.replace(
        small_prepared, patients=small_prepared.patients.drop(columns=["sex"])
    )
    with pytest.raises(InputValidationError, match="patients.parquet, column 'sex'"):
        write_prepared(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()
