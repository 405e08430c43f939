"""Tables for readers: labelled columns with units, intervals in one cell, percentages once.

A :class:`Column` says which released columns make one shown column and how to print them; a
:class:`ReaderTable` is what a template shows. Every cell is text made from a released value
(never a number typed here); a cell whose value was suppressed by the disclosure layer shows
"suppressed". The downloadable tables under ``reports/<stage>/`` keep every column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.disclosure.rules import SUPPRESSED
from analysis.report.assemble import read_table
from analysis.report.suppress import check_released

#: How a value prints: ``count`` (integer), ``pct`` (already percent, 1 decimal), ``prop``
#: (a proportion 0-1 shown as percent, 1 decimal), ``days`` (whole days), ``ratio`` (2
#: decimals), ``prob`` (2 decimals), ``number`` (shortest form, e.g. units), ``text`` (a
#: label: underscores become spaces), ``code`` (shown as is).
KINDS = ("count", "pct", "prop", "days", "ratio", "prob", "number", "text", "code")


@dataclass(frozen=True)
class Column:
    """One shown column: ``label`` (with its unit), the released ``value`` column and, for an
    interval, its ``lower`` and ``upper`` columns; ``kind`` as in :data:`KINDS`."""

    label: str
    value: str
    kind: str = "text"
    lower: str | None = None
    upper: str | None = None
    missing: str = "–"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.label!r}: kind {self.kind!r} not in {KINDS}")


@dataclass(frozen=True)
class ReaderTable:
    """A table as a reader sees it; ``keys`` names each row (for deep checks), ``source``
    the released table(s) it was made from."""

    table_id: str
    caption: str
    source: str
    columns: list[str]
    rows: list[list[str]]
    keys: list[str]
    numeric: list[bool]
    note: str = ""

    def cell(self, key: str, column: str) -> str:
        """The text of row ``key``, column ``column`` (a label)."""
        return self.rows[self.keys.index(key)][self.columns.index(column)]


def is_suppressed(value: Any) -> bool:
    return isinstance(value, str) and value == SUPPRESSED


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def format_value(value: Any, kind: str, missing: str = "–") -> str:
    """Display text of one released value (see :data:`KINDS`).

    Examples
    --------
    >>> format_value(0.02599, "prop"), format_value(14.94, "pct"), format_value(135.96, "days")
    ('2.6', '14.9', '136')
    >>> format_value("suppressed", "count"), format_value(float("nan"), "days", "not reached")
    ('suppressed', 'not reached')
    """
    if is_suppressed(value):
        return SUPPRESSED
    if _missing(value):
        return missing
    if kind == "text":
        return str(value).replace("_", " ")
    if kind == "code":
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    number = float(value)
    if kind == "count":
        return f"{int(round(number)):,}".replace(",", "\u202f")
    if kind == "prop":
        return f"{100 * number:.1f}"
    if kind == "pct":
        return f"{number:.1f}"
    if kind == "days":
        return f"{number:.0f}"
    if kind == "number":
        return f"{number:g}"
    return f"{number:.2f}"


def format_cell(row: pd.Series, col: Column) -> str:
    """``value`` or ``value (lower–upper)``; "suppressed" if any of them is suppressed."""
    value = format_value(row.get(col.value), col.kind, col.missing)
    if col.lower is None or col.upper is None or value in (SUPPRESSED, col.missing):
        return value
    lower, upper = (format_value(row.get(c), col.kind, "?") for c in (col.lower, col.upper))
    if SUPPRESSED in (lower, upper):
        return SUPPRESSED
    return f"{value} ({lower}–{upper})"


def reader_table(
    table_id: str,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    *,
    caption: str,
    source: str,
    key: Sequence[str],
    note: str = "",
) -> ReaderTable:
    """Format ``frame`` (released rows) into the shown ``columns``; ``key`` columns name rows.

    A column the release withheld (a region-mix benchmark the disclosure layer kept back) is
    left out of the table."""
    columns = [c for c in columns if c.value in frame.columns]
    rows, keys = [], []
    for _, row in frame.iterrows():
        rows.append([format_cell(row, c) for c in columns])
        keys.append("|".join(str(row[k]) for k in key))
    return ReaderTable(
        table_id=table_id,
        caption=caption,
        source=source,
        columns=[c.label for c in columns],
        rows=rows,
        keys=keys,
        numeric=[c.kind not in ("text", "code") for c in columns],
        note=note,
    )


class Released:
    """The released tables of a reports directory, read on demand and checked once.

    ``stem`` names a table as ``<stage dir>/<file stem>``; a table the stages did not write
    (an optional output) is ``None``.
    """

    def __init__(self, reports: Path, min_count: int):
        self.reports = Path(reports)
        self.min_count = min_count
        self._cache: dict[str, pd.DataFrame | None] = {}

    def get(self, stem: str, counts: Sequence[str] = ()) -> pd.DataFrame | None:
        if stem not in self._cache:
            path = self.reports / f"{stem}.csv"
            if not path.is_file():
                self._cache[stem] = None
            else:
                table = read_table(path)
                shown = [c for c in counts if c in table.columns]
                check_released(table, shown, self.min_count, stem)
                self._cache[stem] = table
        return self._cache[stem]

    def require(self, stem: str, counts: Sequence[str] = ()) -> pd.DataFrame:
        table = self.get(stem, counts)
        if table is None:
            raise FileNotFoundError(f"{self.reports / stem}.csv: released table missing")
        return table
