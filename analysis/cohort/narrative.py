"""What the report shows of the cohort description: sections, captions, headlines, methods.

:func:`record_cohort` writes every table and figure of a :class:`CohortDescription` through the
stage's :class:`~analysis.outputs.StageOutput` (so each output is named once, where it is
written) with the sentences a reader needs; :func:`cohort_methods` is the methods paragraph.
"""

from __future__ import annotations

import pandas as pd

from analysis.cohort.counts import (
    data_quality_counts,
    glance_counts,
    grouped_counts,
    outcome_counts,
    table1_counts,
)
from analysis.cohort.describe import CohortDescription, DescribeConfig
from analysis.figures import cohort as cohort_figures
from analysis.figures.theme import theme
from analysis.manifest import Headline, TableRef
from analysis.outputs import StageOutput

STAGE = "describe"
TITLE = "The cohort"
TREND_DERIVED = (
    "complication_rate",
    "complication_rate_lower",
    "complication_rate_upper",
    "complication_rate_deff",
    "retreated_pct",
    "median_retreat_days",
    "median_retreat_lower",
    "median_retreat_upper",
)


def cohort_methods(cohort: CohortDescription, config: DescribeConfig) -> str:
    """The methods paragraph: who is in the cohort, what was excluded, how intervals are made.

    It repeats no count: counts are in the tables, where the disclosure layer protects them (a
    total may have to be withheld in a small cohort)."""
    g = dict(zip(cohort.glance["measure"], cohort.glance["value"], strict=True))
    pct = config.ci_percent
    return (
        "The cohort's patients, treatment episodes (one region treated at one visit), clinics "
        "and injectors are counted in 'Cohort at a glance'; they were treated between "
        f"{g['first_treatment']} and {g['last_treatment']} (data cut-off "
        f"{g['data_cutoff']}). Input rows read, kept and "
        "excluded, with the reasons, are in the data-quality table. Table 1 is split by "
        f"{config.table1_by}; patient characteristics use each patient's first episode. "
        f"Complication rates are 30-day rates per episode with {pct}% Wilson intervals at the "
        "effective sample size (episodes divided by the design effect of the patient-clustered "
        "ratio-estimator variance, not below 1; Korn and Graubard 1998), because a patient's "
        "episodes are correlated; median times to re-treatment are Kaplan-Meier medians with "
        f"right-censoring at the data cut-off and {pct}% percentile intervals from "
        f"{config.bootstrap_replicates} patient-bootstrap replicates (patients resampled with "
        "all their episodes; seeded). Table 1 shows counts and percentages without intervals."
    )


def cohort_headlines(
    cohort: CohortDescription, config: DescribeConfig, glance: TableRef, outcomes: TableRef
) -> list[Headline]:
    """Headline numbers: cohort size and cut-off (from ``glance``) and the two outcomes.

    A headline whose value is missing (e.g. a median not reached) is left out.
    """
    g = cohort.glance.set_index("measure")
    heads = [
        Headline(
            key=f"cohort_{m}",
            label=str(g.loc[m, "label"]),
            value=int(g.loc[m, "value"]),
            unit=str(g.loc[m, "unit"]),
            view="clinic",
            source=glance.path,
        )
        for m in ("n_patients", "n_episodes", "n_clinics", "n_regions")
    ]
    heads.append(
        Headline(
            key="cohort_data_cutoff",
            label="Data cut-off",
            value=str(g.loc["data_cutoff", "value"]),
            unit="date",
            view="clinic",
            source=glance.path,
        )
    )
    o = cohort.outcomes.iloc[0]
    heads.append(
        Headline(
            key="cohort_complication_rate_pct",
            label="Any complication within 30 days",
            value=o["complication_rate_pct"],
            lower=o["complication_rate_pct_lower"],
            upper=o["complication_rate_pct_upper"],
            unit="% of episodes",
            view="clinic",
            source=outcomes.path,
            digits=1,
            interval_label=f"{config.ci_percent}% patient-clustered Wilson interval",
        )
    )
    heads.append(
        Headline(
            key="cohort_median_retreat_days",
            label="Median time to re-treatment (Kaplan-Meier)",
            value=o["median_retreat_days"],
            lower=o["median_retreat_lower"],
            upper=o["median_retreat_upper"],
            unit="days",
            view="clinic",
            source=outcomes.path,
            digits=0,
            interval_label=f"{config.ci_percent}% patient-bootstrap interval",
        )
    )
    return [h for h in heads if h.value is not None and not pd.isna(h.value)]


def _record_glance(cohort: CohortDescription, config: DescribeConfig, out: StageOutput) -> None:
    sec = out.section(
        "clinic",
        "Cohort at a glance",
        "Who was treated, where, and when. A treatment episode is one region treated at one visit.",
    )
    glance = sec.table(
        cohort.glance, "cohort_at_glance", "Cohort at a glance", counts=glance_counts()
    )
    outcomes = sec.table(
        cohort.outcomes,
        "cohort_outcomes",
        f"30-day complications and time to re-treatment, with {config.ci_percent}% intervals",
        counts=outcome_counts(),
        derived_columns=(
            "complication_rate_pct",
            "complication_rate_pct_lower",
            "complication_rate_pct_upper",
            "complication_rate_deff",
            "median_retreat_days",
            "median_retreat_lower",
            "median_retreat_upper",
        ),
    )
    sec.table(
        cohort.by_region,
        "episodes_by_region",
        "Episodes by region",
        counts=grouped_counts("region", retreated=False),
    )
    sec.figure_from(
        "episodes_by_region",
        "Episodes by region",
        "Horizontal bar chart of the number of treatment episodes in each region",
        cohort_figures.fig_episodes_by_region,
        {"by_region": "episodes_by_region"},
    )
    for head in cohort_headlines(cohort, config, glance, outcomes):
        out.headline(head)


def _record_trends(cohort: CohortDescription, config: DescribeConfig, out: StageOutput) -> None:
    pct = config.ci_percent
    sec = out.section(
        "clinic",
        "Trends by quarter",
        "Recent quarters have had less time to return, so their re-treatment medians are "
        "censored (wide intervals or not reached yet).",
    )
    sec.table(
        cohort.trends,
        "quarterly_trends",
        "Quarterly trends",
        counts=grouped_counts("quarter", retreated=True),
        derived_columns=TREND_DERIVED,
    )
    sec.figure_from(
        "quarterly_trends",
        f"Episodes, 30-day complication rate ({pct}% patient-clustered Wilson interval) and "
        f"Kaplan-Meier median time to re-treatment ({pct}% patient-bootstrap interval) by "
        "quarter of treatment",
        "Three panels by quarter: episode counts, complication rate with error bars, and "
        "median re-treatment interval with a band",
        cohort_figures.fig_quarterly_trends,
        {"trends": "quarterly_trends"},
        ci_level=config.ci_level,
    )


def record_cohort(cohort: CohortDescription, config: DescribeConfig, out: StageOutput) -> TableRef:
    """Write every table and figure of ``cohort`` through ``out`` with its manifest entries.

    Figures are drawn and saved inside :func:`analysis.figures.theme.theme`.

    Returns
    -------
    TableRef
        The data-quality table (written, not shown in a section): the manifest's
        ``data_quality`` entry.
    """
    with theme():
        _record_glance(cohort, config, out)
        _record_trends(cohort, config, out)
    by = config.table1_by
    sec = out.section(
        "research",
        "Table 1: baseline characteristics",
        f"By {by}. Counts under {config.min_count}, and counts that would let one be worked "
        "out, are shown as suppressed; the percentages of a column with a suppressed count "
        "are withheld.",
    )
    sec.table(
        cohort.table1,
        "table1",
        f"Baseline characteristics by {by}",
        counts=table1_counts(cohort.table1, by),
        latex=True,
    )
    counts, sums = data_quality_counts()
    return TableRef(
        path=out.table(cohort.data_quality, "data_quality", counts=counts, sums=sums),
        caption="Rows in, kept and excluded",
        count_columns=("rows_in", "rows_kept", "rows_excluded"),
    )
