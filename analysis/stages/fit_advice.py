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
    study = run_advice_study(pd.read_parquet(args.episodes), cfg)
    meta = {"seed": cfg.seed, "sampler": dataclasses.asdict(cfg.advice.sampler)}
    save_model(study.fit, args.models, meta=meta)
    out = StageOutput(args.out, stage=narrative.STAGE, title=narrative.TITLE)
    narrative.write_study(study, cfg, out)
    write_json(study.metrics(), args.metrics or args.out.parent / "metrics" / "advice.json")
    out.write_manifest(narrative.methods_text(study, cfg))
    fit = study.fit
    seconds = {f: round(ff.seconds) for f, ff in fit.fits.items()}
    print(
        f"fit-advice: family {fit.family} chosen by LOO (comparison fits {seconds} s); final fit "
        f"{fit.n_episodes} episodes, {fit.n_patients} patients, "
        f"{fit.diagnostics['sampling_seconds']:.0f} s; outputs in {args.out} and {args.models}"
    )
    return 0
