"""Project exception hierarchy and the one way input problems are reported.

Every error a user can trigger derives from :class:`BontaError` and carries a message a clinic
analyst can act on: which file, row, column, value, and what was expected. Messages never
contain a patient identifier.

Input problems (:class:`Problem`) are reported by :class:`InputValidationError`: root causes
only (a problem that is the consequence of another, e.g. rows referring to a table that could
not be read, is counted in its root cause's ``knock_on`` instead of being listed), values
truncated, the same rule failing in many rows of one column shown once with a count, and the
full list written to a CSV file (:meth:`InputValidationError.with_full_list`) when the message
does not show every problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Longest value shown in a message; longer values are cut with their length stated.
MAX_VALUE_CHARS = 60
#: Rows shown per (file, column, rule) group before "... and N more rows".
ROWS_SHOWN_PER_GROUP = 3
#: Lines of problems shown in a message before the rest is only counted.
MAX_LINES_SHOWN = 60
#: Columns of the full problem list (:meth:`InputValidationError.with_full_list`).
PROBLEM_LIST_COLUMNS = (
    "file",
    "row",
    "line",
    "column",
    "value",
    "rule",
    "knock_on",
    "knock_on_files",
)


class BontaError(Exception):
    """Base class of every error this project raises on purpose."""


def shorten(value: str | None, limit: int = MAX_VALUE_CHARS) -> str | None:
    """``value`` cut to about ``limit`` characters, saying how long it was.

    >>> shorten("x" * 1_000_000)[-30:]
    'xxxxxxxx... (1,000,000 characters)'
    """
    if value is None or len(value) <= limit:
        return value
    return f"{value[: limit - 20]}... ({len(value):,} characters)"


@dataclass(frozen=True)
class Problem:
    """One violation of the data contract.

    Attributes
    ----------
    file : str
        File name as the clinic sees it (with the sheet of a workbook when it has several).
    row : int or None
        1-based data row in the file (the header is not counted); ``None`` when the problem
        concerns the whole file or a column.
    column : str or None
        Canonical column name (or the file's own header for a column outside the contract).
    value : str or None
        The offending value, already safe to show: identifiers are ``<identifier>``
        (:data:`analysis.data.schema.MASK`), never echoed; cut to :data:`MAX_VALUE_CHARS`.
    rule : str
        What was expected, in words a clinic analyst can act on.
    knock_on : int
        Further problems caused by this one and therefore not listed (e.g. every child row
        whose parent table could not be read).
    knock_on_files : tuple of str
        The files those knock-on problems are in.
    line : int or None
        Physical line of a text file when it differs from ``row + 1`` (quoted line breaks,
        blank lines) or when only the line is known.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    knock_on: int = field(default=0, compare=False)
    knock_on_files: tuple[str, ...] = field(default=(), compare=False)
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", shorten(self.value))

    @property
    def where(self) -> str:
        """``file, row N (line L)`` as far as known."""
        out = self.file
        if self.row is not None:
            out += f", row {self.row}"
            if self.line is not None and self.line != self.row + 1:
                out += f" (line {self.line})"
        elif self.line is not None:
            out += f", line {self.line}"
        return out

    def __str__(self) -> str:
        col = f", column '{self.column}'" if self.column else ""
        val = f", value {self.value!r}" if self.value is not None else ""
        more = ""
        if self.knock_on:
            where = f" in {', '.join(self.knock_on_files)}" if self.knock_on_files else ""
            s = "s" if self.knock_on != 1 else ""
            more = f" [explains {self.knock_on:,} knock-on problem{s}{where}, not listed]"
        return f"{self.where}{col}{val}: {self.rule}{more}"


def _summary_lines(problems: list[Problem]) -> tuple[list[str], bool]:
    """Message lines: each (file, column, rule) group shows its first rows and a count.

    Returns the lines and whether every problem appears in them individually.
    """
    groups: dict[tuple[str, str | None, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.file, p.column, p.rule), []).append(p)
    lines: list[str] = []
    shown = covered = 0
    for (file, column, _), members in groups.items():
        if len(lines) >= MAX_LINES_SHOWN:
            break
        head = members[:ROWS_SHOWN_PER_GROUP]
        lines += [f"  - {p}" for p in head]
        shown, covered = shown + len(head), covered + len(members)
        if len(members) > len(head):
            col = f", column '{column}'" if column else ""
            lines.append(
                f"  - ... and {len(members) - len(head):,} more row(s) of {file}{col} "
                "with the same rule"
            )
    if covered < len(problems):
        lines.append(f"  ... and {len(problems) - covered:,} more problem(s)")
    return lines, shown == len(problems)


class InputValidationError(BontaError):
    """The input violates the data contract; ``problems`` lists every root cause found.

    Parameters
    ----------
    problems : list of Problem
        Root causes, each with the number of knock-on problems it explains.
    full_list : Path, optional
        Where the complete list was written (see :meth:`with_full_list`).
    """

    def __init__(self, problems: Iterable[Problem], full_list: Path | None = None):
        self.problems = list(problems)
        self.full_list = full_list
        lines, self.complete = _summary_lines(self.problems)
        knock_on = sum(p.knock_on for p in self.problems)
        head = f"{len(self.problems):,} problem(s) in the input"
        if knock_on:
            head += f" (root causes; with {knock_on:,} knock-on problem(s) they explain)"
        tail = ""
        if full_list is not None:
            tail = f"\nThe full list ({len(self.problems):,} problems) is in {full_list}."
        elif not self.complete:
            tail = "\nOnly the first rows of each problem are shown."
        super().__init__(f"{head}; nothing was written.\n" + "\n".join(lines) + tail)

    def with_full_list(self, path: Path) -> InputValidationError:
        """Write the full problem list to ``path`` (CSV) if the message does not show it all.

        The list holds the same masked, truncated values as the message, and cells a
        spreadsheet would execute are neutralised (:func:`analysis.io.write_csv`). Returns
        the error to raise: this one when the message is complete, else one naming ``path``.
        """
        if self.complete:
            return self
        import pandas as pd

        from analysis.io import write_csv

        rows = [
            (
                p.file,
                p.row,
                p.line,
                p.column,
                p.value,
                p.rule,
                p.knock_on,
                " ".join(p.knock_on_files),
            )
            for p in self.problems
        ]
        table = pd.DataFrame(rows, columns=list(PROBLEM_LIST_COLUMNS)).astype(
            {"row": "Int64", "line": "Int64"}
        )
        write_csv(table, path)
        return InputValidationError(self.problems, full_list=Path(path))


class ConfigError(BontaError):
    """A parameter in params.yaml (or on the command line) is missing or out of range."""


class ConvergenceError(BontaError):
    """A Bayesian fit failed its diagnostics gate (R-hat, ESS, divergences)."""


class AdviceInputError(BontaError):
    """A request for interval advice names an unknown region/product or an impossible value."""
