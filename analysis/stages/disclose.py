"""Stage ``disclose``: the only writer of ``reports/<stage>/`` (the disclosure layer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.config import load_params
from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.release import release
from analysis.io import write_json
from analysis.report.config import ReportConfig

HELP = "release the stages' tables and figures to reports/ with small counts protected"
DESCRIPTION = """\
Read the analyst copy of every stage in params `report.stages` (RESULTS/<stage>/: tables, figures,
cubes of fine counts, manifest.json), suppress counts from 1 to `disclosure.min_count` - 1
(primary), add complementary suppressions until a linear-programming audit shows that no
suppressed count can be narrowed to an interval shorter than `disclosure.protection_width` from
everything released (margins, totals, injector-in-clinic membership, rates times denominators,
the data-quality totals), redraw the figures of counts from the suppressed tables, and write
OUT/<stage>/ (tables, figures, manifest.json) and the audit (OUT/cohort/disclosure_audit.csv,
--metrics). Nothing is released if a count cannot be protected.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("data/results"),
        help="directory of the stages' analyst copies (default: data/results)",
    )
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="audit metrics JSON (default: OUT/metrics/disclosure.json)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = DisclosureConfig.from_params(params)
    stages = list(ReportConfig.from_params(params).stages)
    done = release(args.results, args.out, stages, config)
    write_json(done.metrics, args.metrics or args.out / "metrics" / "disclosure.json")
    m = done.metrics
    print(
        f"disclose: {m['count_cells']} count cells, {m['primary_suppressed']} primary and "
        f"{m['secondary_suppressed']} secondary suppressions, narrowest interval "
        f"{m['min_feasible_width']:g} -> {args.out}",
        file=sys.stderr,
    )
    return 0
