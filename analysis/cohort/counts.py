"""What the disclosure layer needs to know about the cohort description's counts.

:func:`write_cohort_cubes` writes the cubes of fine counts (episodes, episodes with a 30-day
complication, re-treated episodes by region x quarter x sex; patients by sex; 30-day events by
type; episodes in the duration analysis by region; the Table 1 cross-tabulations), and the
``*_counts`` functions declare how every count column of the stage adds them up
(:mod:`analysis.disclosure.spec`). The cube names are shared with nothing else: cubes of the
same measure written by other stages (episodes by region x injector from the complication
models) are linked by the layer through their shared dims.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.cohort.describe import treatment_quarter
from analysis.cohort.table_one import LEVEL_LABELS, _first_episodes
from analysis.disclosure.cubes import grid_counts
from analysis.disclosure.spec import Count, TableSum
from analysis.outputs import StageOutput

EPISODES = "cohort.episodes"
COMPLICATED = "cohort.complicated"
RETREATED = "cohort.retreated"
PATIENTS = "cohort.patients"
BODY_FAT = "cohort.patients_body_fat"
EVENTS = "cohort.events"
DURATION = "cohort.duration_episodes"
#: dims of the three episode cubes
EPISODE_DIMS = ("region", "quarter", "sex")


def _levels(frame: pd.DataFrame, cols: Sequence[str]) -> dict[str, list[str]]:
    return {c: sorted(frame[c].dropna().astype(str).unique()) for c in cols}


def table1_cube_name(col: str) -> str:
    return f"cohort.table1_{col}"


def write_cohort_cubes(episodes: pd.DataFrame, by: str, out: StageOutput) -> None:
    """Write every cube the cohort's count declarations refer to (``by``: Table 1 split)."""
    ep = episodes.assign(quarter=treatment_quarter(episodes))
    levels = _levels(ep, EPISODE_DIMS)
    ep["_complicated"] = ep["c30_any"].astype(bool)
    ep["_retreated"] = ep["retreat_days"].notna() & ep["retreat_event"].fillna(False).astype(bool)
    out.cube(EPISODES, "episodes", grid_counts(ep, levels), EPISODE_DIMS)
    out.cube(
        COMPLICATED, "complicated_episodes", grid_counts(ep, levels, "_complicated"), EPISODE_DIMS
    )
    out.cube(RETREATED, "retreated_episodes", grid_counts(ep, levels, "_retreated"), EPISODE_DIMS)
    pts = _first_episodes(ep).assign(_fat=lambda f: f["body_fat_pct"].notna())
    out.cube(PATIENTS, "patients", grid_counts(pts, _levels(pts, ["sex"])), ("sex",))
    out.cube(
        BODY_FAT,
        "patients_with_body_fat",
        grid_counts(pts, _levels(pts, ["sex"]), "_fat"),
        ("sex",),
    )
    types = sorted(c.removeprefix("c30_") for c in ep.columns if c.startswith("c30_"))
    types = [t for t in types if t != "any"]
    if types:  # 30-day events by type x region (the data-quality complication rows bound them)
        events = pd.concat(
            [
                grid_counts(ep, _levels(ep, ["region"]), f"c30_{t}").assign(complication=t)
                for t in types
            ],
            ignore_index=True,
        )
        out.cube(EVENTS, "complication_events", events, ("complication", "region"))
    dur = ep.loc[ep["in_duration_analysis"].astype(bool)]
    out.cube(DURATION, "duration_episodes", grid_counts(dur, _levels(ep, ["region"])), ("region",))
    for col in _table1_columns(by):
        dims = (by, col)
        out.cube(table1_cube_name(col), "episodes", grid_counts(ep, _levels(ep, dims)), dims)


def _table1_columns(by: str) -> list[str]:
    """Episode-level characteristics of Table 1 with a cube of their own (region by sex is a
    margin of the episodes cube)."""
    return [c for c in LEVEL_LABELS if c not in ("sex", by) and not (c == "region")]


def glance_counts() -> tuple[Count, ...]:
    """``cohort_at_glance``: patients and episodes are totals; clinics and injectors are not
    counts of people."""
    return (
        Count("value", cube=PATIENTS, where={"measure": "n_patients"}),
        Count("value", cube=EPISODES, where={"measure": "n_episodes"}),
        Count("value", exempt=True),
    )


def outcome_counts() -> tuple[Count, ...]:
    """``cohort_outcomes``: totals of the episode cubes; ``n_patients`` (the clusters of the
    intervals) is the patients cube's total, as in ``cohort_at_glance``."""
    return (
        Count("n_episodes", cube=EPISODES),
        Count("n_patients", cube=PATIENTS),
        Count("n_complications", cube=COMPLICATED),
        Count("n_retreated", cube=RETREATED),
    )


def grouped_counts(key: str, retreated: bool) -> tuple[Count, ...]:
    """Counts of ``episodes_by_region`` (``key`` region) or ``quarterly_trends`` (quarter)."""
    out = [
        Count("n_episodes", cube=EPISODES, by={key: key}),
        Count("n_patients", family=f"patients_by_{key}", by={key: key}, at_most="n_episodes"),
        Count("n_complications", cube=COMPLICATED, by={key: key}),
    ]
    if retreated:
        out.append(Count("n_retreated", cube=RETREATED, by={key: key}))
    return tuple(out)


def data_quality_counts() -> tuple[tuple[Count, ...], tuple[TableSum, ...]]:
    """The data-quality table: kept rows are the cohort's totals; complication rows are at
    least the 30-day events; every other count is one unknown, and rows in = kept + excluded."""
    table = {"table": "table"}
    counts = (
        Count("rows_kept", cube=PATIENTS, where={"table": "patients"}),
        Count("rows_kept", cube=EPISODES, where={"table": "episodes"}),
        Count("rows_kept", cube=EPISODES, where={"table": "treatments"}, relation="ge"),
        Count("rows_kept", cube=EVENTS, where={"table": "complications"}, relation="ge"),
        Count("rows_kept", cube=DURATION, where={"table": "duration_analysis"}),
        Count("rows_in", cube=EPISODES, where={"table": "duration_analysis"}),
        Count("rows_in", family="dq_rows_in", by=table),
        Count("rows_kept", family="dq_rows_kept", by=table),
        Count("rows_excluded", family="dq_rows_excluded", by={**table, "reason": "reason"}),
    )
    return counts, (TableSum("rows_in", ("rows_kept", "rows_excluded"), ("table",)),)


def table1_counts(table1: pd.DataFrame, by: str) -> tuple[Count, ...]:
    """Every count cell of Table 1 (text ``n`` or ``n (p%)``) as a cube or own count."""
    groups = [c for c in table1.columns if c.startswith(f"{by}=")]
    out: list[Count] = []
    for column in [*groups, "Overall"]:
        fixed = {} if column == "Overall" else {by: column.split("=", 1)[1]}
        out += _table1_column(column, fixed, by)
    return tuple(out)


def _table1_column(column: str, fixed: dict[str, str], by: str) -> list[Count]:
    def count(char: str, **kw) -> Count:
        return Count(column, where={"characteristic": char}, text=True, **kw)

    patients = (
        {"cube": PATIENTS, "fixed": fixed}
        if by == "sex" or not fixed
        else {"family": "patients_by_region", "fixed": {"region": fixed["region"]}}
    )
    fat = (
        {"cube": BODY_FAT, "fixed": fixed}
        if by == "sex" or not fixed
        else {"family": "table1_body_fat_by_region", "fixed": fixed}
    )
    out = [
        count("Patients", **patients),
        count("Episodes", cube=EPISODES, fixed=fixed),
        count("Body fat recorded (patients)", **fat),
    ]
    for col, label in LEVEL_LABELS.items():
        if col == by:
            continue
        if col == "sex":  # patients of the region by sex (by == "region")
            if fixed:
                out.append(
                    count(label, family="table1_sex_by_region", by={"level": "sex"}, fixed=fixed)
                )
            else:
                out.append(count(label, cube=PATIENTS, by={"level": "sex"}))
        elif col == "region":
            out.append(count(label, cube=EPISODES, by={"level": "region"}, fixed=fixed))
        else:
            out.append(count(label, cube=table1_cube_name(col), by={"level": col}, fixed=fixed))
    out.append(Count(column, exempt=True))  # medians (IQR)
    return out
