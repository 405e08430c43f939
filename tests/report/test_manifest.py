"""Manifest contract checks (analysis/report/manifest.py)."""

import json

import pytest
from conftest import write_fake_stage_outputs

from analysis.report.manifest import ReportInputError, load_manifest, load_manifests


@pytest.fixture()
def stages(tmp_path):
    write_fake_stage_outputs(tmp_path)
    return tmp_path


def _edit(stage_dir, change):
    path = stage_dir / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_valid_fake_manifests_load(stages):
    mans = load_manifests(stages, ["survival", "complications", "advice"])
    assert [m.stage for m in mans] == ["fit_survival", "fit_complications", "fit_advice"]


def test_missing_manifest_is_a_clear_error(stages):
    with pytest.raises(ReportInputError, match=r"nosuchstage/manifest.json is missing"):
        load_manifest(stages / "nosuchstage")


def test_missing_figure_is_named(stages):
    (stages / "survival" / "survival_by_region.png").unlink()
    with pytest.raises(ReportInputError, match=r"sections\[0\].figures\[0\].*survival_by_region"):
        load_manifest(stages / "survival")


def test_path_outside_stage_directory_is_refused(stages):
    _edit(
        stages / "survival",
        lambda d: d["sections"][0]["tables"][0].update(path="../advice/advice_table.csv"),
    )
    with pytest.raises(ReportInputError, match="inside the stage directory"):
        load_manifest(stages / "survival")


def test_unknown_count_column_is_named(stages):
    _edit(
        stages / "survival",
        lambda d: d["sections"][0]["tables"][0].update(count_columns=["n_patients"]),
    )
    with pytest.raises(ReportInputError, match="n_patients"):
        load_manifest(stages / "survival")


def test_unknown_view_is_refused(stages):
    _edit(stages / "advice", lambda d: d["sections"][0].update(view="injector"))
    with pytest.raises(ReportInputError, match="'view' must be one of"):
        load_manifest(stages / "advice")


def test_duplicate_headline_keys_across_stages_are_refused(stages):
    _edit(stages / "advice", lambda d: d["headlines"][0].update(key="median_days_glabella"))
    with pytest.raises(ReportInputError, match="median_days_glabella"):
        load_manifests(stages, ["survival", "advice"])
