"""The manifest contract (analysis/manifest.py) and the writer recording it (analysis/outputs.py).

The reader checks are run on fake stage outputs written as plain JSON (tests/synthetic_study.py);
the writer is checked by a round trip through :class:`StageOutput` and :func:`load_manifest`.
"""

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from synthetic_study import write_fake_stage_outputs

from analysis.manifest import Headline, ManifestError, load_manifest, load_manifests
from analysis.outputs import StageOutput


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
    with pytest.raises(ManifestError, match=r"nosuchstage/manifest.json is missing"):
        load_manifest(stages / "nosuchstage")


def test_missing_figure_is_named(stages):
    (stages / "survival" / "survival_by_region.png").unlink()
    with pytest.raises(ManifestError, match=r"sections\[0\].figures\[0\].*survival_by_region"):
        load_manifest(stages / "survival")


def test_path_outside_stage_directory_is_refused(stages):
    _edit(
        stages / "survival",
        lambda d: d["sections"][0]["tables"][0].update(path="../advice/advice_table.csv"),
    )
    with pytest.raises(ManifestError, match="inside the stage directory"):
        load_manifest(stages / "survival")


def test_unknown_count_column_is_named(stages):
    _edit(
        stages / "survival",
        lambda d: d["sections"][0]["tables"][0].update(count_columns=["n_patients"]),
    )
    with pytest.raises(ManifestError, match="n_patients"):
        load_manifest(stages / "survival")


def test_unknown_view_is_refused(stages):
    _edit(stages / "advice", lambda d: d["sections"][0].update(view="injector"))
    with pytest.raises(ManifestError, match="'view' must be one of"):
        load_manifest(stages / "advice")


def test_duplicate_headline_keys_across_stages_are_refused(stages):
    _edit(stages / "advice", lambda d: d["headlines"][0].update(key="median_days_glabella"))
    with pytest.raises(ManifestError, match="median_days_glabella"):
        load_manifests(stages, ["survival", "advice"])


# ------------------------------------------------------------------------------------------
# Writer (analysis/outputs.py)
# ------------------------------------------------------------------------------------------
def _table():
    return pd.DataFrame(
        {"region": ["glabella", "lip_flip"], "n_episodes": [40, 3], "rate": [0.1, 0.3]}
    )


def test_what_the_writer_records_the_reader_loads_back(tmp_path):
    out = StageOutput(tmp_path, stage="fit_demo", title="Demo")
    sec = out.section("clinic", "Rates", "One sentence.")
    ref = sec.table(_table(), "rates", "Rates", count_columns=("n_episodes",), latex=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    sec.figure(fig, "rates", "A line", alt="A rising line")
    out.table(_table(), "download_only")
    head = Headline("rate_glabella", "Glabella rate", 0.1, "rate", "clinic", ref.path, 0.05, 0.2)
    out.headline(head)
    written = out.write_manifest("Methods.", data_cutoff="2024-12-31", data_quality=ref)
    loaded = load_manifest(tmp_path)
    assert loaded.sections == written.sections
    assert loaded.headlines == (head,)
    assert loaded.data_cutoff == "2024-12-31" and loaded.data_quality == ref
    assert (loaded.stage, loaded.title, loaded.methods) == ("fit_demo", "Demo", "Methods.")
    assert {p.name for p in tmp_path.iterdir()} == {
        "rates.csv",
        "rates.parquet",
        "rates.png",
        "download_only.csv",
        "download_only.parquet",
        "manifest.json",
    }
    assert json.loads((tmp_path / "manifest.json").read_text()) == loaded.to_json()


def test_each_output_is_named_once(tmp_path):
    out = StageOutput(tmp_path, stage="fit_demo", title="Demo")
    out.section("research", "A", "").table(_table(), "rates", "Rates")
    with pytest.raises(ValueError, match="'rates' is written twice"):
        out.section("research", "B", "").table(_table(), "rates", "Rates again")


def test_a_headline_naming_an_unwritten_table_is_refused(tmp_path):
    out = StageOutput(tmp_path, stage="fit_demo", title="Demo")
    out.table(_table(), "rates")
    head = Headline("k", "Label", 1.0, "days", "clinic", "medians.csv")
    with pytest.raises(ValueError, match="'medians.csv', not written"):
        out.headline(head)


def test_an_unknown_view_is_refused_by_the_writer(tmp_path):
    out = StageOutput(tmp_path, stage="fit_demo", title="Demo")
    with pytest.raises(ValueError, match="view 'injector' must be one of"):
        out.section("injector", "A", "")
