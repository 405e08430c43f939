"""Follow-up summary (analysis/cohort/follow_up.py): hand-made patients and the synthetic cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_study import make_episodes

from analysis.cohort.follow_up import (
    DAYS_PER_YEAR,
    follow_up_counts,
    follow_up_summary,
    patient_follow_up,
)

CUTOFF = pd.Timestamp("2024-12-31")


def _episodes() -> pd.DataFrame:
    # p: treated 2024-01-01 and 2024-03-01, last assessed 2024-05-30 (150 days after the first)
    # q: treated once on 2024-07-01, assessed after the cut-off (capped at the cut-off)
    # r: treated once on 2024-12-01, never assessed (follow-up 0 days)
    return pd.DataFrame(
        {
            "patient_key": ["p", "p", "q", "r"],
            "episode_key": ["a", "b", "c", "d"],
            "treatment_date": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-07-01", "2024-12-01"]
            ),
        }
    )


def _assessments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "episode_key": ["a", "b", "c", "zz"],  # zz: an episode that was not kept
            "assessment_date": pd.to_datetime(
                ["2024-01-15", "2024-05-30", "2025-02-01", "2024-06-01"]
            ),
        }
    )


def test_follow_up_ends_at_the_last_contact_capped_at_the_cutoff():
    per, left_out = patient_follow_up(_episodes(), _assessments(), CUTOFF)
    per = per.set_index("patient_key")
    assert left_out == 1
    assert per["n_episodes"].to_dict() == {"p": 2, "q": 1, "r": 1}
    assert per.loc["p", "follow_up_days"] == 150
    assert per.loc["q", "follow_up_days"] == (CUTOFF - pd.Timestamp("2024-07-01")).days
    assert per.loc["r", "follow_up_days"] == 0
    assert per.loc["p", "potential_follow_up_days"] == (CUTOFF - pd.Timestamp("2024-01-01")).days


def test_summary_statistics_and_person_years_are_those_of_the_patients():
    per, _ = patient_follow_up(_episodes(), _assessments(), CUTOFF)
    table = follow_up_summary(per, with_assessments=True).set_index("measure")
    days = np.array([150, 183, 0], dtype=float)  # p, q, r
    row = table.loc["follow_up_days"]
    assert row["median"] == 150 and row["mean"] == pytest.approx(days.mean())
    assert (row["q1"], row["q3"]) == (75.0, 166.5)
    assert row["total"] == pytest.approx(days.sum() / DAYS_PER_YEAR, abs=0.05)
    assert row["total_unit"] == "person-years" and "assessment" in row["label"]
    episodes = table.loc["episodes_per_patient"]
    assert episodes["total"] == 4 and episodes["median"] == 1 and episodes["n_patients"] == 3


def test_without_assessments_follow_up_ends_at_the_last_treatment_and_says_so():
    per, left_out = patient_follow_up(_episodes(), None, CUTOFF)
    assert left_out == 0
    assert per.set_index("patient_key").loc["p", "follow_up_days"] == 60
    table = follow_up_summary(per, with_assessments=False)
    assert "no assessments" in table.loc[table["measure"] == "follow_up_days", "label"].iloc[0]


def test_synthetic_cohort_totals_match_and_counts_are_declared():
    episodes, _ = make_episodes(n_patients=150, seed=2)
    per, _ = patient_follow_up(episodes, None, pd.Timestamp("2024-12-31"))
    table = follow_up_summary(per, with_assessments=False).set_index("measure")
    assert table.loc["episodes_per_patient", "total"] == len(episodes)
    assert (table["n_patients"] == episodes["patient_key"].nunique()).all()
    potential = table.loc["potential_follow_up_days"]
    assert potential["q1"] <= potential["median"] <= potential["q3"]
    # nobody is followed beyond the cut-off
    assert (per["follow_up_days"] <= per["potential_follow_up_days"]).all()
    declared = {(c.column, c.cube, c.exempt) for c in follow_up_counts()}
    assert ("n_patients", "cohort.patients", False) in declared
    assert ("total", None, True) in declared  # person-years: not a count
