"""The complication model: likelihood equivalence, recovery of known truth, rare types, gate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

from analysis.bayes import summaries
from analysis.bayes.aggregate import episode_cells
from analysis.bayes.complications import (
    FREE_PARAMETERS,
    HIERARCHICAL,
    REGION_ONLY,
    build_complication_model,
    choose_structure,
)
from analysis.bayes.diagnostics import GateConfig, SamplerConfig, check_convergence
from analysis.errors import ConvergenceError


def _log_binomial_coefficients(y: np.ndarray, n: np.ndarray) -> float:
    return float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)))


def test_binomial_cells_and_bernoulli_episodes_have_the_same_posterior(cells, synthetic, levels, type_regions, informative):
    """log p(theta | cells) - log p(theta | episodes) is the same constant at every theta: the
    sum of log binomial coefficients. Hence the posteriors are identical."""
    ctype = "eyelid_ptosis"
    agg = cells[ctype]
    per_episode = episode_cells(synthetic[0], ctype, type_regions[ctype], levels)
    priors = informative.for_type(ctype, agg.regions)
    m_bin = build_complication_model(agg, priors, likelihood="binomial")
    m_ber = build_complication_model(per_episode, priors, likelihood="bernoulli")
    logp_bin, logp_ber = m_bin.compile_logp(), m_ber.compile_logp()
    rng = np.random.default_rng(3)
    point = m_bin.initial_point()
    differences = []
    for _ in range(5):
        random_point = {k: v + rng.normal(0, 0.7, size=np.shape(v)) for k, v in point.items()}
        differences.append(logp_bin(random_point) - logp_ber(random_point))
    expected = _log_binomial_coefficients(agg.table["y"].to_numpy(), agg.table["n"].to_numpy())
    assert expected > 1.0  # the aggregation is not trivial
    np.testing.assert_allclose(differences, expected, rtol=0, atol=1e-6 * abs(expected))


def test_rule_gives_region_only_model_to_very_rare_types(cells):
    assert cells["dysphagia"].n_events <= 1
    assert choose_structure(cells["dysphagia"], 5) == REGION_ONLY
    assert choose_structure(cells["headache"], 5) == HIERARCHICAL


def test_hierarchical_fit_passes_the_gate(headache_fit):
    d = headache_fit.diagnostics
    assert d["passed"] is True
    assert d["divergences"] == 0
    assert d["max_rhat"] <= 1.01 and min(d["min_ess_bulk"], d["min_ess_tail"]) >= 400


def test_region_rates_cover_the_simulated_truth(headache_fit, synthetic):
    """The posterior rate of each region's own treatments brackets the true expected rate."""
    episodes, truth = synthetic
    table = summaries.region_rate_table([headache_fit], _bench(headache_fit), 1.5)
    true_rate = (
        episodes.loc[episodes["region"].isin(table["region"])]
        .assign(risk=lambda e: truth.risk("headache", e))
        .groupby("region")["risk"]
        .mean()
    )
    table = table.set_index("region")
    inside = (table["rate_lower"] <= true_rate) & (true_rate <= table["rate_upper"])
    assert inside.mean() >= 0.8  # 10 regions, 95% intervals
    np.testing.assert_allclose(table["rate_mean"], true_rate, rtol=0.35)


def test_dose_effect_is_recovered(headache_fit, synthetic):
    truth = synthetic[1]
    row = headache_fit.summary.set_index("parameter").loc["dose_log_or"]
    assert row["lower"] < truth.dose_log_or < row["upper"]


def test_truly_worse_injectors_rank_among_the_worst(headache_fit, synthetic):
    truth = synthetic[1]
    table = summaries.provider_table([headache_fit], _bench(headache_fit), "injector", 1.5, 30)
    ranks = table.set_index("injector")["rank_by_rate"]
    worse = [i for i in truth.truly_worse if i in ranks.index]
    # chance: mean rank (n+1)/2 = 20.5 of 40; the worse injectors should sit well above it
    assert np.mean(ranks[worse]) < 0.35 * len(ranks)


def test_very_rare_type_gets_a_sensible_upper_bound(dysphagia_fit, cells):
    c = cells["dysphagia"]
    assert dysphagia_fit.structure == REGION_ONLY
    assert dysphagia_fit.diagnostics["passed"] is True
    table = summaries.region_rate_table([dysphagia_fit], _bench(dysphagia_fit), 1.5).iloc[0]
    assert table["n_events"] == c.n_events <= 1
    # "at most x% with 95% probability": finite, above the observed rate, and below 1%
    assert table["rate_mean"] < table["rate_upper_one_sided_95"] < 0.01
    assert table["rate_upper_one_sided_95"] > c.n_events / c.n_treatments


def test_gate_stops_a_short_run_and_names_model_and_parameter(sampler, cells, informative):
    c = cells["headache"]
    short = SamplerConfig(draws=30, tune=30, chains=2, cores=2)
    with pytest.raises(ConvergenceError, match=r"model 'short-run' failed its diagnostics gate: .*for '"):
        sampler.fit(c, informative.for_type("headache", c.regions), seed=5, gate=GateConfig(), model_name="short-run", config=short)


def test_gate_covers_every_free_parameter(sampler):
    assert {rv.name for rv in sampler.model.free_RVs} == set(FREE_PARAMETERS)


def test_gate_reports_bfmi(headache_fit):
    summary = check_convergence(headache_fit.idata, "again", GateConfig(), var_names=list(FREE_PARAMETERS))
    assert 0.3 < summary["bfmi_min"] < 3.0


def _bench(fit):
    import pandas as pd

    return pd.DataFrame(
        {
            "complication": fit.complication,
            "region": list(fit.cells.regions),
            "benchmark_rate": [p.rate for p in fit.priors.region_priors],
            "benchmark_source": "test",
        }
    )


def test_within_clinic_projection_removes_clinic_means_and_keeps_unit_variance():
    from analysis.bayes.aggregate import Levels
    from analysis.bayes.complications import within_clinic_projection

    levels = Levels(("r",), ("ona",), ("C1", "C2", "C3"), ("a", "b", "c", "d", "e", "f"), 2023.0, (0, 0, 0, 1, 1, 2))
    p = within_clinic_projection(levels)
    z = np.random.default_rng(1).normal(size=(6, 20000))
    effects = p @ z
    np.testing.assert_allclose(effects[:3].sum(axis=0), 0, atol=1e-12)  # clinic C1 deviations sum to 0
    np.testing.assert_allclose(effects[3:5].sum(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.diag(p @ p.T), [1, 1, 1, 1, 1, 0])  # alone in C3: no deviation
