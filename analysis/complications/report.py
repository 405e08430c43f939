"""What the ``fit_complications`` stage tells its readers: section texts, captions, headline
numbers, the methods paragraph, the small metrics file for ``dvc metrics show``, and
:func:`write_sections`, which writes every table and figure through the stage's
:class:`~analysis.outputs.StageOutput` (each output named once, where it is written).

Every sentence is generated from the configuration and the fits actually used, so a changed
parameter changes the text with it.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import HIERARCHICAL
from analysis.complications.study import RETRY_TARGET_ACCEPT, ComplicationStudy
from analysis.complications.summaries import ComplicationTables
from analysis.disclosure.cubes import complication_cubes
from analysis.disclosure.spec import Below, Count, Mix
from analysis.figures import complications as figures
from analysis.manifest import Headline
from analysis.outputs import StageOutput

TITLE = "Complication rates"

RATES_TITLE = "Complication rates against published benchmarks"
RATES_TEXT = (
    "Posterior 30-day rate per region and complication with its 95% credible interval, the "
    "published benchmark, and the probability that the rate exceeds it. For very rare types the "
    "one-sided 95% upper bound says how high the rate can plausibly be."
)
PROVIDERS_TITLE = "Injectors and clinics"
FUNNEL_CAPTION = (
    "Observed injector rates relative to the benchmark against volume, with 95% and 99.8% limits."
)
CHECKS_TITLE = "Complication models: effects, diagnostics and checks"
CHECKS_TEXT = (
    "Odds ratios with 95% credible intervals, convergence diagnostics of every model, and "
    "posterior predictive checks of event counts per region and injector."
)
PRIORS_TITLE = "Priors and prior sensitivity"
PRIORS_TEXT = (
    "Every prior with its source, and the headline rates refitted with the alternative prior set."
)


def _label(code: str) -> str:
    return code.replace("_", " ")


def providers_text(config: ComplicationsConfig) -> str:
    """How to read the shrunken provider rates and the flagging rule (clinic view)."""
    m = config.benchmark_multiplier
    return (
        f"Shrunken rates: small volumes are pulled towards the average. p_above_{m:g}x_benchmark "
        f"is the probability that the rate exceeds {m:g} times the benchmark standardised to the "
        "provider's region mix (benchmark_published_share says how much of that benchmark is a "
        f"published rate rather than a practice assumption); p_above_{m:g}x_peers is the "
        f"probability that it exceeds {m:g} times the rate the network's average clinic and "
        "injector would have on the same treatments. A provider is flagged when either "
        f"probability exceeds {config.flag_probability:g} (the benchmark only if fully "
        f"published); providers with fewer than {config.min_treatments_to_judge} treatments are "
        "shown but labelled too few to judge and never flagged."
    )


def caterpillar_title(level: str, complication: str) -> str:
    """Title drawn above the caterpillar plot of one type's clinics or injectors."""
    return f"{level.capitalize()}s: {_label(complication)}"


def caterpillar_caption(complication: str) -> str:
    """Caption of the injector caterpillar plot of one type."""
    return (
        f"Injector {_label(complication)} rates relative to the benchmark standardised to each "
        "injector's region mix (published rates and labelled practice assumptions); flagged "
        "injectors in vermillion."
    )


def caterpillar_alt(complication: str) -> str:
    """Text alternative of the injector caterpillar plot of one type."""
    return (
        f"Caterpillar plot of injector {_label(complication)} rate ratios with 95% credible "
        "intervals"
    )


def headlines(tables: ComplicationTables, config: ComplicationsConfig) -> list[Headline]:
    """For each headline type, its rate in the region with the most treatments (clinic view)."""
    regions = tables.rates_by_region
    out = []
    for ctype in config.headline_types:
        sel = regions.loc[regions["complication"] == ctype]
        if sel.empty:
            continue
        row = sel.loc[sel["n_treatments"].idxmax()]
        out.append(
            Headline(
                key=f"rate_{ctype}_{row['region']}",
                label=f"{_label(ctype).capitalize()} after {_label(row['region'])} treatment",
                value=round(float(row["rate_mean_pct"]), 3),
                lower=round(float(row["rate_lower_pct"]), 3),
                upper=round(float(row["rate_upper_pct"]), 3),
                unit="% of treatments",
                view="clinic",
                source="complication_rates_by_region.csv",
            )
        )
    return out


def metrics(tables: ComplicationTables, config: ComplicationsConfig) -> dict[str, Any]:
    """Small metrics file for ``dvc metrics show``: gate, PPC and headline rates."""
    diag = tables.diagnostics
    ppc_i, ppc_r = tables.ppc_by_injector, tables.ppc_by_region
    regions = tables.rates_by_region
    injectors, clinics = tables.rates_by_injector, tables.rates_by_clinic
    headline_rows = regions.loc[regions["complication"].isin(config.headline_types)]
    return {
        "prior_set": config.prior_set,
        "n_models": int(len(diag)),
        "gate_passed_all": bool(diag["passed"].all()),
        "max_rhat": float(diag["max_rhat"].max()),
        "min_ess_bulk": float(diag["min_ess_bulk"].min()),
        "min_ess_tail": float(diag["min_ess_tail"].min()),
        "divergences": int(diag["divergences"].sum()),
        "bfmi_min": float(diag["bfmi_min"].min()),
        "ppc_share_injectors_within_95": float(ppc_i["within_95"].mean()),
        "ppc_share_regions_within_95": float(ppc_r["within_95"].mean()),
        "ppc_min_p_value_region": float(ppc_r["ppc_p_value"].min()),
        "injector_type_pairs_flagged": int(injectors["flagged"].sum()),
        "injectors_flagged": int(injectors.loc[injectors["flagged"], "injector"].nunique()),
        "clinic_type_pairs_flagged": int(clinics["flagged"].sum()),
        "headline_rates": {
            f"{r.complication}.{r.region}": {
                "mean": r.rate_mean,
                "lower": r.rate_lower,
                "upper": r.rate_upper,
            }
            for r in headline_rows.itertuples()
        },
    }


def retry_text(study: ComplicationStudy) -> str:
    """The end of the methods' gate sentence: which fits passed only on the gate's retry."""
    retried = [
        f"{f.complication} ({f.prior_set})" for f in study.all_fits if f.diagnostics.get("retried")
    ]
    how = (
        "one retry with twice the draws and tuning, every group effect non-centred and target "
        f"acceptance {RETRY_TARGET_ACCEPT}"
    )
    if not retried:
        return f"; no model needed the gate's {how}"
    return f"; {len(retried)} passed only on the gate's {how}: {', '.join(retried)}"


def methods(study: ComplicationStudy, config: ComplicationsConfig) -> str:
    """The methods paragraph: model, priors, sampler, gate, flagging rule and software."""
    return " ".join(
        (_model_sentences(study, config), _sampling_sentence(study, config))
        + (_provider_sentence(config), _software_sentence())
    )


def _model_sentences(study: ComplicationStudy, config: ComplicationsConfig) -> str:
    rare = sorted(f.complication for f in study.fits if f.structure != HIERARCHICAL)
    # a term that is off is neither described nor reported (its odds ratio would be its prior)
    trend = " a linear calendar-year term," if config.calendar_trend else ""
    return (
        f"For each of {len(study.fits)} complication types we fitted a Bayesian logistic model "
        "of the 30-day risk per treated episode with region intercepts, log2 relative dose, "
        f"product,{trend} and normal clinic effects with injector "
        "effects centred within clinics, using a binomial likelihood over cells of identical "
        f"covariates (dose rounded to {config.dose_step_log2:g} doublings); group effects were "
        "sampled as orthonormal contrasts, partially centred by their Fisher information "
        "(Gorinova et al. 2020). Region priors were centred on published per-treatment rates or "
        f"labelled practice assumptions ({config.prior_set} prior set; sources in the priors "
        "table); clinic and injector standard deviations had half-normal priors. Types with "
        f"fewer than {config.region_only_below_events} events used a region-only model"
        f"{' (' + ', '.join(rare) + ')' if rare else ''}."
    )


def _sampling_sentence(study: ComplicationStudy, config: ComplicationsConfig) -> str:
    s, gate = config.sampler, config.gate
    return (
        f"Posteriors were sampled with {s.sampler} ({s.chains} chains x {s.draws} draws after "
        f"{s.tune} tuning steps, target acceptance {s.target_accept}); every model passed "
        f"R-hat <= {gate.max_rhat}, bulk and tail ESS >= {gate.min_ess_bulk:g} and "
        f"{gate.max_divergences} divergences{retry_text(study)}."
    )


def _provider_sentence(config: ComplicationsConfig) -> str:
    m = config.benchmark_multiplier
    return (
        "Provider rates are posterior expected rates of their own treatments against benchmarks "
        "standardised to their region mix and against the network's average provider on the "
        f"same treatments; a provider was flagged when P(rate > {m:g} x peers) or "
        f"P(rate > {m:g} x a fully published benchmark) exceeded {config.flag_probability:g}; "
        f"providers with fewer than {config.min_treatments_to_judge} treatments are labelled "
        "too few to judge."
    )


def _software_sentence() -> str:
    import arviz
    import nutpie
    import pymc

    return (
        f"Software: PyMC {pymc.__version__}, nutpie {nutpie.__version__}, "
        f"ArviZ {arviz.__version__}, Python {platform.python_version()}."
    )


#: Cubes of the fine counts behind every count of the stage (analysis/disclosure/cubes.py).
EPISODES_CUBE = "complications.episodes"
EVENTS_CUBE = "complications.events"


#: provider-table columns that are averages of a per-region value weighted by the provider's
#: treatments (the region-mix benchmark): column -> weight column of the episodes cube
MIXES = {"benchmark_rate": "benchmark_rate", "benchmark_published_share": "benchmark_published"}


def write_cubes(
    out: StageOutput,
    episodes,
    type_regions: Mapping[str, Sequence[str]],
    benchmarks: pd.DataFrame,
) -> None:
    """Write the cubes the count declarations below refer to: episodes by region x clinic x
    injector (type-region sets and the benchmark of each type and region as attributes) and
    30-day events by type x region x clinic x injector."""
    weights = benchmarks[["complication", "region", *sorted(set(MIXES.values()))]].copy()
    weights["benchmark_published"] = weights["benchmark_published"].astype(float)
    ep, events = complication_cubes(episodes, type_regions, weights)
    out.cube(EPISODES_CUBE, "episodes", ep, ("region", "clinic", "injector"))
    out.cube(
        EVENTS_CUBE, "complication_events", events, ("complication", "region", "clinic", "injector")
    )


def counts_by(level: str, events: str = "n_events") -> tuple[Count, ...]:
    """Declarations of ``n_treatments`` and ``events`` of a table by complication x ``level``
    (a provider or region without treatments of a type has no row: it is a known zero)."""
    by = {"complication": "complication", level: level}
    return (
        Count("n_treatments", cube=EPISODES_CUBE, by=by, complete=True),
        Count(events, cube=EVENTS_CUBE, by=by),
    )


def mixes_by(level: str) -> tuple[Mix, ...]:
    """The region-mix averages of a provider table (see :data:`MIXES`)."""
    by = {"complication": "complication", level: level}
    return tuple(Mix(col, EPISODES_CUBE, by, weight) for col, weight in MIXES.items())


def write_sections(out: StageOutput, t: ComplicationTables, config: ComplicationsConfig) -> None:
    """Write every table and figure of the stage through ``out``, each named once, and record
    the shown ones in its manifest, in the order the report shows them.

    Call inside :func:`analysis.figures.theme.theme` (the figures are drawn here).
    """
    _write_rates(out, t)
    _write_providers(out, t, config)
    _write_checks(out, t)
    _write_priors(out, t)
    out.table(t.dose_risk_curves, "dose_risk_curves")
    out.table(t.model_parameters, "complication_model_parameters")


#: PPC columns computed from the observed count of the row
PPC_DERIVED = ("within_95", "ppc_p_value")


def _write_rates(out: StageOutput, t: ComplicationTables) -> None:
    rates = out.section("clinic", RATES_TITLE, RATES_TEXT)
    rates.table(
        t.rates_by_region,
        "complication_rates_by_region",
        "Complication rates by region",
        counts=counts_by("region"),
        latex=True,
    )
    rates.figure(
        figures.fig_dose_risk(t.dose_risk_curves),
        "dose_risk",
        "Posterior risk against relative dose per region.",
        "Dose-risk curves with 95% credible bands per complication type and region",
    )


def _write_providers(out: StageOutput, t: ComplicationTables, config: ComplicationsConfig) -> None:
    m = config.benchmark_multiplier
    providers = out.section("clinic", PROVIDERS_TITLE, providers_text(config))
    for level in ("injector", "clinic"):
        providers.table(
            t.rates_by(level),
            f"complication_rates_by_{level}",
            f"{level.capitalize()} complication rates",
            counts=counts_by(level),
            below=(Below("too_few_to_judge", "n_treatments", config.min_treatments_to_judge),),
            mixes=mixes_by(level),
        )
    providers.figure_from(
        "funnel_injectors",
        FUNNEL_CAPTION,
        "Funnel plots of injector complication rates",
        figures.fig_funnel_of,
        {"rates": "complication_rates_by_injector"},
        multiplier=m,
        structure=HIERARCHICAL,
    )
    for level in ("injector", "clinic"):
        for ctype in config.headline_types:
            rows = t.hierarchical_providers(level, ctype)
            if rows.empty:
                continue
            fig = figures.fig_caterpillar(rows, level, m, caterpillar_title(level, ctype))
            if level == "injector":
                providers.figure(
                    fig,
                    f"caterpillar_injectors_{ctype}",
                    caterpillar_caption(ctype),
                    caterpillar_alt(ctype),
                )
            else:  # written for download, not shown
                out.figure(fig, f"caterpillar_clinics_{ctype}")


def _write_checks(out: StageOutput, t: ComplicationTables) -> None:
    checks = out.section("research", CHECKS_TITLE, CHECKS_TEXT)
    checks.table(t.odds_ratios, "complication_odds_ratios", "Odds ratios", latex=True)
    checks.table(t.diagnostics, "complication_diagnostics", "Diagnostics gate", latex=True)
    checks.table(
        t.ppc_by_region,
        "ppc_by_region",
        "Posterior predictive check by region",
        counts=counts_by("region", "observed_events"),
        derived_columns=PPC_DERIVED,
    )
    out.table(
        t.ppc_by_injector,
        "ppc_by_injector",
        counts=counts_by("injector", "observed_events"),
        derived_columns=PPC_DERIVED,
    )
    for key in ("region", "injector"):
        checks.figure_from(
            f"ppc_{key}s",
            f"Observed vs replicated events per {key}.",
            f"Posterior predictive intervals and observed counts per {key}",
            figures.fig_ppc,
            {"table": f"ppc_by_{key}"},
            key=key,
        )


def _write_priors(out: StageOutput, t: ComplicationTables) -> None:
    priors = out.section("research", PRIORS_TITLE, PRIORS_TEXT)
    priors.table(t.priors, "complication_priors", "Priors")
    if t.prior_sensitivity is not None:
        priors.table(
            t.prior_sensitivity,
            "prior_sensitivity",
            "Prior sensitivity of headline rates",
            counts=counts_by("region"),
            latex=True,
        )
