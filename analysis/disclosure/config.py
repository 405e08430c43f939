"""``DisclosureConfig``: the ``disclosure`` section of params.yaml (strict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.config import parse_section
from analysis.errors import ConfigError


@dataclass(frozen=True)
class DisclosureConfig:
    """Settings of the disclosure layer (params.yaml ``disclosure``).

    Attributes
    ----------
    min_count : counts ``1 .. min_count-1`` are primary-suppressed in everything released.
    protection_width : the feasible interval an attacker can compute for every primary-suppressed
        count, from everything released, must be at least this wide (in counts).
    total_cost : relative cost of withholding a grand total (a count of a whole cube) as a
        secondary suppression; other counts cost 1, so totals are withheld only as a last resort.
    """

    min_count: int
    protection_width: float
    total_cost: float = 100.0

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ConfigError(f"disclosure.min_count must be >= 1, got {self.min_count}")
        if self.protection_width <= 0:
            raise ConfigError(
                f"disclosure.protection_width must be > 0, got {self.protection_width}"
            )
        if self.total_cost < 1:
            raise ConfigError(f"disclosure.total_cost must be >= 1, got {self.total_cost}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DisclosureConfig:
        """Parse the ``disclosure`` section strictly."""
        return parse_section(params, "disclosure", cls)
