"""Outcomes per clinic for the director's pages, overall, per region and per quarter (stage
``describe``).

Each table gives, per group, the treatment episodes, the 30-day complication rate (any type,
patient-clustered Wilson interval), the share of episodes re-treated in the same region before
the data cut-off and the Kaplan-Meier median time to re-treatment (censored at the cut-off) with
its patient-bootstrap interval.
``network_outcomes_by_region`` gives the same per region over every clinic: the comparison the
clinic pages draw. ``clinic_outcomes_by_quarter`` gives each clinic's quarters of treatment:
episodes, the complication rate with its patient-clustered Wilson interval (as the network's
``quarterly_trends``, which the pages draw beside it) and the re-treated share.

The counts add up cubes of episodes, complicated episodes and re-treated episodes by clinic x
region x quarter (:func:`write_clinic_cubes`): every clinic table is a margin of one cube. The
disclosure layer links cubes of one measure pairwise through their shared dims, which is exact
when their dims form an acyclic hypergraph. With the cohort's region x quarter x sex cubes and
the complication models' region x clinic x injector cube they do: the pairwise intersections
are region x quarter, clinic x region and region, and region lies in clinic x region x quarter
(a join tree: cohort -- clinic -- complications). A separate clinic x quarter cube beside a
clinic x region one would instead close the cycle clinic -- region -- quarter -- clinic, where
pairwise-consistent margins need not come from any table of fine counts and the audit would
under-state what a reader can work out.

``complication_severity`` (by clinic and severity) and ``network_complication_severity`` (by
type and severity) give every recorded complication of the kept episodes (not only those within
30 days), the number with a resolution date and the median days from onset to resolution
among those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohort.describe import treatment_quarter
from analysis.cohort.intervals import clustered_rate, km_median_clustered
from analysis.data.processed import TABLE_FILES, read_processed
from analysis.data.schema import COMPLICATION_SEVERITIES
from analysis.disclosure.cubes import grid_counts
from analysis.disclosure.spec import Count
from analysis.outputs import StageOutput

EPISODES = "cohort.clinic_episodes"
COMPLICATED = "cohort.clinic_complicated"
RETREATED = "cohort.clinic_retreated"
#: one cube per measure for every clinic table (the module docstring says why not two)
DIMS = ("clinic", "region", "quarter")

#: columns computed from the counts of their row (withheld where a count is suppressed)
DERIVED = (
    "complication_rate_pct",
    "complication_rate_pct_lower",
    "complication_rate_pct_upper",
    "retreated_pct",
    "median_retreat_days",
    "median_retreat_lower",
    "median_retreat_upper",
)
#: stems of the tables written by :func:`record_clinic_outcomes`
TABLES = (
    "clinic_outcomes",
    "network_outcomes",
    "clinic_outcomes_by_region",
    "network_outcomes_by_region",
)
KEYS: tuple[tuple[str, ...], ...] = (("clinic",), (), ("clinic", "region"), ("region",))
QUARTERLY = "clinic_outcomes_by_quarter"
#: derived columns of :data:`QUARTERLY`
QUARTERLY_DERIVED = (
    "complication_rate_pct",
    "complication_rate_pct_lower",
    "complication_rate_pct_upper",
    "complication_rate_deff",
    "retreated_pct",
)
RECORDS = "cohort.complication_records"
RESOLVED = "cohort.resolved_records"
SEVERITY_DIMS = ("clinic", "complication", "severity")
#: per clinic by severity only: by type x severity most clinic cells are small, and each
#: suppressed cell costs the disclosure audit a linear programme
SEVERITY_TABLES = {
    "complication_severity": ("clinic", "severity"),
    "network_complication_severity": ("complication", "severity"),
}


def _retreated(episodes: pd.DataFrame) -> pd.Series:
    return episodes["retreat_days"].notna() & episodes["retreat_event"].fillna(False).astype(bool)


@dataclass(frozen=True)
class Intervals:
    """How the outcome tables' intervals are made: ``level``; the Kaplan-Meier medians'
    patient bootstrap (``replicates``, ``seed``: the describe stage's, as the network's
    median)."""

    level: float
    replicates: int
    seed: int


def _outcome_row(group: pd.DataFrame, intervals: Intervals) -> dict[str, float]:
    patient = group["patient_key"].to_numpy()
    rate = clustered_rate(group["c30_any"].to_numpy(dtype=bool), patient, intervals.level)
    valid = group["retreat_days"].notna().to_numpy()
    med, lo, hi = km_median_clustered(
        group.loc[valid, "retreat_days"].to_numpy(dtype=float),
        group.loc[valid, "retreat_event"].to_numpy(dtype=bool),
        patient[valid],
        intervals.level,
        intervals.replicates,
        intervals.seed,
    )
    n_retreated = int(_retreated(group).sum())
    return {
        "n_episodes": rate.n,
        "n_complications": rate.k,
        "complication_rate_pct": 100.0 * rate.rate,
        "complication_rate_pct_lower": 100.0 * rate.lower,
        "complication_rate_pct_upper": 100.0 * rate.upper,
        "n_retreated": n_retreated,
        "retreated_pct": 100.0 * n_retreated / rate.n,
        "median_retreat_days": med,
        "median_retreat_lower": lo,
        "median_retreat_upper": hi,
    }


def outcomes_by(episodes: pd.DataFrame, keys: Sequence[str], intervals: Intervals) -> pd.DataFrame:
    """Episodes, 30-day complications (rate in percent with its patient-clustered Wilson
    interval), re-treated episodes and the Kaplan-Meier median time to re-treatment with its
    patient-bootstrap interval, per combination of ``keys``: both intervals account for the
    repeated episodes of a patient, as the network's figures in the cohort view do.

    A median not reached (or an open interval) is NaN. Groups without episodes have no row.

    Examples
    --------
    >>> ep = pd.DataFrame({"clinic": ["a", "a", "b"], "c30_any": [True, False, False],
    ...                    "retreat_days": [100.0, 50.0, 30.0],
    ...                    "retreat_event": [True, False, True], "patient_key": ["p", "p", "q"]})
    >>> table = outcomes_by(ep, ["clinic"], Intervals(0.95, 100, 1))
    >>> table[["clinic", "n_episodes", "n_retreated"]].values.tolist()
    [['a', 2, 1], ['b', 1, 1]]
    """
    groups = episodes.groupby(list(keys), sort=True) if keys else [((), episodes)]
    rows = [
        {**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), **vals}
        for key, grp in groups
        for vals in [_outcome_row(grp, intervals)]
    ]
    out = pd.DataFrame(rows)
    medians = ["median_retreat_days", "median_retreat_lower", "median_retreat_upper"]
    out[medians] = out[medians].replace([np.inf, -np.inf], np.nan)
    return out


def quarterly_by_clinic(episodes: pd.DataFrame, ci_level: float) -> pd.DataFrame:
    """Per clinic and quarter of treatment (``2024Q3``): episodes, 30-day complications and
    their rate in percent with its patient-clustered Wilson interval
    (:func:`~analysis.cohort.intervals.clustered_rate`; ``complication_rate_deff`` is the
    design effect), re-treated episodes and their percentage.

    Quarters without an episode of the clinic have no row. Re-treatment is counted before the
    data cut-off, so recent quarters have had less time to return.

    Examples
    --------
    >>> ep = pd.DataFrame({"clinic": ["a", "a", "a"], "patient_key": ["p", "p", "q"],
    ...                    "treatment_date": ["2024-01-05", "2024-02-01", "2024-04-02"],
    ...                    "c30_any": [True, False, False], "retreat_days": [90.0, 80.0, 30.0],
    ...                    "retreat_event": [True, False, False]})
    >>> quarterly_by_clinic(ep, 0.95)[["quarter", "n_episodes", "retreated_pct"]].values.tolist()
    [['2024Q1', 2, 50.0], ['2024Q2', 1, 0.0]]
    """
    ep = episodes.assign(
        clinic=episodes["clinic"].astype(str),
        quarter=treatment_quarter(episodes),
        _retreated=_retreated(episodes),
    )
    rows = []
    for (clinic, quarter), grp in ep.groupby(["clinic", "quarter"], sort=True):
        rate = clustered_rate(
            grp["c30_any"].to_numpy(dtype=bool), grp["patient_key"].to_numpy(), ci_level
        )
        n_retreated = int(grp["_retreated"].sum())
        rows.append(
            {
                "clinic": clinic,
                "quarter": quarter,
                "n_episodes": rate.n,
                "n_complications": rate.k,
                "complication_rate_pct": 100.0 * rate.rate,
                "complication_rate_pct_lower": 100.0 * rate.lower,
                "complication_rate_pct_upper": 100.0 * rate.upper,
                "complication_rate_deff": rate.design_effect,
                "n_retreated": n_retreated,
                "retreated_pct": 100.0 * n_retreated / rate.n,
            }
        )
    return pd.DataFrame(rows)


def write_clinic_cubes(episodes: pd.DataFrame, out: StageOutput) -> None:
    """Episodes, episodes with a 30-day complication and re-treated episodes by clinic x
    region x quarter of treatment (zeros included)."""
    ep = episodes.assign(quarter=treatment_quarter(episodes))
    ep["_complicated"] = ep["c30_any"].astype(bool)
    ep["_retreated"] = _retreated(ep)
    levels = {d: sorted(ep[d].dropna().astype(str).unique()) for d in DIMS}
    out.cube(EPISODES, "episodes", grid_counts(ep, levels), DIMS)
    out.cube(COMPLICATED, "complicated_episodes", grid_counts(ep, levels, "_complicated"), DIMS)
    out.cube(RETREATED, "retreated_episodes", grid_counts(ep, levels, "_retreated"), DIMS)


def _counts(keys: Sequence[str]) -> tuple[Count, ...]:
    by = {k: k for k in keys}
    return (
        Count("n_episodes", cube=EPISODES, by=by, complete=bool(keys)),
        Count("n_complications", cube=COMPLICATED, by=by),
        Count("n_retreated", cube=RETREATED, by=by),
    )


def read_complications(processed: Path) -> pd.DataFrame | None:
    """The processed complications table of ``processed`` (checked against its schema), or
    None if the directory has none (a processed directory written without the prepare stage,
    e.g. by tests): the severity tables are then not written."""
    if not (Path(processed) / TABLE_FILES["complications"]).exists():
        return None
    return read_processed(Path(processed), "complications")


def complication_records(episodes: pd.DataFrame, complications: pd.DataFrame) -> pd.DataFrame:
    """Every recorded complication of a kept episode with its clinic, ``resolved`` (a
    resolution date is known) and ``resolution_days`` (onset to resolution)."""
    rows = complications.merge(
        episodes[["episode_key", "clinic"]], on="episode_key", how="inner", validate="m:1"
    )
    onset = pd.to_datetime(rows["onset_date"])
    resolved_on = pd.to_datetime(rows["resolution_date"])
    return pd.DataFrame(
        {
            "clinic": rows["clinic"].astype(str),
            "complication": rows["complication_type"].astype(str),
            "severity": rows["severity"].astype(str),
            "resolved": resolved_on.notna(),
            "resolution_days": (resolved_on - onset).dt.days.astype(float),
        }
    )


def severity_by(records: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Complications, resolved ones and the median days to resolution (resolved ones only)
    per combination of ``keys``, severities in the order mild, moderate, severe."""
    grouped = records.groupby(list(keys), sort=True)
    out = pd.DataFrame(
        {
            "n_complications": grouped.size(),
            "n_resolved": grouped["resolved"].sum().astype(int),
            "median_resolution_days": grouped["resolution_days"].median(),
        }
    ).reset_index()
    order = {s: k for k, s in enumerate(COMPLICATION_SEVERITIES)}
    out["_order"] = out["severity"].map(order)
    others = [k for k in keys if k != "severity"]
    return out.sort_values([*others, "_order"]).drop(columns="_order").reset_index(drop=True)


def record_clinic_outcomes(
    episodes: pd.DataFrame,
    complications: pd.DataFrame | None,
    intervals: Intervals,
    out: StageOutput,
) -> None:
    """Write the cubes and the outcome tables of the clinic pages (for download and the
    report's clinic pages; no section of their own). ``complications`` (the processed
    complications table) adds the severity tables."""
    write_clinic_cubes(episodes, out)
    ep = episodes
    for stem, keys in zip(TABLES, KEYS, strict=True):
        out.table(
            outcomes_by(ep, keys, intervals), stem, counts=_counts(keys), derived_columns=DERIVED
        )
    out.table(
        quarterly_by_clinic(ep, intervals.level),
        QUARTERLY,
        counts=_counts(("clinic", "quarter")),
        derived_columns=QUARTERLY_DERIVED,
    )
    if complications is None:
        return
    records = complication_records(episodes, complications)
    levels = {
        "clinic": sorted(episodes["clinic"].astype(str).unique()),
        "complication": sorted(records["complication"].unique()),
        "severity": list(COMPLICATION_SEVERITIES),
    }
    out.cube(RECORDS, "complication_records", grid_counts(records, levels), SEVERITY_DIMS)
    resolved = grid_counts(records, levels, "resolved")
    out.cube(RESOLVED, "resolved_records", resolved, SEVERITY_DIMS)
    for stem, keys in SEVERITY_TABLES.items():
        by = {k: k for k in keys}
        out.table(
            severity_by(records, keys),
            stem,
            counts=(
                Count("n_complications", cube=RECORDS, by=by, complete=True),
                Count("n_resolved", cube=RESOLVED, by=by),
            ),
            derived_columns=("median_resolution_days",),
        )
