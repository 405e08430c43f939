"""Deterministic writers: same inputs, same bytes.

Every stage writes through these helpers so that ``dvc repro --force`` twice gives identical
tables, metrics and figures.
"""

from __future__ import annotations

import json
import math
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


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.6g") -> Path:
    """Write a human-readable table (fixed float format so that output is stable)."""
    path = ensure_parent(path)
    df.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
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
