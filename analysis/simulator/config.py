"""Frozen configuration of the demo-cohort simulator, read from the ``simulate`` section.

The simulator never reads ``params.yaml`` itself: :func:`load_sim_config` turns the parameter
dict (the whole file, as loaded by :func:`analysis.params.load_params`) into immutable
dataclasses, checking every value it needs and failing with a :class:`~analysis.errors.ConfigError`
that names the offending key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import ConfigError
from analysis.params import section

SEXES = ("F", "M")


def _get(node: dict[str, Any], key: str, where: str) -> Any:
    try:
        return node[key]
    except (KeyError, TypeError):
        raise ConfigError(f"params.yaml: missing '{where}.{key}'") from None


def _probs(values: Any, where: str, n: int | None = None) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or (n is not None and arr.size != n):
        raise ConfigError(f"params.yaml: '{where}' must be a list of {n} probabilities")
    if (arr < 0).any() or not np.isclose(arr.sum(), 1.0, atol=1e-6):
        raise ConfigError(
            f"params.yaml: '{where}' must be non-negative and sum to 1 (got {arr.sum():.4f})"
        )
    return tuple(float(v) for v in arr / arr.sum())


def _share(value: Any, where: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"params.yaml: '{where}' must be a share in [0, 1], got {value}")
    return value


def _date(value: Any, where: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(value)).normalize()
    except ValueError:
        raise ConfigError(f"params.yaml: '{where}' is not a date: {value!r}") from None


@dataclass(frozen=True)
class PatientConfig:
    female_share: float
    age_mean: float
    age_sd: float
    age_min: int
    age_max: int
    body_fat_missing_share: float
    body_fat_pct_mean: dict[str, float]
    body_fat_pct_sd: dict[str, float]
    n_regions_probs: tuple[float, ...]
    region_weights: tuple[float, ...]  # aligned with SimConfig.regions
    exercise_zero_share: float
    exercise_median_met_h: float
    exercise_sigma_log: float
    exercise_visit_sd_log: float
    bulk_male_shift: float
    bulk_masseter_shift: float
    bulk_sd: float
    baseline_severity_probs: tuple[float, ...]


@dataclass(frozen=True)
class TreatmentConfig:
    product_shares: tuple[float, ...]  # aligned with SimConfig.products
    product_stickiness: float
    dose_multipliers: tuple[float, ...]
    dose_probs_female: tuple[float, ...]
    dose_probs_male: tuple[float, ...]
    units_rounding: tuple[float, ...]  # aligned with SimConfig.products


@dataclass(frozen=True)
class DurationConfig:
    """Coefficients of the log-normal AFT (log-time scale)."""

    log_median_days: tuple[float, ...]  # per region, reference profile
    dose_knot_log2: float
    dose_slope_below_knot: tuple[float, ...]  # per region
    dose_slope_above_knot: float
    sex_male: float
    muscle_bulk_per_grade: float
    exercise_per_10_met_h: float
    age_per_10_years: float
    product: tuple[float, ...]  # per product
    log2_cycle: float
    baseline_severity_per_grade: float
    frailty_sd: float
    residual_sd: float


@dataclass(frozen=True)
class ObservationConfig:
    two_week_attendance: float
    two_week_day_range: tuple[int, int]
    protocol_days: tuple[tuple[int, ...], ...]  # per clinic
    protocol_attendance: tuple[float, ...]  # per clinic
    protocol_names: tuple[str, ...]  # per clinic
    visit_jitter_days: int
    reports_wearoff: tuple[bool, ...]  # per clinic
    reported_wearoff_share: float
    reported_wearoff_sd_days: float
    reported_by_phone_share: float
    min_retreat_days: int
    scheduled_share: float
    scheduled_interval_days: tuple[int, int]
    return_delay_days: tuple[float, float]  # uniform delay after the first wear-off
    dropout_per_episode: float


@dataclass(frozen=True)
class ComplicationConfig:
    types: tuple[str, ...]
    base_rate: np.ndarray  # (n_types, n_regions); NaN where the type cannot occur
    dose_slope_logit: tuple[float, ...]  # per type
    product_logit: tuple[float, ...]  # per product
    clinic_sd: float
    injector_sd: float
    n_worse_injectors: int
    worse_injector_shift: tuple[float, float]
    onset_day_range: tuple[int, int]
    resolution_weeks_range: tuple[int, int]
    resolution_missing_share: float
    severity_levels: tuple[str, ...]
    severity_probs: tuple[float, ...]


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator uses; built by :func:`load_sim_config`."""

    seed: int
    n_patients: int
    regions: tuple[str, ...]
    reference_dose_units: tuple[float, ...]
    products: tuple[str, ...]
    units_per_ona_unit: tuple[float, ...]
    start_date: pd.Timestamp
    cutoff_date: pd.Timestamp
    entry_end_date: pd.Timestamp
    n_clinics: int
    injectors_per_clinic: int
    clinic_weights: tuple[float, ...]
    injector_stickiness: float
    patients: PatientConfig
    treatment: TreatmentConfig
    duration: DurationConfig
    observation: ObservationConfig
    complications: ComplicationConfig

    @property
    def cutoff_day(self) -> int:
        """Cut-off as days since ``start_date``."""
        return int((self.cutoff_date - self.start_date).days)

    @property
    def entry_end_day(self) -> int:
        return int((self.entry_end_date - self.start_date).days)

    @property
    def n_injectors(self) -> int:
        return self.n_clinics * self.injectors_per_clinic


def _per_key(mapping: dict[str, Any], keys: tuple[str, ...], where: str) -> tuple[float, ...]:
    missing = [k for k in keys if k not in mapping]
    unknown = [k for k in mapping if k not in keys]
    if missing or unknown:
        raise ConfigError(
            f"params.yaml: '{where}' must name exactly the codes {list(keys)}; "
            f"missing {missing}, unknown {unknown}"
        )
    return tuple(float(mapping[k]) for k in keys)


def _patients(node: dict[str, Any], regions: tuple[str, ...]) -> PatientConfig:
    w = "simulate.patients"
    weights = _get(node, "region_weights", w)
    return PatientConfig(
        female_share=_share(_get(node, "female_share", w), f"{w}.female_share"),
        age_mean=float(_get(node, "age_mean", w)),
        age_sd=float(_get(node, "age_sd", w)),
        age_min=int(_get(node, "age_min", w)),
        age_max=int(_get(node, "age_max", w)),
        body_fat_missing_share=_share(_get(node, "body_fat_missing_share", w), w),
        body_fat_pct_mean={s: float(_get(node, "body_fat_pct_mean", w)[s]) for s in SEXES},
        body_fat_pct_sd={s: float(_get(node, "body_fat_pct_sd", w)[s]) for s in SEXES},
        n_regions_probs=_probs(_get(node, "n_regions_probs", w), f"{w}.n_regions_probs", 3),
        region_weights=_probs(
            _per_key(weights, regions, f"{w}.region_weights"), f"{w}.region_weights"
        ),
        exercise_zero_share=_share(_get(node, "exercise_zero_share", w), w),
        exercise_median_met_h=float(_get(node, "exercise_median_met_h", w)),
        exercise_sigma_log=float(_get(node, "exercise_sigma_log", w)),
        exercise_visit_sd_log=float(_get(node, "exercise_visit_sd_log", w)),
        bulk_male_shift=float(_get(node, "bulk_male_shift", w)),
        bulk_masseter_shift=float(_get(node, "bulk_masseter_shift", w)),
        bulk_sd=float(_get(node, "bulk_sd", w)),
        baseline_severity_probs=_probs(
            _get(node, "baseline_severity_probs", w), f"{w}.baseline_severity_probs", 4
        ),
    )


def _treatment(node: dict[str, Any], products: tuple[str, ...]) -> TreatmentConfig:
    w = "simulate.treatment"
    mult = tuple(float(m) for m in _get(node, "dose_multipliers", w))
    if any(m <= 0 for m in mult):
        raise ConfigError(f"params.yaml: '{w}.dose_multipliers' must be positive")
    return TreatmentConfig(
        product_shares=_probs(
            _per_key(_get(node, "product_shares", w), products, f"{w}.product_shares"),
            f"{w}.product_shares",
        ),
        product_stickiness=_share(_get(node, "product_stickiness", w), w),
        dose_multipliers=mult,
        dose_probs_female=_probs(
            _get(node, "dose_probs_female", w), f"{w}.dose_probs_female", len(mult)
        ),
        dose_probs_male=_probs(_get(node, "dose_probs_male", w), f"{w}.dose_probs_male", len(mult)),
        units_rounding=_per_key(_get(node, "units_rounding", w), products, f"{w}.units_rounding"),
    )


def _duration(
    node: dict[str, Any], regions: tuple[str, ...], products: tuple[str, ...]
) -> DurationConfig:
    w = "simulate.duration"
    medians = _per_key(_get(node, "median_days", w), regions, f"{w}.median_days")
    if any(m <= 0 for m in medians):
        raise ConfigError(f"params.yaml: '{w}.median_days' must be positive")
    slope = float(_get(node, "dose_slope_below_knot", w))
    by_region = node.get("dose_slope_below_knot_by_region") or {}
    unknown = [r for r in by_region if r not in regions]
    if unknown:
        raise ConfigError(
            f"params.yaml: '{w}.dose_slope_below_knot_by_region' names unknown regions {unknown}"
        )
    sds = (float(_get(node, "frailty_sd", w)), float(_get(node, "residual_sd", w)))
    if min(sds) < 0 or sds[1] == 0:
        raise ConfigError(f"params.yaml: '{w}.frailty_sd' must be >= 0 and residual_sd > 0")
    return DurationConfig(
        log_median_days=tuple(float(np.log(m)) for m in medians),
        dose_knot_log2=float(_get(node, "dose_knot_log2", w)),
        dose_slope_below_knot=tuple(float(by_region.get(r, slope)) for r in regions),
        dose_slope_above_knot=float(_get(node, "dose_slope_above_knot", w)),
        sex_male=float(_get(node, "sex_male", w)),
        muscle_bulk_per_grade=float(_get(node, "muscle_bulk_per_grade", w)),
        exercise_per_10_met_h=float(_get(node, "exercise_per_10_met_h", w)),
        age_per_10_years=float(_get(node, "age_per_10_years", w)),
        product=_per_key(_get(node, "product", w), products, f"{w}.product"),
        log2_cycle=float(_get(node, "log2_cycle", w)),
        baseline_severity_per_grade=float(_get(node, "baseline_severity_per_grade", w)),
        frailty_sd=sds[0],
        residual_sd=sds[1],
    )


def _observation(node: dict[str, Any], n_clinics: int) -> ObservationConfig:
    w = "simulate.observation"
    protocols = _get(node, "protocols", w)
    per_clinic = list(_get(node, "clinic_protocols", w))
    if len(per_clinic) != n_clinics or any(p not in protocols for p in per_clinic):
        raise ConfigError(
            f"params.yaml: '{w}.clinic_protocols' must list {n_clinics} names from {sorted(protocols)}"
        )
    reporting = {int(c) for c in _get(node, "reported_wearoff_clinics", w)}
    if any(not 1 <= c <= n_clinics for c in reporting):
        raise ConfigError(f"params.yaml: '{w}.reported_wearoff_clinics' must be in 1..{n_clinics}")
    lo, hi = (int(v) for v in _get(node, "two_week_day_range", w))
    s_lo, s_hi = (int(v) for v in _get(node, "scheduled_interval_days", w))
    min_retreat = int(_get(node, "min_retreat_days", w))
    delay = tuple(float(v) for v in _get(node, "return_delay_days", w))
    if len(delay) != 2 or not 0 <= delay[0] <= delay[1]:
        raise ConfigError(
            f"params.yaml: '{w}.return_delay_days' must be [min, max] with 0 <= min <= max"
        )
    if s_lo < min_retreat:
        raise ConfigError(
            f"params.yaml: '{w}.scheduled_interval_days' must start at >= min_retreat_days"
        )
    return ObservationConfig(
        two_week_attendance=_share(_get(node, "two_week_attendance", w), w),
        two_week_day_range=(lo, hi),
        protocol_days=tuple(tuple(int(d) for d in protocols[p]["days"]) for p in per_clinic),
        protocol_attendance=tuple(_share(protocols[p]["attendance"], w) for p in per_clinic),
        protocol_names=tuple(per_clinic),
        visit_jitter_days=int(_get(node, "visit_jitter_days", w)),
        reports_wearoff=tuple((c + 1) in reporting for c in range(n_clinics)),
        reported_wearoff_share=_share(_get(node, "reported_wearoff_share", w), w),
        reported_wearoff_sd_days=float(_get(node, "reported_wearoff_sd_days", w)),
        reported_by_phone_share=_share(_get(node, "reported_by_phone_share", w), w),
        min_retreat_days=min_retreat,
        scheduled_share=_share(_get(node, "scheduled_share", w), w),
        scheduled_interval_days=(s_lo, s_hi),
        return_delay_days=delay,
        dropout_per_episode=_share(_get(node, "dropout_per_episode", w), w),
    )


def _complications(
    node: dict[str, Any],
    vocabulary: dict[str, Any],
    regions: tuple[str, ...],
    products: tuple[str, ...],
) -> ComplicationConfig:
    w = "simulate.complications"
    types = tuple(vocabulary)
    rates = _get(node, "base_rate", w)
    base = np.full((len(types), len(regions)), np.nan)
    for t, ctype in enumerate(types):
        allowed = list(_get(vocabulary[ctype], "regions", f"complication_types.{ctype}"))
        given = _get(rates, ctype, f"{w}.base_rate")
        for region in given:
            if region != "default" and region not in allowed:
                raise ConfigError(
                    f"params.yaml: '{w}.base_rate.{ctype}.{region}': {ctype} cannot occur in "
                    f"{region} (complication_types.{ctype}.regions)"
                )
        for region in allowed:
            value = given.get(region, given.get("default"))
            if value is None or not 0.0 < float(value) < 1.0:
                raise ConfigError(
                    f"params.yaml: '{w}.base_rate.{ctype}.{region}' must be in (0, 1)"
                )
            base[t, regions.index(region)] = float(value)
    slopes = _get(node, "dose_slope_logit", w)
    sev = _get(node, "severity_probs", w)
    shift = tuple(float(v) for v in _get(node, "worse_injector_shift", w))
    return ComplicationConfig(
        types=types,
        base_rate=base,
        dose_slope_logit=tuple(float(slopes.get(t, _get(slopes, "default", w))) for t in types),
        product_logit=_per_key(_get(node, "product_logit", w), products, f"{w}.product_logit"),
        clinic_sd=float(_get(node, "clinic_sd", w)),
        injector_sd=float(_get(node, "injector_sd", w)),
        n_worse_injectors=int(_get(node, "n_worse_injectors", w)),
        worse_injector_shift=(shift[0], shift[1]),
        onset_day_range=tuple(int(v) for v in _get(node, "onset_day_range", w)),
        resolution_weeks_range=tuple(int(v) for v in _get(node, "resolution_weeks_range", w)),
        resolution_missing_share=_share(_get(node, "resolution_missing_share", w), w),
        severity_levels=tuple(sev),
        severity_probs=_probs(list(sev.values()), f"{w}.severity_probs"),
    )


def load_sim_config(
    params: dict[str, Any], *, seed: int | None = None, n_patients: int | None = None
) -> SimConfig:
    """Build the simulator's frozen config from the whole params dict.

    Parameters
    ----------
    params : dict
        The whole ``params.yaml`` (uses ``seed``, ``regions``, ``products``,
        ``complication_types`` and ``simulate``).
    seed, n_patients : int, optional
        Overrides of ``seed`` and ``simulate.n_patients``.
    """
    node = section(params, "simulate")
    regions_node = section(params, "regions")
    products_node = section(params, "products")
    regions = tuple(regions_node)
    products = tuple(products_node)
    n = int(n_patients if n_patients is not None else _get(node, "n_patients", "simulate"))
    if n < 1:
        raise ConfigError(f"simulate.n_patients must be >= 1, got {n}")
    n_clinics = int(_get(node, "n_clinics", "simulate"))
    clinic_weights = _probs(
        _get(node, "clinic_weights", "simulate"), "simulate.clinic_weights", n_clinics
    )
    cfg = SimConfig(
        seed=int(seed if seed is not None else section(params, "seed")),
        n_patients=n,
        regions=regions,
        reference_dose_units=tuple(
            float(_get(regions_node[r], "reference_dose_units", f"regions.{r}")) for r in regions
        ),
        products=products,
        units_per_ona_unit=tuple(
            float(_get(products_node[p], "units_per_ona_unit", f"products.{p}")) for p in products
        ),
        start_date=_date(_get(node, "start_date", "simulate"), "simulate.start_date"),
        cutoff_date=_date(_get(node, "cutoff_date", "simulate"), "simulate.cutoff_date"),
        entry_end_date=_date(_get(node, "entry_end_date", "simulate"), "simulate.entry_end_date"),
        n_clinics=n_clinics,
        injectors_per_clinic=int(_get(node, "injectors_per_clinic", "simulate")),
        clinic_weights=clinic_weights,
        injector_stickiness=_share(_get(node, "injector_stickiness", "simulate"), "simulate"),
        patients=_patients(_get(node, "patients", "simulate"), regions),
        treatment=_treatment(_get(node, "treatment", "simulate"), products),
        duration=_duration(_get(node, "duration", "simulate"), regions, products),
        observation=_observation(_get(node, "observation", "simulate"), n_clinics),
        complications=_complications(
            _get(node, "complications", "simulate"),
            section(params, "complication_types"),
            regions,
            products,
        ),
    )
    if not cfg.start_date < cfg.entry_end_date <= cfg.cutoff_date:
        raise ConfigError("params.yaml: need simulate.start_date < entry_end_date <= cutoff_date")
    return cfg
