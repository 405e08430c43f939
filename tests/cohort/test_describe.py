"""Cohort description (analysis/cohort/) against the synthetic cohort's truth."""

import pandas as pd
import pytest
from synthetic_study import TRUE_COMPLICATION_P, TRUE_RETREAT_MEDIAN_DAYS

from analysis.cohort.describe import (
    DescribeConfig,
    check_columns,
    check_data_quality,
    cohort_at_glance,
    overall_outcomes,
    quarterly_trends,
    read_cohort_inputs,
)
from analysis.errors import ConfigError, InputValidationError

#: The settings params.yaml gives (report.min_count, table1_by, ci_level).
CONFIG = DescribeConfig(
    min_count=5, table1_by="sex", ci_level=0.95, bootstrap_replicates=400, seed=11
)


def test_overall_outcomes_recover_simulated_truth(synthetic):
    episodes, _, _ = synthetic
    out = overall_outcomes(episodes, CONFIG).iloc[0]
    assert out["complication_rate_pct_lower"] <= 100 * TRUE_COMPLICATION_P
    assert 100 * TRUE_COMPLICATION_P <= out["complication_rate_pct_upper"]
    # re-treatment is right-censored at the cut-off: the KM median still finds the truth
    assert out["median_retreat_lower"] <= TRUE_RETREAT_MEDIAN_DAYS <= out["median_retreat_upper"]
    assert out["median_retreat_days"] == pytest.approx(TRUE_RETREAT_MEDIAN_DAYS, rel=0.06)


def test_quarterly_trends_partition_the_episodes(synthetic):
    episodes, _, _ = synthetic
    trends = quarterly_trends(episodes, CONFIG)
    assert trends["n_episodes"].sum() == len(episodes)
    assert trends["n_complications"].sum() == episodes["c30_any"].sum()
    assert trends["quarter"].is_monotonic_increasing
    assert (trends["complication_rate_lower"] <= trends["complication_rate"]).all()
    assert (trends["complication_rate"] <= trends["complication_rate_upper"]).all()


def test_cohort_at_glance_counts(synthetic):
    episodes, raw, _ = synthetic
    glance = cohort_at_glance(episodes, pd.Timestamp("2024-12-31")).set_index("measure")["value"]
    assert int(glance["n_patients"]) == len(raw["patient_id"])
    assert int(glance["n_episodes"]) == len(raw["episode_id"])
    assert int(glance["n_clinics"]) == len(raw["clinic_id"])


def test_inconsistent_data_quality_names_file_row_and_rule(synthetic):
    _, _, dq = synthetic
    bad = dq.copy()
    bad.loc[0, "rows_in"] = bad.loc[0, "rows_in"] + 1
    bad.loc[1, "rows_in"] = bad.loc[0, "rows_in"]
    with pytest.raises(InputValidationError) as err:
        check_data_quality(bad, "data_quality.csv")
    assert "data_quality.csv, row 1" in str(err.value)
    assert "rows_excluded" in str(err.value) and "treatments" in str(err.value)


def test_missing_processed_file_is_named(tmp_path):
    with pytest.raises(
        InputValidationError, match=r"episodes.parquet: file does not exist; run the prepare stage"
    ):
        read_cohort_inputs(tmp_path)


def test_missing_column_is_named():
    with pytest.raises(InputValidationError, match="episodes.parquet.*'c30_any'"):
        check_columns(pd.DataFrame({"a": [1]}), ["a", "c30_any"], "episodes.parquet")


def test_config_rejects_unknown_table1_split():
    with pytest.raises(ConfigError, match="table1_by"):
        DescribeConfig(
            min_count=5, table1_by="clinic", ci_level=0.95, bootstrap_replicates=400, seed=1
        )


def test_describe_matches_the_real_prepare_output(small_prepared):
    """On the prepare stage's own output: the cut-off it used is recovered, counts agree."""
    from analysis.cohort.describe import describe_cohort

    episodes = small_prepared.episodes
    cutoff = pd.Timestamp(small_prepared.cutoff_date)
    cohort = describe_cohort(episodes, small_prepared.data_quality, cutoff, CONFIG)
    assert cohort.cutoff == pd.Timestamp(small_prepared.cutoff_date).normalize()
    glance = cohort.summary.set_index("measure")["value"]
    assert int(glance["n_episodes"]) == len(episodes)
    kept = small_prepared.data_quality.query("table == 'episodes'")["rows_kept"].iloc[0]
    assert int(glance["n_episodes"]) == kept
    assert cohort.trends["n_episodes"].sum() == len(episodes)
