"""The processed-table contract: one pandera schema per table of ``data/processed/``, one reader.

``prepare`` checks every table against these schemas before writing it, and every stage reads
them through :func:`read_episodes` / :func:`read_processed`, which check them again and stop
with an :class:`~analysis.errors.InputValidationError` naming the file, row, column and rule.
This module is the one declaration of the processed columns (docs/ARCHITECTURE.md,
"Processed tables"); modules that need a subset name the columns they use, not a copy of this
list.

The data cut-off is written once, by ``prepare``, as ``study_period.json``
(``{"data_cutoff": "YYYY-MM-DD", "source": "params" | "export date"}``: ``data.cutoff_date`` of
params.yaml, or ``export_date`` of the export's mapping.yaml) and read with
:func:`read_data_cutoff`.

Example
-------
>>> episodes = read_episodes(Path("data/processed/episodes.parquet"))  # doctest: +SKIP
>>> cutoff = read_data_cutoff(Path("data/processed"))                  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from analysis.data.schema import (
    COMPLICATION_SEVERITIES,
    MUSCLE_BULK_RANGE,
    PANDERA_RULES,
    SEVERITY_RANGE,
    SEX_CODES,
)
from analysis.errors import InputValidationError, Problem
from analysis.io import read_json, write_json
from analysis.vocabulary import Vocabulary

#: Duration status codes of ``episodes.dur_status`` (docs/data-dictionary.md).
DUR_STATUSES: tuple[str, ...] = (
    "interval",
    "exact_reported",
    "right_no_return",
    "right_retreated_responding",
    "right_cutoff",
    "interval_reported",  # last: derive.py's np.select indexes this tuple by position
)
EXERCISE_TIERS: tuple[str, ...] = ("low", "moderate", "high")

#: Columns of ``episodes.parquet`` (then ``c30_<type>`` per complication type and ``c30_any``).
EPISODE_COLUMNS: tuple[str, ...] = (
    "episode_key",
    "patient_key",
    "clinic",
    "injector",
    "treatment_date",
    "year",
    "quarter",
    "region",
    "product",
    "units",
    "units_ona_eq",
    "reference_dose_units",
    "rel_dose",
    "log2_rel_dose",
    "log2_rel_dose_initial",
    "muscle_bulk",
    "exercise_met_h_week",
    "exercise_tier",
    "baseline_severity",
    "sex",
    "age_years",
    "body_fat_pct",
    "cycle",
    "touchup",
    "n_touchups",
    "touchup_units_ona_eq",
    "touchup_day",
    "dur_lower_days",
    "dur_upper_days",
    "dur_status",
    "in_duration_analysis",
    "dur_exclusion_reason",
    "retreat_days",
    "retreat_event",
)

#: Processed tables and their file names in ``data/processed/``.
TABLE_FILES: dict[str, str] = {
    "patients": "patients.parquet",
    "treatments": "treatments.parquet",
    "assessments": "assessments.parquet",
    "complications": "complications.parquet",
    "episodes": "episodes.parquet",
    "data_quality": "data_quality.csv",
}
STUDY_PERIOD_FILE = "study_period.json"
CUTOFF_SOURCES: tuple[str, ...] = ("params", "export date")

#: Complication flag columns: ``c30_<type>`` for each complication type, and ``c30_any``.
C30_PATTERN = r"^c30_.+$"

#: Columns of pseudonyms, shown as this text in messages.
KEY_COLUMNS = frozenset({"episode_key", "patient_key", "clinic", "injector", "parent_episode_key"})
KEY_SHOWN = "<key>"

HEX16 = r"^[0-9a-f]{16}$"

#: Text columns are checked as ``object`` (pandera's ``str`` type tests every cell in Python).
TEXT = object


def _col(dtype: Any, *checks: pa.Check, nullable: bool = False, unique: bool = False):
    return pa.Column(dtype, checks=list(checks), nullable=nullable, unique=unique)


def _codes(values, what: str) -> pa.Check:
    allowed = sorted(values)
    return pa.Check.isin(allowed, error=f"{what} must be one of: {', '.join(allowed)}")


def _range(lo: float, hi: float) -> pa.Check:
    return pa.Check.in_range(lo, hi, error=f"must be between {lo:g} and {hi:g}")


def _at_least(lo: float) -> pa.Check:
    return pa.Check.ge(lo, error=f"must be >= {lo:g}")


def _positive() -> pa.Check:
    return pa.Check.gt(0, error="must be > 0")


def _hex16(values: pd.Series) -> pd.Series:
    """Whether each value is 16 lower-case hex characters (vectorised: keys are many)."""
    try:
        raw = values.to_numpy(dtype=object).astype("S17")
    except (UnicodeEncodeError, ValueError, TypeError):
        return values.astype(str).str.fullmatch(HEX16)
    chars = raw.view(np.uint8).reshape(-1, 17)
    digits = chars[:, :16]
    is_hex = ((digits >= ord("0")) & (digits <= ord("9"))) | (
        (digits >= ord("a")) & (digits <= ord("f"))
    )
    return pd.Series(is_hex.all(axis=1) & (chars[:, 16] == 0), index=values.index)


def _matches_few(pattern: str, error: str) -> pa.Check:
    """Regex check of a column with few distinct values (each is matched once)."""
    rx = re.compile(pattern)

    def check(values: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(values)
        ok = [isinstance(u, str) and rx.fullmatch(u) is not None for u in uniques]
        return pd.Series(np.array([*ok, False])[codes], index=values.index)

    return pa.Check(check, error=error)


def _pseudonym(kind: str) -> pa.Check:
    if kind in ("episode", "patient"):
        return pa.Check(_hex16, error=f"must be a {kind} pseudonym (16 hex characters)")
    prefix = {"clinic": "C", "injector": "I"}[kind]
    return _matches_few(rf"{prefix}-[0-9a-f]{{6}}", f"must be a {kind} code {prefix}-xxxxxx")


def _finite() -> pa.Check:
    return pa.Check(lambda s: np.isfinite(s), error="must be a finite number")


def _vocab_columns(vocabulary: Vocabulary | None) -> dict[str, pa.Column]:
    if vocabulary is None:
        return {"region": _col(TEXT), "product": _col(TEXT)}
    return {
        "region": _col(TEXT, _codes(vocabulary.region_codes, "region")),
        "product": _col(TEXT, _codes(vocabulary.product_codes, "product")),
    }


def _treatment_columns(vocabulary: Vocabulary | None) -> dict[str, pa.Column]:
    """Columns shared by ``treatments`` and ``episodes``, in file order."""
    return {
        "episode_key": _col(TEXT, _pseudonym("episode"), unique=True),
        "patient_key": _col(TEXT, _pseudonym("patient")),
        "clinic": _col(TEXT, _pseudonym("clinic")),
        "injector": _col(TEXT, _pseudonym("injector")),
        "treatment_date": _col("datetime64[ns]"),
        **_vocab_columns(vocabulary),
        "units": _col(float, _positive()),
        "muscle_bulk": _col("int64", _range(*MUSCLE_BULK_RANGE)),
        "exercise_met_h_week": _col(float, _at_least(0)),
        "baseline_severity": _col("int64", _range(*SEVERITY_RANGE)),
    }


def _treatments_schema(vocabulary: Vocabulary | None) -> pa.DataFrameSchema:
    """Validated treatments, with the clinic's touch-up mark and the episode each row joined."""
    columns = {
        **_treatment_columns(vocabulary),
        "is_touchup": _col("boolean", nullable=True),
        "touchup": _col(bool),
        "parent_episode_key": _col(TEXT, _pseudonym("episode")),
    }
    return pa.DataFrameSchema(columns, strict=True)


def _episode_columns(vocabulary: Vocabulary | None) -> dict[str, pa.Column]:
    shared = _treatment_columns(vocabulary)
    derived = {
        "year": _col("int64"),
        "quarter": _col(TEXT, _matches_few(r"\d{4}Q[1-4]", "must be like 2024Q1")),
        "units_ona_eq": _col(float, _positive()),
        "reference_dose_units": _col(float, _positive()),
        "rel_dose": _col(float, _positive()),
        "log2_rel_dose": _col(float, _finite()),
        "log2_rel_dose_initial": _col(float, _finite()),
        "touchup": _col(bool),
        "n_touchups": _col("int64", _at_least(0)),
        "touchup_units_ona_eq": _col(float, _at_least(0), _finite()),
        "touchup_day": _col(float, _at_least(0), nullable=True),
        "exercise_tier": _col(TEXT, _codes(EXERCISE_TIERS, "exercise_tier")),
        "sex": _col(TEXT, _codes(SEX_CODES, "sex")),
        "age_years": _col(float, _finite()),
        "body_fat_pct": _col(float, nullable=True),
        "cycle": _col("int64", _at_least(1)),
        "dur_lower_days": _col(float, _at_least(0), _finite()),
        "dur_upper_days": _col(float, _at_least(0)),
        "dur_status": _col(TEXT, _codes(DUR_STATUSES, "dur_status")),
        "in_duration_analysis": _col(bool),
        "dur_exclusion_reason": _col(object, nullable=True),
        "retreat_days": _col(float, _at_least(0)),
        "retreat_event": _col(bool),
    }
    columns = {name: {**shared, **derived}[name] for name in EPISODE_COLUMNS}
    if vocabulary is None:
        columns[C30_PATTERN] = pa.Column(bool, regex=True)
    else:
        for ctype in (*vocabulary.complication_codes, "any"):
            columns[f"c30_{ctype}"] = _col(bool)
    return columns


def _episodes_schema(vocabulary: Vocabulary | None) -> pa.DataFrameSchema:
    upper_ok = pa.Check(
        lambda df: df["dur_upper_days"] >= df["dur_lower_days"],
        error="dur_upper_days must be >= dur_lower_days (inf = right-censored)",
    )
    touchup_ok = pa.Check(
        lambda df: df["touchup"] == (df["n_touchups"] > 0),
        error="touchup must be true exactly when n_touchups > 0",
    )
    return pa.DataFrameSchema(
        _episode_columns(vocabulary), checks=[upper_ok, touchup_ok], strict=True
    )


def _reconciles(dq: pd.DataFrame) -> pd.Series:
    by = dq.groupby("table")
    excluded = by["rows_excluded"].transform("sum")
    return dq["rows_in"] == dq["rows_kept"] + excluded


def processed_schemas(vocabulary: Vocabulary | None = None) -> dict[str, pa.DataFrameSchema]:
    """Pandera schemas of the six processed tables, keyed like :data:`TABLE_FILES`.

    Parameters
    ----------
    vocabulary
        If given, region, product and complication-type codes (and the exact ``c30_<type>``
        columns) are checked against it; without it any code passes.
    """
    complication_type = (
        _col(TEXT)
        if vocabulary is None
        else _col(TEXT, _codes(vocabulary.complication_codes, "complication_type"))
    )
    return {
        "patients": pa.DataFrameSchema(
            {
                "patient_key": _col(TEXT, _pseudonym("patient"), unique=True),
                "sex": _col(TEXT, _codes(SEX_CODES, "sex")),
                "birth_year": _col("int64"),
                "body_fat_pct": _col(float, nullable=True),
            },
            strict=True,
        ),
        "treatments": _treatments_schema(vocabulary),
        "assessments": pa.DataFrameSchema(
            {
                "episode_key": _col(TEXT),
                "assessment_date": _col("datetime64[ns]"),
                "day": _col("int64"),
                "severity": _col("Int64", _range(*SEVERITY_RANGE), nullable=True),
                "reported_wearoff_date": _col("datetime64[ns]", nullable=True),
            },
            strict=True,
        ),
        "complications": pa.DataFrameSchema(
            {
                "episode_key": _col(TEXT),
                "complication_type": complication_type,
                "onset_date": _col("datetime64[ns]"),
                "onset_day": _col("int64"),
                "severity": _col(TEXT, _codes(COMPLICATION_SEVERITIES, "severity")),
                "resolution_date": _col("datetime64[ns]", nullable=True),
                "resolution_day": _col("Int64", nullable=True),
            },
            strict=True,
        ),
        "episodes": _episodes_schema(vocabulary),
        "data_quality": pa.DataFrameSchema(
            {
                "table": _col(TEXT),
                "rows_in": _col("int64", _at_least(0)),
                "rows_kept": _col("int64", _at_least(0)),
                "rows_excluded": _col("int64", _at_least(0)),
                "reason": _col(TEXT),
            },
            checks=[pa.Check(_reconciles, error="rows_in != rows_kept + sum(rows_excluded)")],
            strict=True,
        ),
    }


def _shown(column: Any, value: Any) -> str | None:
    if column in KEY_COLUMNS:
        return KEY_SHOWN
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _problems(err: pa.errors.SchemaErrors, file: str) -> list[Problem]:
    """One :class:`Problem` per pandera failure case (rows 1-based, keys masked)."""
    problems = []
    fc = err.failure_cases
    for column, check, value, index in zip(
        fc["column"], fc["check"], fc["failure_case"], fc["index"], strict=True
    ):
        if check == "column_in_dataframe":
            problems.append(Problem(file, None, str(value), None, "required column is missing"))
            continue
        if check == "column_in_schema":
            problems.append(Problem(file, None, str(value), None, "column not in the contract"))
            continue
        row = None if index is None or pd.isna(index) else int(index) + 1
        col = None if column is None or pd.isna(column) else str(column)
        rule = PANDERA_RULES.get(str(check), str(check))
        if rule.startswith("dtype("):
            rule = f"must have type {rule[6:-1]}, found {value}"
            value = None
        problems.append(Problem(file, row, col, _shown(col, value), rule))
    return problems


def check_table(
    df: pd.DataFrame, table: str, file: str, vocabulary: Vocabulary | None = None
) -> pd.DataFrame:
    """Check ``df`` against the schema of processed ``table``; return it unchanged.

    Raises
    ------
    InputValidationError
        Listing every violation: file, 1-based row, column, value (keys masked) and rule.
    """
    schema = processed_schemas(vocabulary)[table]
    try:
        schema.validate(df, lazy=True, inplace=True)  # no copy: nothing is coerced
    except pa.errors.SchemaErrors as err:
        raise InputValidationError(_problems(err, file)) from None
    return df


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        rule = "file does not exist; run the prepare stage first (dvc repro prepare)"
        raise InputValidationError([Problem(str(path), None, None, None, rule)])
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def read_processed(
    processed_dir: Path, table: str, vocabulary: Vocabulary | None = None
) -> pd.DataFrame:
    """Read one processed table of ``processed_dir`` and check it against its schema.

    Parameters
    ----------
    processed_dir
        The directory ``prepare`` wrote (``data/processed``).
    table
        One of :data:`TABLE_FILES` (``episodes``, ``patients``, ...).
    vocabulary
        Also check region, product and complication-type codes against it.
    """
    if table not in TABLE_FILES:
        raise ValueError(f"unknown processed table {table!r}; one of {sorted(TABLE_FILES)}")
    path = Path(processed_dir) / TABLE_FILES[table]
    return check_table(_read(path), table, str(path), vocabulary)


def read_episodes(path: Path, vocabulary: Vocabulary | None = None) -> pd.DataFrame:
    """Read ``episodes.parquet`` (one row per kept episode) and check its schema.

    Every stage reads the episode table through this function.

    Raises
    ------
    InputValidationError
        The file is missing, or a column is missing, of the wrong type or out of range
        (the message names file, row and column).
    """
    path = Path(path)
    return check_table(_read(path), "episodes", str(path), vocabulary)


def write_study_period(
    cutoff: pd.Timestamp, source: str, processed_dir: Path, simulated: bool = False
) -> Path:
    """Write ``study_period.json``: the data cut-off prepare used, where it came from, and
    whether the input was the simulator's (``simulated``: every reader-facing product says so)."""
    if source not in CUTOFF_SOURCES:
        raise ValueError(f"source must be one of {CUTOFF_SOURCES}, got {source!r}")
    record = {
        "data_cutoff": f"{pd.Timestamp(cutoff):%Y-%m-%d}",
        "source": source,
        "simulated": bool(simulated),
    }
    return write_json(record, Path(processed_dir) / STUDY_PERIOD_FILE)


def read_simulated(processed_dir: Path) -> bool:
    """Whether ``prepare`` read the simulator's output (``study_period.json``; False if the
    file or the field is missing: only a recorded simulator signature makes data simulated)."""
    path = Path(processed_dir) / STUDY_PERIOD_FILE
    return path.is_file() and bool(read_json(path).get("simulated", False))


def read_data_cutoff(processed_dir: Path) -> pd.Timestamp:
    """The data cut-off ``prepare`` used (``study_period.json`` of ``processed_dir``)."""
    path = Path(processed_dir) / STUDY_PERIOD_FILE
    if not path.is_file():
        rule = "file does not exist; run the prepare stage first (dvc repro prepare)"
        raise InputValidationError([Problem(str(path), None, None, None, rule)])
    record = read_json(path)
    try:
        return pd.Timestamp(record["data_cutoff"]).normalize()
    except (KeyError, TypeError, ValueError):
        rule = "must hold 'data_cutoff' as YYYY-MM-DD"
        raise InputValidationError([Problem(str(path), None, "data_cutoff", None, rule)]) from None
