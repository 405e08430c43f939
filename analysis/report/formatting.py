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


#: Column names that hold p-values (shown as "<0.001", never as 8.86e-204).
P_VALUE_COLUMN = re.compile(r"^p(_value|_naive|_clustered|_robust)?$|_p_value$")


def format_p(value: Any) -> str:
    """Display text of a p-value: ``<0.001`` below 0.001, else 3 decimals (2 from 0.1).

    Examples
    --------
    >>> format_p(8.86e-204), format_p(0.0123), format_p(0.4567), format_p(float("nan"))
    ('<0.001', '0.012', '0.46', '–')
    """
    if isinstance(value, str) or value is None:
        return format_number(value)
    number = float(value)
    if math.isnan(number):
        return "–"
    if number < 0.001:
        return "<0.001"
    return f"{number:.2f}" if number >= 0.1 else f"{number:.3f}"


def format_table(table: pd.DataFrame) -> list[list[str]]:
    """Rows of display text (see :func:`format_number`; p-value columns, named by
    :data:`P_VALUE_COLUMN`, by :func:`format_p`); a missing label is an empty cell."""
    text_columns = [not pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    p_columns = [bool(P_VALUE_COLUMN.search(str(c))) for c in table.columns]
    return [
        [
            ""
            if is_text and _missing(v)
            else (format_p(v) if is_p and not is_text else format_number(v))
            for v, is_text, is_p in zip(row, text_columns, p_columns, strict=True)
        ]
        for row in table.itertuples(index=False)
    ]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def slug(text: str) -> str:
    """Lower-case identifier of ``text`` (HTML ids, LaTeX labels)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
