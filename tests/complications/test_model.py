"""The complication model: likelihood equivalence, recovery of known truth, rare types, gate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

from analysis.complications import summaries
from analysis.complications.aggregate import episode_cells
from analysis.complications.model import (
    FREE_PARAMETERS,
    HIERARCHICAL,
    REGION_ONLY,
    build_complication_model,
    choose_structure,
    model_data,
)
from analysis.errors import ConvergenceError
from analysis.inference import GateConfig, SamplerConfig, check_convergence


def _log_binomial_coefficients(y: np.ndarray, n: np.ndarray) -> float:
    return float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)))


def _random_points(model, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    point = model.initial_point()
    return [
        {k: v + rng.normal(0, 0.7, size=np.shape(v)) for k, v in point.items()} for _ in range(n)
    ]


def test_binomial_cells_and_bernoulli_episodes_have_the_same_posterior(
    cells, synthetic, levels, type_regions, informative
):
    """The sampled model (binomial kernel over cells) and PyMC's own per-episode Bernoulli model
    have the same log density at every parameter value, hence the same posterior; PyMC's
    ``Binomial`` over the cells differs from both by the same constant, the sum of the log
    binomial coefficients that the kernel leaves out."""
    ctype = "eyelid_ptosis"
    agg = cells[ctype]
    per_episode = episode_cells(synthetic[0], ctype, type_regions[ctype], levels)
    priors = informative.for_type(ctype, agg.regions)
    m_kernel = build_complication_model(agg, priors, likelihood="binomial")
    m_full = build_complication_model(agg, priors, likelihood="binomial_full")
    m_ber = build_complication_model(per_episode, priors, likelihood="bernoulli")
    assert len(agg.table) < len(per_episode.table)  # the aggregation is not trivial
    # PyTensor's Python implementations: the same values without compiling C (on a machine
    # with an empty PyTensor cache, compiling a model's C code took 33 s in CI)
    logp_kernel, logp_full, logp_ber = (
        m.compile_logp(mode="FAST_COMPILE") for m in (m_kernel, m_full, m_ber)
    )
    points = _random_points(m_kernel, 5, seed=3)
    kernel = np.array([logp_kernel(p) for p in points])
    bernoulli = np.array([logp_ber(p) for p in points])
    full = np.array([logp_full(p) for p in points])
    assert np.ptp(kernel) > 10.0  # the points differ, so equality is not an accident
    np.testing.assert_allclose(kernel, bernoulli, rtol=1e-9)
    expected = _log_binomial_coefficients(agg.table["y"].to_numpy(), agg.table["n"].to_numpy())
    assert expected > 1.0
    np.testing.assert_allclose(full - kernel, expected, rtol=0, atol=1e-6 * abs(expected))


def test_reparametrised_model_has_the_textbook_nested_prior(cells, informative):
    """The sampled parametrisation (clinic mean split from the region totals, contrasts, partial
    centring) is a change of variables of: region_logit ~ Normal(mu, sd), clinic effects i.i.d.
    Normal(0, clinic_sd), injector deviations with marginal SD injector_sd. Checked on prior
    draws of the deterministics, whatever the centring weights."""
    import pymc as pm

    c = cells["headache"]
    priors = informative.for_type("headache", c.regions)
    model = build_complication_model(c, priors)
    with model:
        pm.set_data({"clinic_lambda": np.full(model["clinic_lambda"].get_value().shape, 0.7)})
        draws = pm.sample_prior_predictive(
            draws=20000,
            random_seed=4,
            var_names=[
                "region_logit",
                "clinic_effect",
                "clinic_sd",
                "injector_effect",
                "injector_sd",
            ],
        ).prior
    region = np.asarray(draws["region_logit"]).reshape(20000, -1)
    mu = np.array([p.logit_mean for p in priors.region_priors])
    sd = np.array([p.logit_sd for p in priors.region_priors])
    idx = [list(c.levels.regions).index(r) for r in c.regions]
    np.testing.assert_allclose(region[:, idx].mean(axis=0), mu, atol=0.03)
    np.testing.assert_allclose(region[:, idx].std(axis=0), sd, rtol=0.03)
    clinic = np.asarray(draws["clinic_effect"]).reshape(20000, -1) / np.asarray(
        draws["clinic_sd"]
    ).reshape(-1, 1)
    np.testing.assert_allclose(
        np.cov(clinic.T), np.eye(clinic.shape[1]), atol=0.04
    )  # i.i.d. Normal(0, sd)
    injector = np.asarray(draws["injector_effect"]).reshape(20000, -1) / np.asarray(
        draws["injector_sd"]
    ).reshape(-1, 1)
    np.testing.assert_allclose(injector.std(axis=0), 1.0, rtol=0.03)


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
    with pytest.raises(
        ConvergenceError, match=r"model 'short-run' failed its diagnostics gate: .*for '"
    ):
        sampler.fit(
            c,
            informative.for_type("headache", c.regions),
            seed=5,
            gate=GateConfig(),
            model_name="short-run",
            config=short,
        )


def test_nutpie_draws_are_fixed_by_the_seed(sampler, cells, informative):
    """The real sampler reproduces its draws for a seed (the tiny pipeline's twin runs check
    the stages' reproducibility with nutpie's test double: tests/doubles/nutpie)."""
    import nutpie

    assert "test double" not in nutpie.__version__  # the double is never on this path
    c = cells["headache"]
    data = model_data(c, informative.for_type("headache", c.regions), HIERARCHICAL)
    short = SamplerConfig(draws=40, tune=40, chains=2, cores=2)
    first, again, other = (sampler.sample(data, seed, short) for seed in (9, 9, 10))
    for name in FREE_PARAMETERS:
        a, b = first.posterior[name].values, again.posterior[name].values
        assert np.array_equal(a, b), name
    assert not np.array_equal(first.posterior["region_z"], other.posterior["region_z"])


def test_gate_covers_every_free_parameter(sampler):
    assert {rv.name for rv in sampler.model.free_RVs} == set(FREE_PARAMETERS)


def test_gate_reports_bfmi(headache_fit):
    summary = check_convergence(
        headache_fit.idata, "again", GateConfig(), var_names=list(FREE_PARAMETERS)
    )
    assert 0.3 < summary["bfmi_min"] < 3.0


def _bench(fit):
    import pandas as pd

    return pd.DataFrame(
        {
            "complication": fit.complication,
            "region": list(fit.cells.regions),
            "benchmark_rate": [p.rate for p in fit.priors.region_priors],
            "benchmark_published": [p.published for p in fit.priors.region_priors],
            "benchmark_source": "test",
        }
    )


def test_injector_basis_removes_clinic_means_and_keeps_unit_variance():
    from analysis.complications.aggregate import Levels
    from analysis.complications.model import clinic_basis, helmert_basis, injector_basis

    levels = Levels(
        ("r",),
        ("ona",),
        ("C1", "C2", "C3"),
        ("a", "b", "c", "d", "e", "f"),
        2023.0,
        (0, 0, 0, 1, 1, 2),
    )
    b = injector_basis(levels)
    assert b.shape == (6, 3)  # (3 - 1) + (2 - 1) + (1 - 1) contrasts
    effects = b @ np.random.default_rng(1).normal(size=(3, 20000))
    np.testing.assert_allclose(
        effects[:3].sum(axis=0), 0, atol=1e-12
    )  # clinic C1 deviations sum to 0
    np.testing.assert_allclose(effects[3:5].sum(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.diag(b @ b.T), [1, 1, 1, 1, 1, 0])  # alone in C3: no deviation
    h = helmert_basis(5)
    np.testing.assert_allclose(h.T @ h, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(h @ h.T, np.eye(5) - 1 / 5, atol=1e-12)
    one = Levels(("r",), ("ona",), ("C1",), ("a",), 2023.0, (0,))
    assert (
        clinic_basis(one).shape == (1, 1) and not clinic_basis(one).any()
    )  # fixed shape, no contrast


def test_flags_come_from_peers_or_published_benchmarks_only(headache_fit, synthetic):
    """A practice-assumption benchmark far below the truth flags nobody; the same benchmark
    marked published flags nearly everyone; the peers rule picks out truly worse injectors."""
    truth = synthetic[1]
    bench = _bench(headache_fit).assign(benchmark_rate=0.005)  # 10x below the true rates
    assumed = summaries.provider_table(
        [headache_fit], bench.assign(benchmark_published=False), "injector", 1.5, 30
    )
    assert (
        assumed["p_above_1.5x_benchmark"] > 0.9
    ).mean() > 0.8  # the probability is still reported
    assert not assumed["flag_reason"].str.contains("benchmark").any()
    published = summaries.provider_table(
        [headache_fit], bench.assign(benchmark_published=True), "injector", 1.5, 30
    )
    judged = ~published["too_few_to_judge"]
    assert published.loc[judged, "flagged"].mean() > 0.8
    assert published.loc[~judged, "flagged"].sum() == 0  # too few to judge: never flagged
    by_peers = assumed.set_index("injector")
    worse = by_peers.index.isin(truth.truly_worse)
    # truly worse injectors (odds x e) exceed their peers far more often than the others
    assert (
        by_peers.loc[worse, "p_above_1.5x_peers"].mean()
        > 3 * by_peers.loc[~worse, "p_above_1.5x_peers"].mean()
    )
    assert by_peers.loc[~worse, "flagged"].mean() < 0.1


def test_region_only_model_over_region_totals_has_the_same_log_density(cells, informative):
    """The region-only model is sampled over per-region totals: exactly the same log density
    as over the full cells (every cell of a region has the same risk in that model)."""
    from analysis.complications.aggregate import region_totals

    c = cells["headache"]
    totals = region_totals(c)
    assert len(totals.table) == len(c.regions) and totals.n_events == c.n_events
    priors = informative.for_type("headache", c.regions)
    full = build_complication_model(c, priors, structure=REGION_ONLY)
    small = build_complication_model(totals, priors, structure=REGION_ONLY)
    logp_full = full.compile_logp(mode="FAST_COMPILE")
    logp_small = small.compile_logp(mode="FAST_COMPILE")
    values = [(logp_full(p), logp_small(p)) for p in _random_points(full, 4, seed=8)]
    np.testing.assert_allclose([a for a, _ in values], [b for _, b in values], rtol=1e-10)


def test_contrasts_are_centred_only_when_the_data_pin_them_down(cells, informative):
    """Demo-sized data: every contrast non-centred; the same cells x1000: clinic contrasts
    centred; ``centring=False`` (the retry's fallback) or the region-only model: none."""
    from analysis.complications.aggregate import Cells
    from analysis.complications.model import model_data

    c = cells["headache"]
    priors = informative.for_type("headache", c.regions)
    small = model_data(c, priors, HIERARCHICAL)
    assert not small["clinic_lambda"].any() and not small["injector_lambda"].any()
    big_cells = Cells(
        c.complication,
        c.regions,
        c.table.assign(n=c.table["n"] * 1000, y=c.table["y"] * 1000),
        c.levels,
    )
    big = model_data(big_cells, priors, HIERARCHICAL)
    assert big["clinic_lambda"].all() and set(np.unique(big["injector_lambda"])) <= {0.0, 1.0}
    for data in (
        model_data(big_cells, priors, HIERARCHICAL, centring=False),
        model_data(big_cells, priors, REGION_ONLY),
    ):
        assert not data["clinic_lambda"].any() and not data["injector_lambda"].any()


def test_a_calendar_term_that_is_off_is_not_reported(headache_fit):
    """Its odds ratio would only be its prior (issue 16): reported only when the term is on."""
    off = summaries.odds_ratio_table([headache_fit], calendar_trend=False)["term"].tolist()
    on = summaries.odds_ratio_table([headache_fit], calendar_trend=True)["term"].tolist()
    assert "calendar year (per year)" in on and "calendar year (per year)" not in off
