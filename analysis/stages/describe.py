"""Stage ``describe``: the cohort at a glance, Table 1, quarterly trends and data quality."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis.figures.cohort import fig_episodes_by_region, fig_quarterly_trends
from analysis.figures.theme import save_figure, theme
from analysis.io import write_json, write_table
from analysis.params import load_params
from analysis.report.describe import (
    EPISODE_COLUMNS,
    DescribeConfig,
    check_columns,
    check_data_quality,
    describe_cohort,
    exclusion_sentence,
)
from analysis.report.manifest import ReportInputError

HELP = "Describe the cohort: at a glance, Table 1, quarterly trends, data quality."
DESCRIPTION = """\
Summarise the processed cohort (data/processed: episodes.parquet, data_quality.csv) into the
tables, figures and manifest the report assembles: the cohort at a glance, Table 1 of baseline
characteristics, quarterly trends (episodes, 30-day complication rate with Wilson intervals,
Kaplan-Meier median time to re-treatment) and the data-quality table. Reads params `report`
(and `data.cutoff_date`). Writes OUT/manifest.json and reports/metrics/cohort.json.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--processed",
        type=Path,
        default=Path("data/processed"),
        help="directory of the processed tables (default: data/processed)",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/cohort"))
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="metrics JSON (default: OUT/../metrics/cohort.json)",
    )


def _read_inputs(processed: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ep_file, dq_file = processed / "episodes.parquet", processed / "data_quality.csv"
    for f in (ep_file, dq_file):
        if not f.is_file():
            raise ReportInputError(f"{f} is missing: run `bonta prepare` (dvc stage prepare)")
    episodes = pd.read_parquet(ep_file)
    check_columns(episodes, EPISODE_COLUMNS, str(ep_file))
    dq = check_data_quality(pd.read_csv(dq_file), str(dq_file))
    return episodes, dq


def _methods(glance: pd.DataFrame, dq: pd.DataFrame, config: DescribeConfig) -> str:
    g = dict(zip(glance["measure"], glance["value"], strict=True))
    pct = round(100 * config.ci_level)
    return (
        f"The cohort comprised {g['n_patients']} patients and {g['n_episodes']} treatment "
        f"episodes (one region treated at one visit) at {g['n_clinics']} clinics by "
        f"{g['n_injectors']} injectors, treated between {g['first_treatment']} and "
        f"{g['last_treatment']} (data cut-off {g['data_cutoff']}). Input rows: "
        f"{exclusion_sentence(dq, config.min_count)} Table 1 is split by {config.table1_by}; "
        "patient characteristics use each patient's first episode. Complication rates are "
        f"30-day rates with Wilson {pct}% intervals; median times to re-treatment are "
        "Kaplan-Meier medians with right-censoring at the data cut-off and "
        f"{pct}% intervals from the Kaplan-Meier confidence band."
    )


def _headlines(glance: pd.DataFrame, outcomes: pd.DataFrame, ci_level: float) -> list[dict]:
    g = glance.set_index("measure")
    heads = [
        {
            "key": f"cohort_{m}",
            "label": str(g.loc[m, "label"]),
            "value": int(g.loc[m, "value"]),
            "unit": str(g.loc[m, "unit"]),
            "view": "clinic",
            "source": "cohort_at_glance.csv",
        }
        for m in ("n_patients", "n_episodes", "n_clinics", "n_regions")
    ]
    heads.append(
        {
            "key": "cohort_data_cutoff",
            "label": "Data cut-off",
            "value": str(g.loc["data_cutoff", "value"]),
            "unit": "date",
            "view": "clinic",
            "source": "cohort_at_glance.csv",
        }
    )
    o = outcomes.iloc[0]
    heads.append(
        {
            "key": "cohort_complication_rate_pct",
            "view": "clinic",
            "digits": 1,
            "label": "Any complication within 30 days",
            "unit": "% of episodes",
            "value": o["complication_rate_pct"],
            "lower": o["complication_rate_pct_lower"],
            "upper": o["complication_rate_pct_upper"],
            "source": "cohort_outcomes.csv",
            "interval_label": f"{round(100 * ci_level)}% Wilson interval",
        }
    )
    heads.append(
        {
            "key": "cohort_median_retreat_days",
            "view": "clinic",
            "digits": 0,
            "label": "Median time to re-treatment (Kaplan-Meier)",
            "unit": "days",
            "value": o["median_retreat_days"],
            "lower": o["median_retreat_lower"],
            "upper": o["median_retreat_upper"],
            "source": "cohort_outcomes.csv",
            "interval_label": f"{round(100 * ci_level)}% interval",
        }
    )
    return [h for h in heads if h["value"] is not None and not pd.isna(h["value"])]


def _manifest(glance, outcomes, dq, config, cutoff) -> dict:
    trend_counts = ["n_episodes", "n_patients", "n_complications", "n_retreated"]
    trend_derived = [
        "complication_rate",
        "complication_rate_lower",
        "complication_rate_upper",
        "median_retreat_days",
        "median_retreat_lower",
        "median_retreat_upper",
    ]
    pct = round(100 * config.ci_level)
    return {
        "stage": "describe",
        "title": "The cohort",
        "methods": _methods(glance, dq, config),
        "data_cutoff": cutoff.date().isoformat(),
        "data_quality": {
            "path": "data_quality.csv",
            "caption": "Rows in, kept and excluded",
            "count_columns": ["rows_in", "rows_kept", "rows_excluded"],
        },
        "sections": [
            {
                "view": "clinic",
                "title": "Cohort at a glance",
                "text": "Who was treated, where, and when. A treatment episode is one region "
                "treated at one visit.",
                "tables": [
                    {"path": "cohort_at_glance.csv", "caption": "Cohort at a glance"},
                    {
                        "path": "cohort_outcomes.csv",
                        "caption": f"30-day complications and time to re-treatment, with {pct}% "
                        "intervals",
                        "count_columns": ["n_episodes", "n_complications", "n_retreated"],
                        "derived_columns": [
                            "complication_rate_pct",
                            "complication_rate_pct_lower",
                            "complication_rate_pct_upper",
                        ],
                    },
                    {
                        "path": "episodes_by_region.csv",
                        "caption": "Episodes by region",
                        "count_columns": ["n_episodes", "n_patients", "n_complications"],
                    },
                ],
                "figures": [
                    {
                        "path": "episodes_by_region.png",
                        "caption": "Episodes by region",
                        "alt": "Horizontal bar chart of the number of treatment episodes in "
                        "each region",
                    }
                ],
            },
            {
                "view": "clinic",
                "title": "Trends by quarter",
                "text": "Recent quarters have had less time to return, so their re-treatment "
                "medians are censored (wide intervals or not reached yet).",
                "tables": [
                    {
                        "path": "quarterly_trends.csv",
                        "caption": "Quarterly trends",
                        "count_columns": trend_counts,
                        "derived_columns": trend_derived,
                    }
                ],
                "figures": [
                    {
                        "path": "quarterly_trends.png",
                        "caption": f"Episodes, 30-day complication rate ({pct}% Wilson "
                        "interval) and Kaplan-Meier median time to re-treatment "
                        f"({pct}% interval) by quarter of treatment",
                        "alt": "Three panels by quarter: episode counts, complication rate "
                        "with error bars, and median re-treatment interval with a band",
                    }
                ],
            },
            {
                "view": "research",
                "title": "Table 1: baseline characteristics",
                "text": f"By {config.table1_by}. Counts under {config.min_count} are shown as "
                f"<{config.min_count}.",
                "tables": [
                    {
                        "path": "table1.csv",
                        "caption": f"Baseline characteristics by {config.table1_by}",
                        "latex": True,
                    }
                ],
            },
        ],
        "headlines": _headlines(glance, outcomes, config.ci_level),
    }


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = DescribeConfig.from_params(params)
    episodes, dq = _read_inputs(args.processed)
    cohort = describe_cohort(episodes, dq, config)
    out: Path = args.out
    for name, table in cohort.tables().items():
        write_table(table, out / name)
    with theme():
        save_figure(
            fig_quarterly_trends(cohort.trends, config.ci_level), out / "quarterly_trends.png"
        )
        save_figure(fig_episodes_by_region(cohort.by_region), out / "episodes_by_region.png")
    manifest = _manifest(cohort.glance, cohort.outcomes, cohort.data_quality, config, cohort.cutoff)
    write_json(manifest, out / "manifest.json")
    metrics = args.metrics or out.parent / "metrics" / "cohort.json"
    write_json({h["key"]: h["value"] for h in manifest["headlines"]}, metrics)
    print(f"describe: {len(episodes)} episodes -> {out}")
    return 0
