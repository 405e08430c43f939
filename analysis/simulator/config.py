"""Frozen configuration of the demo-cohort simulator: params.yaml ``simulate`` read strictly.

The section is parsed by :func:`analysis.config.parse` into the dataclasses below, whose fields
are the keys of params.yaml (a misspelt or unknown key stops with its path and the nearest
valid name). Range checks live in ``__post_init__``; defaults live in params.yaml only.
:class:`SimConfig` adds the top-level ``seed`` and the study vocabulary
(:class:`~analysis.vocabulary.Vocabulary`) and gives every per-region, per-product and per-type
value as a tuple in vocabulary order, the form the simulator computes with.

Example
-------
>>> cfg = SimConfig.from_params(load_params("params.yaml"), n_patients=200)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from analysis.config import convert, parse_section
from analysis.errors import ConfigError
from analysis.vocabulary import Vocabulary

SEXES = ("F", "M")


def _probabilities(values: Sequence[float], where: str, n: int | None = None) -> tuple:
    """``values`` rescaled to sum to exactly 1, after checking they are probabilities."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or (n is not None and arr.size != n):
        raise ConfigError(f"params.yaml: '{where}' must be a list of {n} probabilities")
    if (arr < 0).any() or not np.isclose(arr.sum(), 1.0, atol=1e-6):
        raise ConfigError(
            f"params.yaml: '{where}' must be non-negative and sum to 1 (got {arr.sum():.4f})"
        )
    return tuple(float(v) for v in arr / arr.sum())


def _check_share(value: float, where: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"params.yaml: '{where}' must be a share in [0, 1], got {value}")


def _check_shares(obj: Any, where: str, names: Sequence[str]) -> None:
    for name in names:
        _check_share(getattr(obj, name), f"{where}.{name}")


def _check_probabilities(obj: Any, where: str, name: str, n: int | None = None) -> None:
    _probabilities(getattr(obj, name), f"{where}.{name}", n)


def _aligned(mapping: Mapping[str, float], codes: Sequence[str], where: str) -> tuple:
    """``mapping`` as a tuple in the order of ``codes``; it must name exactly those codes."""
    missing = [k for k in codes if k not in mapping]
    unknown = [k for k in mapping if k not in codes]
    if missing or unknown:
        raise ConfigError(
            f"params.yaml: '{where}' must name exactly the codes {list(codes)}; "
            f"missing {missing}, unknown {unknown}"
        )
    return tuple(float(mapping[k]) for k in codes)


@dataclass(frozen=True)
class PatientConfig:
    """``simulate.patients``: who the patients are."""

    female_share: float
    age_mean: float
    age_sd: float
    age_min: int
    age_max: int
    body_fat_missing_share: float
    body_fat_pct_mean: dict[str, float]  # by sex, F and M
    body_fat_pct_sd: dict[str, float]
    n_regions_probs: tuple[float, ...]  # 1, 2 or 3 regions per visit
    region_weights: dict[str, float]  # by region code; SimConfig.region_probs in vocab order
    exercise_zero_share: float
    exercise_median_met_h: float
    exercise_sigma_log: float
    exercise_visit_sd_log: float
    exercise_max_met_h: float  # reported loads are capped here (an export must pass prepare)
    bulk_male_shift: float
    bulk_masseter_shift: float
    bulk_sd: float
    baseline_severity_probs: tuple[float, ...]  # grades 0..3

    def __post_init__(self) -> None:
        w = "simulate.patients"
        _check_shares(self, w, ("female_share", "body_fat_missing_share", "exercise_zero_share"))
        for name in ("body_fat_pct_mean", "body_fat_pct_sd"):
            if set(getattr(self, name)) != set(SEXES):
                raise ConfigError(f"params.yaml: '{w}.{name}' must name exactly {list(SEXES)}")
        if not self.age_min <= self.age_max:
            raise ConfigError(f"params.yaml: '{w}': need age_min <= age_max")
        _check_probabilities(self, w, "n_regions_probs", 3)
        _check_probabilities(self, w, "baseline_severity_probs", 4)
        _probabilities(list(self.region_weights.values()), f"{w}.region_weights")


@dataclass(frozen=True)
class TreatmentConfig:
    """``simulate.treatment``: products and doses (dose multipliers x the reference dose)."""

    product_shares: dict[str, float]  # by product code; SimConfig.product_probs
    product_stickiness: float
    dose_multipliers: tuple[float, ...]
    dose_probs_female: tuple[float, ...]  # one per dose multiplier
    dose_probs_male: tuple[float, ...]
    units_rounding: dict[str, float]  # recorded precision of units, by product code

    def __post_init__(self) -> None:
        w = "simulate.treatment"
        _check_share(self.product_stickiness, f"{w}.product_stickiness")
        if any(m <= 0 for m in self.dose_multipliers):
            raise ConfigError(f"params.yaml: '{w}.dose_multipliers' must be positive")
        if any(step <= 0 for step in self.units_rounding.values()):
            raise ConfigError(f"params.yaml: '{w}.units_rounding' must be positive")
        n = len(self.dose_multipliers)
        _check_probabilities(self, w, "dose_probs_female", n)
        _check_probabilities(self, w, "dose_probs_male", n)
        _probabilities(list(self.product_shares.values()), f"{w}.product_shares")


@dataclass(frozen=True)
class DurationConfig:
    """``simulate.duration``: the log-normal AFT of the latent duration (log-time scale).

    The coefficient names are the canonical covariate names of the duration models.
    """

    median_days: dict[str, float]  # reference profile, by region code
    dose_knot_log2: float
    dose_slope_below_knot: float
    dose_slope_below_knot_by_region: dict[str, float]  # regions that differ from the above
    dose_slope_above_knot: float
    sex_male: float
    muscle_bulk_per_grade: float
    exercise_per_10_met_h: float
    age_per_10_years: float
    product: dict[str, float]  # by product code
    log2_cycle: float
    baseline_severity_per_grade: float
    touchup: float  # log-time effect of a touch-up at the same total dose (issue 14)
    frailty_sd: float
    residual_sd: float

    def __post_init__(self) -> None:
        w = "simulate.duration"
        if any(m <= 0 for m in self.median_days.values()):
            raise ConfigError(f"params.yaml: '{w}.median_days' must be positive")
        if self.frailty_sd < 0 or self.residual_sd <= 0:
            raise ConfigError(f"params.yaml: '{w}.frailty_sd' must be >= 0 and residual_sd > 0")


@dataclass(frozen=True)
class ProtocolConfig:
    """One follow-up protocol: review days after treatment and the share of reviews attended."""

    days: tuple[int, ...]
    attendance: float

    def __post_init__(self) -> None:
        _check_share(self.attendance, "simulate.observation.protocols.*.attendance")


@dataclass(frozen=True)
class ObservationConfig:
    """``simulate.observation``: visits, patient reports and returns (docs/simulator.md)."""

    two_week_attendance: float
    two_week_day_range: tuple[int, int]
    protocols: dict[str, ProtocolConfig]
    clinic_protocols: tuple[str, ...]  # protocol name per clinic
    visit_jitter_days: int
    reported_wearoff_clinics: tuple[int, ...]  # 1-based clinic numbers
    reported_wearoff_share: float
    reported_wearoff_sd_days: float
    reported_by_phone_share: float
    min_retreat_days: int
    scheduled_share: float
    scheduled_interval_days: tuple[int, int]
    return_delay_days: tuple[float, float]  # uniform delay after the first wear-off
    dropout_per_episode: float

    def __post_init__(self) -> None:
        w = "simulate.observation"
        shares = ("two_week_attendance", "reported_wearoff_share", "reported_by_phone_share")
        _check_shares(self, w, (*shares, "scheduled_share", "dropout_per_episode"))
        unknown = [p for p in self.clinic_protocols if p not in self.protocols]
        if unknown:
            raise ConfigError(
                f"params.yaml: '{w}.clinic_protocols' names unknown protocols {unknown}; "
                f"defined: {sorted(self.protocols)}"
            )
        if any(not 1 <= c <= self.n_clinics for c in self.reported_wearoff_clinics):
            raise ConfigError(
                f"params.yaml: '{w}.reported_wearoff_clinics' must be in 1..{self.n_clinics}"
            )
        if not 0 <= self.return_delay_days[0] <= self.return_delay_days[1]:
            raise ConfigError(
                f"params.yaml: '{w}.return_delay_days' must be [min, max] with 0 <= min <= max"
            )
        if self.scheduled_interval_days[0] < self.min_retreat_days:
            raise ConfigError(
                f"params.yaml: '{w}.scheduled_interval_days' must start at >= min_retreat_days"
            )

    @property
    def n_clinics(self) -> int:
        return len(self.clinic_protocols)

    @property
    def protocol_days(self) -> tuple[tuple[int, ...], ...]:
        """Review days of each clinic's protocol."""
        return tuple(self.protocols[p].days for p in self.clinic_protocols)

    @property
    def protocol_attendance(self) -> tuple[float, ...]:
        """Attendance share of each clinic's protocol reviews."""
        return tuple(self.protocols[p].attendance for p in self.clinic_protocols)

    @property
    def reports_wearoff(self) -> tuple[bool, ...]:
        """Whether each clinic records patient-reported wear-off dates."""
        reporting = set(self.reported_wearoff_clinics)
        return tuple((c + 1) in reporting for c in range(self.n_clinics))


@dataclass(frozen=True)
class TouchupConfig:
    """``simulate.touchup``: adjustments at the two-week check (docs/simulator.md).

    ``base_rate`` gives the touch-up probability at the reference dose for an average clinic
    and injector, by region code, with a ``default`` for the regions it does not list.
    """

    base_rate: dict[str, float]
    dose_logit_per_doubling: float
    clinic_sd: float
    injector_sd: float
    units_fraction: tuple[float, float]  # x the region's reference dose (ona-eq), uniform
    followup_on_touchup_share: float
    flag_clinics: tuple[int, ...]  # 1-based clinics that export is_touchup

    def __post_init__(self) -> None:
        w = "simulate.touchup"
        _check_share(self.followup_on_touchup_share, f"{w}.followup_on_touchup_share")
        if "default" not in self.base_rate:
            raise ConfigError(f"params.yaml: '{w}.base_rate' needs a 'default'")
        if any(not 0.0 < v < 1.0 for v in self.base_rate.values()):
            raise ConfigError(f"params.yaml: '{w}.base_rate' values must lie in (0, 1)")
        if self.clinic_sd < 0 or self.injector_sd < 0:
            raise ConfigError(f"params.yaml: '{w}.clinic_sd' and 'injector_sd' must be >= 0")
        if not 0.0 < self.units_fraction[0] <= self.units_fraction[1]:
            raise ConfigError(
                f"params.yaml: '{w}.units_fraction' must be [min, max], 0 < min <= max"
            )


@dataclass(frozen=True)
class ComplicationConfig:
    """``simulate.complications``: 30-day risks, logistic in type x region, dose, product, staff.

    ``base_rate`` and ``dose_slope_logit`` may give a ``default`` for the types or regions they
    do not list.
    """

    base_rate: dict[str, dict[str, float]]  # type -> region (or default) -> risk
    dose_slope_logit: dict[str, float]  # type (or default) -> slope per doubling
    product_logit: dict[str, float]  # by product code
    clinic_sd: float
    injector_sd: float
    n_worse_injectors: int
    worse_injector_shift: tuple[float, float]
    onset_day_range: tuple[int, int]
    resolution_weeks_range: tuple[int, int]
    resolution_missing_share: float
    severity_probs: dict[str, float]  # severity level -> probability

    def __post_init__(self) -> None:
        w = "simulate.complications"
        _check_share(self.resolution_missing_share, f"{w}.resolution_missing_share")
        if "default" not in self.dose_slope_logit:
            raise ConfigError(f"params.yaml: '{w}.dose_slope_logit' needs a 'default'")
        _probabilities(list(self.severity_probs.values()), f"{w}.severity_probs")


@dataclass(frozen=True)
class SimulateSection:
    """params.yaml ``simulate``, every key checked."""

    n_patients: int
    start_date: date
    cutoff_date: date  # administrative cut-off of the simulated export
    entry_end_date: date  # new patients arrive uniformly between start_date and this date
    n_clinics: int
    injectors_per_clinic: int
    clinic_weights: tuple[float, ...]
    injector_stickiness: float
    patients: PatientConfig
    treatment: TreatmentConfig
    duration: DurationConfig
    observation: ObservationConfig
    touchup: TouchupConfig
    complications: ComplicationConfig

    def __post_init__(self) -> None:
        if self.n_patients < 1:
            raise ConfigError(f"simulate.n_patients must be >= 1, got {self.n_patients}")
        if not self.start_date < self.entry_end_date <= self.cutoff_date:
            raise ConfigError(
                "params.yaml: need simulate.start_date < entry_end_date <= cutoff_date"
            )
        _check_share(self.injector_stickiness, "simulate.injector_stickiness")
        _check_probabilities(self, "simulate", "clinic_weights", self.n_clinics)
        if self.observation.n_clinics != self.n_clinics:
            raise ConfigError(
                f"params.yaml: 'simulate.observation.clinic_protocols' must list "
                f"{self.n_clinics} names (simulate.n_clinics), got {self.observation.n_clinics}"
            )
        if any(not 1 <= c <= self.n_clinics for c in self.touchup.flag_clinics):
            raise ConfigError(
                f"params.yaml: 'simulate.touchup.flag_clinics' must be in 1..{self.n_clinics}"
            )


@dataclass(frozen=True)
class SimConfig(SimulateSection):
    """Everything the simulator uses: the ``simulate`` section, the seed and the vocabulary.

    Values that params.yaml keys by region, product or complication type are available as
    tuples in vocabulary order (``region_probs``, ``log_median_days``, ``base_rate``, ...).
    """

    seed: int
    vocabulary: Vocabulary

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_complication_regions()
        # Resolve every vocabulary-keyed value once, so that a wrong code stops here.
        for name in _ALIGNED:
            getattr(self, name)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        *,
        seed: int | None = None,
        n_patients: int | None = None,
    ) -> SimConfig:
        """Parse ``seed``, the vocabulary and ``simulate`` strictly, with optional overrides.

        Parameters
        ----------
        params
            The whole params.yaml (:func:`analysis.config.load_params`).
        seed, n_patients
            Overrides of ``seed`` and ``simulate.n_patients``.
        """
        section = parse_section(params, "simulate", SimulateSection)
        if n_patients is not None:
            section = dataclasses.replace(section, n_patients=n_patients)
        if seed is None:
            if "seed" not in params:
                raise ConfigError("params.yaml has no top-level 'seed'")
            seed = convert(params["seed"], int, "seed")
        fields = {f.name: getattr(section, f.name) for f in dataclasses.fields(SimulateSection)}
        return cls(**fields, seed=int(seed), vocabulary=Vocabulary.from_params(params))

    # --- the vocabulary -------------------------------------------------------------------
    @property
    def regions(self) -> tuple[str, ...]:
        return self.vocabulary.region_codes

    @property
    def products(self) -> tuple[str, ...]:
        return self.vocabulary.product_codes

    @property
    def complication_types(self) -> tuple[str, ...]:
        return self.vocabulary.complication_codes

    @cached_property
    def reference_dose_units(self) -> tuple[float, ...]:
        """Reference dose (onabotulinumtoxinA units) per region."""
        return tuple(self.vocabulary.reference_dose_units.values())

    @cached_property
    def units_per_ona_unit(self) -> tuple[float, ...]:
        """Product units per onabotulinumtoxinA unit, per product."""
        return tuple(self.vocabulary.units_per_ona_unit.values())

    # --- time and staff ------------------------------------------------------------------
    @property
    def cutoff_day(self) -> int:
        """Cut-off as days since ``start_date``."""
        return (self.cutoff_date - self.start_date).days

    @property
    def entry_end_day(self) -> int:
        return (self.entry_end_date - self.start_date).days

    @property
    def n_injectors(self) -> int:
        return self.n_clinics * self.injectors_per_clinic

    # --- probabilities, rescaled to sum to exactly 1 ----------------------------------------
    @cached_property
    def clinic_probs(self) -> tuple[float, ...]:
        return _probabilities(self.clinic_weights, "simulate.clinic_weights")

    @cached_property
    def n_regions_probs(self) -> tuple[float, ...]:
        """Probability of 1, 2 or 3 treated regions per visit."""
        return _probabilities(self.patients.n_regions_probs, "simulate.patients.n_regions_probs")

    @cached_property
    def baseline_severity_probs(self) -> tuple[float, ...]:
        where = "simulate.patients.baseline_severity_probs"
        return _probabilities(self.patients.baseline_severity_probs, where)

    @cached_property
    def dose_probs_female(self) -> tuple[float, ...]:
        where = "simulate.treatment.dose_probs_female"
        return _probabilities(self.treatment.dose_probs_female, where)

    @cached_property
    def dose_probs_male(self) -> tuple[float, ...]:
        return _probabilities(self.treatment.dose_probs_male, "simulate.treatment.dose_probs_male")

    @property
    def severity_levels(self) -> tuple[str, ...]:
        """Complication severity levels, in the order of ``complications.severity_probs``."""
        return tuple(self.complications.severity_probs)

    @cached_property
    def severity_probs(self) -> tuple[float, ...]:
        where = "simulate.complications.severity_probs"
        return _probabilities(list(self.complications.severity_probs.values()), where)

    # --- per region / product / type, in vocabulary order --------------------------------
    @cached_property
    def region_probs(self) -> tuple[float, ...]:
        """``patients.region_weights`` per region, normalised."""
        where = "simulate.patients.region_weights"
        return _probabilities(_aligned(self.patients.region_weights, self.regions, where), where)

    @cached_property
    def product_probs(self) -> tuple[float, ...]:
        """``treatment.product_shares`` per product, normalised."""
        where = "simulate.treatment.product_shares"
        return _probabilities(_aligned(self.treatment.product_shares, self.products, where), where)

    @cached_property
    def units_rounding(self) -> tuple[float, ...]:
        where = "simulate.treatment.units_rounding"
        return _aligned(self.treatment.units_rounding, self.products, where)

    @cached_property
    def log_median_days(self) -> tuple[float, ...]:
        """log of ``duration.median_days`` per region."""
        where = "simulate.duration.median_days"
        medians = _aligned(self.duration.median_days, self.regions, where)
        return tuple(float(np.log(m)) for m in medians)

    @cached_property
    def dose_slope_below_knot(self) -> tuple[float, ...]:
        """Dose slope below the knot per region (the by-region value, else the common one)."""
        d = self.duration
        unknown = [r for r in d.dose_slope_below_knot_by_region if r not in self.regions]
        if unknown:
            raise ConfigError(
                "params.yaml: 'simulate.duration.dose_slope_below_knot_by_region' names "
                f"unknown regions {unknown}"
            )
        by_region = d.dose_slope_below_knot_by_region
        return tuple(float(by_region.get(r, d.dose_slope_below_knot)) for r in self.regions)

    @cached_property
    def product_log_time(self) -> tuple[float, ...]:
        """``duration.product`` (log time ratio vs ona) per product."""
        return _aligned(self.duration.product, self.products, "simulate.duration.product")

    @cached_property
    def touchup_base_rate(self) -> tuple[float, ...]:
        """``touchup.base_rate`` per region (the ``default`` for regions it does not list)."""
        rates = self.touchup.base_rate
        unknown = [r for r in rates if r != "default" and r not in self.regions]
        if unknown:
            raise ConfigError(
                f"params.yaml: 'simulate.touchup.base_rate' names unknown regions {unknown}"
            )
        return tuple(float(rates.get(r, rates["default"])) for r in self.regions)

    @property
    def touchup_flag_clinics(self) -> tuple[bool, ...]:
        """Whether each clinic's export marks touch-ups explicitly (``is_touchup``)."""
        flagged = set(self.touchup.flag_clinics)
        return tuple((c + 1) in flagged for c in range(self.n_clinics))

    @cached_property
    def product_logit(self) -> tuple[float, ...]:
        """``complications.product_logit`` per product."""
        where = "simulate.complications.product_logit"
        return _aligned(self.complications.product_logit, self.products, where)

    @cached_property
    def complication_dose_slope(self) -> tuple[float, ...]:
        """``complications.dose_slope_logit`` per complication type (``default`` if unlisted)."""
        slopes = self.complications.dose_slope_logit
        unknown = [t for t in slopes if t != "default" and t not in self.complication_types]
        if unknown:
            raise ConfigError(
                "params.yaml: 'simulate.complications.dose_slope_logit' names unknown "
                f"complication types {unknown}"
            )
        return tuple(float(slopes.get(t, slopes["default"])) for t in self.complication_types)

    @cached_property
    def base_rate(self) -> np.ndarray:
        """Risk at the reference dose, shape (types, regions); NaN where a type cannot occur."""
        w = "simulate.complications.base_rate"
        rates = self.complications.base_rate
        base = np.full((len(self.complication_types), len(self.regions)), np.nan)
        allowed_by_type = self.vocabulary.complication_regions
        for t, ctype in enumerate(self.complication_types):
            given = rates[ctype]
            for region in allowed_by_type[ctype]:
                value = given.get(region, given.get("default"))
                if value is None or not 0.0 < float(value) < 1.0:
                    raise ConfigError(f"params.yaml: '{w}.{ctype}.{region}' must be in (0, 1)")
                base[t, self.regions.index(region)] = float(value)
        base.setflags(write=False)
        return base

    def _check_complication_regions(self) -> None:
        w = "simulate.complications.base_rate"
        rates = self.complications.base_rate
        unknown = [t for t in rates if t not in self.complication_types]
        missing = [t for t in self.complication_types if t not in rates]
        if unknown or missing:
            raise ConfigError(
                f"params.yaml: '{w}' must name every complication type; "
                f"missing {missing}, unknown {unknown}"
            )
        allowed_by_type = self.vocabulary.complication_regions
        for ctype, given in self.complications.base_rate.items():
            for region in given:
                if region != "default" and region not in allowed_by_type[ctype]:
                    raise ConfigError(
                        f"params.yaml: '{w}.{ctype}.{region}': {ctype} cannot occur in "
                        f"{region} (complication_types.{ctype}.regions)"
                    )


#: SimConfig properties resolved (and so checked) when the config is built.
_ALIGNED = (
    "region_probs",
    "product_probs",
    "units_rounding",
    "log_median_days",
    "dose_slope_below_knot",
    "product_log_time",
    "touchup_base_rate",
    "product_logit",
    "complication_dose_slope",
    "base_rate",
)
