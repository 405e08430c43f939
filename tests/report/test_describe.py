"""Cohort description (analysis/report/describe.py) against the synthetic cohort's truth."""

import numpy as np
import pandas as pd
import pytest
from conftest import TRUE_COMPLICATION_P, TRUE_RETREAT_MEDIAN_DAYS
from scipy.stats import binomtest

from analysis.errors import ConfigError, InputValidationError
from analysis.report.describe import (
    DescribeConfig,
    check_columns,
    check_data_quality,
    cohort_at_glance,
    data_cutoff,
    overall_outcomes,
    quarterly_trends,
    table_one,
    wilson_interval,
)


def test_wilson_interval_matches_scipy_reference():
    k, n = np.array([0, 3, 47, 200]), np.array([10, 40, 886, 200])
    lo, hi = wilson_interval(k, n, 0.95)
    for i in range(len(k)):
        ref = binomtest(int(k[i]), int(n[i])).proportion_ci(0.95, method="wilson")
        assert lo[i] == pytest.approx(ref.low, abs=1e-9)
        assert hi[i] == pytest.approx(ref.high, abs=1e-9)


def test_wilson_interval_has_near_nominal_exact_coverage():
    # exact coverage at the simulated rate: sum of binomial probabilities of the k whose
    # interval contains p (Wilson is close to nominal, slightly conservative at small p)
    from scipy.stats import binom

    n = 300
    k = np.arange(n + 1)
    lo, hi = wilson_interval(k, np.full(n + 1, n), 0.95)
    covered = (lo <= TRUE_COMPLICATION_P) & (TRUE_COMPLICATION_P <= hi)
    coverage = binom.pmf(k[covered], n, TRUE_COMPLICATION_P).sum()
    assert 0.93 < coverage < 0.98
    # a 50% interval must cover far less often: the level is really used
    lo50, hi50 = wilson_interval(k, np.full(n + 1, n), 0.5)
    covered50 = (lo50 <= TRUE_COMPLICATION_P) & (TRUE_COMPLICATION_P <= hi50)
    assert 0.4 < binom.pmf(k[covered50], n, TRUE_COMPLICATION_P).sum() < 0.6


def test_overall_outcomes_recover_simulated_truth(synthetic):
    episodes, _, _ = synthetic
    out = overall_outcomes(episodes).iloc[0]
    assert out["complication_rate_pct_lower"] <= 100 * TRUE_COMPLICATION_P
    assert 100 * TRUE_COMPLICATION_P <= out["complication_rate_pct_upper"]
    # re-treatment is right-censored at the cut-off: the KM median still finds the truth
    assert out["median_retreat_lower"] <= TRUE_RETREAT_MEDIAN_DAYS <= out["median_retreat_upper"]
    assert out["median_retreat_days"] == pytest.approx(TRUE_RETREAT_MEDIAN_DAYS, rel=0.06)


def test_quarterly_trends_partition_the_episodes(synthetic):
    episodes, _, _ = synthetic
    trends = quarterly_trends(episodes)
    assert trends["n_episodes"].sum() == len(episodes)
    assert trends["n_complications"].sum() == episodes["c30_any"].sum()
    assert trends["quarter"].is_monotonic_increasing
    assert (trends["complication_rate_lower"] <= trends["complication_rate"]).all()
    assert (trends["complication_rate"] <= trends["complication_rate_upper"]).all()


def test_cutoff_is_recovered_from_censored_retreatment_or_taken_from_params(synthetic):
    episodes, _, _ = synthetic
    # the synthetic cohort censors re-treatment at 2024-12-31, after the last treatment date
    assert data_cutoff(episodes) == pd.Timestamp("2024-12-31")
    assert pd.to_datetime(episodes["treatment_date"]).max() < pd.Timestamp("2024-12-31")
    assert data_cutoff(episodes, "2025-03-01") == pd.Timestamp("2025-03-01")


def test_cohort_at_glance_counts(synthetic):
    episodes, raw, _ = synthetic
    glance = cohort_at_glance(episodes, data_cutoff(episodes)).set_index("measure")["value"]
    assert int(glance["n_patients"]) == len(raw["patient_id"])
    assert int(glance["n_episodes"]) == len(raw["episode_id"])
    assert int(glance["n_clinics"]) == len(raw["clinic_id"])


def test_table_one_groups_add_up_to_overall(synthetic):
    episodes, _, _ = synthetic
    t1 = table_one(episodes, "sex").set_index(["characteristic", "level"])
    patients = t1.loc[("Patients", "")]
    assert int(patients["sex=F"]) + int(patients["sex=M"]) == int(patients["Overall"])
    n_female = episodes.loc[episodes["sex"] == "F", "patient_key"].nunique()
    assert int(patients["sex=F"]) == n_female
    glab = t1.loc[("Region (episodes)", "glabella"), "Overall"]
    n_glab = int((episodes["region"] == "glabella").sum())
    assert glab == f"{n_glab} ({100 * n_glab / len(episodes):.1f}%)"


def test_table_one_suppresses_small_cells(synthetic):
    episodes, _, _ = synthetic
    ep = episodes.copy()
    ep.loc[ep.index[:3], "product"] = "daxi"  # three episodes only
    t1 = table_one(ep, "sex", min_count=5).set_index(["characteristic", "level"])
    assert t1.loc[("Product (episodes)", "daxi"), "Overall"] == "<5"
    row = t1.loc[("Product (episodes)", "daxi")]
    n_by_sex = ep.loc[ep.index[:3], "sex"].value_counts()
    for sex in ("F", "M"):
        expected = "<5" if n_by_sex.get(sex, 0) else "0 (0.0%)"
        assert row[f"sex={sex}"] == expected


def test_table_one_by_region_has_a_column_per_region(synthetic):
    episodes, _, _ = synthetic
    t1 = table_one(episodes, "region")
    assert {f"region={r}" for r in episodes["region"].unique()} <= set(t1.columns)


def test_inconsistent_data_quality_names_file_row_and_rule(synthetic):
    _, _, dq = synthetic
    bad = dq.copy()
    bad.loc[0, "rows_in"] = bad.loc[0, "rows_in"] + 1
    bad.loc[1, "rows_in"] = bad.loc[0, "rows_in"]
    with pytest.raises(InputValidationError) as err:
        check_data_quality(bad, "data_quality.csv")
    assert "data_quality.csv, row 1" in str(err.value)
    assert "rows_excluded" in str(err.value) and "treatments" in str(err.value)


def test_missing_column_is_named():
    with pytest.raises(InputValidationError, match="episodes.parquet.*'c30_any'"):
        check_columns(pd.DataFrame({"a": [1]}), ["a", "c30_any"], "episodes.parquet")


def test_config_rejects_unknown_table1_split():
    with pytest.raises(ConfigError, match="table1_by"):
        DescribeConfig(table1_by="clinic")


def test_describe_matches_the_real_prepare_output(small_prepared):
    """On the prepare stage's own output: the cut-off it used is recovered, counts agree."""
    from analysis.report.describe import describe_cohort

    episodes = small_prepared.episodes
    cohort = describe_cohort(episodes, small_prepared.data_quality, DescribeConfig())
    assert cohort.cutoff == pd.Timestamp(small_prepared.cutoff_date).normalize()
    glance = cohort.summary.set_index("measure")["value"]
    assert int(glance["n_episodes"]) == len(episodes)
    kept = small_prepared.data_quality.query("table == 'episodes'")["rows_kept"].iloc[0]
    assert int(glance["n_episodes"]) == kept
    assert cohort.trends["n_episodes"].sum() == len(episodes)


def test_exclusion_sentence_suppresses_small_exclusions(synthetic):
    from analysis.report.describe import exclusion_sentence

    _, _, dq = synthetic
    text = exclusion_sentence(dq, 5)
    assert "unknown region code: <5" in text  # 3 rows
    assert "units outside 0.2-5 x reference dose: 10" in text
