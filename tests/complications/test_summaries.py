"""Summary arithmetic on hand-made draws, where the right answer is known exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.complications import summaries


def _fake_fit(table: pd.DataFrame):
    return SimpleNamespace(
        cells=SimpleNamespace(table=table),
        complication="x",
        structure="hierarchical",
        prior_set="informative",
    )


def test_group_rate_is_the_treatment_weighted_mean_risk():
    table = pd.DataFrame(
        {
            "region": ["a", "a", "b"],
            "injector": ["i1", "i2", "i1"],
            "n": [10, 30, 60],
            "y": [1, 3, 0],
        }
    )
    risk = np.array([[0.1, 0.2, 0.05], [0.3, 0.1, 0.0]])  # two draws, three cells
    frame, draws = summaries.group_rates(_fake_fit(table), risk, "injector", {"a": 0.1, "b": 0.02})
    frame = frame.set_index("injector")
    # injector i1: cells 0 and 2 -> (10*0.1 + 60*0.05)/70 in draw 0
    np.testing.assert_allclose(draws[:, 0], [(1 + 3) / 70, (3 + 0) / 70])
    np.testing.assert_allclose(draws[:, 1], [0.2, 0.1])
    assert frame.loc["i1", "benchmark_rate"] == pytest.approx((10 * 0.1 + 60 * 0.02) / 70)
    assert frame.loc["i1", "n_events"] == 1 and frame.loc["i1", "n_treatments"] == 70


def test_exceedance_probabilities_count_draws_above_the_margin():
    frame = pd.DataFrame({"benchmark_rate": [0.10]})
    draws = np.array([[0.05], [0.12], [0.16], [0.20]])
    out = summaries._add_rate_columns(frame, draws, 1.5).iloc[0]
    assert out["p_above_benchmark"] == pytest.approx(0.75)
    assert out["p_above_1.5x_benchmark"] == pytest.approx(0.5)


def test_ppc_flags_counts_outside_the_predictive_interval():
    table = pd.DataFrame(
        {"region": ["a", "b"], "injector": ["i", "j"], "n": [100, 100], "y": [5, 60]}
    )
    rng = np.random.default_rng(0)
    y_rep = rng.binomial(100, 0.05, size=(2000, 2))
    out = summaries._ppc_group(_fake_fit(table), y_rep, "region").set_index("region")
    assert bool(out.loc["a", "within_95"]) and not bool(out.loc["b", "within_95"])
    assert out.loc["b", "ppc_p_value"] < 0.01 < out.loc["a", "ppc_p_value"]
