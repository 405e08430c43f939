"""End-to-end run of ``bonta fit-survival`` on the small simulated cohort."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from analysis.cli import main
from analysis.params import with_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def stage_out(small_episodes, small_params, tmp_path_factory):
    root = tmp_path_factory.mktemp("survival_stage")
    episodes = root / "episodes.parquet"
    small_episodes.to_parquet(episodes)
    params = with_overrides(small_params, {
        "survival.bootstrap_replicates": 20, "survival.strata": ["region", "exercise_tier"],
        "survival.families": ["weibull", "lognormal"], "survival.cv.folds": 3,
    })
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    code = main(["fit-survival", "--params", str(root / "params.yaml"), "--episodes", str(episodes),
                 "--out", str(root / "reports" / "survival")])
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
    table = pd.read_csv(stage_out / "survival" / "median_duration_by_region.csv").set_index("region")
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
