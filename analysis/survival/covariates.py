"""The one covariate specification of the duration models.

The frequentist AFT, the Cox model of re-treatment, their cross-validation and the Bayesian
advice model all code an episode's covariates here, under the names the simulator's truth
keys use (params.yaml ``simulate.duration``), so every estimate compares to the truth directly:

===============================  ============================================  ===============
term                             value                                         unit
===============================  ============================================  ===============
``sex_male``                     1 if sex is M                                 men vs women
``muscle_bulk_per_grade``        muscle_bulk - 2                               per bulk grade
``exercise_per_10_met_h``        exercise_met_h_week / 10                      per 10 MET-h/wk
``age_per_10_years``             (age_years - 45) / 10                         per 10 years
``log2_cycle``                   log2(cycle)                                   per doubling
``baseline_severity_per_grade``  baseline_severity - 2                         per grade
``touchup``                      1 if the episode had a touch-up               at equal total dose
``dose_slope_below_knot[_<r>]``  min(log2_rel_dose, knot)                      per doubling
``dose_slope_above_knot``        max(log2_rel_dose - knot, 0)                  per doubling
``product_<code>``               indicator (reference product: 0)
``region_<code>``                indicator (reference region: 0; AFT and Cox)
===============================  ============================================  ===============

The dose is a linear spline in ``log2_rel_dose`` with one knot (params.yaml
``duration_model.dose_knot_log2``: twice the reference dose), shared by both models.

``touchup`` (issue 14) is the episode's touch-up indicator. ``log2_rel_dose`` is the episode's
*total* dose (first injection plus touch-ups), so its time ratio reads "episodes with a touch-up
against episodes without, at the same total dose": what splitting a dose adds beyond the
units. The AFT and Cox designs carry it only when the data hold episodes of both kinds (a
constant column has no estimate); the advice model always does (its normal prior covers data
without touch-ups). A frame without a ``touchup`` column (a planned treatment, synthetic data
made before issue 14) has no touch-ups; ``episodes.parquet`` always has the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.config import parse_section
from analysis.errors import InputValidationError, Problem

#: Centring of the covariates (the reference profile: bulk 2, age 45, severity 2).
REFERENCE_BULK = 2
REFERENCE_AGE_YEARS = 45.0
REFERENCE_SEVERITY = 2
#: Scaling: exercise per 10 MET-h/week, age per 10 years.
EXERCISE_STEP_MET_H = 10.0
AGE_STEP_YEARS = 10.0

SEX_MALE = "sex_male"
MUSCLE_BULK = "muscle_bulk_per_grade"
EXERCISE = "exercise_per_10_met_h"
AGE = "age_per_10_years"
CYCLE = "log2_cycle"
SEVERITY = "baseline_severity_per_grade"
DOSE_BELOW_KNOT = "dose_slope_below_knot"
DOSE_ABOVE_KNOT = "dose_slope_above_knot"
TOUCHUP = "touchup"

#: Patient and episode covariates of every duration model, in design-matrix order.
PATIENT_TERMS: tuple[str, ...] = (SEX_MALE, MUSCLE_BULK, EXERCISE, AGE, CYCLE, SEVERITY)
#: Every fixed canonical name (the simulator's truth keys); region, product and per-region
#: dose terms are named by :func:`region_term`, :func:`product_term`, :func:`dose_below_term`.
CANONICAL_TERMS: tuple[str, ...] = (*PATIENT_TERMS, TOUCHUP, DOSE_BELOW_KNOT, DOSE_ABOVE_KNOT)
#: The episode column of the touch-up indicator (optional in a frame; see the module note).
TOUCHUP_COLUMN = "touchup"

#: Columns of an episode row that the duration models read.
COVARIATE_COLUMNS: tuple[str, ...] = (
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
DURATION_COLUMNS = ("patient_key", "dur_lower_days", "dur_upper_days", "in_duration_analysis")

LABELS: dict[str, str] = {
    SEX_MALE: "Men vs women",
    MUSCLE_BULK: "Muscle bulk, per grade",
    EXERCISE: "Exercise, per 10 MET-h/week",
    AGE: "Age, per 10 years",
    CYCLE: "Cycle number, per doubling",
    SEVERITY: "Baseline severity, per grade",
    TOUCHUP: "Touch-up vs none, at the same total dose",
}
UNITS: dict[str, str] = {
    SEX_MALE: "men vs women",
    MUSCLE_BULK: "per bulk grade",
    EXERCISE: "per 10 MET-h/week",
    AGE: "per 10 years of age",
    CYCLE: "per doubling of cycle number",
    SEVERITY: "per severity grade",
    TOUCHUP: "episodes with a touch-up vs without, at the same total dose",
}


@dataclass(frozen=True)
class DurationModelConfig:
    """params.yaml ``duration_model``: the choices both duration models share."""

    #: knot of the dose spline in log2(dose / reference dose); 1 = twice the reference dose
    dose_knot_log2: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DurationModelConfig:
        """Parse the ``duration_model`` section strictly."""
        return parse_section(params, "duration_model", cls)


def region_term(code: str) -> str:
    """Name of the indicator of region ``code``."""
    return f"region_{code}"


def product_term(code: str) -> str:
    """Name of the indicator of product ``code``."""
    return f"product_{code}"


def dose_below_term(region: str | None = None) -> str:
    """Name of the dose slope below the knot (common, or of one region)."""
    return DOSE_BELOW_KNOT if region is None else f"{DOSE_BELOW_KNOT}_{region}"


def _times_reference(knot: float, words: bool) -> str:
    if words and knot == 1.0:
        return "twice"
    return f"{2**knot:g}x"


def term_label(term: str, reference_region: str, reference_product: str, knot: float) -> str:
    """Reader-facing label of a model term, e.g. ``"Region: chin vs glabella"``."""
    times = _times_reference(knot, words=False)
    if term.startswith("region_"):
        return f"Region: {term[len('region_') :]} vs {reference_region}"
    if term.startswith("product_"):
        return f"Product: {term[len('product_') :]} vs {reference_product}"
    if term.startswith(DOSE_BELOW_KNOT + "_"):
        return f"Dose doubling (below {times} ref.), {term[len(DOSE_BELOW_KNOT) + 1 :]}"
    if term == DOSE_BELOW_KNOT:
        return f"Dose doubling (below {times} reference)"
    if term == DOSE_ABOVE_KNOT:
        return f"Dose doubling (above {times} reference)"
    return LABELS.get(term, term)


def term_unit(term: str, knot: float) -> str:
    """Unit of a model term's effect, e.g. ``"per 10 MET-h/week"``."""
    if term == DOSE_ABOVE_KNOT:
        return f"per doubling of dose above {_times_reference(knot, words=True)} the reference"
    if term in UNITS:
        return UNITS[term]
    return "per doubling of dose" if "dose" in term else "vs reference level"


# ------------------------------------------------------------------------------------------
# Covariate values
# ------------------------------------------------------------------------------------------
def patient_terms(
    df: pd.DataFrame,
    *,
    bulk_centre: float = REFERENCE_BULK,
    age_centre: float = REFERENCE_AGE_YEARS,
    severity_centre: float = REFERENCE_SEVERITY,
) -> dict[str, np.ndarray]:
    """The :data:`PATIENT_TERMS` of episode rows (centring: a stored model passes its own)."""
    return {
        SEX_MALE: (df["sex"].astype(str).to_numpy() == "M").astype(float),
        MUSCLE_BULK: np.asarray(df["muscle_bulk"], float) - bulk_centre,
        EXERCISE: np.asarray(df["exercise_met_h_week"], float) / EXERCISE_STEP_MET_H,
        AGE: (np.asarray(df["age_years"], float) - age_centre) / AGE_STEP_YEARS,
        CYCLE: np.log2(np.maximum(np.asarray(df["cycle"], float), 1.0)),
        SEVERITY: np.asarray(df["baseline_severity"], float) - severity_centre,
    }


def touchup_indicator(df: pd.DataFrame) -> np.ndarray:
    """1.0 for episodes with a touch-up, else 0.0; all 0.0 if ``df`` has no ``touchup`` column."""
    if TOUCHUP_COLUMN not in df.columns:
        return np.zeros(len(df))
    return np.asarray(df[TOUCHUP_COLUMN], dtype=bool).astype(float)


def has_touchup_contrast(df: pd.DataFrame) -> bool:
    """Whether ``df`` holds episodes with and without a touch-up (the term is estimable)."""
    x = touchup_indicator(df)
    return bool(x.size) and 0.0 < float(x.mean()) < 1.0


def dose_spline(log2_rel_dose: Any, knot: float) -> tuple[np.ndarray, np.ndarray]:
    """``(min(x, knot), max(x - knot, 0))`` of ``x = log2(dose / reference dose)``."""
    x = np.asarray(log2_rel_dose, float)
    return np.minimum(x, knot), np.maximum(x - knot, 0.0)


# ------------------------------------------------------------------------------------------
# The frequentist models' design (AFT, Cox, cross-validation)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DesignSpec:
    """Levels and dose coding of the AFT and Cox design matrix.

    ``region_slopes`` False: one dose slope below the knot for all regions; True: one slope
    per region (all regions present). ``touchup``: the design has the touch-up indicator
    (:func:`make_spec` sets it when the data have episodes with and without a touch-up).
    """

    regions: tuple[str, ...]
    products: tuple[str, ...]
    knot: float
    region_slopes: bool = False
    touchup: bool = False

    @property
    def columns(self) -> list[str]:
        cols = [region_term(r) for r in self.regions[1:]]
        cols += [product_term(p) for p in self.products[1:]]
        cols += list(PATIENT_TERMS)
        if self.touchup:
            cols += [TOUCHUP]
        if self.region_slopes:
            cols += [dose_below_term(r) for r in self.regions]
        else:
            cols += [dose_below_term()]
        return cols + [DOSE_ABOVE_KNOT]

    def label(self, term: str) -> str:
        """:func:`term_label` against this design's reference levels."""
        return term_label(term, self.regions[0], self.products[0], self.knot)


def make_spec(
    df: pd.DataFrame,
    reference_region: str,
    reference_product: str,
    knot: float,
    region_slopes: bool = False,
) -> DesignSpec:
    """Levels present in ``df`` with the reference level first; the touch-up term if estimable."""
    regions = sorted(df["region"].astype(str).unique())
    products = sorted(df["product"].astype(str).unique())
    for ref, levels in ((reference_region, regions), (reference_product, products)):
        if ref in levels:
            levels.remove(ref)
            levels.insert(0, ref)
    return DesignSpec(
        tuple(regions), tuple(products), float(knot), region_slopes, has_touchup_contrast(df)
    )


def design_matrix(df: pd.DataFrame, spec: DesignSpec) -> pd.DataFrame:
    """Numeric covariates (no intercept) of the AFT and Cox models, one row per episode."""
    region = df["region"].astype(str).to_numpy()
    product = df["product"].astype(str).to_numpy()
    below, above = dose_spline(df["log2_rel_dose"], spec.knot)
    cols: dict[str, np.ndarray] = {}
    for r in spec.regions[1:]:
        cols[region_term(r)] = (region == r).astype(float)
    for p in spec.products[1:]:
        cols[product_term(p)] = (product == p).astype(float)
    cols.update(patient_terms(df))
    if spec.touchup:
        cols[TOUCHUP] = touchup_indicator(df)
    if spec.region_slopes:
        for r in spec.regions:
            cols[dose_below_term(r)] = np.where(region == r, below, 0.0)
    else:
        cols[dose_below_term()] = below
    cols[DOSE_ABOVE_KNOT] = above
    return pd.DataFrame(cols, index=df.index)[spec.columns]


# ------------------------------------------------------------------------------------------
# Episodes entering the duration models
# ------------------------------------------------------------------------------------------
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
    keep = df["in_duration_analysis"].to_numpy(bool)
    problems = _bound_problems(df, keep, source) + _missing_covariates(df, keep, source)
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


def _bound_problems(df: pd.DataFrame, keep: np.ndarray, source: str) -> list[Problem]:
    lo = df["dur_lower_days"].to_numpy(float)
    up = df["dur_upper_days"].to_numpy(float)
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
    return [
        Problem(source, int(i) + 1, column, f"{values[i]:g}", rule)
        for column, bad, values, rule in rules
        for i in np.flatnonzero(bad & keep)[:50]
    ]


def _missing_covariates(df: pd.DataFrame, keep: np.ndarray, source: str) -> list[Problem]:
    return [
        Problem(source, int(i) + 1, column, "missing", "covariate required for the duration models")
        for column in COVARIATE_COLUMNS
        for i in np.flatnonzero(df[column].isna().to_numpy() & keep)[:20]
    ]
