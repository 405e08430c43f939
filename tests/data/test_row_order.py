"""Row order of the processed tables comes from the data: the pseudonym key cannot change it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.row_order import PSEUDONYM_COLUMNS, content_rank, dense_rank, history_rank

TABLES = ("patients", "treatments", "assessments", "complications", "episodes")


@pytest.fixture(scope="module")
def other_key_prepared(small_raw_dir, small_params):
    return prepare(small_raw_dir, PrepareConfig.from_params(small_params), key=b"another key")


@pytest.mark.parametrize("table", TABLES)
def test_two_keys_give_the_same_rows_in_the_same_order(small_prepared, other_key_prepared, table):
    a, b = getattr(small_prepared, table), getattr(other_key_prepared, table)
    keys = [c for c in PSEUDONYM_COLUMNS if c in a.columns]
    pd.testing.assert_frame_equal(a.drop(columns=keys), b.drop(columns=keys))
    for column in keys:  # row i under one key is row i under the other: pseudonyms pair 1:1
        pairs = pd.DataFrame({"a": a[column], "b": b[column]}).drop_duplicates()
        assert pairs["a"].is_unique and pairs["b"].is_unique, column
        assert (a[column] != b[column]).all(), column


def test_patients_are_ordered_by_their_first_treatment(small_prepared):
    ep = small_prepared.episodes
    first = ep.groupby("patient_key", sort=False)["treatment_date"].min()
    ordered = first.reindex(small_prepared.patients["patient_key"]).dropna()
    assert ordered.is_monotonic_increasing
    assert ep["treatment_date"].is_monotonic_increasing


def test_histories_compare_element_by_element_and_a_prefix_comes_first():
    # patient 0: episodes ranked (2, 5); patient 1: (2, 3); patient 2: (2,); patient 3: (1, 9)
    patient = np.array([0, 1, 0, 2, 1, 3, 3])
    rank = np.array([5, 3, 2, 2, 2, 9, 1])
    assert history_rank(patient, 4, rank).tolist() == [3, 2, 1, 0]


def test_dense_rank_gives_ties_one_rank():
    first = np.array([1, 0, 1, 1])
    second = np.array([0.5, 9.0, 0.5, 0.2])
    assert dense_rank([first, second]).tolist() == [2, 0, 2, 1]


def test_content_ignores_pseudonyms_and_missing_values_tie():
    table = pd.DataFrame(
        {
            "patient_key": ["b", "a", "c", "d"],
            "sex": ["F", "F", "M", None],
            "body_fat_pct": [np.nan, np.nan, 20.0, 20.0],
        }
    )
    assert content_rank(table).tolist() == [1, 1, 2, 0]


def test_model_indexing_is_the_same_under_two_keys(small_prepared, other_key_prepared, params):
    """Clinics, injectors (complication models) and patients (advice model) get the same
    positions under both keys, so the samplers draw the same streams for the same people."""
    from analysis.advice.model import duration_data
    from analysis.advice.spec import spec_from_vocabulary
    from analysis.complications.aggregate import levels_from_episodes
    from analysis.survival.covariates import DurationModelConfig
    from analysis.vocabulary import Vocabulary

    vocab = Vocabulary.from_params(params)
    a, b = small_prepared.episodes, other_key_prepared.episodes
    la = levels_from_episodes(a, vocab.region_codes, vocab.product_codes)
    lb = levels_from_episodes(b, vocab.region_codes, vocab.product_codes)
    clinic_pairs = dict(zip(a["clinic"], b["clinic"], strict=True))
    injector_pairs = dict(zip(a["injector"], b["injector"], strict=True))
    assert [clinic_pairs[c] for c in la.clinics] == list(lb.clinics)
    assert [injector_pairs[i] for i in la.injectors] == list(lb.injectors)
    assert la.injector_clinic == lb.injector_clinic
    spec = spec_from_vocabulary(vocab, DurationModelConfig.from_params(params).dose_knot_log2)
    da = duration_data(a[a["in_duration_analysis"]], spec)
    db = duration_data(b[b["in_duration_analysis"]], spec)
    np.testing.assert_array_equal(da.patient_idx, db.patient_idx)
