"""Stage ``simulate``: write the demo cohort (clinic-format raw tables plus ``truth/``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.config import load_params
from analysis.simulator.cohort import FORMATS, simulate_cohort, write_cohort
from analysis.simulator.config import SimConfig

HELP = "simulate the demo cohort (raw clinic tables + known truth)"
DESCRIPTION = """\
Simulate a demo cohort of botulinum toxin A treatments with known truth.

Writes patients, treatments, assessments and complications in the clinic export format
(docs/ARCHITECTURE.md, "Raw tables") to OUT, and every latent quantity (latent durations,
frailties, injector and clinic complication effects, truth.json with every parameter used)
to OUT/truth/. The model and its sources are in docs/simulator.md and params.yaml `simulate:`.
The same params and seed give the same bytes.

Example:
  bonta simulate --params params.yaml --out data/raw/demo
  bonta simulate --params params.yaml --out /tmp/big --n-patients 250000 --format csv
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="parameter file (default: params.yaml)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--n-patients", type=int, default=None, help="override simulate.n_patients")
    parser.add_argument("--seed", type=int, default=None, help="override the top-level seed")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="raw table format (truth/ is always Parquet + JSON)",
    )


def run(args: argparse.Namespace) -> int:
    cfg = SimConfig.from_params(
        load_params(args.params), seed=args.seed, n_patients=args.n_patients
    )
    cohort = simulate_cohort(cfg, progress=sys.stderr.isatty())
    write_cohort(cohort, args.out, fmt=args.format)
    counts = ", ".join(
        f"{row.table} {row.rows:,}" for row in cohort.summary.itertuples() if row.kind == "raw"
    )
    print(f"simulate: wrote {counts} to {args.out}")
    return 0
