"""Checks of the episode table and the covariate coding shared by the survival models.

Covariates are coded as in the simulator's truth (so estimates compare to it directly):
``sex_M``, ``muscle_bulk`` = bulk - 2, ``exercise_per_10_met_h`` = MET-h/week / 10,
``age_per_10_years`` = (age - 45) / 10, ``log2_cycle``, ``baseline_severity`` = severity - 2,
``product_<code>`` (ona reference), ``region_<code>`` (glabella reference), and dose as a linear
spline in ``log2_rel_dose`` with a knot at ``knot`` (twice the reference dose by default):
``dose_slope_below_knot[_<region>]`` = min(log2_rel_dose, knot) and
``dose_slope_above_knot`` = max(log2_rel_dose - knot, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import InputValidationError, Problem

REFERENCE_BULK = 2
REFERENCE_AGE_YEARS = 45.0
REFERENCE_SEVERITY = 2

DURATION_COLUMNS = ("patient_key", "dur_lower_days", "dur_upper_days", "in_duration_analysis")
COVARIATE_COLUMNS = (
    "region",
    "product",
    "log2_rel_dose",
    "muscle_bulk",
    "exercise_met_h_week",
    "sex",
    "age_years",
    "cycle",
    "baseline_severity",
)
#: covariates of every duration model except region, product and dose terms
CONTINUOUS_TERMS = (
    "sex_M",
    "muscle_bulk",
    "exercise_per_10_met_h",
    "age_per_10_years",
    "log2_cycle",
    "baseline_severity",
)
UNITS = {
    "sex_M": "men vs women",
    "muscle_bulk": "per bulk grade",
    "exercise_per_10_met_h": "per 10 MET-h/week",
    "age_per_10_years": "per 10 years of age",
    "log2_cycle": "per doubling of cycle number",
    "baseline_severity": "per severity grade",
    "dose_slope_above_knot": "per doubling of dose above twice the reference",
}


def check_columns(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    """Raise :class:`InputValidationError` naming every missing column of ``source``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputValidationError(
            [Problem(source, None, c, None, "required column is missing") for c in missing]
        )


def duration_frame(df: pd.DataFrame, source: str = "episodes.parquet") -> pd.DataFrame:
    """Episodes in the duration analysis, with interval bounds checked row by row.

    Rules: ``0 <= dur_lower_days <= dur_upper_days``; lower finite; upper finite or ``inf``;
    covariates present. Rows are numbered as in the input file (1-based).
    """
    check_columns(df, DURATION_COLUMNS + COVARIATE_COLUMNS, source)
    problems: list[Problem] = []
    lo = df["dur_lower_days"].to_numpy(float)
    up = df["dur_upper_days"].to_numpy(float)
    keep = df["in_duration_analysis"].to_numpy(bool)
    rules = [
        ("dur_lower_days", ~np.isfinite(lo) | (lo < 0), lo, "must be a finite number of days >= 0"),
        (
            "dur_upper_days",
            np.isnan(up) | (up < lo),
            up,
            "must be >= dur_lower_days (inf = right-censored)",
        ),
        ("dur_upper_days", np.isfinite(lo) & (up == 0), up, "an interval (0, 0] has no length"),
    ]
    for column, bad, values, rule in rules:
        for i in np.flatnonzero(bad & keep)[:50]:
            problems.append(Problem(source, int(i) + 1, column, f"{values[i]:g}", rule))
    for column in COVARIATE_COLUMNS:
        for i in np.flatnonzero(df[column].isna().to_numpy() & keep)[:20]:
            problems.append(
                Problem(
                    source,
                    int(i) + 1,
                    column,
                    "missing",
                    "covariate required for the duration models",
                )
            )
    if problems:
        raise InputValidationError(problems)
    out = df.loc[keep].reset_index(drop=True)
    if len(out) == 0:
        raise InputValidationError(
            [
                Problem(
                    source,
                    None,
                    "in_duration_analysis",
                    None,
                    "no episode is in the duration analysis",
                )
            ]
        )
    return out


@dataclass(frozen=True)
class DesignSpec:
    """Levels and dose coding of the AFT design matrix.

    ``region_slopes`` empty: one dose slope below the knot for all regions; otherwise one slope
    per region listed (all regions present).
    """

    regions: tuple[str, ...]
    products: tuple[str, ...]
    knot: float = 1.0
    region_slopes: bool = False

    @property
    def columns(self) -> list[str]:
        cols = [f"region_{r}" for r in self.regions[1:]] + [
            f"product_{p}" for p in self.products[1:]
        ]
        cols += list(CONTINUOUS_TERMS)
        if self.region_slopes:
            cols += [f"dose_slope_below_knot_{r}" for r in self.regions]
        else:
            cols += ["dose_slope_below_knot"]
        return cols + ["dose_slope_above_knot"]


def make_spec(
    df: pd.DataFrame,
    reference_region: str,
    reference_product: str,
    knot: float,
    region_slopes: bool = False,
) -> DesignSpec:
    """Levels present in ``df`` with the reference level first."""
    regions = sorted(df["region"].astype(str).unique())
    products = sorted(df["product"].astype(str).unique())
    for ref, levels in ((reference_region, regions), (reference_product, products)):
        if ref in levels:
            levels.remove(ref)
            levels.insert(0, ref)
    return DesignSpec(tuple(regions), tuple(products), float(knot), region_slopes)


def design_matrix(df: pd.DataFrame, spec: DesignSpec) -> pd.DataFrame:
    """Numeric covariates (no intercept) of the duration models, one row per episode."""
    region = df["region"].astype(str).to_numpy()
    product = df["product"].astype(str).to_numpy()
    x = np.asarray(df["log2_rel_dose"], float)
    below = np.minimum(x, spec.knot)
    cols: dict[str, np.ndarray] = {}
    for r in spec.regions[1:]:
        cols[f"region_{r}"] = (region == r).astype(float)
    for p in spec.products[1:]:
        cols[f"product_{p}"] = (product == p).astype(float)
    cols["sex_M"] = (df["sex"].astype(str).to_numpy() == "M").astype(float)
    cols["muscle_bulk"] = np.asarray(df["muscle_bulk"], float) - REFERENCE_BULK
    cols["exercise_per_10_met_h"] = np.asarray(df["exercise_met_h_week"], float) / 10.0
    cols["age_per_10_years"] = (np.asarray(df["age_years"], float) - REFERENCE_AGE_YEARS) / 10.0
    cols["log2_cycle"] = np.log2(np.asarray(df["cycle"], float))
    cols["baseline_severity"] = np.asarray(df["baseline_severity"], float) - REFERENCE_SEVERITY
    if spec.region_slopes:
        for r in spec.regions:
            cols[f"dose_slope_below_knot_{r}"] = np.where(region == r, below, 0.0)
    else:
        cols["dose_slope_below_knot"] = below
    cols["dose_slope_above_knot"] = np.maximum(x - spec.knot, 0.0)
    return pd.DataFrame(cols, index=df.index)[spec.columns]
