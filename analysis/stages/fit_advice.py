"""`bonta fit-advice`: fit the Bayesian duration model behind the interval advice."""

from __future__ import annotations

import argparse
import importlib.metadata
from pathlib import Path

import pandas as pd

from analysis.advice.config import AdviceConfig
from analysis.advice.design import spec_from_params
from analysis.figures.advice import fig_duration_by_dose
from analysis.advice.fit import AdviceFit, fit_duration_models
from analysis.advice.predict import PosteriorDraws
from analysis.advice.store import save_model
from analysis.advice.table import advice_table, region_summary
from analysis.figures.theme import save_figure, theme
from analysis.io import write_json, write_table
from analysis.params import load_params

HELP = "fit the Bayesian duration model (frailty AFT) and write the advice table"
DESCRIPTION = """\
Fits a Bayesian interval-censored accelerated-failure-time model of effect duration with a
patient frailty, for each candidate family in params.yaml `advice.families` (log-normal,
Weibull, log-logistic), chooses the family by PSIS-LOO, refits it on all patients, applies the
diagnostics gate (R-hat, ESS, divergences), and writes:

  <models>/posterior.nc, <models>/spec.json   the stored model `bonta advise` reads
  <out>/advice_table.{csv,parquet}           region x dose x muscle bulk x exercise tier
  <out>/model_comparison.{csv,parquet}       LOO comparison of the families
  <out>/parameter_summary.{csv,parquet}      population parameters and time ratios
  <out>/duration_by_dose.png, <out>/manifest.json, reports/metrics/advice.json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--episodes", type=Path, default=Path("data/processed/episodes.parquet"))
    parser.add_argument("--out", type=Path, default=Path("reports/advice"))
    parser.add_argument("--models", type=Path, default=Path("data/models/advice"))
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="metrics JSON (default: <out>/../metrics/advice.json)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = AdviceConfig.from_params(params)
    seed = int(params["seed"])
    episodes = pd.read_parquet(args.episodes)
    spec = spec_from_params(params, config.dose_knot_log2)
    fit = fit_duration_models(episodes, spec, config, seed)
    save_model(fit, args.models, meta={"seed": seed, "sampler": dict(vars(config.sampler))})
    draws = PosteriorDraws.from_dataset(fit.posterior, fit.family, fit.spec, config.advice_draws)
    table = advice_table(draws, config)
    out = args.out
    write_table(table, out / "advice_table")
    write_table(fit.comparison, out / "model_comparison")
    write_table(fit.summary, out / "parameter_summary")
    with theme():
        save_figure(
            fig_duration_by_dose(table, config.label_min_interval_days),
            out / "duration_by_dose.png",
        )
    write_json(manifest(fit, table, config), out / "manifest.json")
    metrics_path = args.metrics or out.parent / "metrics" / "advice.json"
    write_json(metrics(fit, table), metrics_path)
    seconds = {f: round(ff.seconds) for f, ff in fit.fits.items()}
    print(
        f"fit-advice: family {fit.family} chosen by LOO (comparison fits {seconds} s); final fit "
        f"{fit.n_episodes} episodes, {fit.n_patients} patients, "
        f"{fit.diagnostics['sampling_seconds']:.0f} s; outputs in {out} and {args.models}"
    )
    return 0


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def methods_text(fit: AdviceFit, config: AdviceConfig) -> str:
    """Methods paragraph generated from what was run."""
    p, s, c = config.priors, config.sampler, config.compare_sampler
    return (
        f"Effect duration was modelled with a Bayesian accelerated-failure-time model for "
        f"interval-censored times (an interval contributes log(S(lower) - S(upper)), computed in "
        f"log space; right-censored episodes log S(lower); patient-reported dates the density), "
        f"with region intercepts, a linear spline in log2 relative dose (knot at "
        f"{config.dose_knot_log2:g}), sex, muscle bulk, exercise load, age, product, log2 cycle "
        f"and baseline severity, and a non-centred normal patient frailty. Priors: region "
        f"intercepts N(log {p.region_median_days:g}, {p.region_sd:g}), coefficients N(0, "
        f"{p.beta_sd:g}), residual scale HalfNormal({p.sigma_sd:g}), frailty SD "
        f"HalfNormal({p.tau_sd:g}). Families {', '.join(config.families)} were compared by "
        f"PSIS-LOO on {int(fit.comparison['n_episodes'].iloc[0])} episodes of a seeded patient "
        f"subsample ({c.chains} chains x {c.draws} draws); the best, {fit.family}, was refitted "
        f"on {fit.n_episodes} episodes of {fit.n_patients} patients with NUTS ({s.sampler}, "
        f"{s.chains} chains, {s.tune} tuning and {s.draws} kept draws each) and passed the "
        f"diagnostics gate (R-hat <= {config.gate.max_rhat}, bulk and tail ESS >= "
        f"{config.gate.min_ess_bulk:g}, {config.gate.max_divergences} divergences). Advice "
        f"integrates the frailty on a grid per posterior draw, weighting by the likelihood of "
        f"the patient's own history. Software: PyMC {_version('pymc')}, nutpie "
        f"{_version('nutpie')}, ArviZ {_version('arviz')}."
    )


def manifest(fit: AdviceFit, table: pd.DataFrame, config: AdviceConfig) -> dict:
    """The report manifest (docs/ARCHITECTURE.md): advice view and research view."""
    floor = config.label_min_interval_days
    headlines = []
    for r in region_summary(table).itertuples():
        headlines.append(
            {
                "key": f"advice_median_days_{r.region}",
                "label": f"{r.region} predicted median duration",
                "value": r.median_days,
                "lower": r.lower_days,
                "upper": r.upper_days,
                "unit": "days",
                "view": "advice",
                "source": "advice_table.csv",
            }
        )
    return {
        "stage": "fit_advice",
        "title": "Re-treatment interval advice",
        "methods": methods_text(fit, config),
        "sections": [
            {
                "view": "advice",
                "title": "When will the effect wear off, and when to book",
                "text": (
                    "Population advice for a reference patient "
                    f"({', '.join(f'{k} {v}' for k, v in config.table.reference.items())}) by "
                    "region, dose (multiple of the region's reference dose), muscle bulk and "
                    f"exercise tier: predicted median duration with its "
                    f"{int(100 * config.interval_mass)}% interval, and a booking window from when "
                    "half to when 80% of such patients have worn off, never before the label's "
                    f"{floor:.0f} days. The tool advises intervals, not units."
                ),
                "tables": [
                    {
                        "path": "advice_table.csv",
                        "caption": "Interval advice by region, "
                        "dose, muscle bulk and exercise tier (days since treatment).",
                        "count_columns": [],
                        "latex": False,
                    }
                ],
                "figures": [
                    {
                        "path": "duration_by_dose.png",
                        "caption": "Predicted duration by dose, average bulk, moderate exercise.",
                        "alt": "Predicted median duration and 80% interval against relative "
                        "dose, one line per region, with the 90-day label minimum.",
                    }
                ],
            },
            {
                "view": "research",
                "title": "Duration model: family comparison and diagnostics",
                "text": (
                    f"PSIS-LOO comparison of the AFT families (best first); the chosen family "
                    f"({fit.family}) passed the diagnostics gate: max R-hat "
                    f"{fit.diagnostics['max_rhat']:.3f}, min bulk ESS "
                    f"{fit.diagnostics['min_ess_bulk']:.0f}, {fit.diagnostics['divergences']} "
                    "divergences. Time ratios are exp(coefficient) with 95% credible intervals."
                ),
                "tables": [
                    {
                        "path": "model_comparison.csv",
                        "caption": "LOO comparison of AFT families.",
                        "count_columns": [],
                        "latex": True,
                    },
                    {
                        "path": "parameter_summary.csv",
                        "caption": "Population parameters.",
                        "count_columns": [],
                        "latex": True,
                    },
                ],
                "figures": [],
            },
        ],
        "headlines": headlines,
    }


def metrics(fit: AdviceFit, table: pd.DataFrame) -> dict:
    """Small metrics file for `dvc metrics show`."""
    d = fit.diagnostics
    return {
        "family": fit.family,
        "n_episodes": fit.n_episodes,
        "n_patients": fit.n_patients,
        "max_rhat": d["max_rhat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "min_ess_tail": d["min_ess_tail"],
        "divergences": d["divergences"],
        "elpd_loo": {r.family: r.elpd_loo for r in fit.comparison.itertuples()},
        "elpd_loo_episodes": int(fit.comparison["n_episodes"].iloc[0]),
        "tau_median": float(fit.summary.set_index("parameter").loc["tau", "median"]),
        "sigma_median": float(fit.summary.set_index("parameter").loc["sigma", "median"]),
        "share_floor_binds": float(table["floor_binds"].mean()),
    }
