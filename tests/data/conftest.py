"""Fixtures shared by the data tests."""

from __future__ import annotations

import handmade
import pytest

from analysis.params import with_overrides


@pytest.fixture(scope="session")
def hand_params(params):
    """The repository's params with the cut-off of the hand-written tables (tests/data/handmade.py)."""
    return with_overrides(params, {"data.cutoff_date": handmade.CUTOFF})
