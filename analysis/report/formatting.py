"""Display text of table cells and headline numbers (the report never changes a number)."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd


def format_number(value: Any, digits: int | None = None) -> str:
    """Display text of one cell: integers as integers, floats to a sensible precision.

    Missing values print as an en dash. With ``digits`` the value is rounded to that many
    decimals; otherwise 1 decimal from 10, 2 from 1, else 3 significant digits.

    Examples
    --------
    >>> format_number(128.43), format_number(1.19, 2), format_number(600)
    ('128.4', '1.19', '600')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if digits is not None:
        return f"{number:.{digits}f}"
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) >= 10:
        return f"{number:.1f}"
    if abs(number) >= 1:
        return f"{number:.2f}"
    return f"{number:.3g}"


def format_table(table: pd.DataFrame) -> list[list[str]]:
    """Rows of display text (see :func:`format_number`); a missing label is an empty cell."""
    text_columns = [not pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    return [
        [
            "" if is_text and _missing(v) else format_number(v)
            for v, is_text in zip(row, text_columns, strict=True)
        ]
        for row in table.itertuples(index=False)
    ]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def slug(text: str) -> str:
    """Lower-case identifier of ``text`` (HTML ids, LaTeX labels)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
