"""The O(n log n) concordance indices (analysis/survival/concordance.py) equal their O(n^2)
definitions: scikit-survival's Harrell and Uno (IPCW) concordance, and the pairwise
interval-censored C written out below, on data with tied times, tied estimates and neither."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

from analysis.survival.concordance import concordance, interval_concordance, uno_concordance


def pairwise_interval_c(lower, upper, pred):
    """The definition, every pair at once: i surely ends before j (R_i < L_j, or R_i == L_j
    with j not exact); concordant when pred_j > pred_i, half when equal."""
    lower, upper, pred = (np.asarray(a, float) for a in (lower, upper, pred))
    i = np.isfinite(upper)
    comp = (upper[i][:, None] < lower[None, :]) | (
        (upper[i][:, None] == lower[None, :]) & (upper > lower)[None, :]
    )
    diff = pred[None, :] - pred[i][:, None]
    conc = np.sum(comp & (diff > 0)) + 0.5 * np.sum(comp & (diff == 0))
    return conc / comp.sum(), int(comp.sum())


def cohort(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    time = rng.integers(1, 30, n).astype(float) if ties else rng.exponential(10.0, n)
    event = rng.random(n) < 0.6
    event[0] = True
    estimate = rng.integers(0, 5, n).astype(float) if ties else rng.normal(size=n)
    return rng, time, event, estimate


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_harrell_and_uno_equal_scikit_survival(seed, ties):
    _, time, event, estimate = cohort(seed, ties)
    assert concordance(event, time, estimate) == pytest.approx(
        concordance_index_censored(event, time, estimate)[0], abs=1e-12
    )
    y = np.array(list(zip(event, time, strict=True)), dtype=[("event", bool), ("time", float)])
    tau = float(np.quantile(time, 0.8))
    assert uno_concordance(y, y, estimate, tau=tau) == pytest.approx(
        concordance_index_ipcw(y, y, estimate, tau=tau)[0], abs=1e-12
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_interval_c_equals_its_pairwise_definition(seed, ties):
    rng, _, _, _ = cohort(seed, ties)
    n = 300
    lower = rng.integers(0, 20, n).astype(float)
    upper = lower + rng.integers(0, 10, n)  # width 0: exact
    upper[rng.random(n) < 0.2] = np.inf
    pred = rng.integers(0, 6, n).astype(float) if ties else rng.normal(size=n)
    c, pairs = interval_concordance(lower, upper, pred)
    c_ref, pairs_ref = pairwise_interval_c(lower, upper, pred)
    assert pairs == pairs_ref > 0
    assert c == pytest.approx(c_ref, abs=1e-12)


def test_a_perfect_and_a_reversed_ranking():
    time = np.arange(1.0, 11.0)
    event = np.ones(10, bool)
    assert concordance(event, time, -time) == 1.0
    assert concordance(event, time, time) == 0.0
    assert interval_concordance(time, time, time)[0] == 1.0  # longer predicted: later
    with pytest.raises(ValueError, match="no comparable pairs"):
        concordance(np.zeros(10, bool), time, time)
