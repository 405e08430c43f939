"""Derived episode variables and endpoints against hand-worked values and simulator truth."""

from __future__ import annotations

import handmade
import numpy as np
import pandas as pd
import pytest

from analysis.config import with_overrides
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.processed import EPISODE_COLUMNS
from analysis.data.pseudonym import pseudonymise

KEY = b"derive-test-key"


@pytest.fixture(scope="module")
def hand(hand_cfg, tmp_path_factory):
    raw = handmade.write(handmade.tables(), tmp_path_factory.mktemp("hand"))
    return prepare(raw, hand_cfg, key=KEY)


@pytest.fixture(scope="module")
def hand_episodes(hand):
    keys = pseudonymise(handmade.TREATMENTS["episode_id"], KEY, "episode")
    names = dict(zip(keys, handmade.TREATMENTS["episode_id"], strict=True))
    return hand.episodes.assign(name=hand.episodes["episode_key"].map(names)).set_index("name")


def test_columns_follow_the_contract(hand, params):
    types = list(params["complication_types"])
    assert list(hand.episodes.columns) == list(EPISODE_COLUMNS) + [f"c30_{t}" for t in types] + [
        "c30_any"
    ]


@pytest.mark.parametrize("name", sorted(handmade.EXPECTED))
def test_duration_and_retreatment_by_hand(hand_episodes, name):
    lower, upper, status, in_dur, cycle, retreat, event = handmade.EXPECTED[name]
    row = hand_episodes.loc[name]
    assert (row.dur_lower_days, row.dur_upper_days, row.dur_status) == (lower, upper, status)
    assert row.in_duration_analysis == in_dur
    assert (row.cycle, row.retreat_days, row.retreat_event) == (cycle, retreat, event)


def test_exclusion_reasons(hand_episodes):
    reasons = hand_episodes["dur_exclusion_reason"]
    assert reasons["EPI-9000007"].startswith("baseline severity 0")
    assert reasons["EPI-9000009"].startswith("no follow-up")
    assert reasons.drop(["EPI-9000007", "EPI-9000009"]).isna().all()


def test_reported_date_ignored_when_switched_off(hand_params, tmp_path):
    raw = handmade.write(handmade.tables(), tmp_path)
    cfg = PrepareConfig.from_params(
        with_overrides(hand_params, {"prepare.use_reported_wearoff": False})
    )
    off = prepare(raw, cfg, key=KEY)
    key = pseudonymise(pd.Series(["EPI-9000005"]), KEY, "episode")[0]
    row = off.episodes.set_index("episode_key").loc[key]
    assert (row.dur_lower_days, row.dur_upper_days, row.dur_status) == (14.0, 134.0, "interval")


def test_reported_date_outside_tolerance_is_not_used(hand_cfg, tmp_path):
    tables = handmade.tables()
    tables["assessments"].loc[8, "reported_wearoff_date"] = "2023-09-20"  # d142 > 134 + 7
    raw = handmade.write(tables, tmp_path)
    got = prepare(raw, hand_cfg, key=KEY)
    key = pseudonymise(pd.Series(["EPI-9000005"]), KEY, "episode")[0]
    assert got.episodes.set_index("episode_key").loc[key, "dur_status"] == "interval"
    dq = got.data_quality.set_index("table").loc["reported_wearoff"]
    assert (dq.rows_in, dq.rows_kept, dq.rows_excluded) == (2, 0, 2)


def test_dose_conversion(hand_episodes):
    e = hand_episodes
    assert e.loc["EPI-9000003", "units_ona_eq"] == 20.0  # 50 abo U / 2.5
    assert e.loc["EPI-9000009", "units_ona_eq"] == 20.0  # 40 daxi U / 2.0 (nominal)
    assert e.loc["EPI-9000002", "rel_dose"] == pytest.approx(24 / 20)
    assert e.loc["EPI-9000007", "log2_rel_dose"] == pytest.approx(-1.0)  # 4 U / 8 U lip flip
    assert e.loc["EPI-9000006", "reference_dose_units"] == 60.0


def test_calendar_age_and_exercise_tier(hand_episodes):
    e = hand_episodes
    assert e.loc["EPI-9000002", "quarter"] == "2024Q2" and e.loc["EPI-9000002", "year"] == 2024
    assert e.loc["EPI-9000001", "age_years"] == pytest.approx(2024 + 9 / 366 - 1980.5)
    tiers = e["exercise_tier"]
    assert tiers["EPI-9000006"] == "low"  # 9.99
    assert tiers["EPI-9000002"] == "moderate"  # 12
    assert tiers["EPI-9000003"] == "high"  # exactly 30
    assert tiers["EPI-9000001"] == "low"  # 5


def test_thirty_day_complication_flags(hand_episodes):
    e = hand_episodes
    assert e.loc["EPI-9000009", "c30_eyelid_ptosis"]  # day 9
    assert not e.loc["EPI-9000009", "c30_headache"]  # day 43
    assert e.loc["EPI-9000001", "c30_injection_site_reaction"]  # day 0
    assert e["c30_any"].sum() == 2
    assert e.filter(like="c30_").drop(columns="c30_any").sum().sum() == 2


def test_minor_is_excluded_with_reason(hand):
    dq = hand.data_quality.set_index(["table", "reason"])
    assert (
        dq.loc[
            ("treatments", "age under 18 at treatment (prepare.exclude.min_age_years)"),
            "rows_excluded",
        ]
        == 1
    )
    assert len(hand.episodes) == 8


# --- against simulator truth -------------------------------------------------------------


@pytest.fixture(scope="module")
def with_truth(small_cohort, small_prepared, pseudonym_key):
    truth = small_cohort.truth_tables["episodes"]
    truth = truth.assign(episode_key=pseudonymise(truth["episode_id"], pseudonym_key, "episode"))
    return small_prepared.episodes.merge(
        truth, on="episode_key", suffixes=("", "_true"), validate="1:1"
    )


def test_every_episode_matches_one_truth_row(with_truth, small_cohort, small_prepared):
    truth = small_cohort.truth_tables["episodes"]
    assert len(with_truth) == len(small_prepared.episodes) == len(truth)
    # every other treatment row is a simulated touch-up, folded into its episode
    assert len(small_cohort.treatments) == len(truth) + int(truth["touchup"].sum())
    assert truth["touchup"].sum() > 100


def test_touchups_are_recognised_as_simulated(with_truth, small_params):
    e = with_truth
    assert (e["touchup"] == e["touchup_true"]).all()
    touched = e[e["touchup"]]
    assert (touched["touchup_day"] == touched["touchup_day_true"]).all()
    assert (touched["n_touchups"] == 1).all() and (e.loc[~e["touchup"], "n_touchups"] == 0).all()
    # ona-equivalent units of the touch-up and the first dose, as the simulator drew them
    ratio = e["units_ona_eq"] / 2 ** e["log2_rel_dose"]
    assert np.allclose(e["log2_rel_dose_initial"], e["log2_rel_dose_first"])
    first_units = ratio * 2 ** e["log2_rel_dose_first"]
    assert np.allclose(e["units_ona_eq"] - first_units, e["touchup_units_ona_eq"])


def test_visit_intervals_contain_the_latent_duration(with_truth):
    e = with_truth[with_truth["in_duration_analysis"] & (with_truth["dur_status"] == "interval")]
    latent = e["latent_duration_days"]
    inside = (latent > e["dur_lower_days"]) & (latent <= e["dur_upper_days"])
    assert len(e) > 1000
    assert inside.all()


def test_right_censored_episodes_last_beyond_their_lower_bound(with_truth):
    e = with_truth[with_truth["dur_status"].str.startswith("right_")]
    assert len(e) > 500
    assert np.isinf(e["dur_upper_days"]).all()
    assert (e["latent_duration_days"] > e["dur_lower_days"]).all()


def test_reported_windows_contain_the_truth(with_truth):
    # The simulator's recall error is N(0, 7 d); a +/-14 d window holds the truth ~95% of the time.
    e = with_truth[with_truth["dur_status"] == "interval_reported"]
    inside = (e["latent_duration_days"] > e["dur_lower_days"]) & (
        e["latent_duration_days"] <= e["dur_upper_days"]
    )
    assert len(e) > 100
    assert inside.mean() > 0.9
    assert (e["dur_upper_days"] - e["dur_lower_days"]).max() <= 28


def test_reported_date_as_exact_time_when_window_is_zero(hand_params, tmp_path):
    raw = handmade.write(handmade.tables(), tmp_path)
    cfg = PrepareConfig.from_params(
        with_overrides(hand_params, {"prepare.reported_wearoff_window_days": 0})
    )
    exact = prepare(raw, cfg, key=KEY)
    key = pseudonymise(pd.Series(["EPI-9000005"]), KEY, "episode")[0]
    row = exact.episodes.set_index("episode_key").loc[key]
    assert (row.dur_lower_days, row.dur_upper_days, row.dur_status) == (
        103.0,
        103.0,
        "exact_reported",
    )


def test_derived_covariates_match_truth(with_truth):
    e = with_truth
    assert np.allclose(e["log2_rel_dose"], e["log2_rel_dose_true"])
    assert (e["cycle"] == e["cycle_true"]).all()
    assert np.allclose(e["age_years"], e["age_years_true"], atol=1.0)
    retreated = e["retreat_event"]
    assert np.allclose(e.loc[retreated, "retreat_days"], e.loc[retreated, "next_treatment_days"])
