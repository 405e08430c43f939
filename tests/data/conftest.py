"""Fixtures shared by the data tests."""

from __future__ import annotations

import handmade
import pytest

from analysis.config import with_overrides
from analysis.data.prepare_config import PrepareConfig


@pytest.fixture(scope="session")
def hand_params(params):
    """The repository's params with the cut-off of the hand-written tables (handmade.py)."""
    return with_overrides(params, {"data.cutoff_date": handmade.CUTOFF})


@pytest.fixture(scope="session")
def hand_cfg(hand_params) -> PrepareConfig:
    """The prepare configuration of the hand-written tables."""
    return PrepareConfig.from_params(hand_params)
