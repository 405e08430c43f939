"""Deterministic writers: same inputs, same bytes.

Every stage writes through these helpers so that ``dvc repro --force`` twice gives identical
tables, metrics and figures. Every CSV is written safe to open in a spreadsheet: a text cell
that a spreadsheet would execute as a formula is neutralised (:func:`neutralise_formulas`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def ensure_parent(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet without the pandas index (deterministic bytes)."""
    path = ensure_parent(path)
    df.reset_index(drop=True).to_parquet(path, index=False, engine="pyarrow", compression="zstd")
    return path


#: First characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number ("-1.5", "+2e3") is shown as a number by a spreadsheet, not executed.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """``value`` prefixed with a single quote if a spreadsheet would execute it.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
    ``'`` (OWASP CSV-injection guidance); plain numbers, also negative ones, and non-text
    values are returned unchanged.

    >>> neutralise_cell('=HYPERLINK("http://x","y")'), neutralise_cell("-1.5")
    ('\'=HYPERLINK("http://x","y")', '-1.5')
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_TRIGGERS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot run as spreadsheet formulas.

    Only text (object, string, categorical) columns are touched; numeric, boolean and date
    columns stay as they are, so numbers stay numbers.
    """
    out = df.copy(deep=False)
    out.columns = [neutralise_cell(c) for c in df.columns]
    for i, col in enumerate(df.columns):
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        elif not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        text = s.to_numpy(dtype=object)
        try:
            first = pd.Series(text, dtype=object).str[:1]
        except AttributeError:  # no text at all (all missing, or numbers stored as objects)
            continue
        risky = first.isin(FORMULA_TRIGGERS).to_numpy()
        if risky.any():
            text = text.copy()
            text[risky] = [neutralise_cell(v) for v in text[risky]]
            out.isetitem(i, pd.Series(text, index=df.index, dtype=object))
    return out


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.6g") -> Path:
    """Write a human-readable table (fixed float format so that output is stable).

    Text cells that a spreadsheet would execute are neutralised (:func:`neutralise_formulas`).
    """
    path = ensure_parent(path)
    neutralise_formulas(df).to_csv(
        path, index=False, float_format=float_format, lineterminator="\n"
    )
    return path


def write_table(df: pd.DataFrame, stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem.parquet`` and ``stem.csv`` side by side."""
    stem = Path(stem)
    return write_parquet(df, stem.with_suffix(".parquet")), write_csv(df, stem.with_suffix(".csv"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 10)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON with sorted keys, NaN/inf as null, floats rounded to 10 digits."""
    path = ensure_parent(path)
    with path.open("w") as fh:
        json.dump(_jsonable(obj), fh, indent=2, sort_keys=True)
        fh.write("\n")
    return path


def read_json(path: str | Path) -> Any:
    with Path(path).open() as fh:
        return json.load(fh)
