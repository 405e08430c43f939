"""Cohort summaries: the cohort at a glance, Table 1, quarterly trends, outcomes, data quality.

Pure functions from the processed tables (``data/processed/``, docs/ARCHITECTURE.md) to tidy
DataFrames, gathered by :func:`describe_cohort`. Every rate carries a patient-clustered Wilson
interval and every median re-treatment interval a Kaplan-Meier median with a patient-bootstrap
interval (:mod:`analysis.cohort.intervals`: episodes of one patient are not independent).
Re-treatment is right-censored at the data cut-off, so a plain median of observed intervals
would be biased towards short intervals in recent quarters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohort.intervals import clustered_rate, km_median_clustered
from analysis.cohort.table_one import TABLE1_BY_CHOICES, table_one
from analysis.data.processed import read_processed
from analysis.errors import ConfigError, InputValidationError, Problem

DATA_QUALITY_COLUMNS: tuple[str, ...] = ("table", "rows_in", "rows_kept", "rows_excluded", "reason")


@dataclass(frozen=True)
class DescribeConfig:
    """What the cohort description needs from params.yaml (section ``report``, ``regions``).

    Attributes
    ----------
    min_count : smallest count shown; 1 .. min_count-1 become ``"<min_count"``.
    table1_by : column that splits Table 1 (``sex`` or ``region``).
    ci_level : level of every interval (clustered Wilson for rates, patient bootstrap for
        Kaplan-Meier medians).
    bootstrap_replicates : patient-bootstrap replicates of each Kaplan-Meier median.
    seed : seed of the bootstrap (params.yaml ``seed``).
    region_order : regions in the order params.yaml lists them.
    """

    min_count: int
    table1_by: str
    ci_level: float
    bootstrap_replicates: int
    seed: int
    region_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.table1_by not in TABLE1_BY_CHOICES:
            raise ConfigError(
                f"report.table1_by must be one of {TABLE1_BY_CHOICES}, got {self.table1_by!r}"
            )
        if not 0.5 < self.ci_level < 1:
            raise ConfigError(f"report.ci_level must lie in (0.5, 1), got {self.ci_level}")
        if int(self.min_count) < 1:
            raise ConfigError(f"report.min_count must be >= 1, got {self.min_count}")
        if int(self.bootstrap_replicates) < 100:
            raise ConfigError(
                f"report.bootstrap_replicates must be >= 100, got {self.bootstrap_replicates}"
            )

    @property
    def ci_percent(self) -> int:
        """The interval level in percent, e.g. 95."""
        return round(100 * self.ci_level)


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------
def check_columns(table: pd.DataFrame, required: Sequence[str], file: str) -> None:
    """Raise :class:`InputValidationError` naming every required column ``file`` lacks."""
    problems = [
        Problem(file=file, row=None, column=col, value=None, rule="required column is missing")
        for col in required
        if col not in table.columns
    ]
    if problems:
        raise InputValidationError(problems)


def check_data_quality(dq: pd.DataFrame, file: str = "data_quality.csv") -> pd.DataFrame:
    """Validate the data-quality table: ``rows_in = rows_kept + sum(rows_excluded)`` per table."""
    check_columns(dq, DATA_QUALITY_COLUMNS, file)
    problems = []
    for table, rows in dq.groupby("table", sort=True):
        rows_in = rows["rows_in"].iloc[0]
        rows_kept = rows["rows_kept"].iloc[0]
        excluded = int(rows["rows_excluded"].fillna(0).sum())
        if rows_in != rows_kept + excluded:
            problems.append(
                Problem(
                    file=file,
                    row=int(rows.index[0]) + 1,
                    column="rows_excluded",
                    value=str(excluded),
                    rule=f"table '{table}': rows_in ({rows_in}) must equal rows_kept ({rows_kept}) "
                    "plus the rows excluded over all reasons",
                )
            )
    if problems:
        raise InputValidationError(problems)
    return dq.reset_index(drop=True)


def read_cohort_inputs(processed: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``episodes.parquet`` and ``data_quality.csv`` of ``processed``, schema-checked.

    Raises
    ------
    InputValidationError
        If a file is missing or breaks its schema, or the data-quality counts do not add up.
    """
    episodes = read_processed(processed, "episodes")
    data_quality = read_processed(processed, "data_quality")
    return episodes, check_data_quality(data_quality, str(processed / "data_quality.csv"))


# ------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------
def cohort_at_glance(episodes: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per headline fact of the cohort.

    Returns
    -------
    pandas.DataFrame
        Columns ``measure`` (key), ``label``, ``value`` (number or ISO date as text), ``unit``.
    """
    dates = pd.to_datetime(episodes["treatment_date"])
    rows = [
        ("n_patients", "Patients", episodes["patient_key"].nunique(), "patients"),
        ("n_episodes", "Treatment episodes (region treatments)", len(episodes), "episodes"),
        ("n_clinics", "Clinics", episodes["clinic"].nunique(), "clinics"),
        ("n_injectors", "Injectors", episodes["injector"].nunique(), "injectors"),
        ("n_regions", "Regions treated", episodes["region"].nunique(), "regions"),
        ("first_treatment", "First treatment", dates.min().date().isoformat(), "date"),
        ("last_treatment", "Last treatment", dates.max().date().isoformat(), "date"),
        ("data_cutoff", "Data cut-off", cutoff.date().isoformat(), "date"),
    ]
    out = pd.DataFrame(rows, columns=["measure", "label", "value", "unit"])
    out["value"] = out["value"].astype(str)
    return out


def episodes_by_region(episodes: pd.DataFrame, region_order: Sequence[str] = ()) -> pd.DataFrame:
    """Episodes, patients and 30-day complications per region (raw counts)."""
    grouped = episodes.groupby("region", sort=True)
    out = pd.DataFrame(
        {
            "n_episodes": grouped.size(),
            "n_patients": grouped["patient_key"].nunique(),
            "n_complications": grouped["c30_any"].sum().astype(int),
        }
    ).reset_index()
    order = [r for r in region_order if r in set(out["region"])]
    order += sorted(set(out["region"]) - set(order))
    return out.set_index("region").loc[order].reset_index()


def _retreatment_median(episodes: pd.DataFrame, config: DescribeConfig) -> dict[str, float]:
    """Counts re-treated and the Kaplan-Meier median time to re-treatment, patient bootstrap."""
    valid = episodes["retreat_days"].notna()
    ep = episodes[valid]
    event = ep["retreat_event"].to_numpy(dtype=bool)
    med, lo, hi = km_median_clustered(
        ep["retreat_days"].to_numpy(dtype=float),
        event,
        ep["patient_key"].to_numpy(),
        config.ci_level,
        config.bootstrap_replicates,
        config.seed,
    )
    return {
        "n_retreated": int(event.sum()),
        "median_retreat_days": med,
        "median_retreat_lower": lo,
        "median_retreat_upper": hi,
    }


def _complication_rate(episodes: pd.DataFrame, config: DescribeConfig) -> dict[str, float]:
    """The 30-day complication rate with its patient-clustered Wilson interval."""
    r = clustered_rate(
        episodes["c30_any"].to_numpy(dtype=bool),
        episodes["patient_key"].to_numpy(),
        config.ci_level,
    )
    return {
        "complication_rate": r.rate,
        "complication_rate_lower": r.lower,
        "complication_rate_upper": r.upper,
        "complication_rate_deff": r.design_effect,
    }


def treatment_quarter(episodes: pd.DataFrame) -> np.ndarray:
    """The calendar quarter of each episode's treatment date as text (``2024Q3``)."""
    dates = pd.to_datetime(episodes["treatment_date"])
    return np.asarray(pd.PeriodIndex(dates, freq="Q").astype(str))


def quarterly_trends(episodes: pd.DataFrame, config: DescribeConfig) -> pd.DataFrame:
    """Episodes, 30-day complication rate, re-treated share and median re-treatment interval
    per quarter.

    The quarter is that of the treatment date (e.g. ``2024Q3``). Rates carry patient-clustered
    Wilson intervals (``complication_rate_deff`` is the design effect) and medians
    patient-bootstrap intervals. ``retreated_pct`` is the percentage of the quarter's episodes
    re-treated in the same region before the data cut-off. Re-treatment is right-censored at
    the cut-off, so recent quarters have a lower re-treated share, wide or open intervals and a
    median that may not be reached yet (NaN, shown as "not reached").
    """
    rows = [
        {
            "quarter": q,
            "n_episodes": len(grp),
            "n_patients": grp["patient_key"].nunique(),
            "n_complications": int(grp["c30_any"].astype(bool).sum()),
            **_complication_rate(grp, config),
            **_retreatment_median(grp, config),
        }
        for q, grp in episodes.groupby(treatment_quarter(episodes), sort=True)
    ]
    out = pd.DataFrame(rows)
    out.insert(
        out.columns.get_loc("n_retreated") + 1,
        "retreated_pct",
        100.0 * out["n_retreated"] / out["n_episodes"],
    )
    inf_cols = ["median_retreat_days", "median_retreat_lower", "median_retreat_upper"]
    out[inf_cols] = out[inf_cols].replace([np.inf, -np.inf], np.nan)
    return out


def overall_outcomes(episodes: pd.DataFrame, config: DescribeConfig) -> pd.DataFrame:
    """One row: overall 30-day complication rate and median re-treatment interval.

    Both intervals are patient-clustered (module docstring); ``complication_rate_deff`` is the
    design effect of the rate and ``n_patients`` the number of clusters.
    """
    n = len(episodes)
    rate = _complication_rate(episodes, config)
    row = {
        "n_episodes": n,
        "n_patients": int(episodes["patient_key"].nunique()),
        "n_complications": int(episodes["c30_any"].astype(bool).sum()),
        "complication_rate_pct": 100.0 * rate["complication_rate"],
        "complication_rate_pct_lower": 100.0 * rate["complication_rate_lower"],
        "complication_rate_pct_upper": 100.0 * rate["complication_rate_upper"],
        "complication_rate_deff": rate["complication_rate_deff"],
        **_retreatment_median(episodes, config),
    }
    return pd.DataFrame([row]).replace([np.inf, -np.inf], np.nan)


@dataclass(frozen=True)
class CohortDescription:
    """Every table of the cohort description; ``summary`` is the cohort at a glance."""

    cutoff: pd.Timestamp
    glance: pd.DataFrame
    outcomes: pd.DataFrame
    by_region: pd.DataFrame
    trends: pd.DataFrame
    table1: pd.DataFrame
    data_quality: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        return self.glance


def describe_cohort(
    episodes: pd.DataFrame,
    data_quality: pd.DataFrame,
    cutoff: pd.Timestamp,
    config: DescribeConfig,
) -> CohortDescription:
    """All cohort summaries of the processed episodes (see the module docstring).

    Parameters
    ----------
    episodes
        Processed episodes (one row per kept episode).
    data_quality
        Rows in, kept and excluded per input table and reason.
    cutoff
        The data cut-off (:func:`cohort_data_cutoff`).
    config
        Interval level, Table 1 split, small-count threshold, region order.
    """
    return CohortDescription(
        cutoff=cutoff,
        glance=cohort_at_glance(episodes, cutoff),
        outcomes=overall_outcomes(episodes, config),
        by_region=episodes_by_region(episodes, config.region_order),
        trends=quarterly_trends(episodes, config),
        # full counts: the disclosure layer suppresses (analysis/disclosure), so that it can
        # also withhold the complements a small count needs
        table1=table_one(episodes, config.table1_by, 1, config.region_order),
        data_quality=check_data_quality(data_quality),
    )
