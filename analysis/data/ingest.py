"""Reading a clinic export: find the four files, apply the mapping file, parse every column.

Nothing here raises on bad cells: every unreadable value becomes a
:class:`analysis.errors.Problem`, so that :func:`analysis.data.prepare.prepare` can report all
problems of an export at once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from analysis.data.schema import (
    EXTENSIONS,
    IDENTIFIER_COLUMNS,
    MAPPABLE_VALUES,
    MASK,
    TABLE_NAMES,
    TABLES,
    ColumnSpec,
)
from analysis.errors import InputValidationError, Problem

MAPPING_FILE_NAME = "mapping.yaml"
MAPPING_KEYS = {"files", "columns", "values", "date_format"}


@dataclass(frozen=True)
class Mapping:
    """A clinic's own vocabulary, translated to the canonical contract.

    Attributes
    ----------
    files : dict
        Table -> file name inside the input directory (default ``<table>.<ext>``).
    columns : dict
        Table -> {clinic column name: canonical column name}.
    values : dict
        Vocabulary (``region``, ``product``, ``complication_type``, ``sex``,
        ``complication_severity``) -> {clinic label: canonical code}.
    date_format : str or None
        ``strftime`` format of text dates (default ISO 8601, ``YYYY-MM-DD``).
    """

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_format: str | None = None


@dataclass(frozen=True)
class RawTables:
    """Parsed (not yet validated) raw tables with canonical columns, plus what went wrong."""

    tables: dict[str, pd.DataFrame]
    files: dict[str, str]
    rows_in: dict[str, int]
    problems: list[Problem]


def load_mapping(path: Path | None) -> Mapping:
    """Read a mapping YAML file (see docs/data-dictionary.md); ``None`` gives the identity.

    Raises
    ------
    InputValidationError
        If the file names unknown sections, tables, canonical columns or vocabularies.
    """
    if path is None:
        return Mapping()
    path = Path(path)
    name = path.name
    try:
        with path.open() as fh:
            raw = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputValidationError(
            [Problem(name, None, None, None, f"cannot read mapping: {exc}")]
        ) from None
    problems = _check_mapping(raw, name)
    if problems:
        raise InputValidationError(problems)
    return Mapping(
        files={k: str(v) for k, v in (raw.get("files") or {}).items()},
        columns={
            t: {str(k): str(v) for k, v in m.items()} for t, m in (raw.get("columns") or {}).items()
        },
        values={
            t: {str(k): str(v) for k, v in m.items()} for t, m in (raw.get("values") or {}).items()
        },
        date_format=raw.get("date_format"),
    )


def _check_mapping(raw: Any, name: str) -> list[Problem]:
    if not isinstance(raw, dict):
        return [Problem(name, None, None, None, "mapping file must hold a YAML mapping")]
    problems = [
        Problem(
            name, None, None, key, f"unknown section; allowed: {', '.join(sorted(MAPPING_KEYS))}"
        )
        for key in raw
        if key not in MAPPING_KEYS
    ]
    for table in raw.get("files") or {}:
        if table not in TABLE_NAMES:
            problems.append(Problem(name, None, None, str(table), "files: unknown table"))
    for table, cols in (raw.get("columns") or {}).items():
        if table not in TABLE_NAMES:
            problems.append(Problem(name, None, None, str(table), "columns: unknown table"))
            continue
        canonical = {c.name for c in TABLES[table]}
        for target in (cols or {}).values():
            if target not in canonical:
                problems.append(
                    Problem(
                        name,
                        None,
                        None,
                        str(target),
                        f"columns.{table}: not a canonical column ({', '.join(sorted(canonical))})",
                    )
                )
    for vocab in raw.get("values") or {}:
        if vocab not in MAPPABLE_VALUES:
            problems.append(
                Problem(
                    name,
                    None,
                    None,
                    str(vocab),
                    f"values: unknown vocabulary; allowed: {', '.join(sorted(MAPPABLE_VALUES))}",
                )
            )
    return problems


def default_mapping_path(input_dir: Path) -> Path | None:
    """``input_dir/mapping.yaml`` if it exists, else ``None``."""
    path = Path(input_dir) / MAPPING_FILE_NAME
    return path if path.exists() else None


def find_table_file(
    input_dir: Path, table: str, mapping: Mapping
) -> tuple[Path | None, Problem | None]:
    """Locate one table's file: the mapping's name, or ``<table>.csv|.parquet|.xlsx``."""
    input_dir = Path(input_dir)
    if table in mapping.files:
        path = input_dir / mapping.files[table]
        if not path.exists():
            return None, Problem(
                mapping.files[table], None, None, None, f"file for table '{table}' not found"
            )
        return path, None
    found = [
        input_dir / f"{table}{ext}" for ext in EXTENSIONS if (input_dir / f"{table}{ext}").exists()
    ]
    if not found:
        wanted = "|".join(e.lstrip(".") for e in EXTENSIONS)
        return None, Problem(f"{table}.{{{wanted}}}", None, None, None, "required file is missing")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        return None, Problem(
            table, None, None, None, f"ambiguous: several files ({names}); keep one"
        )
    return found[0], None


def _clean_arrow(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame; text cells stripped, blank text cells missing (done in Arrow)."""
    columns = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        columns.append(col)
    return pa.table(columns, names=table.column_names).to_pandas()


def _clean_objects(df: pd.DataFrame) -> pd.DataFrame:
    """Object cells (Excel) -> stripped text or missing; date cells -> ``YYYY-MM-DD`` text."""

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if hasattr(v, "strftime"):
            return v.strftime("%Y-%m-%d")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        v = str(v).strip()
        return v or None

    return df.map(text)


def _read_csv(path: Path) -> pa.Table:
    """Every CSV cell as text (identifiers keep leading zeros); empty cells become missing."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )


def read_any(path: Path) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel file with a fresh 0..n-1 index.

    Text cells come back stripped, blank ones missing; CSV and Excel cells are all text, Parquet
    columns keep their types.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = _clean_arrow(_read_csv(path))
    elif suffix == ".parquet":
        df = _clean_arrow(pq.read_table(path))
    elif suffix == ".xlsx":
        df = _clean_objects(pd.read_excel(path, dtype=object, engine="openpyxl"))
    else:
        raise ValueError(f"unsupported file type {suffix}")
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df.reset_index(drop=True)


def _shown(column: str, value: Any) -> str:
    return MASK if column in IDENTIFIER_COLUMNS else str(value)


def _problems(file: str, column: str, mask: np.ndarray, raw: pd.Series, rule: str) -> list[Problem]:
    rows = np.flatnonzero(mask)
    return [Problem(file, int(i) + 1, column, _shown(column, raw.iloc[i]), rule) for i in rows]


def _as_text(raw: pd.Series) -> pd.Series:
    """Text of each cell (object dtype, ``None`` if missing); integral floats lose their '.0'.

    Object columns come from :func:`read_any` already stripped and with blanks missing.
    """
    if raw.dtype == object:
        return raw
    if pd.api.types.is_float_dtype(raw) and np.all(np.isnan(raw) | (raw == np.round(raw))):
        raw = raw.astype("Int64")
    text = raw.astype("string").str.strip()
    text = text.mask(text == "")
    return text.astype(object).where(text.notna(), None)


def _parse_number(raw: pd.Series, file: str, column: str) -> tuple[pd.Series, list[Problem]]:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64"), []
    text = _as_text(raw)
    try:  # fast path: Arrow parses a clean column in C++; any bad cell falls back to pandas
        arr = pa.array(text.to_numpy(), type=pa.string(), from_pandas=True).cast(pa.float64())
        return pd.Series(arr.to_numpy(zero_copy_only=False), index=raw.index, dtype="float64"), []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna().to_numpy() & parsed.isna().to_numpy()
    return parsed, _problems(file, column, bad, text, "not a number")


def _parse_date(
    raw: pd.Series, file: str, column: str, fmt: str | None
) -> tuple[pd.Series, list[Problem]]:
    if pd.api.types.is_datetime64_any_dtype(raw):
        out = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return out.astype("datetime64[ns]").dt.normalize(), []
    text = _as_text(raw)
    parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce")
    if fmt is not None:  # Excel date cells arrive as ISO text whatever the clinic's text format
        parsed = parsed.fillna(pd.to_datetime(text, format="ISO8601", errors="coerce"))
    parsed = parsed.astype("datetime64[ns]").dt.normalize()
    bad = text.notna().to_numpy() & parsed.isna().to_numpy()
    expected = fmt or "YYYY-MM-DD"
    return parsed, _problems(file, column, bad, text, f"not a date (expected {expected})")


def parse_column(
    raw: pd.Series, col: ColumnSpec, file: str, mapping: Mapping, vocab: str | None
) -> tuple[pd.Series, list[Problem]]:
    """Parse one raw column by its kind; return the typed column and the unreadable cells."""
    if col.kind in ("int", "float"):
        return _parse_number(raw, file, col.name)
    if col.kind == "date":
        return _parse_date(raw, file, col.name, mapping.date_format)
    text = _as_text(raw)
    if vocab and vocab in mapping.values:
        text = translate(text, mapping.values[vocab])
    return text, []


def translate(text: pd.Series, labels: dict[str, str]) -> pd.Series:
    """Replace clinic labels by canonical codes; unknown labels pass through (then validated)."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped = np.array([labels.get(u, u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=text.index, dtype=object)


def _vocab_of(table: str, column: str) -> str | None:
    for vocab, places in MAPPABLE_VALUES.items():
        if (table, column) in places:
            return vocab
    return None


def canonicalise(
    df: pd.DataFrame, table: str, file: str, mapping: Mapping
) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename clinic columns, check presence, and parse every canonical column.

    Columns outside the contract are dropped here (they may hold names or free text).
    """
    renamed = df.rename(columns=mapping.columns.get(table, {}))
    problems: list[Problem] = []
    dupes = renamed.columns[renamed.columns.duplicated()].unique()
    for c in dupes:
        problems.append(
            Problem(file, None, c, None, "column appears more than once (after mapping)")
        )
    renamed = renamed.loc[:, ~renamed.columns.duplicated()]
    out: dict[str, pd.Series] = {}
    for col in TABLES[table]:
        if col.name not in renamed.columns:
            if col.required:
                problems.append(Problem(file, None, col.name, None, "required column is missing"))
            out[col.name] = pd.Series([None] * len(renamed), dtype=_empty_dtype(col))
            continue
        parsed, col_problems = parse_column(
            renamed[col.name], col, file, mapping, _vocab_of(table, col.name)
        )
        out[col.name] = parsed.reset_index(drop=True)
        problems.extend(col_problems)
    return pd.DataFrame(out), problems


def _empty_dtype(col: ColumnSpec) -> str:
    return {"int": "float64", "float": "float64", "date": "datetime64[ns]"}.get(col.kind, "object")


def _read_failure(exc: Exception) -> str:
    """A reader error as advice; the library's own message may quote cells, so it is not shown."""
    if isinstance(exc, UnicodeDecodeError):
        return "cannot read file: not UTF-8 text (save it as 'CSV UTF-8')"
    if "columns, got" in str(exc):
        return (
            "cannot read file: a row has more or fewer cells than the header "
            "(check delimiters and quotes)"
        )
    return f"cannot read file ({type(exc).__name__}); is it a valid {EXTENSIONS} file?"


def read_export(input_dir: Path, mapping: Mapping) -> RawTables:
    """Read and parse the four tables of an export directory.

    Returns
    -------
    RawTables
        Tables with exactly the canonical columns (typed), display file names, raw row counts,
        and every missing file/column and unreadable cell found.
    """
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    rows_in: dict[str, int] = {}
    problems: list[Problem] = []
    for table in TABLE_NAMES:
        path, problem = find_table_file(input_dir, table, mapping)
        if problem is not None:
            problems.append(problem)
            continue
        files[table] = path.name
        try:
            raw = read_any(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a problem with the file
            problems.append(Problem(path.name, None, None, None, _read_failure(exc)))
            continue
        rows_in[table] = len(raw)
        tables[table], table_problems = canonicalise(raw, table, path.name, mapping)
        problems.extend(table_problems)
    return RawTables(tables=tables, files=files, rows_in=rows_in, problems=problems)
