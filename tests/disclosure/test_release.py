"""What the release (analysis/disclosure/release.py) writes for a small stage written through
StageOutput: labels, withheld derived values and columns, Table 1 percentages, figures redrawn
from the released tables, headlines, and nothing at all when a text repeats a withheld count."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.disclosure import SUPPRESSED
from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.model import DisclosureError
from analysis.disclosure.release import FIGURE_NOTE, release
from analysis.disclosure.spec import Count
from analysis.figures import cohort as cohort_figures
from analysis.figures.theme import theme
from analysis.manifest import Headline
from analysis.outputs import StageOutput

CONFIG = DisclosureConfig(min_count=5, protection_width=5.0)
BY_REGION = pd.DataFrame(
    {
        "region": ["a", "b", "c"],
        "n_episodes": [3, 40, 30],
        "rate": [0.6667, 0.075, 0.1],
        "secret": ["x", "y", "z"],
    }
)


def write_stage(results, methods: str = "Counts are in the tables.") -> None:
    out = StageOutput(results / "toy", stage="toy", title="Toy")
    cube = pd.DataFrame({"region": ["a", "b", "c"], "value": [3.0, 40.0, 30.0]})
    out.cube("toy.episodes", "episodes", cube, ("region",))
    by = Count("n_episodes", cube="toy.episodes", by={"region": "region"})
    sec = out.section("clinic", "By region", "Episodes by region.")
    sec.table(
        BY_REGION,
        "episodes_by_region",
        "By region",
        counts=(by,),
        derived_columns=("rate",),
        withheld_columns=("secret",),
    )
    total = pd.DataFrame({"n_episodes": [73]})
    sec.table(total, "total", "All", counts=(Count("n_episodes", cube="toy.episodes"),))
    text = pd.DataFrame(
        {"level": ["a", "b", "c"], "Overall": ["3 (4.1%)", "40 (54.8%)", "30 (41.1%)"]}
    )
    sec.table(
        text,
        "table1",
        "Text counts",
        counts=(Count("Overall", cube="toy.episodes", by={"level": "region"}, text=True),),
    )
    with theme():
        sec.figure_from(
            "bars",
            "Episodes by region.",
            "Bars",
            cohort_figures.fig_episodes_by_region,
            {"by_region": "episodes_by_region"},
        )
    for region in ("a", "b"):
        row = BY_REGION.set_index("region").loc[region]
        out.headline(
            Headline(
                f"rate_{region}",
                f"Rate {region}",
                float(row["rate"]),
                "rate",
                "clinic",
                "episodes_by_region.csv",
            )
        )
    out.write_manifest(methods)


@pytest.fixture()
def toy(tmp_path):
    results, reports = tmp_path / "results", tmp_path / "reports"
    write_stage(results)
    done = release(results, reports, ["toy"], CONFIG)
    return results / "toy", reports / "toy", done


def test_a_small_count_its_complement_and_their_derived_values_are_labelled(toy):
    _, reports, done = toy
    shown = pd.read_csv(reports / "episodes_by_region.csv", dtype=str).set_index("region")
    assert shown.loc["a", "n_episodes"] == SUPPRESSED and shown.loc["a", "rate"] == SUPPRESSED
    hidden = shown["n_episodes"].eq(SUPPRESSED)
    assert hidden.sum() == 2  # a (3) and one complement: the total 73 is shown
    assert (shown.loc[hidden, "rate"] == SUPPRESSED).all()
    assert "secret" not in shown.columns
    assert pd.read_csv(reports / "total.csv")["n_episodes"].tolist() == [73]
    assert done.protection.n_primary == 1 and done.protection.n_secondary == 1
    assert done.protection.min_width(5) >= 5
    parquet = pd.read_parquet(reports / "episodes_by_region.parquet")
    assert parquet["n_episodes"].map(type).nunique() == 1  # one type per column


def test_the_analyst_copy_keeps_every_count(toy):
    results, _, _ = toy
    analyst = pd.read_csv(results / "episodes_by_region.csv")
    assert analyst["n_episodes"].tolist() == [3, 40, 30] and "secret" in analyst.columns


def test_text_counts_lose_their_percentages_when_one_is_suppressed(toy):
    _, reports, _ = toy
    cells = pd.read_csv(reports / "table1.csv", dtype=str)["Overall"].tolist()
    assert cells[0] == SUPPRESSED
    assert not any("%" in c for c in cells)  # 4.1% of 73 would give the 3 back


def test_a_figure_of_counts_is_redrawn_from_the_released_table(toy):
    results, reports, _ = toy
    assert (reports / "bars.png").read_bytes() != (results / "bars.png").read_bytes()
    man = json.loads((reports / "manifest.json").read_text())
    figure = man["sections"][0]["figures"][0]
    assert figure["caption"].endswith(FIGURE_NOTE) and "draw" not in figure
    assert "cubes" not in man and "tables" not in man


def test_a_headline_repeating_a_withheld_value_is_left_out(toy):
    _, reports, _ = toy
    keys = [h["key"] for h in json.loads((reports / "manifest.json").read_text())["headlines"]]
    shown = pd.read_csv(reports / "episodes_by_region.csv", dtype=str).set_index("region")
    expected = [f"rate_{r}" for r in ("a", "b") if shown.loc[r, "rate"] != SUPPRESSED]
    assert keys == expected and "rate_a" not in keys


def test_a_text_repeating_a_withheld_count_stops_the_release_before_anything_is_written(
    tmp_path,
):
    results, reports = tmp_path / "results", tmp_path / "reports"
    write_stage(results, methods="Region b had 40 episodes and region c 30 episodes.")
    with pytest.raises(DisclosureError, match=r"toy/manifest.json, methods: the text repeats"):
        release(results, reports, ["toy"], CONFIG)
    assert not reports.exists()
