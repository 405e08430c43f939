"""Stage ``fit_complications``: Bayesian complication rates with published benchmarks."""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.complications import summaries
from analysis.complications.priors import prior_table
from analysis.complications.study import (
    RETRY_TARGET_ACCEPT,
    ComplicationsConfig,
    ComplicationStudy,
    fit_complication_study,
)
from analysis.errors import InputValidationError, Problem
from analysis.figures import complications as cfig
from analysis.figures.theme import save_figure, theme
from analysis.io import write_json, write_table
from analysis.params import load_params

HELP = "fit hierarchical Bayesian complication-rate models and compare with published benchmarks"
DESCRIPTION = """\
Fit one hierarchical logistic model per complication type (30-day risk per treated episode:
region, relative dose, product, calendar year, partially pooled clinic and injector effects)
over aggregated binomial cells, with priors centred on published rates (params.yaml
`complications.priors`). Every model must pass the diagnostics gate (R-hat, bulk/tail ESS,
no divergences). Writes tables, figures, manifest.json, posteriors as NetCDF and
reports/metrics/complications.json. The prior-sensitivity comparison (informative vs weak
priors for the headline types) is part of the outputs; `dvc exp run -S
complications.prior_set=weak` runs the whole stage with the weak priors.
"""

DOSE_GRID = tuple(np.round(2.0 ** np.linspace(-1.0, 1.5, 21), 4))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file")
    parser.add_argument("--episodes", required=True, help="processed episodes.parquet")
    parser.add_argument("--out", required=True, help="output directory for tables and figures")
    parser.add_argument("--models", required=True, help="directory for posterior NetCDF files")
    parser.add_argument(
        "--metrics",
        default=None,
        help="metrics JSON (default: <out>/../metrics/complications.json)",
    )
    parser.add_argument(
        "--types", nargs="*", default=None, help="only these complication types (for quick runs)"
    )


def _read_episodes(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputValidationError([Problem(str(path), None, None, None, "file does not exist")])
    return pd.read_parquet(path)


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = ComplicationsConfig.from_params(params)
    episodes = _read_episodes(Path(args.episodes))
    out, models = Path(args.out), Path(args.models)
    metrics_path = (
        Path(args.metrics) if args.metrics else out.parent / "metrics" / "complications.json"
    )
    study = fit_complication_study(
        episodes,
        params,
        config,
        types=args.types,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for fit in study.fits:
        path = models / f"{fit.complication}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        fit.idata.to_netcdf(path)
    tables = build_tables(study, config)
    for name, table in tables.items():
        write_table(table, out / name)
    write_figures(tables, config, out)
    metrics = build_metrics(study, tables, config)
    write_json(metrics, metrics_path)
    write_json(build_manifest(study, tables, config, params), out / "manifest.json")
    return 0


def build_tables(study: ComplicationStudy, config: ComplicationsConfig) -> dict[str, pd.DataFrame]:
    """Every table of the stage, keyed by file stem."""
    m, n_min = config.benchmark_multiplier, config.min_treatments_to_judge
    regions = summaries.region_rate_table(study.fits, study.benchmarks, m)
    for col in (
        "rate_mean",
        "rate_lower",
        "rate_upper",
        "rate_upper_one_sided_95",
        "benchmark_rate",
        "observed_rate",
    ):
        regions[f"{col}_pct"] = 100 * regions[col]
    ppc_region, ppc_injector = summaries.ppc_tables(study.fits, config.ppc_draws, config.seed)
    # Wall-clock sampling time goes to the log, never into an output: outputs must be
    # byte-identical between runs (dvc repro --force twice).
    diagnostics = pd.DataFrame(
        [
            {
                **f.diagnostics,
                "complication": f.complication,
                "prior_set": f.prior_set,
                "model_structure": f.structure,
            }
            for f in study.fits + study.sensitivity_fits
        ]
    )
    print(
        f"fit-complications: sampling took {diagnostics['sampling_seconds'].sum():.0f} s in total",
        file=sys.stderr,
    )
    diagnostics = diagnostics.drop(columns="sampling_seconds")
    tables = {
        "complication_rates_by_region": regions,
        "complication_rates_by_injector": summaries.provider_table(
            study.fits,
            study.benchmarks,
            "injector",
            m,
            n_min,
            flag_probability=config.flag_probability,
        ),
        "complication_rates_by_clinic": summaries.provider_table(
            study.fits,
            study.benchmarks,
            "clinic",
            m,
            n_min,
            flag_probability=config.flag_probability,
        ),
        "dose_risk_curves": summaries.dose_risk_table(study.fits, DOSE_GRID),
        "complication_odds_ratios": summaries.odds_ratio_table(study.fits),
        "complication_model_parameters": pd.concat(
            [
                f.summary.assign(complication=f.complication, prior_set=f.prior_set)
                for f in study.fits
            ],
            ignore_index=True,
        ),
        "complication_diagnostics": diagnostics,
        "ppc_by_region": ppc_region,
        "ppc_by_injector": ppc_injector,
        "complication_priors": pd.concat(
            [prior_table(study.prior_sets[name], _types_of(study)) for name in study.prior_sets],
            ignore_index=True,
        ),
    }
    if study.sensitivity_fits:
        alt = summaries.region_rate_table(study.sensitivity_fits, study.benchmarks, m)
        tables["prior_sensitivity"] = summaries.sensitivity_table(
            regions, alt, config.headline_types
        )
    return tables


def _types_of(study: ComplicationStudy) -> dict:
    return {f.complication: {"regions": list(f.cells.regions)} for f in study.fits}


def write_figures(tables: dict[str, pd.DataFrame], config: ComplicationsConfig, out: Path) -> None:
    m = config.benchmark_multiplier
    injectors = tables["complication_rates_by_injector"]
    hier = injectors.loc[injectors["model_structure"] == "hierarchical"]
    with theme():
        save_figure(cfig.fig_funnel(hier, m), out / "funnel_injectors.png")
        for ctype in config.headline_types:
            sel = hier.loc[hier["complication"] == ctype]
            if len(sel):
                title = f"Injectors: {ctype.replace('_', ' ')}"
                save_figure(
                    cfig.fig_caterpillar(sel, "injector", m, title),
                    out / f"caterpillar_injectors_{ctype}.png",
                )
        clinics = tables["complication_rates_by_clinic"]
        for ctype in config.headline_types:
            sel = clinics.loc[
                (clinics["complication"] == ctype) & (clinics["model_structure"] == "hierarchical")
            ]
            if len(sel):
                title = f"Clinics: {ctype.replace('_', ' ')}"
                save_figure(
                    cfig.fig_caterpillar(sel, "clinic", m, title),
                    out / f"caterpillar_clinics_{ctype}.png",
                )
        save_figure(cfig.fig_dose_risk(tables["dose_risk_curves"]), out / "dose_risk.png")
        save_figure(cfig.fig_ppc(tables["ppc_by_region"], "region"), out / "ppc_regions.png")
        save_figure(cfig.fig_ppc(tables["ppc_by_injector"], "injector"), out / "ppc_injectors.png")


def build_metrics(
    study: ComplicationStudy, tables: dict[str, pd.DataFrame], config: ComplicationsConfig
) -> dict:
    """Small metrics file for `dvc metrics show`: gate, PPC and headline rates."""
    diag = tables["complication_diagnostics"]
    ppc_i, ppc_r = tables["ppc_by_injector"], tables["ppc_by_region"]
    regions = tables["complication_rates_by_region"]
    injectors = tables["complication_rates_by_injector"]
    clinics = tables["complication_rates_by_clinic"]
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
            for r in regions.loc[regions["complication"].isin(config.headline_types)].itertuples()
        },
    }


def _headlines(tables: dict[str, pd.DataFrame], config: ComplicationsConfig) -> list[dict]:
    regions = tables["complication_rates_by_region"]
    out = []
    for ctype in config.headline_types:
        sel = regions.loc[regions["complication"] == ctype]
        if sel.empty:
            continue
        row = sel.loc[sel["n_treatments"].idxmax()]
        out.append(
            {
                "key": f"rate_{ctype}_{row['region']}",
                "label": f"{ctype.replace('_', ' ').capitalize()} after {row['region'].replace('_', ' ')} treatment",
                "value": round(float(row["rate_mean_pct"]), 3),
                "lower": round(float(row["rate_lower_pct"]), 3),
                "upper": round(float(row["rate_upper_pct"]), 3),
                "unit": "% of treatments",
                "view": "clinic",
                "source": "complication_rates_by_region.csv",
            }
        )
    return out


def _retry_text(study: ComplicationStudy) -> str:
    retried = [
        f"{f.complication} ({f.prior_set})"
        for f in study.fits + study.sensitivity_fits
        if f.diagnostics.get("retried")
    ]
    how = (
        f"one retry with twice the draws and tuning, every group effect non-centred and target acceptance "
        f"{RETRY_TARGET_ACCEPT}"
    )
    if not retried:
        return f"; no model needed the gate's {how}"
    return f"; {len(retried)} passed only on the gate's {how}: {', '.join(retried)}"


def _methods(study: ComplicationStudy, config: ComplicationsConfig, params: dict) -> str:
    import arviz
    import nutpie
    import pymc

    s = config.sampler
    rare = sorted(f.complication for f in study.fits if f.structure != "hierarchical")
    return (
        f"For each of {len(study.fits)} complication types we fitted a Bayesian logistic model of the "
        "30-day risk per treated episode with region intercepts, log2 relative dose, product, a linear "
        f"calendar-year term{'' if config.calendar_trend else ' (switched off)'} and normal clinic effects with "
        "injector effects centred within clinics, using a binomial likelihood over cells of identical covariates "
        f"(dose rounded to {config.dose_step_log2:g} doublings); group effects were sampled as orthonormal "
        "contrasts, partially centred by their Fisher information (Gorinova et al. 2020). Region priors were centred "
        f"on published per-treatment rates or labelled practice assumptions ({config.prior_set} prior set; sources in the priors table); clinic and injector "
        "standard deviations had half-normal priors. Types with fewer than "
        f"{config.region_only_below_events} events used a region-only model"
        f"{' (' + ', '.join(rare) + ')' if rare else ''}. Posteriors were sampled with "
        f"{s.sampler} ({s.chains} chains x {s.draws} draws after {s.tune} tuning steps, target acceptance "
        f"{s.target_accept}); every model passed R-hat <= {config.gate.max_rhat}, bulk and tail ESS >= "
        f"{config.gate.min_ess_bulk:g} and {config.gate.max_divergences} divergences"
        f"{_retry_text(study)}. Provider rates are "
        "posterior expected rates of their own treatments against benchmarks standardised to their region mix "
        "and against the network's average provider on the same treatments; a provider was flagged when "
        f"P(rate > {config.benchmark_multiplier:g} x peers) or P(rate > {config.benchmark_multiplier:g} x a fully "
        f"published benchmark) exceeded {config.flag_probability:g}; "
        f"providers with fewer than {config.min_treatments_to_judge} treatments are labelled too few to judge. "
        f"Software: PyMC {pymc.__version__}, nutpie {nutpie.__version__}, ArviZ {arviz.__version__}, "
        f"Python {platform.python_version()}."
    )


def build_manifest(
    study: ComplicationStudy, tables: dict, config: ComplicationsConfig, params: dict
) -> dict:
    m = config.benchmark_multiplier
    flag = f"p_above_{m:g}x_benchmark"
    caterpillars = [
        {
            "path": f"caterpillar_injectors_{t}.png",
            "caption": f"Injector {t.replace('_', ' ')} rates relative to the benchmark standardised to each "
            "injector's region mix (published rates and labelled practice assumptions); flagged injectors in vermillion.",
            "alt": f"Caterpillar plot of injector {t.replace('_', ' ')} rate ratios with 95% credible intervals",
        }
        for t in config.headline_types
        if (
            (tables["complication_rates_by_injector"]["complication"] == t)
            & (tables["complication_rates_by_injector"]["model_structure"] == "hierarchical")
        ).any()
    ]
    sections = [
        {
            "view": "clinic",
            "title": "Complication rates against published benchmarks",
            "text": "Posterior 30-day rate per region and complication with its 95% credible interval, the "
            "published benchmark, and the probability that the rate exceeds it. For very rare types the "
            "one-sided 95% upper bound says how high the rate can plausibly be.",
            "tables": [
                {
                    "path": "complication_rates_by_region.csv",
                    "caption": "Complication rates by region",
                    "count_columns": ["n_treatments", "n_events"],
                    "latex": True,
                }
            ],
            "figures": [
                {
                    "path": "dose_risk.png",
                    "caption": "Posterior risk against relative dose per region.",
                    "alt": "Dose-risk curves with 95% credible bands per complication type and region",
                }
            ],
        },
        {
            "view": "clinic",
            "title": "Injectors and clinics",
            "text": f"Shrunken rates: small volumes are pulled towards the average. {flag} is the probability that "
            f"the rate exceeds {m:g} times the benchmark standardised to the provider's region mix "
            "(benchmark_published_share says how much of that benchmark is a published rate rather than a "
            f"practice assumption); p_above_{m:g}x_peers is the probability that it exceeds {m:g} times the rate "
            "the network's average clinic and injector would have on the same treatments. A provider is flagged "
            f"when either probability exceeds {config.flag_probability:g} (the benchmark only if fully "
            f"published); providers with fewer than {config.min_treatments_to_judge} treatments are shown but "
            "labelled too few to judge and never flagged.",
            "tables": [
                {
                    "path": "complication_rates_by_injector.csv",
                    "caption": "Injector complication rates",
                    "count_columns": ["n_treatments", "n_events"],
                    "latex": False,
                },
                {
                    "path": "complication_rates_by_clinic.csv",
                    "caption": "Clinic complication rates",
                    "count_columns": ["n_treatments", "n_events"],
                    "latex": False,
                },
            ],
            "figures": [
                {
                    "path": "funnel_injectors.png",
                    "caption": "Observed injector rates relative to the "
                    "benchmark against volume, with 95% and 99.8% limits.",
                    "alt": "Funnel plots of injector complication rates",
                }
            ]
            + caterpillars,
        },
        {
            "view": "research",
            "title": "Complication models: effects, diagnostics and checks",
            "text": "Odds ratios with 95% credible intervals, convergence diagnostics of every model, and posterior "
            "predictive checks of event counts per region and injector.",
            "tables": [
                {
                    "path": "complication_odds_ratios.csv",
                    "caption": "Odds ratios",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "complication_diagnostics.csv",
                    "caption": "Diagnostics gate",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "ppc_by_region.csv",
                    "caption": "Posterior predictive check by region",
                    "count_columns": ["n_treatments", "observed_events"],
                    "latex": False,
                },
            ],
            "figures": [
                {
                    "path": "ppc_regions.png",
                    "caption": "Observed vs replicated events per region.",
                    "alt": "Posterior predictive intervals and observed counts per region",
                },
                {
                    "path": "ppc_injectors.png",
                    "caption": "Observed vs replicated events per injector.",
                    "alt": "Posterior predictive intervals and observed counts per injector",
                },
            ],
        },
        {
            "view": "research",
            "title": "Priors and prior sensitivity",
            "text": "Every prior with its source, and the headline rates refitted with the alternative prior set.",
            "tables": [
                {
                    "path": "complication_priors.csv",
                    "caption": "Priors",
                    "count_columns": [],
                    "latex": False,
                }
            ]
            + (
                [
                    {
                        "path": "prior_sensitivity.csv",
                        "caption": "Prior sensitivity of headline rates",
                        "count_columns": ["n_treatments", "n_events"],
                        "latex": True,
                    }
                ]
                if "prior_sensitivity" in tables
                else []
            ),
            "figures": [],
        },
    ]
    return {
        "stage": "fit_complications",
        "title": "Complication rates",
        "methods": _methods(study, config, params),
        "sections": sections,
        "headlines": _headlines(tables, config),
    }
