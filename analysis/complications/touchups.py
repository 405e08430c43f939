"""Touch-up rates per region, clinic and injector: the complication model with the outcome
``touchup`` (issue 14).

A director reads the share of treatments adjusted at the two-week check as a quality indicator
(seed article: ask the injector about their "policy for touch-ups at two weeks"). The rate is
fitted with the complication machinery unchanged: binomial cells (:func:`aggregate_cells`
with the outcome column ``touchup``), the hierarchical logistic model with partially pooled
clinic and injector effects, the diagnostics gate and its retry, and the provider tables with
their "too few to judge" rule. Two things differ, both for a reason:

* the dose covariate is the *first* session's log2 relative dose (``log2_rel_dose_initial``):
  the touch-up's own units would make the dose a consequence of the outcome;
* no touch-up rate has been published, so providers are judged against their peers only (the
  expected rate of the same treatments given by the network's average clinic and injector);
  the benchmark columns, which would hold a practice assumption, are left out of the tables.

Episodes treated fewer than ``complications.touchup.min_followup_days`` before the data
cut-off are left out (their touch-up may not have happened yet). The episode table records
the cut-off itself: a censored re-treatment time (``retreat_event`` false) is the number of
days to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.complications.aggregate import aggregate_cells, levels_from_episodes
from analysis.complications.config import TOUCHUP, ComplicationsConfig
from analysis.complications.model import ComplicationFit, ComplicationSampler, choose_structure
from analysis.complications.priors import benchmark_table
from analysis.complications.study import fit_with_retry
from analysis.complications.summaries import (
    LOWER_Q,
    UPPER_Q,
    cell_risk,
    diagnostics_table,
    odds_ratio_table,
    posterior_draws,
    provider_table,
    region_rate_table,
)
from analysis.disclosure.cubes import pair_grid
from analysis.disclosure.spec import Below, Count
from analysis.manifest import Headline
from analysis.outputs import StageOutput
from analysis.vocabulary import Vocabulary

#: Outcome and dose columns of the touch-up cells (``episodes.parquet``).
OUTCOME_COLUMN = "touchup"
DOSE_COLUMN = "log2_rel_dose_initial"
#: Added to the study seed for the touch-up model (its own random stream).
SEED_OFFSET = 7919

TITLE = "Touch-up rates"
#: Cubes of the fine counts behind the touch-up tables (analysis/disclosure): the episodes the
#: model used and their touch-ups, by region x (clinic, injector) pair.
EPISODES_CUBE = "complications.touchup_episodes"
EVENTS_CUBE = "complications.touchup_events"


def eligible(episodes: pd.DataFrame, min_followup_days: int) -> pd.Series:
    """Episodes whose touch-up, if any, has been observed: re-treated, or followed up for at
    least ``min_followup_days`` before the data cut-off."""
    return episodes["retreat_event"].astype(bool) | (
        episodes["retreat_days"].astype(float) >= min_followup_days
    )


@dataclass(frozen=True)
class TouchupStudy:
    """The touch-up rate fit and how many episodes it used or left out (short follow-up)."""

    fit: ComplicationFit
    n_episodes: int
    n_left_out: int
    min_followup_days: int


def fit_touchup_rates(
    episodes: pd.DataFrame,
    config: ComplicationsConfig,
    vocabulary: Vocabulary,
    seed: int,
    sampler: ComplicationSampler | None = None,
) -> TouchupStudy:
    """Fit the hierarchical touch-up rate model on the eligible episodes of every region.

    ``sampler``: the complication study's compiled model, re-used when it serves these cells'
    levels (:meth:`ComplicationSampler.serves`; saves a compilation, ~20 s), else one is
    compiled.

    Raises
    ------
    ConvergenceError
        If the fit fails the diagnostics gate twice (the complication models' retry rule).
    """
    rule = config.touchup
    keep = eligible(episodes, rule.min_followup_days)
    ep = episodes.loc[keep.to_numpy()]
    regions = list(vocabulary.region_codes)
    levels = levels_from_episodes(ep, regions, list(vocabulary.product_codes))
    cells = aggregate_cells(
        ep,
        TOUCHUP,
        regions,
        levels,
        config.dose_step_log2,
        config.calendar_trend,
        outcome=OUTCOME_COLUMN,
        dose_column=DOSE_COLUMN,
    )
    priors = rule.prior_set.for_type(TOUCHUP, cells.regions)
    if sampler is None or not sampler.serves(cells.levels):
        sampler = ComplicationSampler(cells, priors, config.sampler)
    structure = choose_structure(cells, config.region_only_below_events)
    fit = fit_with_retry(
        sampler, cells, priors, seed + SEED_OFFSET, structure, config.gate, config.sampler
    )
    return TouchupStudy(fit, int(keep.sum()), int((~keep).sum()), rule.min_followup_days)


@dataclass(frozen=True)
class TouchupTables:
    """Tables of the touch-up rate model (``touchup_*`` files of ``reports/complications``)."""

    rates_by_region: pd.DataFrame
    rates_by_clinic: pd.DataFrame
    rates_by_injector: pd.DataFrame
    overall: pd.DataFrame  # one row: all regions together
    odds_ratios: pd.DataFrame
    diagnostics: pd.DataFrame


def _region_columns() -> list[str]:
    rates = ["rate_mean", "rate_lower", "rate_upper"]
    return [
        "region",
        "n_treatments",
        "n_touchups",
        "observed_rate",
        *rates,
        *(f"{c}_pct" for c in rates),
        "model_structure",
    ]


def _provider_columns(level: str, multiplier: float) -> list[str]:
    return [
        level,
        *(["clinic"] if level == "injector" else []),
        "n_treatments",
        "n_touchups",
        "observed_rate",
        "rate_mean",
        "rate_lower",
        "rate_upper",
        "peer_rate_mean",
        "rate_ratio_vs_peers_mean",
        "rate_ratio_vs_peers_lower",
        "rate_ratio_vs_peers_upper",
        f"p_above_{multiplier:g}x_peers",
        "too_few_to_judge",
        "rank_by_rate",
        "flagged",
        "flag_reason",
    ]


def overall_rate(fit: ComplicationFit) -> pd.DataFrame:
    """Expected touch-up share of all the fitted treatments, with its 95% CrI (one row)."""
    arrays = fit.cells.arrays()
    risk = cell_risk(posterior_draws(fit), arrays)
    n = arrays["n"].astype(float)
    draws = risk @ n / n.sum()
    rates = {
        "rate_mean": float(draws.mean()),
        "rate_lower": float(np.quantile(draws, LOWER_Q)),
        "rate_upper": float(np.quantile(draws, UPPER_Q)),
    }
    return pd.DataFrame(
        [
            {
                "n_treatments": int(n.sum()),
                "n_touchups": int(arrays["y"].sum()),
                "observed_rate": float(arrays["y"].sum() / n.sum()),
                **rates,
                **{f"{k}_pct": 100 * v for k, v in rates.items()},
            }
        ]
    )


def touchup_tables(study: TouchupStudy, config: ComplicationsConfig) -> TouchupTables:
    """Region, clinic and injector rates (providers against peers), the overall rate, odds
    ratios and the diagnostics of the touch-up model."""
    fit, m = study.fit, config.benchmark_multiplier
    benchmarks = benchmark_table(config.touchup.prior_set, {TOUCHUP: fit.cells.regions})
    regions = region_rate_table([fit], benchmarks, m)
    for col in ("rate_mean", "rate_lower", "rate_upper"):
        regions[f"{col}_pct"] = 100 * regions[col]
    providers = {
        level: provider_table(
            [fit],
            benchmarks,
            level,
            m,
            config.min_treatments_to_judge,
            flag_probability=config.flag_probability,
        )
        .rename(columns={"n_events": "n_touchups"})[_provider_columns(level, m)]
        .reset_index(drop=True)
        for level in ("clinic", "injector")
    }
    odds = odds_ratio_table([fit], config.calendar_trend)
    odds["term"] = odds["term"].str.replace("dose (per", "first dose (per", regex=False)
    return TouchupTables(
        rates_by_region=regions.rename(columns={"n_events": "n_touchups"})[_region_columns()],
        rates_by_clinic=providers["clinic"],
        rates_by_injector=providers["injector"],
        overall=overall_rate(fit),
        odds_ratios=odds.drop(columns=["complication", "prior_set"], errors="ignore"),
        diagnostics=diagnostics_table([fit]),
    )


# ------------------------------------------------------------------------------------------
# What the stage tells its readers
# ------------------------------------------------------------------------------------------
def section_text(study: TouchupStudy, config: ComplicationsConfig) -> str:
    """How to read the touch-up tables (clinic view)."""
    m = config.benchmark_multiplier
    return (
        "Share of treatment episodes adjusted by a touch-up (within the touch-up window of the "
        "first injection), posterior mean with 95% credible interval. No touch-up rate has "
        "been published, so clinics and injectors are compared with their peers: the rate the "
        "network's average clinic and injector would have on the same regions, first doses and "
        f"products. A provider is flagged when P(rate > {m:g} x peers) exceeds "
        f"{config.flag_probability:g}; providers with fewer than "
        f"{config.min_treatments_to_judge} treatments are too few to judge. Episodes treated "
        f"fewer than {study.min_followup_days} days before the data cut-off are left out "
        f"({study.n_left_out} of {study.n_episodes + study.n_left_out})."
    )


def headline(tables: TouchupTables) -> Headline:
    """The overall touch-up rate (clinic view)."""
    row = tables.overall.iloc[0]
    return Headline(
        key="touchup_rate_all_regions",
        label="Treatments with a touch-up (all regions)",
        value=round(float(row["rate_mean_pct"]), 3),
        lower=round(float(row["rate_lower_pct"]), 3),
        upper=round(float(row["rate_upper_pct"]), 3),
        unit="% of treatments",
        view="clinic",
        source="touchup_rate_overall.csv",
    )


def methods_sentence(study: TouchupStudy) -> str:
    """The methods paragraph's sentence on the touch-up rate model."""
    fit = study.fit
    return (
        f"Touch-up rates used the same model with the outcome 'episode had a touch-up' over "
        f"{study.n_episodes} episodes of every region ({fit.structure} structure), the first "
        "session's dose as the dose term and weakly informative priors (no published rate; "
        "sources in params.yaml); it passed the same diagnostics gate"
        f"{' on its retry' if fit.diagnostics.get('retried') else ''}."
    )


def metrics(tables: TouchupTables) -> dict:
    """The touch-up part of ``reports/metrics/complications.json``."""
    overall = tables.overall.iloc[0]
    regions = tables.rates_by_region.set_index("region")
    return {
        "rate_all_regions": {k: float(overall[f"rate_{k}"]) for k in ("mean", "lower", "upper")},
        "rate_by_region": {
            r: {k: float(row[f"rate_{k}"]) for k in ("mean", "lower", "upper")}
            for r, row in regions.iterrows()
        },
        "injectors_flagged": int(tables.rates_by_injector["flagged"].sum()),
        "clinics_flagged": int(tables.rates_by_clinic["flagged"].sum()),
        "gate_passed": bool(tables.diagnostics["passed"].all()),
    }


def write_touchup_cubes(
    out: StageOutput, episodes: pd.DataFrame, config: ComplicationsConfig, regions: list[str]
) -> None:
    """Write the cubes the touch-up tables' counts add up: the eligible episodes and their
    touch-ups by region x (clinic, injector) pair, zeros included."""
    rows = episodes.loc[eligible(episodes, config.touchup.min_followup_days).to_numpy()]
    pairs = episodes[["clinic", "injector"]].astype(str).drop_duplicates()
    pairs = pairs.sort_values(["clinic", "injector"]).reset_index(drop=True)
    dims = ("region", "clinic", "injector")
    out.cube(EPISODES_CUBE, "touchup_episodes", pair_grid(rows, regions, pairs), dims)
    touched = pair_grid(rows, regions, pairs, OUTCOME_COLUMN)
    out.cube(EVENTS_CUBE, "touchup_events", touched, dims)


def _counts(level: str | None) -> tuple[Count, ...]:
    """Declarations of ``n_treatments`` and ``n_touchups`` of a table by ``level`` (all regions
    together if ``None``; a provider or region without eligible treatments has no row)."""
    by = {} if level is None else {level: level}
    return (
        Count("n_treatments", cube=EPISODES_CUBE, by=by, complete=level is not None),
        Count("n_touchups", cube=EVENTS_CUBE, by=by),
    )


def write_touchup_sections(
    out: StageOutput, study: TouchupStudy, tables: TouchupTables, config: ComplicationsConfig
) -> None:
    """Write the touch-up tables and the injector caterpillar plot through ``out`` and record
    them in a clinic-view section. Call inside :func:`analysis.figures.theme.theme`."""
    from analysis.figures import complications as figures

    sec = out.section("clinic", TITLE, section_text(study, config))
    sec.table(
        tables.rates_by_region,
        "touchup_rates_by_region",
        "Touch-up rates by region",
        counts=_counts("region"),
        latex=True,
    )
    sec.table(
        tables.overall,
        "touchup_rate_overall",
        "Touch-up rate, all regions",
        counts=_counts(None),
    )
    for level in ("clinic", "injector"):
        sec.table(
            getattr(tables, f"rates_by_{level}"),
            f"touchup_rates_by_{level}",
            f"{level.capitalize()} touch-up rates against peers",
            counts=_counts(level),
            below=(Below("too_few_to_judge", "n_treatments", config.min_treatments_to_judge),),
        )
    injectors = tables.rates_by_injector
    if study.fit.structure == "hierarchical" and len(injectors):
        sec.figure(
            figures.fig_caterpillar(
                injectors,
                "injector",
                config.benchmark_multiplier,
                "Injectors: touch-ups",
                reference="peers",
            ),
            "caterpillar_injectors_touchup",
            "Injector touch-up rates relative to peers on the same treatments; flagged "
            "injectors in vermillion.",
            "Caterpillar plot of injector touch-up rate ratios to peers with 95% credible "
            "intervals",
        )
    out.table(tables.odds_ratios, "touchup_odds_ratios")
    out.table(tables.diagnostics, "touchup_diagnostics")
