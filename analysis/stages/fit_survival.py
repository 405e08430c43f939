"""Stage ``bonta fit-survival``: Turnbull curves, interval-censored AFT models, re-treatment Cox.

Reads ``episodes.parquet`` and params.yaml (``survival``, ``duration_model``, ``seed``,
``regions``); writes tidy tables (Parquet + CSV), figures and ``manifest.json`` to ``--out``
and ``reports/metrics/survival.json``. The science is :func:`analysis.survival.study.
run_survival_study`; what readers see is :mod:`analysis.survival.narrative`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis.config import load_params
from analysis.errors import InputValidationError, Problem
from analysis.io import write_json
from analysis.outputs import StageOutput
from analysis.survival import narrative
from analysis.survival.config import SurvivalStudyConfig
from analysis.survival.study import run_survival_study

HELP = "fit the survival models of effect duration and time to re-treatment"
DESCRIPTION = __doc__


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--episodes", default=Path("data/processed/episodes.parquet"), type=Path)
    parser.add_argument("--out", default=Path("data/results/survival"), type=Path)
    parser.add_argument(
        "--metrics",
        default=None,
        type=Path,
        help="metrics JSON (default: <out>/../metrics/survival.json)",
    )


def run(args: argparse.Namespace) -> int:
    cfg = SurvivalStudyConfig.from_params(load_params(args.params))
    if not args.episodes.exists():
        raise InputValidationError(
            [Problem(str(args.episodes), None, None, None, "file does not exist")]
        )
    episodes = pd.read_parquet(args.episodes)
    study = run_survival_study(episodes, cfg, source=args.episodes.name, log=_log)
    out = StageOutput(args.out, stage=narrative.STAGE, title=narrative.TITLE)
    narrative.write_cubes(episodes, out)
    narrative.write_study(study, cfg, out)
    write_json(study.metrics(), args.metrics or args.out.parent / "metrics" / "survival.json")
    out.write_manifest(narrative.methods_text(study, cfg))
    return 0


def _log(msg: str) -> None:
    print(f"[fit-survival] {msg}", file=sys.stderr, flush=True)
