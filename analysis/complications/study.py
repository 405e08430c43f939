"""Fit the complication models of every type, as the ``fit_complications`` stage does.

One model is compiled once and re-used for every type and prior set (data swap). A type with
fewer events than ``region_only_below_events`` gets the region-only model (rule for very rare
types). A fit that fails the diagnostics gate is repeated once with twice the draws and tuning,
every group effect non-centred and a higher target acceptance; a second failure stops the
study with the gate's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from analysis.complications.aggregate import (
    aggregate_cells,
    levels_from_episodes,
)
from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import ComplicationFit, ComplicationSampler, choose_structure
from analysis.complications.priors import PriorSet, benchmark_table
from analysis.errors import ConfigError, ConvergenceError
from analysis.inference import GateConfig, SamplerConfig
from analysis.progress import ProgressFn, step
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class ComplicationStudy:
    """All fits of one run: ``fits`` (main prior set, every type), ``sensitivity_fits``
    (alternative prior set, headline types), the published ``benchmarks`` table, both prior
    sets and the ``seed`` the run started from (the posterior predictive checks use it too)."""

    fits: tuple[ComplicationFit, ...]
    sensitivity_fits: tuple[ComplicationFit, ...]
    benchmarks: pd.DataFrame
    prior_sets: Mapping[str, PriorSet]
    seed: int
    #: the compiled model the fits used (re-usable for other outcomes on the same levels)
    sampler: ComplicationSampler | None = field(default=None, compare=False, repr=False)

    @property
    def all_fits(self) -> tuple[ComplicationFit, ...]:
        """Main fits, then the sensitivity fits (the order of the diagnostics table)."""
        return self.fits + self.sensitivity_fits

    @property
    def sampling_seconds(self) -> float:
        """Wall-clock sampling time of every fit (for the log only: never in an output)."""
        return sum(f.diagnostics["sampling_seconds"] for f in self.all_fits)


#: Target acceptance of the retry (smaller leapfrog steps). Measured on the validation's
#: 3k-episode dysphagia cohorts (7 events): a single divergence at the far tail of a
#: prior-dominated clinic SD (0.003) recurred on the all-non-centred retry at 0.9 (2 of 3 seeds)
#: and on none of 3 seeds at 0.97, for 15% more sampling time.
RETRY_TARGET_ACCEPT = 0.97


def fit_with_retry(
    sampler: ComplicationSampler,
    cells,
    priors,
    seed: int,
    structure: str,
    gate: GateConfig,
    config: SamplerConfig,
) -> ComplicationFit:
    """Fit once; on a gate failure, once more with doubled draws and tuning, every group effect
    non-centred (the geometry that is slow on huge data but safe when a group SD is near zero)
    and target acceptance :data:`RETRY_TARGET_ACCEPT`, then give up with the gate's message.
    ``diagnostics["retried"]`` says whether the returned fit is the retry."""
    try:
        fit, retried = sampler.fit(cells, priors, seed, structure, gate, config=config), False
    except ConvergenceError:
        longer = replace(
            config,
            draws=2 * config.draws,
            tune=2 * config.tune,
            target_accept=max(config.target_accept, RETRY_TARGET_ACCEPT),
        )
        fit, retried = (
            sampler.fit(cells, priors, seed + 1, structure, gate, config=longer, centring=False),
            True,
        )
    return replace(fit, diagnostics={**fit.diagnostics, "retried": retried})


def fit_complication_study(
    episodes: pd.DataFrame,
    config: ComplicationsConfig,
    vocabulary: Vocabulary,
    seed: int,
    types: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> ComplicationStudy:
    """Validate the episodes, aggregate cells per type, fit and gate every model.

    Parameters
    ----------
    episodes
        Processed episode table (docs/ARCHITECTURE.md).
    config
        The ``complications`` section of params.yaml.
    vocabulary
        Regions, products and complication types (with the regions where each can occur).
    seed
        The study's seed (params.yaml ``seed``); model ``k`` is sampled with ``seed + 101 k``.
    types
        Subset of complication types (default: every type of the vocabulary).
    progress
        Optional callable receiving one line of text per fitted model.
    """
    type_regions = vocabulary.complication_regions
    types = list(types or vocabulary.complication_codes)
    unknown = [t for t in types if t not in type_regions]
    if unknown:
        raise ConfigError(f"unknown complication types {unknown}: use {list(type_regions)}")
    regions, products = list(vocabulary.region_codes), list(vocabulary.product_codes)
    levels = levels_from_episodes(episodes, regions, products)
    prior_sets = config.prior_sets
    all_cells = {
        t: aggregate_cells(
            episodes, t, type_regions[t], levels, config.dose_step_log2, config.calendar_trend
        )
        for t in types
    }
    first = all_cells[types[0]]
    with step(progress, "compiling the complication model"):
        sampler = ComplicationSampler(
            first, prior_sets[config.prior_set].for_type(types[0], first.regions), config.sampler
        )

    def run(t: str, prior_name: str, k: int, sconfig: SamplerConfig) -> ComplicationFit:
        cells = all_cells[t]
        structure = choose_structure(cells, config.region_only_below_events)
        priors = prior_sets[prior_name].for_type(t, cells.regions)
        fit = fit_with_retry(sampler, cells, priors, seed + k, structure, config.gate, sconfig)
        if progress:
            progress(_progress_line(fit, len(cells.table)))
        return fit

    fits = tuple(run(t, config.prior_set, 101 * k, config.sampler) for k, t in enumerate(types))
    sensitivity: tuple[ComplicationFit, ...] = ()
    if config.sensitivity:
        sensitivity = tuple(
            run(t, config.alternative_prior_set, 101 * k + 7, config.sensitivity_sampler)
            for k, t in enumerate(types)
            if t in config.headline_types
        )
    return ComplicationStudy(
        fits=fits,
        sensitivity_fits=sensitivity,
        benchmarks=benchmark_table(prior_sets["informative"], type_regions),
        prior_sets=prior_sets,
        seed=seed,
        sampler=sampler,
    )


def _progress_line(fit: ComplicationFit, n_cells: int) -> str:
    d = fit.diagnostics
    return (
        f"{fit.complication:<26} {fit.prior_set:<11} {fit.structure:<12} cells={n_cells:>6} "
        f"events={fit.cells.n_events:>5} {d['sampling_seconds']:6.1f}s "
        f"max_rhat={d['max_rhat']:.3f} min_ess={min(d['min_ess_bulk'], d['min_ess_tail']):.0f}"
    )
