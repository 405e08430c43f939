"""Touch-ups (issue 14) on hand-written cases: every expected value is worked out by hand.

Cut-off 2024-12-31 (``hand_cfg``), touch-up window 28 days (params.yaml).

* PAT-200001 glabella: 20 U on 2024-01-08, a 4 U touch-up on day 12 (2024-01-20), re-treated
  on day 154. The day-12 check is at baseline (the reason for the touch-up: not a wear-off);
  later visits are filed under the touch-up's id; a headache 26 days after the touch-up
  (day 38) counts as a 30-day complication of the episode.
* PAT-200002 masseter (prabo): 40 U, touch-ups of 10 U on days 10 and 20, both join.
* PAT-200003 lip flip: re-treated on day 95, a new episode (cycle 2).
* PAT-200004 crow's feet: marked ``is_touchup = false`` on day 14: the mark wins (a new
  episode) and the disagreement with the window is reported.
* PAT-200005 forehead: marked ``is_touchup = yes`` on day 51: the mark wins (joined) and is
  reported.
"""

from __future__ import annotations

import handmade
import numpy as np
import pandas as pd
import pytest

from analysis.config import with_overrides
from analysis.data.derive import (
    FLAG_BEYOND_WINDOW,
    FLAG_WITHIN_WINDOW,
    JOINED_BY_FLAG,
    JOINED_BY_WINDOW,
    episode_roles,
)
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.pseudonym import pseudonymise
from analysis.errors import InputValidationError

KEY = b"touchup-test-key"

PATIENTS = pd.DataFrame(
    {
        "patient_id": [f"PAT-20000{i}" for i in range(1, 6)],
        "sex": ["F", "M", "F", "F", "F"],
        "birth_year": [1985, 1979, 1990, 1970, 1982],
        "body_fat_pct": [27.0, 20.0, 30.0, 33.0, None],
    }
)

_COLUMNS = [
    "episode_id",
    "patient_id",
    "clinic_id",
    "injector_id",
    "treatment_date",
    "region",
    "product",
    "units",
    "muscle_bulk",
    "exercise_met_h_week",
    "baseline_severity",
    "is_touchup",
]
_T = [
    ("EPI-T1", "PAT-200001", "Clinic Ost", "Dr. Delta", "2024-01-08", "glabella", "ona", 20),
    ("EPI-T2", "PAT-200001", "Clinic Ost", "Dr. Delta", "2024-01-20", "glabella", "ona", 4),
    ("EPI-T3", "PAT-200001", "Clinic Ost", "Dr. Delta", "2024-06-10", "glabella", "ona", 20),
    ("EPI-M1", "PAT-200002", "Clinic Ost", "Dr. Delta", "2024-03-01", "masseter", "prabo", 40),
    ("EPI-M2", "PAT-200002", "Clinic Ost", "Dr. Delta", "2024-03-11", "masseter", "prabo", 10),
    ("EPI-M3", "PAT-200002", "Clinic Ost", "Dr. Delta", "2024-03-21", "masseter", "prabo", 10),
    ("EPI-L1", "PAT-200003", "Clinic Ost", "Dr. Eps", "2024-02-01", "lip_flip", "inco", 4),
    ("EPI-L2", "PAT-200003", "Clinic Ost", "Dr. Eps", "2024-05-06", "lip_flip", "inco", 4),
    ("EPI-C1", "PAT-200004", "Clinic West", "Dr. Zeta", "2024-04-01", "crows_feet", "ona", 24),
    ("EPI-C2", "PAT-200004", "Clinic West", "Dr. Zeta", "2024-04-15", "crows_feet", "ona", 24),
    ("EPI-F1", "PAT-200005", "Clinic West", "Dr. Zeta", "2024-01-10", "forehead", "ona", 20),
    ("EPI-F2", "PAT-200005", "Clinic West", "Dr. Zeta", "2024-03-01", "forehead", "ona", 6),
]
_MARK = {"EPI-C1": "false", "EPI-C2": "false", "EPI-F1": "no", "EPI-F2": "yes"}


def _treatments() -> pd.DataFrame:
    """Muscle bulk 2, 10 MET-h/week; baseline severity 3 in the masseter, else 2."""
    rows = [(*t, 2, 10.0, 3 if t[5] == "masseter" else 2, _MARK.get(t[0])) for t in _T]
    return pd.DataFrame(rows, columns=_COLUMNS)


ASSESSMENTS = pd.DataFrame(
    [
        ("EPI-T1", "2024-01-20", 2, None),  # day 12 at baseline, touched up: not a wear-off
        ("EPI-T2", "2024-04-18", 1, None),  # filed under the touch-up: day 101 of the episode
        ("EPI-T2", "2024-05-28", 2, None),  # day 141 back at baseline -> (101, 141]
        ("EPI-M3", "2024-06-29", 1, None),  # day 120, baseline 3
        ("EPI-M3", "2024-08-28", 3, None),  # day 180 -> (120, 180]
        ("EPI-L1", "2024-02-15", 0, None),  # day 14
        ("EPI-L1", "2024-05-06", 1, None),  # day 95, the re-treatment day: still responding
        ("EPI-C1", "2024-04-15", 1, None),  # day 14
        ("EPI-F2", "2024-05-01", 1, None),  # day 112 of the forehead episode
    ],
    columns=["episode_id", "assessment_date", "severity", "reported_wearoff_date"],
).astype({"severity": "Int64"})

COMPLICATIONS = pd.DataFrame(
    [
        ("EPI-T2", "headache", "2024-02-15", "mild", None),  # day 38, 26 d after the touch-up
        (
            "EPI-M1",
            "chewing_fatigue",
            "2024-04-25",
            "mild",
            None,
        ),  # day 55, 35 d after the last touch-up: not c30
        ("EPI-M3", "smile_asymmetry", "2024-04-15", "mild", None),  # 25 d after the 2nd one
    ],
    columns=["episode_id", "complication_type", "onset_date", "severity", "resolution_date"],
)


def touchup_tables() -> dict[str, pd.DataFrame]:
    return {
        "patients": PATIENTS.copy(),
        "treatments": _treatments(),
        "assessments": ASSESSMENTS.copy(),
        "complications": COMPLICATIONS.copy(),
    }


def _key(name: str) -> str:
    return pseudonymise(pd.Series([name]), KEY, "episode")[0]


@pytest.fixture(scope="module")
def touch(hand_cfg, tmp_path_factory):
    raw = handmade.write(touchup_tables(), tmp_path_factory.mktemp("touchups"))
    return prepare(raw, hand_cfg, key=KEY)


@pytest.fixture(scope="module")
def episodes(touch):
    names = {_key(t[0]): t[0] for t in _T}
    return touch.episodes.assign(name=touch.episodes["episode_key"].map(names)).set_index("name")


def test_only_episode_starts_are_episodes(episodes):
    assert sorted(episodes.index) == sorted(
        ["EPI-T1", "EPI-T3", "EPI-M1", "EPI-L1", "EPI-L2", "EPI-C1", "EPI-C2", "EPI-F1"]
    )


def test_touchup_on_day_12_joins_its_episode(episodes):
    e = episodes.loc["EPI-T1"]
    assert (e.units, e.units_ona_eq, e.rel_dose) == (20.0, 24.0, 1.2)
    assert e.log2_rel_dose_initial == 0.0 and e.log2_rel_dose == pytest.approx(np.log2(1.2))
    assert (e.touchup, e.n_touchups, e.touchup_units_ona_eq, e.touchup_day) == (True, 1, 4.0, 12)
    # no re-treatment event at day 12: the next episode starts on day 154
    assert (e.cycle, e.retreat_days, e.retreat_event) == (1, 154.0, True)
    assert episodes.loc["EPI-T3", "cycle"] == 2
    # day-12 visit at baseline (before the adjustment) bounds nothing; the touch-up's visits count
    assert (e.dur_lower_days, e.dur_upper_days, e.dur_status) == (101.0, 141.0, "interval")
    assert e.c30_headache and e.c30_any  # 26 days after the touch-up


def test_two_touchups_on_days_10_and_20_both_join(episodes):
    e = episodes.loc["EPI-M1"]
    assert (e.n_touchups, e.touchup_day, e.touchup_units_ona_eq, e.units_ona_eq) == (
        2,
        10.0,
        20.0,
        60.0,
    )
    assert (e.rel_dose, e.cycle, e.retreat_event, e.retreat_days) == (1.0, 1, False, 305.0)
    assert (e.dur_lower_days, e.dur_upper_days) == (120.0, 180.0)
    # 35 days after the last touch-up: not counted; 5 days after it: counted
    assert not e.c30_chewing_fatigue and e.c30_smile_asymmetry


def test_retreatment_on_day_95_is_a_new_episode(episodes):
    first, second = episodes.loc["EPI-L1"], episodes.loc["EPI-L2"]
    assert not first.touchup and not second.touchup
    assert (first.cycle, second.cycle) == (1, 2)
    assert (first.retreat_days, first.retreat_event) == (95.0, True)
    assert (first.dur_lower_days, first.dur_status) == (95.0, "right_retreated_responding")


def test_explicit_mark_wins_and_each_disagreement_is_reported(touch, episodes):
    # crow's feet marked "false" on day 14: a new episode (re-treated at day 14, as marked)
    assert (episodes.loc["EPI-C1", "retreat_days"], episodes.loc["EPI-C2", "cycle"]) == (14.0, 2)
    # forehead marked "yes" on day 51: joined, although beyond the 28-day window
    f = episodes.loc["EPI-F1"]
    assert (f.touchup, f.touchup_day, f.units_ona_eq) == (True, 51.0, 26.0)
    assert (f.dur_lower_days, f.dur_upper_days) == (112.0, np.inf)
    dq = touch.data_quality.set_index(["table", "reason"])["rows_excluded"]
    assert dq[("touchup_flags", FLAG_WITHIN_WINDOW.format(w="28"))] == 1
    assert dq[("touchup_flags", FLAG_BEYOND_WINDOW.format(w="28"))] == 1
    flags = touch.data_quality.query("table == 'touchup_flags'").iloc[0]
    assert (flags.rows_in, flags.rows_kept) == (4, 2)


def test_data_quality_reconciles_treatments_with_episodes(touch):
    dq = touch.data_quality.set_index(["table", "reason"])["rows_excluded"]
    assert dq[("episodes", JOINED_BY_WINDOW.format(w="28"))] == 3  # T2, M2, M3
    assert dq[("episodes", JOINED_BY_FLAG)] == 1  # F2
    ep = touch.data_quality.query("table == 'episodes'").iloc[0]
    assert (ep.rows_in, ep.rows_kept) == (12, 8)


def test_processed_rows_are_filed_under_their_episode(touch):
    t = touch.treatments.set_index("episode_key")
    assert t.loc[_key("EPI-M3"), "parent_episode_key"] == _key("EPI-M1")
    assert t.loc[_key("EPI-M3"), "touchup"] and not t.loc[_key("EPI-M1"), "touchup"]
    assert t.loc[_key("EPI-C2"), "is_touchup"] == False  # noqa: E712 - the clinic's own mark
    a = touch.assessments
    moved = a[a["episode_key"] == _key("EPI-T1")].sort_values("day")
    assert moved["day"].tolist() == [12, 101, 141]  # days since the first injection
    assert _key("EPI-T2") not in set(a["episode_key"]) | set(touch.complications["episode_key"])


def test_window_is_a_parameter(hand_params, tmp_path):
    cfg = PrepareConfig.from_params(
        with_overrides(hand_params, {"prepare.touchup_window_days": 11})
    )
    got = prepare(handmade.write(touchup_tables(), tmp_path), cfg, key=KEY)
    e = got.episodes.set_index("episode_key")
    assert not e.loc[_key("EPI-T1"), "touchup"]  # day 12 > 11: its own episode now
    assert e.loc[_key("EPI-M1"), "n_touchups"] == 2  # 10 and 10 days apart: still joined


def test_unreadable_mark_is_a_problem_naming_row_and_column(hand_cfg, tmp_path):
    tables = touchup_tables()
    tables["treatments"].loc[4, "is_touchup"] = "maybe"
    with pytest.raises(InputValidationError) as err:
        prepare(handmade.write(tables, tmp_path), hand_cfg, key=KEY)
    (problem,) = err.value.problems
    assert (problem.file, problem.row, problem.column, problem.value) == (
        "treatments.csv",
        5,
        "is_touchup",
        "maybe",
    )
    assert "true or false" in problem.rule


def test_same_day_records_are_one_session_not_a_touchup():
    tr = pd.DataFrame(
        {
            "episode_key": ["a" * 16, "b" * 16, "c" * 16],
            "patient_key": ["p" * 16] * 3,
            "region": ["masseter"] * 3,
            "treatment_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-15"]),
            "units": [30.0, 30.0, 10.0],
        }
    )
    roles = episode_roles(tr, 28)
    assert roles["starts_episode"].tolist() == [True, False, False]
    assert roles["touchup"].tolist() == [False, False, True]
    assert roles["day_in_episode"].tolist() == [0, 0, 14]
