"""The small-count rule shared by every table readers see.

A count between 1 and ``threshold - 1`` (by default 1-4) could single out a patient, so it is
shown as ``"<threshold"``. Zero is shown: it describes nobody. The cohort description applies
the rule when it formats Table 1; the report applies it to every table it shows or exports
(:mod:`analysis.report.suppress`). ``threshold`` is ``report.min_count`` in params.yaml.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def suppressed_label(threshold: int) -> str:
    """The text that replaces a small count, e.g. ``"<5"``."""
    return f"<{threshold}"


def is_small_count(value: Any, threshold: int) -> bool:
    """True if ``value`` is a count in ``1 .. threshold-1`` (NaN and 0 are not small)."""
    if value is None or isinstance(value, str):
        return False
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):
        return False
    return 0 < float(value) < threshold


def format_count(n: int, threshold: int) -> str:
    """``n`` as text, or ``"<threshold"`` when ``0 < n < threshold``."""
    return suppressed_label(threshold) if is_small_count(n, threshold) else str(int(n))


def format_count_percent(n: int, total: int, threshold: int, digits: int = 1) -> str:
    """``"n (p%)"``, or ``"<5"`` when ``0 < n < threshold``.

    The percentage of a suppressed count is not shown (it would give the count back).
    """
    if is_small_count(n, threshold):
        return suppressed_label(threshold)
    pct = 100.0 * n / total if total else float("nan")
    return f"{int(n)} ({pct:.{digits}f}%)"
