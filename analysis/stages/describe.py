"""Stage ``describe``: cohort at a glance, Table 1, follow-up, quarterly trends, data quality."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from analysis.cohort.clinics import Intervals, read_complications, record_clinic_outcomes
from analysis.cohort.counts import write_cohort_cubes
from analysis.cohort.describe import DescribeConfig, describe_cohort, read_cohort_inputs
from analysis.cohort.follow_up import read_assessments, record_follow_up
from analysis.cohort.narrative import STAGE, TITLE, cohort_methods, record_cohort
from analysis.config import convert, load_params
from analysis.data.processed import read_data_cutoff
from analysis.disclosure.config import DisclosureConfig
from analysis.io import write_json
from analysis.outputs import StageOutput
from analysis.report.config import ReportConfig
from analysis.vocabulary import Vocabulary

HELP = "Describe the cohort: at a glance, Table 1, follow-up, quarterly trends, data quality."
DESCRIPTION = """\
Summarise the processed cohort (data/processed: episodes.parquet, data_quality.csv,
assessments.parquet) into the tables, figures and manifest the report assembles: the cohort at
a glance, Table 1 of baseline characteristics, follow-up (episodes per patient, days to the
last contact and to the cut-off, person-years), quarterly trends (episodes, 30-day
complication rate with patient-clustered Wilson intervals, Kaplan-Meier median time to
re-treatment with patient-bootstrap intervals) and the data-quality table. Reads params
`report`, `seed` and the vocabulary, and the data cut-off prepare wrote (study_period.json).
Writes OUT/manifest.json and OUT/../metrics/cohort.json (the analyst copy: `bonta disclose`
releases it).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--processed",
        type=Path,
        default=Path("data/processed"),
        help="directory of the processed tables (default: data/processed)",
    )
    parser.add_argument("--out", type=Path, default=Path("data/results/cohort"))
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="metrics JSON (default: OUT/../metrics/cohort.json)",
    )


def describe_config(params: dict[str, Any]) -> DescribeConfig:
    """The cohort description's settings: params ``report``, ``seed`` (patient bootstrap),
    ``disclosure.min_count`` (named in the texts) and the order of ``regions``."""
    report = ReportConfig.from_params(params)
    return DescribeConfig(
        min_count=DisclosureConfig.from_params(params).min_count,
        table1_by=report.table1_by,
        ci_level=report.ci_level,
        bootstrap_replicates=report.bootstrap_replicates,
        seed=convert(params.get("seed"), int, "seed"),
        region_order=tuple(Vocabulary.from_params(params).regions),
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = describe_config(params)
    episodes, data_quality = read_cohort_inputs(args.processed)
    cutoff = read_data_cutoff(args.processed)
    cohort = describe_cohort(episodes, data_quality, cutoff, config)
    out = StageOutput(args.out, stage=STAGE, title=TITLE)
    write_cohort_cubes(episodes, config.table1_by, out)
    data_quality_ref = record_cohort(cohort, config, out)
    intervals = Intervals(config.ci_level, config.bootstrap_replicates, config.seed)
    record_clinic_outcomes(episodes, read_complications(args.processed), intervals, out)
    left_out = record_follow_up(episodes, read_assessments(args.processed), cutoff, out)
    if left_out:
        print(f"describe: follow-up leaves out {left_out} assessments of episodes not kept")
    manifest = out.write_manifest(
        cohort_methods(cohort, config),
        data_cutoff=cutoff.date().isoformat(),
        data_quality=data_quality_ref,
    )
    metrics = args.metrics or args.out.parent / "metrics" / "cohort.json"
    write_json({h.key: h.value for h in manifest.headlines}, metrics)
    print(f"describe: {len(episodes)} episodes -> {args.out}")
    return 0
