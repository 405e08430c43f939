"""The small-count rule and the labels every released table uses.

A count between 1 and ``threshold - 1`` (by default 1-4) could single out a patient: it is
*primary*-suppressed. Zero is shown: it describes nobody. Every suppressed count, primary or
secondary (withheld so that a primary one cannot be worked out, :mod:`analysis.disclosure.
protect`), shows the same label, :data:`SUPPRESSED`, so that a reader cannot tell which cells
are the small ones. ``threshold`` is ``disclosure.min_count`` in params.yaml.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: What a suppressed count, and every value computed from it, shows in a released table.
SUPPRESSED = "suppressed"


def suppressed_label(threshold: int) -> str:  # noqa: ARG001 - one label for every threshold
    """The text that replaces a suppressed count (:data:`SUPPRESSED`)."""
    return SUPPRESSED


def is_small_count(value: Any, threshold: int) -> bool:
    """True if ``value`` is a count in ``1 .. threshold-1`` (NaN, text and 0 are not small)."""
    if value is None or isinstance(value, str | bool):
        return False
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):
        return False
    return 0 < float(value) < threshold


def format_count(n: int, threshold: int) -> str:
    """``n`` as text, or :data:`SUPPRESSED` when ``0 < n < threshold``."""
    return SUPPRESSED if is_small_count(n, threshold) else str(int(n))


def format_count_percent(n: int, total: int, threshold: int, digits: int = 1) -> str:
    """``"n (p%)"``, or :data:`SUPPRESSED` when ``0 < n < threshold``.

    The percentage of a suppressed count is not shown (it would give the count back).
    """
    if is_small_count(n, threshold):
        return SUPPRESSED
    pct = 100.0 * n / total if total else float("nan")
    return f"{int(n)} ({pct:.{digits}f}%)"
