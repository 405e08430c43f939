"""`bonta fit-advice`: fit the Bayesian duration model behind the interval advice."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from analysis.advice import narrative
from analysis.advice.config import AdviceStudyConfig
from analysis.advice.store import save_model
from analysis.advice.study import run_advice_study
from analysis.config import load_params
from analysis.io import write_json
from analysis.outputs import StageOutput
from analysis.progress import reporter

HELP = "fit the Bayesian duration model (frailty AFT) and write the advice table"
DESCRIPTION = """\
Fits a Bayesian interval-censored accelerated-failure-time model of effect duration with a
patient frailty, for each candidate family in params.yaml `advice.families` (log-normal,
Weibull, log-logistic) on a patient subsample, each held to the diagnostics gate (R-hat, ESS,
divergences); chooses the family by PSIS-LOO (or the stated `advice.default_family` when a
comparison fit failed the gate), refits it on all patients, gates it, validates the advice for
new patients (leave-one-patient-out by PSIS, beside the frequentist AFT in patient-grouped
folds), and writes:

  <models>/posterior.nc, <models>/spec.json   the stored model `bonta advise` reads
  <out>/advice_table.{csv,parquet}           region x dose x muscle bulk x exercise tier
  <out>/model_comparison.{csv,parquet}       LOO comparison, gate and Pareto k counts per family
  <out>/parameter_summary.{csv,parquet}      population parameters and time ratios
  <out>/cycle_effect.{csv,parquet}           the frailty model's time ratio per cycle doubling
  <out>/advice_validation.{csv,parquet}      new patients: C, Brier, log score, vs frequentist AFT
  <out>/advice_calibration.{csv,parquet}     calibration at the validation weeks, both models
  <out>/advice_validation.{csv,parquet}      new-patient C, Brier, log score vs the frequentist AFT
  <out>/advice_calibration.{csv,parquet}     calibration at 12, 16, 20 weeks, both models
  <out>/duration_by_dose.png, <out>/manifest.json, reports/metrics/advice.json
Progress: one line per fit on stderr.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--episodes", type=Path, default=Path("data/processed/episodes.parquet"))
    parser.add_argument("--out", type=Path, default=Path("data/results/advice"))
    parser.add_argument("--models", type=Path, default=Path("data/models/advice"))
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="metrics JSON (default: <out>/../metrics/advice.json)",
    )


def run(args: argparse.Namespace) -> int:
    cfg = AdviceStudyConfig.from_params(load_params(args.params))
    study = run_advice_study(pd.read_parquet(args.episodes), cfg, reporter("fit-advice"))
    meta = {"seed": cfg.seed, "sampler": dataclasses.asdict(cfg.advice.sampler)}
    save_model(study.fit, args.models, meta=meta)
    out = StageOutput(args.out, stage=narrative.STAGE, title=narrative.TITLE)
    narrative.write_study(study, cfg, out)
    write_json(study.metrics(), args.metrics or args.out.parent / "metrics" / "advice.json")
    out.write_manifest(narrative.methods_text(study, cfg))
    fit = study.fit
    seconds = {f: round(ff.seconds) for f, ff in fit.fits.items()}
    print(
        f"fit-advice: family {fit.family} ({fit.comparison['choice'].iloc[0]}; comparison fits "
        f"{seconds} s); final fit "
        f"{fit.n_episodes} episodes, {fit.n_patients} patients, "
        f"{fit.diagnostics['sampling_seconds']:.0f} s; outputs in {args.out} and {args.models}"
    )
    return 0
