"""`bonta advise`: re-treatment interval advice from the stored duration model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from analysis.advice.config import AdviceConfig
from analysis.advice.requests import (
    advise_batch,
    advise_quietly,
    history_from_frame,
    read_table_file,
    request_from_flags,
    requests_from_frame,
)
from analysis.advice.store import load_draws
from analysis.config import load_params
from analysis.errors import AdviceInputError
from analysis.io import write_csv

HELP = "advise when a patient's effect will wear off and when to book (intervals, not units)"
DESCRIPTION = """\
Predicts when a treatment's effect will wear off and recommends a booking window, from the
model stored by `bonta fit-advice` (no refit). The tool advises re-treatment INTERVALS, not
units: dose guidance is out of scope.

Single patient:
  bonta advise --region glabella --product ona --units 20 --muscle-bulk 2 \\
      --exercise 12 --sex F --age 45 [--date 2026-11-24] [--json] \\
      [--past region=glabella,product=ona,units=20,date=2026-06-01,lower=90,upper=118] ...
  --past outcome keys: wearoff=DAY | lower=DAY,upper=DAY | still_effect=DAY |
                       visits=DAY:SEV;DAY:SEV,baseline=SEV
Batch:
  bonta advise --batch upcoming.csv --out advice.csv [--history past.csv]
  (columns are described in analysis/advice/requests.py; a progress bar shows on stderr)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", type=Path, default=Path("data/models/advice"))
    parser.add_argument("--region")
    parser.add_argument("--product")
    parser.add_argument("--units", type=float)
    parser.add_argument(
        "--muscle-bulk", type=float, help="1 slight, 2 average, 3 strong, 4 hypertrophic"
    )
    parser.add_argument("--exercise", type=float, help="exercise load, MET-hours per week")
    parser.add_argument("--sex", choices=["F", "M"])
    parser.add_argument("--age", type=float, help="age in years")
    parser.add_argument(
        "--severity", type=float, default=2.0, help="baseline severity 1-3 (default 2)"
    )
    parser.add_argument(
        "--cycle",
        type=int,
        default=None,
        help="treatment cycle in the region (default: from --past)",
    )
    parser.add_argument("--date", default=None, help="treatment date YYYY-MM-DD (booking dates)")
    parser.add_argument("--past", action="append", default=[], help="a past episode (repeatable)")
    parser.add_argument(
        "--history", type=Path, default=None, help="CSV of past episodes (patient_ref column)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--batch", type=Path, default=None, help="CSV of upcoming treatments")
    parser.add_argument("--out", type=Path, default=None, help="batch output CSV")


def run(args: argparse.Namespace) -> int:
    if args.batch:
        return run_batch(args)
    request = request_from_flags(vars(args))
    config = AdviceConfig.from_params(load_params(args.params))
    advice = advise_quietly(request, load_draws(args.models, config.advice_draws), config)
    if args.json:
        print(json.dumps(advice.to_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(advice.to_text())
    return 0


def run_batch(args: argparse.Namespace) -> int:
    if args.out is None:
        raise AdviceInputError("--batch needs --out FILE.csv")
    frame = read_table_file(args.batch)
    history = (
        history_from_frame(read_table_file(args.history), str(args.history)) if args.history else {}
    )
    requests = requests_from_frame(frame, history, str(args.batch))
    config = AdviceConfig.from_params(load_params(args.params))
    draws = load_draws(args.models, config.advice_draws)
    records = advise_batch(
        requests,
        draws,
        config,
        str(args.batch),
        progress=lambda r: tqdm(r, desc="advice", unit="patient", file=sys.stderr),
    )
    out = pd.concat([frame.reset_index(drop=True), records], axis=1)
    write_csv(out, args.out)
    print(f"advise: {len(out)} rows written to {args.out}", file=sys.stderr)
    return 0
