"""Frozen configuration of the ``prepare`` stage, read from params.yaml.

Sections read: ``data`` (``cutoff_date``), ``prepare`` (exclusion rules, plausibility limits,
endpoint rules) and the shared vocabularies ``regions``, ``products``, ``complication_types``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.errors import ConfigError
from analysis.params import section


@dataclass(frozen=True)
class PrepareConfig:
    """Everything the ingestion, validation and derivation steps need.

    Attributes
    ----------
    reference_dose_units : dict
        Region code -> reference dose in onabotulinumtoxinA units.
    units_per_ona_unit : dict
        Product code -> product units per onabotulinumtoxinA unit.
    complication_regions : dict
        Complication type -> tuple of region codes where it can occur.
    cutoff_date : pandas.Timestamp or None
        Data cut-off; ``None`` = latest date found in the export.
    min_age_years, max_age_years : float
        Treatments outside ``[min, max)`` age at treatment are excluded (with a reason).
    birth_year_min : int
        Earliest plausible birth year (the latest is the cut-off year).
    max_met_h_week : float
        Plausible maximum of self-reported exercise load.
    max_units_ona_eq : float
        Plausible maximum dose of one treatment in onabotulinumtoxinA-equivalent units.
    exercise_tier_cutoffs : tuple of float
        ``(moderate_from, high_from)`` in MET-hours per week.
    use_reported_wearoff : bool
        Whether a consistent patient-reported wear-off date gives an exact duration.
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
    """

    reference_dose_units: dict[str, float]
    units_per_ona_unit: dict[str, float]
    complication_regions: dict[str, tuple[str, ...]]
    cutoff_date: pd.Timestamp | None
    min_age_years: float
    max_age_years: float
    birth_year_min: int
    max_met_h_week: float
    max_units_ona_eq: float
    exercise_tier_cutoffs: tuple[float, float]
    use_reported_wearoff: bool
    reported_wearoff_tolerance_days: float
    reported_wearoff_window_days: float
    complication_window_days: int
    recent_episode_days: int

    @property
    def regions(self) -> list[str]:
        return list(self.reference_dose_units)

    @property
    def products(self) -> list[str]:
        return list(self.units_per_ona_unit)

    @property
    def complication_types(self) -> list[str]:
        return list(self.complication_regions)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PrepareConfig:
        """Build and check the configuration from the whole params dict."""
        prep = section(params, "prepare")
        data = params.get("data") or {}
        try:
            cfg = cls(
                reference_dose_units={
                    k: float(v["reference_dose_units"])
                    for k, v in section(params, "regions").items()
                },
                units_per_ona_unit={
                    k: float(v["units_per_ona_unit"])
                    for k, v in section(params, "products").items()
                },
                complication_regions={
                    k: tuple(v["regions"]) for k, v in section(params, "complication_types").items()
                },
                cutoff_date=(
                    pd.Timestamp(data["cutoff_date"]) if data.get("cutoff_date") else None
                ),
                min_age_years=float(prep["exclude"]["min_age_years"]),
                max_age_years=float(prep["exclude"]["max_age_years"]),
                birth_year_min=int(prep["birth_year_min"]),
                max_met_h_week=float(prep["max_met_h_week"]),
                max_units_ona_eq=float(prep["max_units_ona_eq"]),
                exercise_tier_cutoffs=tuple(float(x) for x in prep["exercise_tier_cutoffs"]),
                use_reported_wearoff=bool(prep["use_reported_wearoff"]),
                reported_wearoff_tolerance_days=float(prep["reported_wearoff_tolerance_days"]),
                reported_wearoff_window_days=float(prep.get("reported_wearoff_window_days", 0.0)),
                complication_window_days=int(prep["complication_window_days"]),
                recent_episode_days=int(prep["recent_episode_days"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"params.yaml 'prepare'/'regions'/'products': bad or missing {exc}"
            ) from None
        cfg.check()
        return cfg

    def check(self) -> None:
        """Raise :class:`ConfigError` on values that make no sense."""
        lo, hi = self.exercise_tier_cutoffs
        if not 0 < lo < hi:
            raise ConfigError(
                "prepare.exercise_tier_cutoffs must be two increasing positive numbers"
            )
        if not 0 <= self.min_age_years < self.max_age_years:
            raise ConfigError("prepare.exclude: need 0 <= min_age_years < max_age_years")
        if any(v <= 0 for v in self.units_per_ona_unit.values()):
            raise ConfigError("products.*.units_per_ona_unit must be > 0")
        if any(v <= 0 for v in self.reference_dose_units.values()):
            raise ConfigError("regions.*.reference_dose_units must be > 0")
        unknown = {r for rs in self.complication_regions.values() for r in rs} - set(self.regions)
        if unknown:
            raise ConfigError(
                f"complication_types.*.regions name unknown regions: {sorted(unknown)}"
            )
        if (
            self.reported_wearoff_window_days < 0
            or self.reported_wearoff_tolerance_days < 0
            or self.complication_window_days < 0
        ):
            raise ConfigError("prepare: tolerances and windows must be >= 0")
