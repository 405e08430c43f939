"""Laying out report tables for print: wide tables on landscape pages, very wide ones split.

A table with more than :data:`PORTRAIT_COLUMNS` columns goes on a landscape page; one with
more than :data:`LANDSCAPE_COLUMNS` is split into parts that each repeat the table's key
(leading text) columns, so no column is ever clipped at the page edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.report.assemble import RenderedTable

PORTRAIT_COLUMNS = 7
LANDSCAPE_COLUMNS = 14
NUMERIC_START = tuple("0123456789-<–−")


@dataclass(frozen=True)
class PrintPart:
    """One printed part of a table: its columns, rows, part number and layout."""

    columns: list[str]
    rows: list[list[str]]
    part: int
    parts: int
    landscape: bool


def key_columns(table: RenderedTable, most: int = 2) -> int:
    """Number of leading columns that label the rows (text, not numbers), at most ``most``."""
    n = 0
    for i in range(min(most, len(table.columns))):
        cells = [row[i] for row in table.rows if row[i]]
        if cells and all(not c.startswith(NUMERIC_START) for c in cells):
            n += 1
        else:
            break
    return max(n, 1)


def print_parts(table: RenderedTable, max_columns: int = LANDSCAPE_COLUMNS) -> list[PrintPart]:
    """The parts a table prints as (one part unless it has more than ``max_columns``)."""
    n = len(table.columns)
    landscape = n > PORTRAIT_COLUMNS
    if n <= max_columns:
        return [PrintPart(table.columns, table.rows, 1, 1, landscape)]
    keys = key_columns(table)
    per_part = max_columns - keys
    chunks = [list(range(start, min(start + per_part, n))) for start in range(keys, n, per_part)]
    parts = []
    for k, chunk in enumerate(chunks, start=1):
        index = list(range(keys)) + chunk
        parts.append(
            PrintPart(
                [table.columns[i] for i in index],
                [[row[i] for i in index] for row in table.rows],
                k,
                len(chunks),
                True,
            )
        )
    return parts
