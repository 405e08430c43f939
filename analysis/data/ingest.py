"""Reading a clinic export: find the four files, apply the mapping file, parse every column.

Nothing here raises on bad input: an unreadable file, row or cell becomes a
:class:`analysis.errors.Problem`, so that :func:`analysis.data.prepare.prepare` can report all
problems of an export at once. Files are read by :mod:`analysis.data.readers`; the mapping file
is :mod:`analysis.data.mapping`.

Dates: ISO 8601 (``YYYY-MM-DD``, optionally with a time and a UTC offset) unless mapping.yaml
declares ``date_format``. A timestamp's date is the date written in it (the clinic's local
date; with ``timezone:`` in mapping.yaml, timestamps with an offset are converted to that zone
first). Dates written day/month style (``07/02/2022``) are never guessed: their order must be
declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.data.mapping import (
    MAPPING_FILE_NAME,
    MAPPING_KEYS,
    Mapping,
    default_mapping_path,
    load_mapping,
)
from analysis.data.problems import cell_problems
from analysis.data.readers import FileRead, Part, ReadFailure, read_file
from analysis.data.schema import (
    EXTENSIONS,
    IDENTIFIER_COLUMNS,
    MAPPABLE_VALUES,
    MASK,
    TABLE_NAMES,
    TABLES,
    ColumnSpec,
)
from analysis.errors import Problem

__all__ = [
    "MAPPING_FILE_NAME",
    "MAPPING_KEYS",
    "Mapping",
    "RawTables",
    "canonicalise",
    "default_mapping_path",
    "find_table_file",
    "load_mapping",
    "parse_column",
    "read_export",
    "translate",
]


@dataclass(frozen=True)
class RawTables:
    """Parsed (not yet validated) raw tables with canonical columns, plus what went wrong.

    Attributes
    ----------
    tables : dict
        Table -> DataFrame with exactly the canonical columns (typed); absent when the file
        is missing or unreadable.
    files : dict
        Table -> file name as shown in messages.
    rows_in : dict
        Table -> rows read.
    problems : list of Problem
        Missing files and columns, unreadable files, rows and cells.
    roots : dict
        Table -> the file-level problem that kept it from being read.
    incomplete : dict
        Table -> a problem meaning some of its rows were not read (a rejected sheet).
    parts : dict
        Table -> the sheets of its workbook (rows read or not, and why).
    broken_rows : dict
        Table -> 0-based rows whose cells could not be split (identifiers only were used).
    lines : dict
        Table -> physical line of each row, where the reader located them.
    """

    tables: dict[str, pd.DataFrame]
    files: dict[str, str]
    rows_in: dict[str, int]
    problems: list[Problem]
    roots: dict[str, Problem] = field(default_factory=dict)
    incomplete: dict[str, Problem] = field(default_factory=dict)
    parts: dict[str, tuple[Part, ...]] = field(default_factory=dict)
    broken_rows: dict[str, np.ndarray] = field(default_factory=dict)
    lines: dict[str, np.ndarray] = field(default_factory=dict)


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


def _shown(column: str, value: Any) -> str:
    return MASK if column in IDENTIFIER_COLUMNS else str(value)


def _problems(file: str, column: str, mask: np.ndarray, raw: pd.Series, rule: str) -> list[Problem]:
    return cell_problems(file, column, mask, raw, rule, _shown)


def _as_text(raw: pd.Series) -> pd.Series:
    """Text of each cell (object dtype, ``None`` if missing); integral floats lose their '.0'.

    Object columns come from the readers already stripped and with blanks missing.
    """
    if raw.dtype == object:
        return raw
    if pd.api.types.is_float_dtype(raw) and np.all(np.isnan(raw) | (raw == np.round(raw))):
        raw = raw.astype("Int64")
    text = raw.astype("string").str.strip()
    text = text.mask(text == "")
    return text.astype(object).where(text.notna(), None)


_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


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
    comma = bad & text.map(lambda v: v is not None and bool(_DECIMAL_COMMA.fullmatch(v))).to_numpy(
        dtype=bool
    )
    return parsed, (
        _problems(file, column, bad & ~comma, text, "not a number")
        + _problems(
            file,
            column,
            comma,
            text,
            "not a number: a decimal comma; use '.' as the decimal separator",
        )
    )


# ISO 8601 date, optionally with a time and a UTC offset (the offset is the clinic's own).
_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?))?"
    r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
# A day/month date whose order is not stated: 07/02/2022, 7.2.22, 07-02-2022.
_DAY_MONTH = r"^(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?:\d{4}|\d{2})(?:[ T].*)?$"
DATE_RULE = "not a date (expected YYYY-MM-DD)"


def _iso_dates(u: pd.Series, timezone: str | None) -> pd.Series:
    """ISO dates (and timestamps) of the unique texts ``u``; NaT where not ISO.

    A timestamp's date is the date written in it: exports write local time with the clinic's
    own offset. With ``timezone`` (mapping.yaml), timestamps with an offset are converted to
    that zone first.
    """
    parts = u.str.extract(_ISO)
    out = pd.to_datetime(parts["date"], format="%Y-%m-%d", errors="coerce")
    offset = parts["offset"].notna() & out.notna()
    if timezone is not None and offset.any():
        stamp = (
            parts.loc[offset, "date"]
            + "T"
            + parts.loc[offset, "time"].fillna("00:00")
            + parts.loc[offset, "offset"]
        )
        local = pd.to_datetime(stamp, format="ISO8601", utc=True, errors="coerce")
        out[offset] = local.dt.tz_convert(timezone).dt.tz_localize(None)
    return out.astype("datetime64[ns]").dt.normalize()


def _declared_dates(u: pd.Series, fmt: str, timezone: str | None) -> pd.Series:
    """Dates of ``u`` in the declared ``fmt``; ISO text (Excel date cells) accepted too."""
    if "%z" in fmt or "%Z" in fmt:  # aware: the written date, or converted to ``timezone``
        import datetime as dt
        import zoneinfo

        def one(text: str):
            try:
                stamp = dt.datetime.strptime(text, fmt)
            except ValueError:
                return pd.NaT
            if timezone is not None and stamp.tzinfo is not None:
                stamp = stamp.astimezone(zoneinfo.ZoneInfo(timezone))
            return pd.Timestamp(stamp.date())

        out = pd.to_datetime(u.map(one), errors="coerce")
    else:
        out = pd.to_datetime(u, format=fmt, errors="coerce")
    out = out.astype("datetime64[ns]").dt.normalize()
    return out.fillna(_iso_dates(u, timezone))


def _parse_date(
    raw: pd.Series, file: str, column: str, mapping: Mapping
) -> tuple[pd.Series, list[Problem]]:
    """Parse a date column; unique texts are parsed once (dates repeat across rows).

    Without ``date_format``, dates written day/month style (``07/02/2022``) in most rows of the
    column are one column-level problem: their order must be declared in mapping.yaml.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        if getattr(raw.dt, "tz", None) is not None:
            if mapping.timezone is not None:
                raw = raw.dt.tz_convert(mapping.timezone)
            raw = raw.dt.tz_localize(None)
        return raw.astype("datetime64[ns]").dt.normalize(), []
    text = _as_text(raw)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    u = pd.Series(uniques, dtype=object).astype(str)
    fmt = mapping.date_format
    parsed_u = _declared_dates(u, fmt, mapping.timezone) if fmt else _iso_dates(u, mapping.timezone)
    values = np.append(parsed_u.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    parsed = pd.Series(values[codes], index=raw.index, dtype="datetime64[ns]")
    bad_u = parsed_u.isna().to_numpy()
    if not bad_u.any():
        return parsed, []
    counts = np.bincount(codes[codes >= 0], minlength=len(u))
    shape = u.str.extract(_DAY_MONTH)
    day_month = shape["a"].notna().to_numpy() & bad_u
    if fmt is None and counts[day_month].sum() > 0.5 * counts.sum():
        missing = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        return missing, [_day_month_problem(file, column, u, shape, counts, day_month)]
    bad = bad_u[codes] & (codes >= 0)
    hinted = day_month[codes] & (codes >= 0)
    expected = f"not a date (expected {fmt})" if fmt else DATE_RULE
    hint = (
        f"{expected}; it may be month-first or day-first: check date_format in mapping.yaml"
        if fmt
        else f"{expected}; for dates like 07/02/2022 declare date_format in mapping.yaml"
    )
    return parsed, (
        _problems(file, column, bad & ~hinted, text, expected)
        + _problems(file, column, bad & hinted, text, hint)
    )


def _day_month_problem(
    file: str, column: str, u: pd.Series, shape: pd.DataFrame, counts: np.ndarray, rows: np.ndarray
) -> Problem:
    a = pd.to_numeric(shape["a"], errors="coerce").to_numpy()
    b = pd.to_numeric(shape["b"], errors="coerce").to_numpy()
    both = rows & (a <= 12) & (b <= 12) & (a != b)
    day_first_only = rows & (a > 12)
    month_first_only = rows & (b > 12)
    example = u[both].iloc[0] if both.any() else u[rows].iloc[0]
    detail = (
        f"both readings are valid in {counts[both].sum():,} rows"
        if both.any()
        else "no row is valid both ways"
    )
    for only, order in ((day_first_only, "day-first"), (month_first_only, "month-first")):
        if only.any():
            detail += f"; {counts[only].sum():,} row(s) only make sense {order}"
    return Problem(
        file,
        None,
        column,
        example,
        f"{counts[rows].sum():,} dates are written day/month style without a declared order "
        f'({detail}): declare the format in mapping.yaml, date_format: "%d/%m/%Y" (day '
        'first) or "%m/%d/%Y" (month first); ISO dates (YYYY-MM-DD) need no declaration',
    )


def parse_column(
    raw: pd.Series, col: ColumnSpec, file: str, mapping: Mapping, vocab: str | None
) -> tuple[pd.Series, list[Problem]]:
    """Parse one raw column by its kind; return the typed column and the unreadable cells."""
    if col.kind in ("int", "float"):
        return _parse_number(raw, file, col.name)
    if col.kind == "date":
        return _parse_date(raw, file, col.name, mapping)
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
    df: pd.DataFrame,
    table: str,
    file: str,
    mapping: Mapping,
    broken_rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename clinic columns, check presence, and parse every canonical column.

    Columns outside the contract are dropped here (they may hold names or free text). In
    ``broken_rows`` (rows whose cells could not be split) only identifier cells are kept.
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
        raw = renamed[col.name]
        if broken_rows is not None and len(broken_rows) and col.kind != "id":
            raw = raw.copy()
            raw.iloc[broken_rows] = None
        parsed, col_problems = parse_column(raw, col, file, mapping, _vocab_of(table, col.name))
        out[col.name] = parsed.reset_index(drop=True)
        problems.extend(col_problems)
    return pd.DataFrame(out), problems


def _empty_dtype(col: ColumnSpec) -> str:
    return {"int": "float64", "float": "float64", "date": "datetime64[ns]"}.get(col.kind, "object")


def read_export(input_dir: Path, mapping: Mapping) -> RawTables:
    """Read and parse the four tables of an export directory.

    Returns
    -------
    RawTables
        Tables with exactly the canonical columns (typed), display file names, raw row counts,
        every missing file/column and unreadable file, row and cell found, and where each root
        cause lies (:class:`RawTables`).
    """
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    rows_in: dict[str, int] = {}
    problems: list[Problem] = []
    roots: dict[str, Problem] = {}
    incomplete: dict[str, Problem] = {}
    parts: dict[str, tuple[Part, ...]] = {}
    broken: dict[str, np.ndarray] = {}
    lines: dict[str, np.ndarray] = {}
    for table in TABLE_NAMES:
        path, problem = find_table_file(input_dir, table, mapping)
        if problem is not None:
            problems.append(problem)
            roots[table] = problem
            continue
        assert path is not None  # find_table_file gives a path or a problem
        files[table] = path.name
        try:
            read: FileRead = read_file(path, table, mapping)
        except ReadFailure as failure:
            problems.append(failure.problem)
            roots[table] = failure.problem
            continue
        rows_in[table] = len(read.frame)
        problems.extend(read.problems)
        tables[table], table_problems = canonicalise(
            read.frame, table, path.name, mapping, read.broken_rows
        )
        problems.extend(table_problems)
        if read.incomplete is not None:
            incomplete[table] = read.incomplete
        if read.parts:
            parts[table] = read.parts
        if len(read.broken_rows):
            broken[table] = read.broken_rows
        if read.lines is not None:
            lines[table] = read.lines
    return RawTables(
        tables=tables,
        files=files,
        rows_in=rows_in,
        problems=problems,
        roots=roots,
        incomplete=incomplete,
        parts=parts,
        broken_rows=broken,
        lines=lines,
    )
