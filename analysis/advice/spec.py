"""The stored advice model's covariate coding, written with the posterior as ``spec.json``.

The spec fixes everything `bonta advise` needs to turn a request into model covariates without
the training data: category levels, the centring it was trained with, the dose-spline knot,
reference doses and unit conversions, the trained ranges (for the extrapolation warning).
Names, centring and the dose spline come from the one covariate specification,
:mod:`analysis.survival.covariates`; the model's design (:func:`design_arrays`) is:

- region as its own intercept (``region_idx``);
- ``X`` columns: ``dose_slope_below_knot`` (the model adds a partially pooled region deviation
  to this slope: small and large muscles respond differently to a dose increase),
  ``dose_slope_above_knot`` (diminishing returns above about twice the label dose,
  DOMAIN.md), the patient terms ``sex_male``, ``muscle_bulk_per_grade``,
  ``exercise_per_10_met_h``, ``age_per_10_years``, ``log2_cycle``,
  ``baseline_severity_per_grade``, the episode's touch-up indicator ``touchup`` (issue 14: at
  the same total dose; a row without a ``touchup`` column has none), and one indicator per
  product other than the first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import AdviceInputError
from analysis.survival.covariates import (
    DOSE_ABOVE_KNOT,
    PATIENT_TERMS,
    REFERENCE_AGE_YEARS,
    REFERENCE_BULK,
    REFERENCE_SEVERITY,
    TOUCHUP,
    dose_below_term,
    dose_spline,
    patient_terms,
    product_term,
    touchup_indicator,
)
from analysis.vocabulary import Vocabulary

#: Continuous inputs whose trained range is stored (extrapolation warning).
RANGE_COLUMNS: tuple[str, ...] = (
    "log2_rel_dose",
    "muscle_bulk",
    "exercise_met_h_week",
    "age_years",
    "cycle",
    "baseline_severity",
)

NUMERIC_COLUMNS: tuple[str, ...] = RANGE_COLUMNS


@dataclass(frozen=True)
class AdviceSpec:
    """How covariates are coded; serialisable to JSON (``to_dict`` / ``from_dict``)."""

    regions: tuple[str, ...]
    products: tuple[str, ...]
    reference_dose_units: dict[str, float]
    units_per_ona_unit: dict[str, float]
    dose_knot_log2: float
    age_centre: float
    bulk_centre: float
    severity_centre: float
    trained_ranges: dict[str, list[float]] = field(default_factory=dict)
    trained_region_products: tuple[tuple[str, str], ...] = ()

    @property
    def covariate_names(self) -> list[str]:
        """Columns of ``X`` (:func:`design_arrays`), the posterior's ``covariate`` coordinate."""
        base = [dose_below_term(), DOSE_ABOVE_KNOT, *PATIENT_TERMS, TOUCHUP]
        return base + [product_term(p) for p in self.products[1:]]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["regions"] = list(self.regions)
        out["products"] = list(self.products)
        out["trained_region_products"] = [list(x) for x in self.trained_region_products]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> AdviceSpec:
        d = dict(d)
        d["regions"] = tuple(d["regions"])
        d["products"] = tuple(d["products"])
        d["trained_region_products"] = tuple(tuple(x) for x in d.get("trained_region_products", ()))
        return cls(**d)


def spec_from_vocabulary(vocabulary: Vocabulary, dose_knot_log2: float) -> AdviceSpec:
    """A spec with the study's regions and products, the shared centring, no trained ranges."""
    return AdviceSpec(
        regions=vocabulary.region_codes,
        products=vocabulary.product_codes,
        reference_dose_units=vocabulary.reference_dose_units,
        units_per_ona_unit=vocabulary.units_per_ona_unit,
        dose_knot_log2=float(dose_knot_log2),
        age_centre=float(REFERENCE_AGE_YEARS),
        bulk_centre=float(REFERENCE_BULK),
        severity_centre=float(REFERENCE_SEVERITY),
    )


def with_trained_ranges(spec: AdviceSpec, episodes: pd.DataFrame) -> AdviceSpec:
    """Copy of ``spec`` that records the ranges and region/product pairs seen in training."""
    ranges = {
        col: [float(episodes[col].min()), float(episodes[col].max())] for col in RANGE_COLUMNS
    }
    for region, grp in episodes.groupby("region", observed=True):
        ranges[f"log2_rel_dose@{region}"] = [
            float(grp["log2_rel_dose"].min()),
            float(grp["log2_rel_dose"].max()),
        ]
    pairs = sorted(
        {(str(r), str(p)) for r, p in zip(episodes["region"], episodes["product"], strict=True)}
    )
    d = spec.to_dict()
    d["trained_ranges"] = ranges
    d["trained_region_products"] = [list(x) for x in pairs]
    return AdviceSpec.from_dict(d)


def log2_rel_dose(spec: AdviceSpec, region: str, product: str, units: float) -> float:
    """log2 of the onabotulinumtoxinA-equivalent dose relative to the region's reference dose."""
    ona_eq = float(units) / spec.units_per_ona_unit[product]
    return float(np.log2(ona_eq / spec.reference_dose_units[region]))


def check_categories(
    df: pd.DataFrame, spec: AdviceSpec, source: str = "request", first_row: int = 1
) -> None:
    """Raise :class:`AdviceInputError` naming the row, column and value of an unknown code."""
    problems = []
    for col, levels in (("region", spec.regions), ("product", spec.products), ("sex", ("F", "M"))):
        bad = ~df[col].astype(str).isin(levels)
        for pos in np.flatnonzero(bad.to_numpy()):
            problems.append(
                f"{source}, row {first_row + pos}, column '{col}', value "
                f"{str(df[col].iloc[pos])!r}: must be one of {', '.join(levels)}"
            )
    for col in NUMERIC_COLUMNS:
        vals = pd.to_numeric(df[col], errors="coerce")
        for pos in np.flatnonzero(~np.isfinite(vals.to_numpy(dtype=float))):
            problems.append(
                f"{source}, row {first_row + pos}, column '{col}', value "
                f"{str(df[col].iloc[pos])!r}: must be a finite number"
            )
    if problems:
        raise AdviceInputError("; ".join(problems[:20]))


def design_arrays(df: pd.DataFrame, spec: AdviceSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(region_idx, X)`` for episode rows (columns of :data:`COVARIATE_COLUMNS`).

    ``X`` has the columns :attr:`AdviceSpec.covariate_names`; ``X[:, 0]`` is the dose below
    the knot, the covariate whose slope varies by region.
    """
    region_idx = pd.Categorical(df["region"].astype(str), categories=spec.regions).codes
    product = pd.Categorical(df["product"].astype(str), categories=spec.products).codes
    if (region_idx < 0).any() or (product < 0).any():
        check_categories(df, spec)
    below, above = dose_spline(df["log2_rel_dose"], spec.dose_knot_log2)
    patient = patient_terms(
        df,
        bulk_centre=spec.bulk_centre,
        age_centre=spec.age_centre,
        severity_centre=spec.severity_centre,
    )
    cols = [below, above, *(patient[name] for name in PATIENT_TERMS), touchup_indicator(df)]
    cols += [(product == k).astype(float) for k in range(1, len(spec.products))]
    return region_idx.astype(np.int64), np.column_stack(cols)


def out_of_range(row: pd.Series, spec: AdviceSpec) -> list[str]:
    """Human-readable notes for each input outside the trained range (empty if none)."""
    notes = []
    for col in RANGE_COLUMNS:
        lo, hi = spec.trained_ranges.get(col, (-np.inf, np.inf))
        val = float(row[col])
        if not lo <= val <= hi:
            notes.append(f"{col} = {val:g} is outside the trained range [{lo:g}, {hi:g}]")
    key = f"log2_rel_dose@{row['region']}"
    if key in spec.trained_ranges and "log2_rel_dose" not in " ".join(notes):
        lo, hi = spec.trained_ranges[key]
        val = float(row["log2_rel_dose"])
        if not lo <= val <= hi:
            notes.append(
                f"relative dose 2^{val:.2f} is outside the range seen for {row['region']} "
                f"[2^{lo:.2f}, 2^{hi:.2f}]"
            )
    pairs = {tuple(x) for x in spec.trained_region_products}
    if pairs and (str(row["region"]), str(row["product"])) not in pairs:
        notes.append(f"product {row['product']} was never seen in {row['region']} in training")
    return notes
