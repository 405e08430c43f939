"""Median duration per clinic x region (analysis/survival/study.py ``median_by_clinic_region``)
and its release (narrative.py ``record_clinic_durations``): known medians per cell, small cells
listed without estimates, small counts suppressed by the real disclosure layer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.disclosure import SUPPRESSED
from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.release import release
from analysis.disclosure.spec import Count
from analysis.outputs import StageOutput
from analysis.survival import narrative
from analysis.survival.config import SurvivalStudyConfig
from analysis.survival.study import median_by_clinic_region

#: (clinic, region) -> (true median days, patients; each patient has two episodes)
CELLS = {
    ("C-a", "glabella"): (140.0, 60),
    ("C-a", "lip_flip"): (100.0, 50),
    ("C-b", "glabella"): (175.0, 45),
    ("C-b", "lip_flip"): (100.0, 2),  # 4 episodes: too few to estimate, and a small count
}
VISIT_DAYS = np.arange(14.0, 400.0, 14.0)


def _episodes(seed: int = 5) -> pd.DataFrame:
    """Log-normal durations (sigma 0.25, patient frailty SD 0.1) seen at two-weekly visits."""
    rng = np.random.default_rng(seed)
    rows = []
    for (clinic, region), (median, n_patients) in CELLS.items():
        for p in range(n_patients):
            frailty = rng.normal(0, 0.1)
            for _ in range(2):
                t = median * np.exp(frailty + 0.25 * rng.normal())
                k = int(np.searchsorted(VISIT_DAYS, t))
                rows.append(
                    {
                        "patient_key": f"{clinic}-{region}-{p}",
                        "clinic": clinic,
                        "region": region,
                        "product": "ona",
                        "exercise_tier": "low",
                        "muscle_bulk": 2,
                        "in_duration_analysis": True,
                        "dur_lower_days": 0.0 if k == 0 else VISIT_DAYS[k - 1],
                        "dur_upper_days": VISIT_DAYS[k],
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def config(params):
    s = SurvivalStudyConfig.from_params(params).survival
    return replace(s, bootstrap_replicates=300, turnbull_min_episodes=20)


@pytest.fixture(scope="module")
def table(config):
    return median_by_clinic_region(_episodes(), config, seed=1)[0].set_index(["clinic", "region"])


def test_every_cell_is_listed_with_its_counts(table):
    episodes = _episodes()
    counts = episodes.groupby(["clinic", "region"]).size()
    assert table["n_episodes"].to_dict() == counts.to_dict()
    assert table.loc[("C-b", "lip_flip"), "n_patients"] == 2


def test_intervals_cover_the_true_medians_and_separate_the_clinics(table):
    for cell, (median, _n) in CELLS.items():
        row = table.loc[cell]
        if row["too_few_to_estimate"]:
            continue
        assert row["median_lower"] <= median <= row["median_upper"], cell
        assert row["median_lower"] < row["median_days"] < row["median_upper"], cell
    # a 25% longer glabella effect in clinic b is told apart from clinic a's
    assert (
        table.loc[("C-b", "glabella"), "median_lower"]
        > table.loc[("C-a", "glabella"), "median_upper"]
    )


def test_a_cell_below_the_minimum_has_counts_and_no_estimate(table, config):
    small = table.loc[("C-b", "lip_flip")]
    assert bool(small["too_few_to_estimate"]) and small["n_episodes"] < config.turnbull_min_episodes
    assert small[["median_days", "median_lower", "median_upper"]].isna().all()
    assert not table.drop(index=("C-b", "lip_flip"))["too_few_to_estimate"].any()


def test_the_release_suppresses_the_small_cell_and_keeps_the_others(table, config, tmp_path):
    episodes = _episodes()
    out = StageOutput(tmp_path / "results" / "survival", stage="fit_survival", title="Duration")
    narrative.write_cubes(episodes, out)
    narrative.record_clinic_durations(table.reset_index(), config.turnbull_min_episodes, out)
    # the network's count per region: with it, the small cell is the region's total minus the
    # other clinic's cell unless a complement is suppressed too
    network = episodes.groupby("region").size().rename("n_episodes").reset_index()
    by_region = Count("n_episodes", cube=narrative.DURATION_CUBE, by={"region": "region"})
    out.table(network, "median_duration_by_region", counts=(by_region,))
    out.write_manifest("Medians per clinic and region.")
    release(tmp_path / "results", tmp_path / "reports", ["survival"], DisclosureConfig(5, 5.0))
    shown = pd.read_csv(
        tmp_path / "reports" / "survival" / "median_duration_by_clinic_region.csv",
        dtype=str,
    ).set_index(["clinic", "region"])
    small = shown.loc[("C-b", "lip_flip")]
    assert small["n_episodes"] == SUPPRESSED and small["n_patients"] == SUPPRESSED
    big = shown.loc[("C-a", "glabella")]
    assert int(big["n_episodes"]) == 120
    network = pd.read_csv(
        tmp_path / "reports" / "survival" / "median_duration_by_region.csv", dtype=str
    ).set_index("region")
    complements = [shown.loc[("C-a", "lip_flip"), "n_episodes"], network.loc["lip_flip"].iloc[0]]
    assert SUPPRESSED in complements  # 104 - 100 would give the 4 back
    assert float(big["median_days"]) == pytest.approx(table.loc[("C-a", "glabella"), "median_days"])
