"""A small version of validation/validate_complications.py: credible intervals of injector and
region rates cover the simulated truth near their nominal rates, and truly worse injectors rank
and get flagged above chance. (The script runs 50 replicates per type; see the README.)"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.inference import GateConfig
from analysis.validation.complications_calibration import (
    CalibrationSetup,
    coverage_summary,
    ranking_summary,
    run_replicate,
)

REPLICATES = 4


@pytest.fixture(scope="module")
def calibration(sampler, informative, params):
    """Replicates of 6000 eyelid-ptosis episodes, fitted by the session's compiled model (the
    synthetic cohorts share its levels: every region, 8 clinics x 5 injectors)."""
    setup = CalibrationSetup(
        complication="eyelid_ptosis",
        regions=tuple(params["complication_types"]["eyelid_ptosis"]["regions"]),
        all_regions=tuple(params["regions"]),
        products=tuple(params["products"]),
        n_episodes=6000,
    )
    results = [
        run_replicate(sampler, setup, informative, seed=700 + r, gate=GateConfig())
        for r in range(REPLICATES)
    ]
    return pd.concat(results, ignore_index=True)


def test_injector_and_region_intervals_cover_the_truth(calibration):
    summary = coverage_summary(calibration).set_index(["level", "nominal"])["coverage"]
    # 160 injector intervals: nominal 0.95 / 0.90, lower limits about 3 clustered SEs below
    assert summary[("injector", 0.95)] >= 0.85
    assert summary[("injector", 0.90)] >= 0.78
    assert summary[("region", 0.95)] >= 0.75  # 16 intervals
    assert (
        summary[("injector", 0.95)] <= 1.0 and summary[("injector", 0.90)] < 1.0
    )  # not vacuously wide


def test_truly_worse_injectors_rank_and_flag_above_chance(calibration):
    ranks = ranking_summary(calibration)
    assert ranks["mean_rank_truly_worse"] < 0.6 * ranks["mean_rank_by_chance"]
    assert ranks["share_truly_worse_in_top5"] > 2 * ranks["share_in_top5_by_chance"]
    assert ranks["share_others_flagged"] < 0.1
