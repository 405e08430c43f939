"""The report's check that a table it shows was released by the disclosure layer.

The report never suppresses: every table it reads under ``reports/<stage>/`` was written by the
``disclose`` stage (:mod:`analysis.disclosure.release`), with small counts and their complements
shown as :data:`~analysis.disclosure.rules.SUPPRESSED`. This module refuses a table whose count
columns still hold a count from 1 to ``min_count - 1`` (a table that bypassed the layer), so
that such a table can never reach the page or ``reports/tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.disclosure.model import count_value
from analysis.disclosure.rules import SUPPRESSED
from analysis.errors import ConfigError
from analysis.manifest import ManifestError

#: What a suppressed derived cell shows (the same label as a suppressed count).
SUPPRESSED_DERIVED = SUPPRESSED


def check_released(
    table: pd.DataFrame, count_columns: Sequence[str], threshold: int, source: str
) -> pd.DataFrame:
    """Return ``table`` unchanged if no count column holds a count in ``1 .. threshold-1``.

    Parameters
    ----------
    table
        A released table (``reports/<stage>/<stem>.csv``).
    count_columns
        Its count columns (manifest ``count_columns``).
    threshold
        ``disclosure.min_count``.
    source
        Where the table comes from, for the message.

    Raises
    ------
    ManifestError
        Naming the table, row and column of a small count (its value is not repeated).

    Examples
    --------
    >>> t = pd.DataFrame({"n": [12, "suppressed", 0]})
    >>> check_released(t, ["n"], 5, "x.csv")["n"].tolist()
    [12, 'suppressed', 0]
    """
    if threshold < 1:
        raise ConfigError(f"disclosure.min_count must be >= 1, got {threshold}")
    missing = [c for c in count_columns if c not in table.columns]
    if missing:
        raise ManifestError(f"{source}: count column(s) {missing} are not in the table")
    for col in count_columns:
        for pos, value in enumerate(table[col].tolist()):
            if isinstance(value, str) and value == SUPPRESSED:
                continue
            n = count_value(value, isinstance(value, str))
            if n is not None and 0 < n < threshold:
                raise ManifestError(
                    f"{source}, row {pos + 1}, column '{col}': a count under {threshold} is shown; "
                    "tables reach the report only through the disclosure layer (bonta disclose)"
                )
    return table
