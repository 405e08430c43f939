"""Small-count suppression for tables a clinic could share.

A count between 1 and ``threshold - 1`` (by default 1-4) could single out a patient, so it is
replaced by the label ``"<5"`` (the rule itself is :mod:`analysis.disclosure`). Columns derived
from a suppressed count in the same row (a rate, a percentage, its interval) would let a reader
recompute the count, so they are blanked too. Zero is shown: it describes nobody. Secondary
suppression across rows (recovering a cell from a shown total) is NOT attempted; tables that
show totals should list the total's count column in ``count_columns`` as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.disclosure import is_small_count, suppressed_label
from analysis.errors import ConfigError

#: What a suppressed derived cell shows.
SUPPRESSED_DERIVED = "suppressed"


def suppress_small_counts(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    threshold: int = 5,
    derived_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Replace counts below ``threshold`` by ``"<threshold"`` and blank the derived cells.

    Parameters
    ----------
    table
        The table as a stage wrote it (one row a group, counts as numbers).
    count_columns
        Columns holding counts of people or episodes (manifest ``count_columns``).
    threshold
        Smallest count shown; ``report.min_count`` in params.yaml (5 by default).
    derived_columns
        Columns computed from the counts of the same row (rates, intervals); blanked in a row
        where any count is suppressed.

    Returns
    -------
    pandas.DataFrame
        A copy; suppressed columns become ``object`` dtype. The input is not changed.

    Examples
    --------
    >>> t = pd.DataFrame({"region": ["a", "b"], "n": [12, 3], "rate": [0.25, 0.33]})
    >>> suppress_small_counts(t, ["n"], 5, ["rate"])["n"].tolist()
    [12, '<5']
    """
    if threshold < 1:
        raise ConfigError(f"report.min_count must be >= 1, got {threshold}")
    missing = [c for c in [*count_columns, *derived_columns] if c not in table.columns]
    if missing:
        raise ConfigError(
            f"suppression names column(s) {missing} that the table does not have "
            f"(columns: {list(table.columns)})"
        )
    out = table.copy()
    row_hit = pd.Series(False, index=out.index)
    for col in count_columns:
        small = out[col].map(lambda v: is_small_count(v, threshold)).astype(bool)
        if small.any():
            out[col] = out[col].astype(object)
            out.loc[small, col] = suppressed_label(threshold)
        row_hit |= small
    for col in derived_columns:
        if row_hit.any():
            out[col] = out[col].astype(object)
            out.loc[row_hit, col] = SUPPRESSED_DERIVED
    return out
