"""Stage ``prepare``: validate, pseudonymise and derive a clinic export (or the demo cohort)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.config import load_params
from analysis.data.prepare import prepare, write_metrics, write_prepared, write_staff_codes
from analysis.data.prepare_config import DataConfig, PrepareConfig
from analysis.data.pseudonym import load_key

HELP = "Validate, pseudonymise and derive episode endpoints from a clinic export."
DESCRIPTION = """\
Read patients, treatments, assessments and complications (.csv, .parquet or .xlsx) from
--input, translate a clinic's own column names and labels with the mapping file (--mapping,
default INPUT/mapping.yaml if present), validate everything (types, ranges, codes, dates,
identifiers, references), replace identifiers by keyed pseudonyms (key from
BONTA_PSEUDONYM_KEY or .secrets/pseudonym.key) and derive per-episode doses, duration
intervals, re-treatment times and 30-day complication flags. A treatment of a region within
prepare.touchup_window_days of the patient's previous treatment of that region is a touch-up
of that episode (its units join the episode's total dose; it starts no episode), unless the
optional treatments column is_touchup says otherwise; disagreements are counted in
data_quality.csv (table touchup_flags) and announced here.

On any problem the command lists them all (file, row, column, value, rule), exits non-zero
and writes nothing. On success it replaces OUT (episodes, patients, treatments, assessments,
complications as Parquet; data_quality.csv; study_period.json with the data cut-off; every
table checked against its schema in analysis/data/processed.py), writes --metrics (rows
in/kept/excluded) and the private clinic/injector code lookup PRIVATE/staff_codes.csv
(git-ignored).
Reads params: data, prepare, regions, products, complication_types.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--input", type=Path, default=None, help="export directory (default: params data.input_dir)"
    )
    parser.add_argument("--out", type=Path, default=Path("data/processed"))
    parser.add_argument(
        "--mapping",
        type=Path,
        default=None,
        help="mapping YAML (default: params data.mapping, else INPUT/mapping.yaml)",
    )
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="write data-quality metrics JSON here (the pipeline: reports/data_quality.json)",
    )
    parser.add_argument(
        "--private",
        type=Path,
        default=None,
        help="directory of the private staff-code lookup, never under reports/ "
        "(the pipeline: data/private)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    data, cfg = DataConfig.from_params(params), PrepareConfig.from_params(params)
    input_dir = args.input or Path(data.input_dir)
    mapping = args.mapping or (Path(data.mapping) if data.mapping else None)
    prepared = prepare(
        input_dir, cfg, key=load_key(), mapping_path=mapping, progress=sys.stderr.isatty()
    )
    write_prepared(prepared, args.out, cfg.vocabulary)
    if args.metrics is not None:
        write_metrics(prepared, args.metrics)
    if args.private is not None:
        write_staff_codes(prepared, args.private)
    dq = prepared.data_quality
    kept = dq[dq["table"] == "episodes"]["rows_kept"].iloc[0]
    in_dur = dq[dq["table"] == "duration_analysis"]["rows_kept"].iloc[0]
    print(
        f"prepare: {kept} episodes ({in_dur} in the duration analysis) -> {args.out}",
        file=sys.stderr,
    )
    disagree = int(dq.loc[dq["table"] == "touchup_flags", "rows_excluded"].sum())
    if disagree:
        print(
            f"prepare: WARNING {disagree} is_touchup mark(s) disagree with the touch-up window "
            f"(prepare.touchup_window_days = {cfg.touchup_window_days}); the marks were used: "
            "see the touchup_flags rows of data_quality.csv",
            file=sys.stderr,
        )
    return 0
