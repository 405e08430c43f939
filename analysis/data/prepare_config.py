"""Frozen configuration of the ``prepare`` stage: params.yaml ``data`` and ``prepare``, strictly.

Both sections are parsed by :func:`analysis.config.parse` (an unknown or misspelt key stops
with its path and the nearest valid name; defaults live in params.yaml only). The ingestion,
validation and derivation steps receive one :class:`PrepareConfig`: the ``prepare`` section,
the study vocabulary and the data cut-off of ``data``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from analysis.config import parse_section
from analysis.errors import ConfigError
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class DataConfig:
    """params.yaml ``data``: which export the pipeline reads, and its cut-off.

    Attributes
    ----------
    input_dir : str
        Export directory (the demo cohort ``data/raw/demo`` or a clinic's export).
    mapping : str or None
        Mapping YAML of a clinic's own column names and labels; ``None`` = ``INPUT/mapping.yaml``
        if present.
    cutoff_date : datetime.date or None
        Data cut-off; ``None`` = the export date the export's mapping.yaml declares
        (``export_date``). Never the latest date found in the data.
    """

    input_dir: str
    mapping: str | None
    cutoff_date: date | None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DataConfig:
        return parse_section(params, "data", cls)


@dataclass(frozen=True)
class ExclusionConfig:
    """``prepare.exclude``: treatments outside ``[min_age_years, max_age_years)`` are excluded."""

    min_age_years: float
    max_age_years: float

    def __post_init__(self) -> None:
        if not 0 <= self.min_age_years < self.max_age_years:
            raise ConfigError("prepare.exclude: need 0 <= min_age_years < max_age_years")


@dataclass(frozen=True)
class PrepareSection:
    """params.yaml ``prepare``: exclusion rules, plausibility limits and endpoint rules.

    Attributes
    ----------
    exclude : ExclusionConfig
        Age limits at treatment (excluded rows are counted with a reason).
    birth_year_min : int
        Earliest plausible birth year (the latest is the cut-off year).
    max_met_h_week : float
        Plausible maximum of self-reported exercise load.
    max_units_ona_eq : float
        Plausible maximum dose of one treatment in onabotulinumtoxinA-equivalent units.
    exercise_tier_cutoffs : tuple of float
        ``(moderate_from, high_from)`` in MET-hours per week.
    use_reported_wearoff : bool
        Whether a consistent patient-reported wear-off date narrows the duration interval.
    reported_wearoff_tolerance_days : float
        Slack when checking a reported date against the visit interval.
    reported_wearoff_window_days : float
        Half-width of the window (r - w, r + w] that a consistent reported date ``r`` gives the
        duration (intersected with the visit interval); 0 treats the report as an exact time.
    complication_window_days : int
        A complication counts in ``c30_*`` if its onset is within this many days.
    recent_episode_days : int
        Censored episodes treated fewer than this many days before the cut-off are labelled
        ``right_cutoff`` (the patient may still return), older ones ``right_no_return``.
    touchup_window_days : int
        A treatment of a region within this many days of the patient's previous treatment of
        that region is a touch-up of that episode (unless the export's ``is_touchup`` says
        otherwise; docs/data-dictionary.md "Touch-ups").
    """

    exclude: ExclusionConfig
    birth_year_min: int
    max_met_h_week: float
    max_units_ona_eq: float
    exercise_tier_cutoffs: tuple[float, float]
    use_reported_wearoff: bool
    reported_wearoff_tolerance_days: float
    reported_wearoff_window_days: float
    complication_window_days: int
    recent_episode_days: int
    touchup_window_days: int

    def __post_init__(self) -> None:
        lo, hi = self.exercise_tier_cutoffs
        if not 0 < lo < hi:
            raise ConfigError(
                "prepare.exercise_tier_cutoffs must be two increasing positive numbers"
            )
        if (
            self.reported_wearoff_window_days < 0
            or self.reported_wearoff_tolerance_days < 0
            or self.complication_window_days < 0
        ):
            raise ConfigError("prepare: tolerances and windows must be >= 0")
        if not 0 < self.touchup_window_days < 90:
            raise ConfigError(
                "prepare.touchup_window_days must lie in 1..89: a touch-up adjusts the episode "
                "at its two-week check, and the labels allow re-treatment from day 90"
            )


@dataclass(frozen=True)
class PrepareConfig(PrepareSection):
    """Everything the ingestion, validation and derivation steps need.

    The ``prepare`` section plus the study vocabulary (regions, products, complication types)
    and ``data.cutoff_date`` (``None`` = the export date of the export's mapping.yaml).
    """

    vocabulary: Vocabulary
    cutoff_date: date | None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PrepareConfig:
        """Parse ``prepare``, ``data`` and the vocabulary of the whole params dict strictly."""
        section = parse_section(params, "prepare", PrepareSection)
        fields = {f.name: getattr(section, f.name) for f in dataclasses.fields(PrepareSection)}
        return cls(
            **fields,
            vocabulary=Vocabulary.from_params(params),
            cutoff_date=DataConfig.from_params(params).cutoff_date,
        )

    @property
    def regions(self) -> list[str]:
        return list(self.vocabulary.region_codes)

    @property
    def products(self) -> list[str]:
        return list(self.vocabulary.product_codes)

    @property
    def complication_types(self) -> list[str]:
        return list(self.vocabulary.complication_codes)

    @property
    def reference_dose_units(self) -> dict[str, float]:
        """Region code -> reference dose in onabotulinumtoxinA units."""
        return self.vocabulary.reference_dose_units

    @property
    def units_per_ona_unit(self) -> dict[str, float]:
        """Product code -> product units per onabotulinumtoxinA unit."""
        return self.vocabulary.units_per_ona_unit

    @property
    def complication_regions(self) -> dict[str, tuple[str, ...]]:
        """Complication type -> region codes where it can occur."""
        return self.vocabulary.complication_regions
