"""Frequentist calibration of the complication model on simulated cohorts with known truth.

Each replicate draws true region rates from the informative prior, clinic and injector effects
from normal distributions (plus a few truly worse injectors), simulates an episode table,
fits the model and records whether the 90% and 95% credible intervals of each region's and
injector's rate contain the true rate of that group's own treatments. Over replicates the
coverage should be close to nominal, and the truly worse injectors should rank near the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.complications import summaries
from analysis.complications.aggregate import Levels, aggregate_cells, levels_from_episodes
from analysis.complications.model import (
    HIERARCHICAL,
    ComplicationFit,
    ComplicationSampler,
    choose_structure,
)
from analysis.complications.priors import PriorSet
from analysis.complications.study import fit_with_retry
from analysis.inference import GateConfig, SamplerConfig
from analysis.validation.complications_synthetic import SyntheticTruth, simulate_episodes

LEVELS = (0.90, 0.95)

#: The stage's "clinically meaningful" multiplier (params complications.benchmark_multiplier).
FLAG_MULTIPLIER = 1.5


@dataclass(frozen=True)
class CalibrationSetup:
    """What one replicate simulates and fits."""

    complication: str
    regions: tuple[str, ...]
    all_regions: tuple[str, ...]
    products: tuple[str, ...]
    n_episodes: int
    clinic_sd: float = 0.15
    injector_sd: float = 0.3
    n_truly_worse: int = 3
    worse_log_or: float = 1.0


def draw_region_rates(
    prior_set: PriorSet, complication: str, regions: Sequence[str], rng: np.random.Generator
) -> dict[str, float]:
    """True rates drawn from the prior (so the prior is correct on average, as coverage assumes)."""
    out = {}
    for region in regions:
        p = prior_set.rate_prior(complication, region)
        out[region] = float(expit(rng.normal(p.logit_mean, p.logit_sd)))
    return out


def group_coverage(
    fit: ComplicationFit, episodes: pd.DataFrame, truth: SyntheticTruth, key: str
) -> pd.DataFrame:
    """Per group: true rate of its own treatments, posterior intervals, and whether they cover it.

    For injectors also the truth flag, the rank by posterior mean rate, and the provider
    table's ``flagged`` (peers rule; benchmarks are irrelevant here and never flag).
    """
    at_risk = episodes.loc[episodes["region"].isin(fit.cells.regions)]
    true_rate = (
        at_risk.assign(risk=truth.risk(fit.complication, at_risk)).groupby(key)["risk"].mean()
    )
    risk = summaries.cell_risk(summaries.posterior_draws(fit), fit.cells.arrays())
    bench = {r: 1.0 for r in fit.cells.regions}  # benchmarks are irrelevant here
    frame, draws = summaries.group_rates(fit, risk, key, bench)
    frame["true_rate"] = frame[key].map(true_rate).to_numpy()
    frame["rate_mean"] = draws.mean(axis=0)
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        frame[f"covered_{level:.0%}"] = (lo <= frame["true_rate"]) & (frame["true_rate"] <= hi)
    frame["level"] = key
    frame["group"] = frame.pop(key)
    if key == "injector":
        frame["truly_worse"] = frame["group"].isin(truth.truly_worse)
        frame["rank_by_rate"] = frame["rate_mean"].rank(ascending=False, method="first").astype(int)
        benchmarks = pd.DataFrame(
            {
                "complication": fit.complication,
                "region": list(fit.cells.regions),
                "benchmark_rate": 1.0,
                "benchmark_published": False,
                "benchmark_source": "none",
            }
        )
        providers = summaries.provider_table([fit], benchmarks, "injector", FLAG_MULTIPLIER, 0)
        frame["flagged"] = (
            frame["group"].map(providers.set_index("injector")["flagged"]).to_numpy(bool)
        )
    return frame


def run_replicate(
    sampler: ComplicationSampler,
    setup: CalibrationSetup,
    prior_set: PriorSet,
    seed: int,
    gate: GateConfig | None = GateConfig(),  # noqa: B008
    config: SamplerConfig | None = None,
    region_only_below_events: int = 5,
) -> pd.DataFrame:
    """Simulate, fit and score one replicate (region, clinic and injector rows).

    The model structure follows the stage's rule for very rare types (``choose_structure``),
    and a gate failure gets the stage's one retry (``fit_with_retry``;
    column ``retried``); the region-only model has no provider effects, so only its region
    rows are scored.
    """
    rng = np.random.default_rng(seed)
    rates = draw_region_rates(prior_set, setup.complication, setup.regions, rng)
    episodes, truth = simulate_episodes(
        setup.n_episodes,
        {setup.complication: setup.regions},
        {setup.complication: rates},
        seed=seed,
        clinic_sd=setup.clinic_sd,
        injector_sd=setup.injector_sd,
        n_truly_worse=setup.n_truly_worse,
        worse_log_or=setup.worse_log_or,
        products=setup.products,
    )
    levels = design_levels(episodes, truth, setup)
    cells = aggregate_cells(
        episodes, setup.complication, setup.regions, levels, calendar_trend=False
    )
    structure = choose_structure(cells, region_only_below_events)
    priors = prior_set.for_type(setup.complication, setup.regions)
    cfg = config or sampler.config
    if gate is None:
        fit = sampler.fit(cells, priors, seed, structure=structure, gate=None, config=cfg)
    else:  # the stage's policy: one retry (see fit_with_retry), then give up
        fit = fit_with_retry(sampler, cells, priors, seed, structure, gate, cfg)
    retried = bool(fit.diagnostics.get("retried", False))
    keys = ("region", "clinic", "injector") if structure == HIERARCHICAL else ("region",)
    parts = [group_coverage(fit, episodes, truth, key) for key in keys]
    return pd.concat(parts, ignore_index=True).assign(
        replicate=seed,
        n_events=cells.n_events,
        complication=setup.complication,
        structure=structure,
        retried=retried,
    )


def design_levels(episodes: pd.DataFrame, truth: SyntheticTruth, setup: CalibrationSetup) -> Levels:
    """Levels of the simulated design: every clinic and injector, even one that drew no
    treatments in a small replicate, so that every replicate fits the one compiled model."""
    observed = levels_from_episodes(episodes, setup.all_regions, setup.products)
    clinics = tuple(sorted(set(truth.injector_clinic.values())))
    injectors = tuple(sorted(truth.injector_clinic))
    return replace(
        observed,
        clinics=clinics,
        injectors=injectors,
        injector_clinic=tuple(clinics.index(truth.injector_clinic[i]) for i in injectors),
    )


def template_sampler(
    setup: CalibrationSetup, prior_set: PriorSet, config: SamplerConfig
) -> ComplicationSampler:
    """A sampler compiled for the synthetic cohorts' levels (the same in every replicate)."""
    episodes, truth = simulate_episodes(
        2000,
        {setup.complication: setup.regions},
        {setup.complication: dict.fromkeys(setup.regions, 0.05)},
        seed=0,
        products=setup.products,
    )
    levels = design_levels(episodes, truth, setup)
    cells = aggregate_cells(
        episodes, setup.complication, setup.regions, levels, calendar_trend=False
    )
    return ComplicationSampler(cells, prior_set.for_type(setup.complication, setup.regions), config)


def coverage_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Coverage per type, level (region/clinic/injector) and nominal probability.

    Intervals of one replicate share its hyperparameters, so they are not independent: the
    Monte Carlo SE is the SD of the per-replicate coverages over the square root of the number
    of replicates (clustered by replicate), not the binomial SE of all intervals pooled.
    """
    rows = []
    for (ctype, level), sel in results.groupby(["complication", "level"], sort=False):
        for nominal in LEVELS:
            col = f"covered_{nominal:.0%}"
            per_rep = sel.groupby("replicate")[col].mean()
            rows.append(
                {
                    "complication": ctype,
                    "level": level,
                    "nominal": nominal,
                    "coverage": float(sel[col].mean()),
                    "mc_se": float(per_rep.std(ddof=1) / np.sqrt(len(per_rep)))
                    if len(per_rep) > 1
                    else np.nan,
                    "n_intervals": len(sel),
                    "n_replicates": len(per_rep),
                }
            )
    return pd.DataFrame(rows)


def ranking_summary(results: pd.DataFrame, top: int = 5) -> Mapping[str, float]:
    """How often truly worse injectors rank worst and are flagged, against chance."""
    inj = results.loc[results["level"] == "injector"]
    truly_worse = inj["truly_worse"].astype(bool)  # object dtype after concat with region rows
    worse, others = inj.loc[truly_worse], inj.loc[~truly_worse]
    n_groups = inj.groupby(["complication", "replicate"])["group"].count().mean()
    return {
        "mean_rank_truly_worse": float(worse["rank_by_rate"].mean()),
        "mean_rank_by_chance": float((n_groups + 1) / 2),
        f"share_truly_worse_in_top{top}": float((worse["rank_by_rate"] <= top).mean()),
        f"share_in_top{top}_by_chance": float(top / n_groups),
        "share_truly_worse_flagged": float(worse["flagged"].astype(bool).mean()),
        "share_others_flagged": float(others["flagged"].astype(bool).mean()),
    }
