"""Table 1 of baseline characteristics, split by sex or region with an Overall column.

Patient-level rows (age, sex, body fat) use each patient's first episode; episode-level rows
count treatments. Counts 1 .. min_count-1 are shown as ``"<min_count"`` and their percentage is
withheld (:mod:`analysis.disclosure`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.disclosure import format_count, format_count_percent
from analysis.errors import ConfigError

TABLE1_BY_CHOICES: tuple[str, ...] = ("sex", "region")
EXERCISE_TIERS: tuple[str, ...] = ("low", "moderate", "high")
#: Categorical characteristics, in the order Table 1 lists them, with their row label.
LEVEL_LABELS: dict[str, str] = {
    "sex": "Sex (patients)",
    "region": "Region (episodes)",
    "product": "Product (episodes)",
    "muscle_bulk": "Muscle bulk grade 1-4 (episodes)",
    "exercise_tier": "Exercise tier (episodes)",
    "baseline_severity": "Baseline severity FWS 0-3 (episodes)",
}


def _median_iqr(values: pd.Series, digits: int = 1) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "–"
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.{digits}f} ({q1:.{digits}f}–{q3:.{digits}f})"


def _first_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the earliest episode (ties broken by episode key, for stability)."""
    ordered = episodes.sort_values(["patient_key", "treatment_date", "episode_key"])
    return ordered.drop_duplicates("patient_key", keep="first")


def _ordered(present: list[str], order: Sequence[str]) -> list[str]:
    """``present`` in ``order`` first, then the others as they come."""
    return [v for v in order if v in present] + [v for v in present if v not in order]


def _table1_rows(ep: pd.DataFrame, min_count: int, levels: dict[str, list]) -> list[tuple]:
    """Rows (characteristic, level, statistic, cell) of Table 1 for one group of episodes."""
    pts = _first_episodes(ep)
    n_pat, n_ep = len(pts), len(ep)
    n_fat = int(pts["body_fat_pct"].notna().sum())
    rows = [
        ("Patients", "", "n", format_count(n_pat, min_count)),
        ("Episodes", "", "n", format_count(n_ep, min_count)),
        ("Age at first treatment (years)", "", "median (IQR)", _median_iqr(pts["age_years"])),
        ("Body fat (%)", "", "median (IQR)", _median_iqr(pts["body_fat_pct"])),
        (
            "Body fat recorded (patients)",
            "",
            "n (%)",
            format_count_percent(n_fat, n_pat, min_count),
        ),
        (
            "Episodes per patient",
            "",
            "median (IQR)",
            _median_iqr(ep.groupby("patient_key").size(), digits=0),
        ),
        (
            "Dose (onabotulinumtoxinA-equivalent units)",
            "",
            "median (IQR)",
            _median_iqr(ep["units_ona_eq"]),
        ),
        ("Dose relative to region reference", "", "median (IQR)", _median_iqr(ep["rel_dose"], 2)),
        ("Exercise (MET-h/week)", "", "median (IQR)", _median_iqr(ep["exercise_met_h_week"])),
        ("Treatment cycle in region", "", "median (IQR)", _median_iqr(ep["cycle"], 0)),
    ]
    for col, lvls in levels.items():
        source, total = (pts, n_pat) if col == "sex" else (ep, n_ep)
        counts = source[col].astype(str).value_counts()
        for lvl in lvls:
            cell = format_count_percent(int(counts.get(lvl, 0)), total, min_count)
            rows.append((LEVEL_LABELS[col], lvl, "n (%)", cell))
    return rows


def _levels(episodes: pd.DataFrame, by: str, region_order: Sequence[str]) -> dict[str, list]:
    """The levels of every categorical characteristic except the split column."""
    levels = {}
    for col in LEVEL_LABELS:
        if col == by:
            continue
        present = sorted(episodes[col].dropna().astype(str).unique())
        if col == "exercise_tier":
            present = _ordered(present, EXERCISE_TIERS)
        if col == "region" and region_order:
            present = _ordered(present, region_order)
        levels[col] = present
    return levels


def table_one(
    episodes: pd.DataFrame, by: str = "sex", min_count: int = 5, region_order: Sequence[str] = ()
) -> pd.DataFrame:
    """Table 1 of baseline characteristics, split by ``by`` with an Overall column.

    Parameters
    ----------
    episodes
        Processed episodes (``data/processed/episodes.parquet``).
    by
        Column that splits the table: ``sex`` or ``region``.
    min_count
        Smallest count shown; 1 .. min_count-1 become ``"<min_count"``.
    region_order
        Order of regions (params.yaml order); regions not listed follow alphabetically.

    Returns
    -------
    pandas.DataFrame
        ``characteristic, level, statistic`` then one text column per group and ``Overall``.
    """
    if by not in TABLE1_BY_CHOICES:
        raise ConfigError(f"Table 1 can be split by {TABLE1_BY_CHOICES}, not {by!r}")
    levels = _levels(episodes, by, region_order)
    groups = sorted(episodes[by].dropna().astype(str).unique())
    if by == "region" and region_order:
        groups = _ordered(groups, region_order)
    columns = {
        f"{by}={grp}": _table1_rows(episodes[episodes[by].astype(str) == grp], min_count, levels)
        for grp in groups
    }
    columns["Overall"] = _table1_rows(episodes, min_count, levels)
    first = next(iter(columns.values()))
    out = pd.DataFrame([r[:3] for r in first], columns=["characteristic", "level", "statistic"])
    for name, rows in columns.items():
        out[name] = [r[3] for r in rows]
    return out
