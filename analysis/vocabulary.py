"""The study's controlled vocabulary, parsed once: regions, products, complication types.

These three top-level sections of params.yaml are shared by every stage. They are parsed here,
strictly, into one frozen :class:`Vocabulary`; no other module reads them from the raw params.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.config import parse
from analysis.errors import ConfigError


@dataclass(frozen=True)
class Region:
    """A treated region; ``reference_dose_units`` in onabotulinumtoxinA units."""

    reference_dose_units: float
    source: str

    def __post_init__(self) -> None:
        if self.reference_dose_units <= 0:
            raise ConfigError("regions.*.reference_dose_units must be > 0")


@dataclass(frozen=True)
class Product:
    """A BoNT-A product; ``units = units_per_ona_unit x onabotulinumtoxinA units``."""

    name: str
    units_per_ona_unit: float
    source: str

    def __post_init__(self) -> None:
        if self.units_per_ona_unit <= 0:
            raise ConfigError("products.*.units_per_ona_unit must be > 0")


@dataclass(frozen=True)
class ComplicationType:
    """A complication code with its label and the regions where it can occur."""

    label: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Regions, products and complication types, in the order params.yaml lists them."""

    regions: Mapping[str, Region]
    products: Mapping[str, Product]
    complication_types: Mapping[str, ComplicationType]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Vocabulary:
        """Parse the ``regions``, ``products`` and ``complication_types`` sections."""
        parsed: dict[str, dict[str, Any]] = {}
        for name, kind in (
            ("regions", Region),
            ("products", Product),
            ("complication_types", ComplicationType),
        ):
            section = params.get(name)
            if not isinstance(section, Mapping) or not section:
                raise ConfigError(f"params.yaml: section '{name}' is missing or empty")
            parsed[name] = {
                str(code): parse(node, kind, f"{name}.{code}") for code, node in section.items()
            }
        vocab = cls(**parsed)
        unknown = {r for t in vocab.complication_types.values() for r in t.regions} - set(
            vocab.regions
        )
        if unknown:
            raise ConfigError(
                f"complication_types.*.regions name unknown regions: {sorted(unknown)}"
            )
        return vocab

    @property
    def region_codes(self) -> tuple[str, ...]:
        return tuple(self.regions)

    @property
    def product_codes(self) -> tuple[str, ...]:
        return tuple(self.products)

    @property
    def complication_codes(self) -> tuple[str, ...]:
        return tuple(self.complication_types)

    @property
    def reference_dose_units(self) -> dict[str, float]:
        """Region code -> reference dose (onabotulinumtoxinA units)."""
        return {code: r.reference_dose_units for code, r in self.regions.items()}

    @property
    def units_per_ona_unit(self) -> dict[str, float]:
        """Product code -> product units per onabotulinumtoxinA unit."""
        return {code: p.units_per_ona_unit for code, p in self.products.items()}

    @property
    def complication_regions(self) -> dict[str, tuple[str, ...]]:
        """Complication type -> regions where it can occur."""
        return {code: t.regions for code, t in self.complication_types.items()}
