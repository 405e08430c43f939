"""The raw-table contract: canonical columns, their kinds, and the pandera schemas that check them.

The contract is written once here and used three ways: :mod:`analysis.data.ingest` parses each
column by its kind, :func:`build_schemas` turns it into pandera schemas (ranges, codes,
uniqueness, missing values), and ``docs/data-dictionary.md`` describes it for clinics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

Kind = Literal["id", "code", "int", "float", "date"]

#: Columns whose values identify a person (patient, or staff by name); never echoed in messages.
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(
    {"patient_id", "episode_id", "clinic_id", "injector_id"}
)

#: Shown instead of an identifier value in every message.
MASK = "<identifier>"

#: Plain-language rules for pandera's built-in checks.
PANDERA_RULES = {
    "not_nullable": "required value is missing",
    "field_uniqueness": "duplicate: this identifier appears in more than one row",
}

TABLE_NAMES: tuple[str, ...] = ("patients", "treatments", "assessments", "complications")

#: File extensions the reader accepts, in the order they are looked for.
EXTENSIONS: tuple[str, ...] = (".csv", ".parquet", ".xlsx")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column of a raw table.

    ``required`` means the column must be present in the file; ``nullable`` that a cell may be
    empty.
    """

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False


TABLES: dict[str, tuple[ColumnSpec, ...]] = {
    "patients": (
        ColumnSpec("patient_id", "id"),
        ColumnSpec("sex", "code"),
        ColumnSpec("birth_year", "int"),
        ColumnSpec("body_fat_pct", "float", required=False, nullable=True),
    ),
    "treatments": (
        ColumnSpec("episode_id", "id"),
        ColumnSpec("patient_id", "id"),
        ColumnSpec("clinic_id", "id"),
        ColumnSpec("injector_id", "id"),
        ColumnSpec("treatment_date", "date"),
        ColumnSpec("region", "code"),
        ColumnSpec("product", "code"),
        ColumnSpec("units", "float"),
        ColumnSpec("muscle_bulk", "int"),
        ColumnSpec("exercise_met_h_week", "float"),
        ColumnSpec("baseline_severity", "int"),
        # the clinic's own mark of a touch-up (issue 14); empty = let the window rule decide
        ColumnSpec("is_touchup", "code", required=False, nullable=True),
    ),
    "assessments": (
        ColumnSpec("episode_id", "id"),
        ColumnSpec("assessment_date", "date"),
        ColumnSpec("severity", "int", nullable=True),
        ColumnSpec("reported_wearoff_date", "date", required=False, nullable=True),
    ),
    "complications": (
        ColumnSpec("episode_id", "id"),
        ColumnSpec("complication_type", "code"),
        ColumnSpec("onset_date", "date"),
        ColumnSpec("severity", "code"),
        ColumnSpec("resolution_date", "date", required=False, nullable=True),
    ),
}

SEX_CODES: tuple[str, ...] = ("F", "M")
COMPLICATION_SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")
MUSCLE_BULK_RANGE: tuple[int, int] = (1, 4)  # injector's grade: 1 slight ... 4 hypertrophic
SEVERITY_RANGE: tuple[int, int] = (0, 3)  # Facial Wrinkle Scale at maximum contraction
BODY_FAT_PCT_RANGE: tuple[float, float] = (2.0, 75.0)  # physiological bounds, not a clinical cut

#: Columns that may be mapped through the mapping file's ``values:`` section.
MAPPABLE_VALUES: dict[str, tuple[tuple[str, str], ...]] = {
    "region": (("treatments", "region"),),
    "product": (("treatments", "product"),),
    "complication_type": (("complications", "complication_type"),),
    "sex": (("patients", "sex"),),
    "complication_severity": (("complications", "severity"),),
    "is_touchup": (("treatments", "is_touchup"),),
}

#: Spellings of ``treatments.is_touchup`` (case-insensitive; a mapping file can translate a
#: clinic's own words, ``values: is_touchup: {Nachkorrektur: "true"}``).
TOUCHUP_TRUE: frozenset[str] = frozenset({"true", "yes", "y", "1", "t"})
TOUCHUP_FALSE: frozenset[str] = frozenset({"false", "no", "n", "0", "f"})


def parse_touchup_flags(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``is_touchup`` cells as a nullable boolean, and which non-empty cells are unreadable.

    Accepts booleans (Parquet, Excel), 0/1, and the words of :data:`TOUCHUP_TRUE` /
    :data:`TOUCHUP_FALSE` in any case; empty cells stay missing (the window rule decides).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    verdict: list[object] = []
    bad: list[bool] = []
    for u in uniques:
        text = str(int(u) if isinstance(u, float) and u.is_integer() else u).strip().lower()
        flag = True if text in TOUCHUP_TRUE else False if text in TOUCHUP_FALSE else None
        verdict.append(flag)
        bad.append(flag is None)
    flags = pd.array([*verdict, None], dtype="boolean")[codes]
    unreadable = np.array([*bad, False])[codes]
    return (
        pd.Series(flags, index=values.index, name=values.name),
        pd.Series(unreadable, index=values.index),
    )


PANDAS_DTYPE: dict[Kind, str] = {
    "id": "object",
    "code": "object",
    "int": "float64",  # parsed as float so that a missing value stays representable
    "float": "float64",
    "date": "datetime64[ns]",
}


def spec(table: str, column: str) -> ColumnSpec:
    """Return the :class:`ColumnSpec` of ``table.column``."""
    for col in TABLES[table]:
        if col.name == column:
            return col
    raise KeyError(f"{table}.{column}")


def _whole(series: pd.Series) -> pd.Series:
    return series == series.round()


def _range(lo: float, hi: float, what: str = "") -> pa.Check:
    return pa.Check.in_range(lo, hi, error=f"must be between {lo:g} and {hi:g}{what}")


def _codes(values, what: str) -> pa.Check:
    allowed = sorted(values)
    return pa.Check.isin(allowed, error=f"{what} must be one of: {', '.join(allowed)}")


WHOLE = pa.Check(_whole, error="must be a whole number")
TOUCHUP_FLAG = pa.Check(
    lambda s: ~parse_touchup_flags(s)[1],
    error="is_touchup must be true or false (also yes/no, 1/0); empty = decided by the "
    "touch-up window (prepare.touchup_window_days)",
)


def _col(table: str, name: str, checks: list[pa.Check] | None = None, unique: bool = False):
    col = spec(table, name)
    return pa.Column(
        PANDAS_DTYPE[col.kind],
        checks=checks or [],
        nullable=col.nullable,
        unique=unique,
        required=col.required,
        report_duplicates="all",
    )


def build_schemas(
    *,
    regions: list[str],
    products: list[str],
    complication_types: list[str],
    birth_year_range: tuple[int, int],
    max_met_h_week: float,
) -> dict[str, pa.DataFrameSchema]:
    """Pandera schemas of the four raw tables, after parsing by :mod:`analysis.data.ingest`.

    Parameters
    ----------
    regions, products, complication_types
        Allowed codes (the vocabularies of params.yaml).
    birth_year_range
        Inclusive plausible range of ``patients.birth_year``.
    max_met_h_week
        Plausible maximum of ``treatments.exercise_met_h_week``.

    Returns
    -------
    dict
        Table name -> :class:`pandera.DataFrameSchema`. Checks carry readable ``error`` texts,
        which become the ``rule`` of each :class:`analysis.errors.Problem`.
    """
    lo_by, hi_by = birth_year_range
    sev_lo, sev_hi = SEVERITY_RANGE
    return {
        "patients": pa.DataFrameSchema(
            {
                "patient_id": _col("patients", "patient_id", unique=True),
                "sex": _col("patients", "sex", [_codes(SEX_CODES, "sex")]),
                "birth_year": _col("patients", "birth_year", [_range(lo_by, hi_by), WHOLE]),
                "body_fat_pct": _col("patients", "body_fat_pct", [_range(*BODY_FAT_PCT_RANGE)]),
            }
        ),
        "treatments": pa.DataFrameSchema(
            {
                "episode_id": _col("treatments", "episode_id", unique=True),
                "patient_id": _col("treatments", "patient_id"),
                "clinic_id": _col("treatments", "clinic_id"),
                "injector_id": _col("treatments", "injector_id"),
                "treatment_date": _col("treatments", "treatment_date"),
                "region": _col("treatments", "region", [_codes(regions, "region")]),
                "product": _col("treatments", "product", [_codes(products, "product")]),
                "units": _col(
                    "treatments", "units", [pa.Check.gt(0, error="units must be greater than 0")]
                ),
                "muscle_bulk": _col(
                    "treatments", "muscle_bulk", [_range(*MUSCLE_BULK_RANGE), WHOLE]
                ),
                "exercise_met_h_week": _col(
                    "treatments",
                    "exercise_met_h_week",
                    [_range(0, max_met_h_week, " MET-hours per week")],
                ),
                "baseline_severity": _col(
                    "treatments", "baseline_severity", [_range(sev_lo, sev_hi), WHOLE]
                ),
                "is_touchup": _col("treatments", "is_touchup", [TOUCHUP_FLAG]),
            }
        ),
        "assessments": pa.DataFrameSchema(
            {
                "episode_id": _col("assessments", "episode_id"),
                "assessment_date": _col("assessments", "assessment_date"),
                "severity": _col("assessments", "severity", [_range(sev_lo, sev_hi), WHOLE]),
                "reported_wearoff_date": _col("assessments", "reported_wearoff_date"),
            }
        ),
        "complications": pa.DataFrameSchema(
            {
                "episode_id": _col("complications", "episode_id"),
                "complication_type": _col(
                    "complications",
                    "complication_type",
                    [_codes(complication_types, "complication_type")],
                ),
                "onset_date": _col("complications", "onset_date"),
                "severity": _col(
                    "complications", "severity", [_codes(COMPLICATION_SEVERITIES, "severity")]
                ),
                "resolution_date": _col("complications", "resolution_date"),
            }
        ),
    }
