"""Project exception hierarchy.

Every error a user can trigger derives from :class:`BontaError` and carries a message a clinic
analyst can act on: which file, row, column, value, and what was expected. Messages never
contain a patient identifier.
"""

from __future__ import annotations

from dataclasses import dataclass


class BontaError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One violation of the data contract.

    ``row`` is the 1-based data row in the file (the header is not counted), or ``None`` when
    the problem concerns the whole file or a column. ``value`` must already be safe to show:
    identifier columns are reported as ``<identifier>`` and never echoed.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        col = f", column '{self.column}'" if self.column else ""
        val = f", value {self.value!r}" if self.value is not None else ""
        return f"{where}{col}{val}: {self.rule}"


class InputValidationError(BontaError):
    """The input violates the data contract; ``problems`` lists every violation found."""

    def __init__(self, problems: list[Problem], max_shown: int = 200):
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:max_shown])
        more = len(self.problems) - max_shown
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{len(self.problems)} problem(s) in the input; nothing was written.\n{shown}{tail}"
        )


class ConfigError(BontaError):
    """A parameter in params.yaml (or on the command line) is missing or out of range."""


class ConvergenceError(BontaError):
    """A Bayesian fit failed its diagnostics gate (R-hat, ESS, divergences)."""


class AdviceInputError(BontaError):
    """A request for interval advice names an unknown region/product or an impossible value."""
