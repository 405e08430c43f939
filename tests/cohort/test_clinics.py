"""Outcomes per clinic (analysis/cohort/clinics.py) on a hand-made cohort and the synthetic one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_study import make_complications, make_episodes

from analysis.cohort.clinics import (
    Intervals,
    complication_records,
    outcomes_by,
    quarterly_by_clinic,
    severity_by,
)
from analysis.cohort.describe import DescribeConfig, quarterly_trends
from analysis.cohort.intervals import wilson_interval

INTERVALS = Intervals(level=0.95, replicates=200, seed=1)


def test_clinic_rows_add_up_to_the_network_and_rates_are_their_counts():
    episodes, _ = make_episodes(n_patients=200, seed=3)
    per = outcomes_by(episodes, ["clinic", "region"], INTERVALS)
    network = outcomes_by(episodes, [], INTERVALS).iloc[0]
    for col in ("n_episodes", "n_complications", "n_retreated"):
        assert per[col].sum() == network[col]
    assert network["n_episodes"] == len(episodes)
    assert np.allclose(per["retreated_pct"], 100 * per["n_retreated"] / per["n_episodes"])
    rate = 100 * per["n_complications"] / per["n_episodes"]
    assert np.allclose(per["complication_rate_pct"], rate)
    assert (per["complication_rate_pct_lower"] <= rate + 1e-9).all()
    assert (per["complication_rate_pct_upper"] >= rate - 1e-9).all()


def test_rate_intervals_account_for_repeated_episodes_of_a_patient():
    """Complications concentrated in a few patients with many episodes: the interval is wider
    than the naive Wilson one by the design effect; with one episode per patient they agree."""
    n_patients, per_patient = 40, 5
    patient = np.repeat([f"p{i}" for i in range(n_patients)], per_patient)
    events = np.repeat(np.arange(n_patients) < 6, per_patient)  # 6 patients, every episode
    ep = pd.DataFrame(
        {
            "clinic": "a",
            "c30_any": events,
            "retreat_days": 100.0,
            "retreat_event": True,
            "patient_key": patient,
        }
    )
    row = outcomes_by(ep, ["clinic"], INTERVALS).iloc[0]
    lo, hi = wilson_interval(np.array([events.sum()]), np.array([len(events)]), 0.95)
    assert row["complication_rate_pct_upper"] - row["complication_rate_pct_lower"] > 1.5 * (
        100 * (hi[0] - lo[0])
    )
    single = outcomes_by(ep.assign(patient_key=np.arange(len(ep))), ["clinic"], INTERVALS)
    # (the design effect's small-sample factor m / (m - 1) keeps it a hair above 1)
    assert single["complication_rate_pct_lower"].iloc[0] == pytest.approx(100 * lo[0], rel=0.01)
    assert single["complication_rate_pct_upper"].iloc[0] == pytest.approx(100 * hi[0], rel=0.01)


def test_median_retreatment_is_kaplan_meier_with_censoring():
    # 4 episodes of one clinic: events at 100 and 200 days, censored at 150 and 300:
    # S(100) = 3/4, S(200) = 3/4 * 1/2 = 3/8 <= 0.5, so the median is 200 days
    ep = pd.DataFrame(
        {
            "clinic": ["a"] * 4,
            "c30_any": [False] * 4,
            "retreat_days": [100.0, 150.0, 200.0, 300.0],
            "retreat_event": [True, False, True, False],
            "patient_key": ["p1", "p2", "p3", "p4"],
        }
    )
    row = outcomes_by(ep, ["clinic"], INTERVALS).iloc[0]
    assert row["median_retreat_days"] == 200.0
    assert row["n_retreated"] == 2 and row["retreated_pct"] == 50.0


def test_severity_counts_and_median_resolution_of_resolved_records():
    episodes = pd.DataFrame({"episode_key": ["e1", "e2", "e3"], "clinic": ["a", "a", "b"]})
    day = pd.Timestamp("2024-01-01")
    complications = pd.DataFrame(
        {
            "episode_key": ["e1", "e2", "e3", "e3"],
            "complication_type": ["headache"] * 4,
            "onset_date": [day] * 4,
            "severity": ["mild", "mild", "severe", "mild"],
            "resolution_date": [day + pd.Timedelta(days=d) for d in (4, 10, 30)] + [pd.NaT],
        }
    )
    records = complication_records(episodes, complications)
    table = severity_by(records, ["clinic", "complication", "severity"]).set_index(
        ["clinic", "severity"]
    )
    assert table.loc[("a", "mild"), "n_complications"] == 2
    assert table.loc[("a", "mild"), "median_resolution_days"] == 7.0
    assert table.loc[("b", "mild"), "n_resolved"] == 0
    assert np.isnan(table.loc[("b", "mild"), "median_resolution_days"])
    network = severity_by(records, ["complication", "severity"])
    assert list(network["severity"]) == ["mild", "severe"]  # mild, moderate, severe order
    assert network["n_complications"].sum() == len(complications)


def test_synthetic_records_belong_to_complicated_episodes():
    episodes, _ = make_episodes(n_patients=100, seed=5)
    records = complication_records(episodes, make_complications(episodes))
    assert len(records) == int(episodes["c30_any"].sum())


def test_a_clinics_quarters_add_up_to_the_networks_with_clustered_intervals():
    episodes, _ = make_episodes(n_patients=300, seed=7)
    per = quarterly_by_clinic(episodes, 0.95)
    config = DescribeConfig(
        min_count=5, table1_by="sex", ci_level=0.95, bootstrap_replicates=100, seed=1
    )
    network = quarterly_trends(episodes, config).set_index("quarter")
    summed = per.groupby("quarter")[["n_episodes", "n_complications", "n_retreated"]].sum()
    assert list(summed.index) == list(network.index)
    for col in summed.columns:
        assert (summed[col] == network[col]).all(), col
    assert np.allclose(
        network["retreated_pct"], 100 * network["n_retreated"] / summed["n_episodes"]
    )
    assert np.allclose(per["retreated_pct"], 100 * per["n_retreated"] / per["n_episodes"])
    rate = per["complication_rate_pct"]
    assert np.allclose(rate, 100 * per["n_complications"] / per["n_episodes"])
    assert (per["complication_rate_pct_lower"] <= rate + 1e-9).all()
    assert (rate <= per["complication_rate_pct_upper"] + 1e-9).all()
    # patient-clustered: never narrower than the naive Wilson interval, wider where a
    # patient's episodes of the quarter go together (design effect above 1)
    lo, hi = wilson_interval(per["n_complications"], per["n_episodes"], 0.95)
    width = per["complication_rate_pct_upper"] - per["complication_rate_pct_lower"]
    assert (width >= 100 * (hi - lo) - 1e-9).all()
    wider = per["complication_rate_deff"] > 1 + 1e-9
    assert wider.any() and (width[wider] > 100 * (hi - lo)[wider] + 1e-9).all()
