"""The ``report`` section of params.yaml, parsed strictly (every value lives in params.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analysis.config import parse_section
from analysis.errors import ConfigError


@dataclass(frozen=True)
class ReportConfig:
    """The ``report`` section of params.yaml (read by the ``describe`` and ``report`` stages).

    Attributes
    ----------
    title : page title.
    table1_by : column that splits Table 1 of the cohort description (``sex`` or ``region``).
    ci_level : level of the cohort description's intervals (Wilson, Kaplan-Meier).
    bootstrap_replicates : patient-bootstrap replicates of the cohort description's
        Kaplan-Meier medians.
    pdf : whether to write research.pdf.
    stages : stage output directories (``data/results/<stage>`` analyst copies released by the
        disclosure layer to ``reports/<stage>``), in reading order.
    params_sections : params.yaml sections shown in the provenance footer.
    packages : packages whose versions are reported.
    """

    title: str
    table1_by: Literal["sex", "region"]
    ci_level: float
    bootstrap_replicates: int
    pdf: bool
    stages: tuple[str, ...]
    params_sections: tuple[str, ...]
    packages: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0.5 < self.ci_level < 1:
            raise ConfigError(f"report.ci_level must lie in (0.5, 1), got {self.ci_level}")
        if not self.stages:
            raise ConfigError("report.stages must name at least one stage directory")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReportConfig:
        """Parse the ``report`` section (unknown, missing or mistyped keys stop with the key)."""
        return parse_section(params, "report", cls)
