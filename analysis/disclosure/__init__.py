"""The disclosure layer: nothing under ``reports/`` lets a reader recover a small count.

Stages write their full tables (the analyst copy) to ``data/results/<stage>/`` through
:class:`analysis.outputs.StageOutput`, declaring which columns are counts and how they add up
(:mod:`analysis.disclosure.spec`). The ``disclose`` stage (:mod:`analysis.disclosure.release`)
reads every stage's declarations together, suppresses small counts (primary,
:mod:`~analysis.disclosure.rules`), adds complementary suppressions until a linear-programming
audit of every primary cell's feasible interval passes (:mod:`~analysis.disclosure.protect`,
:mod:`~analysis.disclosure.model`), and writes the protected copies, the figures drawn from them
and the audit to ``reports/``. The report reads only those.
"""

from analysis.disclosure.rules import (
    SUPPRESSED,
    format_count,
    format_count_percent,
    is_small_count,
    suppressed_label,
)

__all__ = [
    "SUPPRESSED",
    "format_count",
    "format_count_percent",
    "is_small_count",
    "suppressed_label",
]
