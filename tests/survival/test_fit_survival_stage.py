"""End-to-end run of ``bonta fit-survival`` on the small simulated cohort."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from analysis.cli import main
from analysis.config import with_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def stage_out(small_episodes, small_params, tmp_path_factory):
    root = tmp_path_factory.mktemp("survival_stage")
    episodes = root / "episodes.parquet"
    small_episodes.to_parquet(episodes)
    # the smallest region falls below the Turnbull minimum, so the too-few path runs end to end
    smallest = int(
        small_episodes[small_episodes["in_duration_analysis"]].groupby("region").size().min()
    )
    params = with_overrides(
        small_params,
        {
            "survival.bootstrap_replicates": 20,
            "survival.strata": ["region", "exercise_tier"],
            "survival.families": ["weibull", "lognormal"],
            "survival.cv.folds": 3,
            "survival.cv.calibration_bootstrap_replicates": 50,
            "survival.turnbull_min_episodes": smallest + 1,
        },
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    code = main(
        [
            "fit-survival",
            "--params",
            str(root / "params.yaml"),
            "--episodes",
            str(episodes),
            "--out",
            str(root / "reports" / "survival"),
        ]
    )
    assert code == 0
    return root / "reports"


def test_manifest_points_at_files_that_exist(stage_out):
    manifest = json.loads((stage_out / "survival" / "manifest.json").read_text())
    assert manifest["stage"] == "fit_survival"
    for section in manifest["sections"]:
        for item in section["tables"] + section["figures"]:
            assert (stage_out / "survival" / item["path"]).exists(), item["path"]


def test_headlines_equal_the_table_values(stage_out):
    manifest = json.loads((stage_out / "survival" / "manifest.json").read_text())
    table = pd.read_csv(stage_out / "survival" / "median_duration_by_region.csv").set_index(
        "region"
    )
    gl = next(h for h in manifest["headlines"] if h["key"] == "median_days_glabella")
    assert gl["value"] == pytest.approx(table.loc["glabella", "median_days"], rel=1e-5)
    assert gl["lower"] <= gl["value"] <= gl["upper"]


def test_metrics_are_small_and_name_the_chosen_model(stage_out):
    metrics = json.loads((stage_out / "metrics" / "survival.json").read_text())
    assert metrics["chosen_family"] == "lognormal"  # the simulator's duration model is log-normal
    assert 0.6 < metrics["prediction"]["duration_c_harrell_interval"] < 1
    assert (stage_out / "metrics" / "survival.json").stat().st_size < 5000


def test_no_identifier_reaches_the_outputs(stage_out, small_episodes):
    keys = set(small_episodes["patient_key"]) | set(small_episodes["episode_key"])
    for csv in (stage_out / "survival").glob("*.csv"):
        text = csv.read_text()
        assert not any(k in text for k in list(keys)[:2000]), csv.name


def test_every_stratum_level_is_in_the_turnbull_table(stage_out, small_episodes):
    table = pd.read_csv(stage_out / "survival" / "turnbull_estimates.csv")
    metrics = json.loads((stage_out / "metrics" / "survival.json").read_text())
    analysed = small_episodes[small_episodes["in_duration_analysis"]]
    min_episodes = int(analysed.groupby("region").size().min()) + 1
    too_few = 0
    for var in ["region", "exercise_tier"]:
        counts = analysed.groupby(var, observed=True).size()
        rows = table[(table["variable"] == var) & (table["quantity"] == "median_duration")]
        assert sorted(rows["level"].astype(str)) == sorted(counts.index.astype(str))
        by_level = rows.set_index(rows["level"].astype(str))["n_episodes"]
        assert by_level.to_dict() == {str(k): int(v) for k, v in counts.items()}
        small = counts[counts < min_episodes].index.astype(str)
        assert rows.set_index(rows["level"].astype(str)).loc[small, "estimate"].isna().all()
        too_few += len(small)
    assert too_few >= 1
    assert metrics["turnbull_levels_not_estimated"] == too_few


def test_every_clinic_region_cell_is_in_the_clinic_table(stage_out, small_episodes):
    table = pd.read_csv(stage_out / "survival" / "median_duration_by_clinic_region.csv")
    analysed = small_episodes[small_episodes["in_duration_analysis"]]
    counts = analysed.groupby(["clinic", "region"]).size()
    by_cell = table.set_index(["clinic", "region"])["n_episodes"]
    assert by_cell.to_dict() == {(str(c), str(r)): int(n) for (c, r), n in counts.items()}
    metrics = json.loads((stage_out / "metrics" / "survival.json").read_text())
    estimated = table.loc[~table["too_few_to_estimate"]]
    assert metrics["turnbull_clinic_region_cells_estimated"] == len(estimated)
    assert estimated["median_days"].notna().all()
    assert (estimated["median_lower"] <= estimated["median_days"]).all()
    unadjusted = pd.read_csv(stage_out / "survival" / "aft_unadjusted_time_ratios.csv")
    adjusted = pd.read_csv(stage_out / "survival" / "aft_time_ratios.csv")
    assert set(unadjusted["term"]) >= set(adjusted["term"]) - {
        t for t in adjusted["term"] if t.startswith("dose_slope_below_knot_")
    }
