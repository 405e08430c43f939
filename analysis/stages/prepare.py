"""Stage ``prepare``: validate, pseudonymise and derive a clinic export (or the demo cohort)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.config import load_params
from analysis.data.prepare import prepare, write_metrics, write_prepared, write_staff_codes
from analysis.data.prepare_config import DataConfig, PrepareConfig
from analysis.data.pseudonym import load_key
from analysis.errors import InputValidationError

#: Default of ``--problems``: the full problem list of a failed run (git-ignored).
PROBLEM_LIST = Path("data/problems/prepare.csv")

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

On any problem the command lists the root causes (file, row, column, value, rule; problems
that are consequences of another are counted in it, not listed), exits non-zero and writes
nothing but, when the message does not show every problem, the full list to --problems
(outside the outputs; git-ignored). Values that may identify a person are never shown. The
data cut-off is params data.cutoff_date, else export_date of the export's mapping.yaml; a date
after it is a problem. On success (a stale --problems file is removed) it replaces OUT
(episodes, patients, treatments, assessments, complications as Parquet; data_quality.csv;
study_period.json with the data cut-off and its source; every table checked against its schema
in analysis/data/processed.py), writes --metrics (rows in/kept/excluded) and the private
clinic/injector code lookup PRIVATE/staff_codes.csv (git-ignored; every CSV the project
writes neutralises cells a spreadsheet would execute).
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
    parser.add_argument(
        "--problems",
        type=Path,
        default=PROBLEM_LIST,
        help="where a failed run writes its full problem list when the message shows only part "
        f"of it (default: {PROBLEM_LIST})",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    data, cfg = DataConfig.from_params(params), PrepareConfig.from_params(params)
    input_dir = args.input or Path(data.input_dir)
    mapping = args.mapping or (Path(data.mapping) if data.mapping else None)
    try:
        prepared = prepare(
            input_dir, cfg, key=load_key(), mapping_path=mapping, progress=sys.stderr.isatty()
        )
    except InputValidationError as exc:
        raise exc.with_full_list(args.problems) from None
    args.problems.unlink(missing_ok=True)  # a previous failure's list no longer applies
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
