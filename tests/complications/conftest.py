"""Session fixtures of the complication-model tests: one synthetic cohort with known truth,
one compiled model, and the fits every test reads (each sampled once per test run)."""

from __future__ import annotations

import pytest

from analysis.complications.aggregate import aggregate_cells, levels_from_episodes
from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import HIERARCHICAL, REGION_ONLY, ComplicationSampler
from analysis.inference import GateConfig, SamplerConfig
from analysis.validation.complications_synthetic import simulate_episodes

#: Types of the synthetic cohort: a common one, a rare one, a very rare one (platysma only).
TYPES = ("headache", "eyelid_ptosis", "dysphagia")

#: True base rates (different from the informative prior centres on purpose).
BASE_RATES = {
    "headache": {
        r: 0.05
        for r in (
            "glabella",
            "forehead",
            "crows_feet",
            "bunny_lines",
            "lip_flip",
            "chin",
            "dao",
            "masseter",
            "platysma",
            "brow_lift",
        )
    }
    | {"forehead": 0.08},
    "eyelid_ptosis": {"glabella": 0.03, "forehead": 0.012, "brow_lift": 0.01, "crows_feet": 0.004},
    "dysphagia": {"platysma": 0.0003},
}

#: The stage's own settings (params.yaml complications.sampler: 4 x 800 draws after 400 tuning
#: steps); every test fit passes the production gate with them (ESS >= 400; 4 x 1,000 after 800
#: took 25 s more CPU).
TEST_SAMPLER = SamplerConfig(draws=800, tune=400, chains=4, cores=2, target_accept=0.9)


@pytest.fixture(scope="session")
def type_regions(params) -> dict[str, list[str]]:
    return {t: params["complication_types"][t]["regions"] for t in TYPES}


@pytest.fixture(scope="session")
def synthetic(type_regions):
    """(episodes, truth): 8000 episodes, 8 clinics x 5 injectors, 3 truly worse injectors."""
    return simulate_episodes(
        8000, type_regions, BASE_RATES, seed=11, clinic_sd=0.2, injector_sd=0.3, worse_log_or=1.0
    )


@pytest.fixture(scope="session")
def levels(synthetic, params):
    return levels_from_episodes(synthetic[0], list(params["regions"]), list(params["products"]))


@pytest.fixture(scope="session")
def complications_config(params) -> ComplicationsConfig:
    return ComplicationsConfig.from_params(params)


@pytest.fixture(scope="session")
def informative(complications_config):
    return complications_config.priors.prior_set("informative")


@pytest.fixture(scope="session")
def cells(synthetic, levels, type_regions):
    return {t: aggregate_cells(synthetic[0], t, type_regions[t], levels) for t in TYPES}


@pytest.fixture(scope="session")
def sampler(cells, informative):
    """The complication model, compiled once for the whole session."""
    first = cells["headache"]
    return ComplicationSampler(first, informative.for_type("headache", first.regions), TEST_SAMPLER)


@pytest.fixture(scope="session")
def headache_fit(sampler, cells, informative):
    c = cells["headache"]
    return sampler.fit(
        c,
        informative.for_type("headache", c.regions),
        seed=1,
        structure=HIERARCHICAL,
        gate=GateConfig(),
    )


@pytest.fixture(scope="session")
def dysphagia_fit(sampler, cells, informative):
    c = cells["dysphagia"]
    return sampler.fit(
        c,
        informative.for_type("dysphagia", c.regions),
        seed=2,
        structure=REGION_ONLY,
        gate=GateConfig(),
    )
