"""Problems of many rows: listed one by one, or one problem of the column.

A rule broken in most cells of a column says something about the column (a wrong column named
or mapped, a wrong setting such as the data cut-off), not about its rows. Such a rule gives one
column-level :class:`~analysis.errors.Problem` whose knock-on count is the other rows; it is
built without creating a problem per row, so that a wrong cut-off on 4 million rows costs no
more than a correct one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import Problem

#: A rule broken in more than half of a column's cells in play, and in at least this many
#: rows, is one problem of the column.
MOST_ROWS_MIN = 5


def breaks_most_rows(n_failed: int, in_play: int) -> bool:
    """True when ``n_failed`` of ``in_play`` cells is most of a column (and enough rows)."""
    return n_failed >= MOST_ROWS_MIN and n_failed > 0.5 * in_play


def column_problem(
    file: str, column: str, n_failed: int, in_play: int, first_row: int, value: Any, rule: str
) -> Problem:
    """One problem for ``rule`` broken in ``n_failed`` of ``in_play`` cells of ``column``."""
    return Problem(
        file,
        None,
        column,
        value,
        f"{n_failed:,} of {in_play:,} rows (the first: row {first_row}): {rule}; most rows break "
        "this rule: check the column (its header, mapping.yaml) or the setting the rule names",
        knock_on=n_failed - 1,
        knock_on_files=(file,) if n_failed > 1 else (),
    )


def cell_problems(
    file: str,
    column: str,
    mask: Any,
    values: pd.Series,
    rule: str,
    shown: Callable[[str, Any], str | None],
) -> list[Problem]:
    """A problem per row where ``mask`` holds, or one for the column when most rows do.

    Cells in play are the non-empty ones plus the empty ones that fail (a rule about missing
    values). ``shown(column, value)`` gives the value as it may be shown.
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    if not len(rows):
        return []
    in_play = int((values.notna().to_numpy() | mask).sum())
    if breaks_most_rows(len(rows), in_play):
        first = int(rows[0])
        return [
            column_problem(
                file, column, len(rows), in_play, first + 1, shown(column, values.iloc[first]), rule
            )
        ]
    return [Problem(file, int(i) + 1, column, shown(column, values.iloc[i]), rule) for i in rows]
