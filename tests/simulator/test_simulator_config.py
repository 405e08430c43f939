"""The simulator's configuration: params.yaml ``simulate`` is read strictly and checked."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pytest

from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.simulator.config import SimConfig


def misspelt(params: dict, dotted: str, wrong: str) -> dict:
    """A copy of ``params`` in which the key at ``dotted`` is renamed ``wrong``."""
    out = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[wrong] = node.pop(leaf)
    return out


@pytest.mark.parametrize(
    ("dotted", "wrong"),
    [
        ("simulate.n_patients", "n_patient"),
        ("simulate.patients.female_share", "female_shares"),
        ("simulate.treatment.product_stickiness", "product_stickyness"),
        ("simulate.duration.sex_male", "sex_mal"),
        ("simulate.observation.protocols.monthly.attendance", "attendence"),
        ("simulate.complications.clinic_sd", "clinic_sdd"),
    ],
)
def test_a_misspelt_simulate_key_stops_with_its_path_and_the_nearest_name(params, dotted, wrong):
    path = ".".join([*dotted.split(".")[:-1], wrong]).replace(".", r"\.")
    leaf = dotted.split(".")[-1]
    with pytest.raises(ConfigError, match=rf"unknown key '{path}'.*did you mean '{leaf}'"):
        SimConfig.from_params(misspelt(params, dotted, wrong))


def test_vocabulary_keyed_values_come_in_vocabulary_order(params):
    cfg = SimConfig.from_params(params, seed=11, n_patients=20)
    assert (cfg.seed, cfg.n_patients) == (11, 20)
    assert cfg.products == ("ona", "inco", "abo", "prabo", "daxi")
    # params.yaml lists the shares as ona, abo, inco, prabo, daxi
    assert cfg.product_probs == pytest.approx((0.45, 0.15, 0.20, 0.10, 0.10))
    assert cfg.reference_dose_units[cfg.regions.index("masseter")] == 60
    crows = cfg.regions.index("crows_feet")
    assert cfg.dose_slope_below_knot[crows] == 0.05
    assert cfg.dose_slope_below_knot[cfg.regions.index("glabella")] == 0.21
    assert np.exp(cfg.log_median_days[cfg.regions.index("masseter")]) == pytest.approx(175)
    headache = cfg.complication_types.index("headache")
    assert cfg.base_rate[headache, cfg.regions.index("forehead")] == 0.07
    assert cfg.base_rate[headache, cfg.regions.index("glabella")] == 0.05  # the default
    dysphagia = cfg.complication_types.index("dysphagia")
    assert np.isnan(cfg.base_rate[dysphagia, cfg.regions.index("glabella")])
    assert cfg.start_date == date(2022, 1, 1) and cfg.cutoff_day == 1095
    assert cfg.observation.reports_wearoff[0] and not cfg.observation.reports_wearoff[1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"simulate.patients.female_share": 1.5}, r"'simulate\.patients\.female_share'.*\[0, 1\]"),
        ({"simulate.clinic_weights": [0.5, 0.5]}, r"'simulate\.clinic_weights'.*8 probabilities"),
        ({"simulate.treatment.dose_probs_male": [1.0]}, r"dose_probs_male"),
        ({"simulate.entry_end_date": "2025-06-01"}, r"entry_end_date <= cutoff_date"),
        ({"simulate.start_date": "01/01/2022"}, r"'simulate\.start_date' must be a date"),
        ({"simulate.duration.residual_sd": 0}, r"residual_sd > 0"),
        ({"simulate.observation.clinic_protocols": ["monthly"] * 7}, r"must list 8 names"),
        ({"simulate.observation.reported_wearoff_clinics": [9]}, r"must be in 1\.\.8"),
        ({"simulate.treatment.units_rounding": {"ona": 1.0}}, r"missing \['inco'"),
        ({"simulate.duration.dose_slope_below_knot_by_region": {"neck": 0.1}}, r"\['neck'\]"),
    ],
)
def test_values_out_of_range_are_named(params, overrides, message):
    with pytest.raises(ConfigError, match=message):
        SimConfig.from_params(with_overrides(params, overrides))
