"""Session fixtures of the survival tests: synthetic episodes with known truth (fixed seeds)."""

from __future__ import annotations

import pandas as pd
import pytest
from survival_synth import synthetic_episodes


@pytest.fixture(scope="session")
def lognormal_episodes() -> pd.DataFrame:
    return synthetic_episodes(800, seed=11)


@pytest.fixture(scope="session")
def weibull_episodes() -> pd.DataFrame:
    return synthetic_episodes(800, seed=12, family="weibull")
