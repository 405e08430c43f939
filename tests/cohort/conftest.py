"""Fixtures of the cohort-description tests: the synthetic cohort with a known truth."""

from __future__ import annotations

import pytest
from synthetic_study import make_data_quality, make_episodes


@pytest.fixture(scope="session")
def synthetic():
    """(episodes, raw identifiers, data quality) of the synthetic cohort."""
    episodes, raw = make_episodes()
    return episodes, raw, make_data_quality(len(episodes))
