"""Covariate coding of the duration model, stored with the posterior as a JSON spec.

The spec fixes everything `bonta advise` needs to turn a request into model covariates without
the training data: category levels, centring and scaling, the dose-spline knot, reference doses
and unit conversions, the trained ranges (for the extrapolation warning) and the chosen family.

Covariates (one column each of the design matrix ``X``; region enters as its own intercept):

- ``dose_below_knot = min(log2_rel_dose, knot)`` and ``dose_above_knot = max(log2_rel_dose -
  knot, 0)``: a linear spline with one knot (diminishing returns above about twice the label
  dose, DOMAIN.md); the model adds a partially pooled region deviation to the slope below the
  knot (small and large muscles respond differently to a dose increase);
- ``male`` (sex M), ``bulk_c = muscle_bulk - 2``, ``exercise_10 = MET-h/week / 10``,
  ``age_10 = (age - 45) / 10``, ``log2_cycle``, ``severity_c = baseline_severity - 2``;
- one indicator per product other than the reference product (first product in params).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import AdviceInputError

#: Columns of an episode row that the model reads.
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
class DesignSpec:
    """How covariates are coded; serialisable to JSON (``to_dict`` / ``from_dict``)."""

    regions: tuple[str, ...]
    products: tuple[str, ...]
    reference_dose_units: dict[str, float]
    units_per_ona_unit: dict[str, float]
    dose_knot_log2: float = 1.0
    age_centre: float = 45.0
    bulk_centre: float = 2.0
    severity_centre: float = 2.0
    trained_ranges: dict[str, list[float]] = field(default_factory=dict)
    trained_region_products: tuple[tuple[str, str], ...] = ()

    @property
    def covariate_names(self) -> list[str]:
        base = [
            "dose_below_knot",
            "dose_above_knot",
            "male",
            "bulk_c",
            "exercise_10",
            "age_10",
            "log2_cycle",
            "severity_c",
        ]
        return base + [f"product_{p}" for p in self.products[1:]]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["regions"] = list(self.regions)
        out["products"] = list(self.products)
        out["trained_region_products"] = [list(x) for x in self.trained_region_products]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> DesignSpec:
        d = dict(d)
        d["regions"] = tuple(d["regions"])
        d["products"] = tuple(d["products"])
        d["trained_region_products"] = tuple(tuple(x) for x in d.get("trained_region_products", ()))
        return cls(**d)


def spec_from_params(params: dict, dose_knot_log2: float = 1.0) -> DesignSpec:
    """A spec with the study's vocabularies (regions, products) and no trained ranges yet."""
    regions = params["regions"]
    products = params["products"]
    return DesignSpec(
        regions=tuple(regions),
        products=tuple(products),
        reference_dose_units={k: float(v["reference_dose_units"]) for k, v in regions.items()},
        units_per_ona_unit={k: float(v["units_per_ona_unit"]) for k, v in products.items()},
        dose_knot_log2=float(dose_knot_log2),
    )


def with_trained_ranges(spec: DesignSpec, episodes: pd.DataFrame) -> DesignSpec:
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
    return DesignSpec.from_dict(d)


def log2_rel_dose(spec: DesignSpec, region: str, product: str, units: float) -> float:
    """log2 of the onabotulinumtoxinA-equivalent dose relative to the region's reference dose."""
    ona_eq = float(units) / spec.units_per_ona_unit[product]
    return float(np.log2(ona_eq / spec.reference_dose_units[region]))


def check_categories(
    df: pd.DataFrame, spec: DesignSpec, source: str = "request", first_row: int = 1
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


def design_matrix(df: pd.DataFrame, spec: DesignSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(region_idx, X)`` for episode rows (columns of :data:`COVARIATE_COLUMNS`).

    ``X[:, 0]`` is the dose below the knot, the covariate whose slope varies by region.
    """
    region_idx = pd.Categorical(df["region"].astype(str), categories=spec.regions).codes
    product = pd.Categorical(df["product"].astype(str), categories=spec.products).codes
    if (region_idx < 0).any() or (product < 0).any():
        check_categories(df, spec)
    dose = df["log2_rel_dose"].to_numpy(dtype=float)
    cols = [
        np.minimum(dose, spec.dose_knot_log2),
        np.maximum(dose - spec.dose_knot_log2, 0.0),
        (df["sex"].astype(str).to_numpy() == "M").astype(float),
        df["muscle_bulk"].to_numpy(dtype=float) - spec.bulk_centre,
        df["exercise_met_h_week"].to_numpy(dtype=float) / 10.0,
        (df["age_years"].to_numpy(dtype=float) - spec.age_centre) / 10.0,
        np.log2(np.maximum(df["cycle"].to_numpy(dtype=float), 1.0)),
        df["baseline_severity"].to_numpy(dtype=float) - spec.severity_centre,
    ]
    cols += [(product == k).astype(float) for k in range(1, len(spec.products))]
    return region_idx.astype(np.int64), np.column_stack(cols)


def out_of_range(row: pd.Series, spec: DesignSpec) -> list[str]:
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
