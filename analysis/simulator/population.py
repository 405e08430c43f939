"""Building blocks of the demo-cohort simulator: patients, doses, latent durations, complications.

Pure functions of a frozen :class:`~analysis.simulator.config.SimConfig` and a NumPy
``Generator``; the visit process that strings them together lives in
:mod:`analysis.simulator.visits`. All arrays are vectorised over patients or episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.simulator.config import SimConfig
from analysis.survival.covariates import (
    AGE_STEP_YEARS,
    EXERCISE_STEP_MET_H,
    REFERENCE_AGE_YEARS,
    REFERENCE_BULK,
    REFERENCE_SEVERITY,
)

#: Reference profile of ``duration.median_days`` (documented in params.yaml and docs/simulator.md).


@dataclass(frozen=True)
class PatientArrays:
    """Per-patient attributes (index = patient number - 1); region slots padded with -1."""

    male: np.ndarray
    birth_year: np.ndarray
    body_fat_pct: np.ndarray
    region_slots: np.ndarray  # (n, 3) region index or -1
    muscle_bulk: np.ndarray  # (n, 3)
    baseline_severity: np.ndarray  # (n, 3)
    exercise_base_met_h: np.ndarray
    clinic: np.ndarray
    usual_injector: np.ndarray  # global injector index
    usual_product: np.ndarray
    frailty: np.ndarray  # u_patient on the log-time scale
    scheduled: np.ndarray  # books on a fixed schedule instead of on wear-off
    entry_day: np.ndarray  # first treatment, days since start_date


def _choose_regions(cfg: SimConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Weighted sampling of 1-3 distinct regions per patient (Gumbel top-k, vectorised)."""
    n_regions = rng.choice(3, size=n, p=cfg.n_regions_probs) + 1
    keys = np.log(np.asarray(cfg.region_probs)) + rng.gumbel(size=(n, len(cfg.regions)))
    order = np.argsort(-keys, axis=1, kind="stable")[:, :3]
    slots = np.where(np.arange(3)[None, :] < n_regions[:, None], order, -1)
    return slots.astype(np.int64)


def _exercise(cfg: SimConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    p = cfg.patients
    met = p.exercise_median_met_h * np.exp(p.exercise_sigma_log * rng.standard_normal(n))
    return np.where(rng.random(n) < p.exercise_zero_share, 0.0, met)


def _muscle_bulk(
    cfg: SimConfig, rng: np.random.Generator, male: np.ndarray, slots: np.ndarray
) -> np.ndarray:
    p = cfg.patients
    masseter = cfg.regions.index("masseter") if "masseter" in cfg.regions else -2
    latent = (
        REFERENCE_BULK
        + p.bulk_male_shift * male[:, None]
        + p.bulk_masseter_shift * (slots == masseter)
        + p.bulk_sd * rng.standard_normal(slots.shape)
    )
    return np.clip(np.rint(latent), 1, 4).astype(np.int64)


def simulate_patients(cfg: SimConfig, rng: np.random.Generator) -> PatientArrays:
    """Draw every patient-level attribute of the cohort."""
    n, p = cfg.n_patients, cfg.patients
    male = rng.random(n) >= p.female_share
    age0 = np.clip(rng.normal(p.age_mean, p.age_sd, n), p.age_min, p.age_max)
    birth_year = (cfg.start_date.year - np.floor(age0)).astype(np.int64)
    fat_mean = np.where(male, p.body_fat_pct_mean["M"], p.body_fat_pct_mean["F"])
    fat_sd = np.where(male, p.body_fat_pct_sd["M"], p.body_fat_pct_sd["F"])
    fat = np.round(np.clip(rng.normal(fat_mean, fat_sd), 8.0, 55.0), 1)
    fat = np.where(rng.random(n) < p.body_fat_missing_share, np.nan, fat)
    slots = _choose_regions(cfg, rng, n)
    severity = rng.choice(4, size=slots.shape, p=cfg.baseline_severity_probs)
    clinic = rng.choice(cfg.n_clinics, size=n, p=cfg.clinic_probs)
    injector = clinic * cfg.injectors_per_clinic + rng.integers(0, cfg.injectors_per_clinic, n)
    d = cfg.duration
    return PatientArrays(
        male=male,
        birth_year=birth_year,
        body_fat_pct=fat,
        region_slots=slots,
        muscle_bulk=_muscle_bulk(cfg, rng, male, slots),
        baseline_severity=severity.astype(np.int64),
        exercise_base_met_h=_exercise(cfg, rng, n),
        clinic=clinic.astype(np.int64),
        usual_injector=injector.astype(np.int64),
        usual_product=rng.choice(len(cfg.products), size=n, p=cfg.product_probs),
        frailty=d.frailty_sd * rng.standard_normal(n),
        scheduled=rng.random(n) < cfg.observation.scheduled_share,
        entry_day=rng.integers(0, cfg.entry_end_day + 1, n),
    )


def draw_units(
    cfg: SimConfig,
    rng: np.random.Generator,
    region: np.ndarray,
    product: np.ndarray,
    male: np.ndarray,
) -> np.ndarray:
    """Units in the product's own units: reference dose x multiplier x product ratio, rounded."""
    t = cfg.treatment
    n = region.size
    u = rng.random(n)
    cum_f = np.cumsum(cfg.dose_probs_female)
    cum_m = np.cumsum(cfg.dose_probs_male)
    idx = np.where(
        male,
        np.searchsorted(cum_m, u * cum_m[-1], side="right"),
        np.searchsorted(cum_f, u * cum_f[-1], side="right"),
    )
    idx = np.minimum(idx, len(t.dose_multipliers) - 1)
    mult = np.asarray(t.dose_multipliers)[idx]
    ratio = np.asarray(cfg.units_per_ona_unit)[product]
    raw = np.asarray(cfg.reference_dose_units)[region] * mult * ratio
    step = np.asarray(cfg.units_rounding)[product]
    return np.maximum(np.rint(raw / step) * step, step)


def log2_rel_dose(
    cfg: SimConfig, units: np.ndarray, region: np.ndarray, product: np.ndarray
) -> np.ndarray:
    """log2(units_ona_eq / reference dose): the dose covariate the analysis sees."""
    ona_eq = units / np.asarray(cfg.units_per_ona_unit)[product]
    return np.log2(ona_eq / np.asarray(cfg.reference_dose_units)[region])


def dose_effect(cfg: SimConfig, x: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Linear spline in log2 relative dose with a knot at ``duration.dose_knot_log2``."""
    d = cfg.duration
    below = np.asarray(cfg.dose_slope_below_knot)[region]
    return below * np.minimum(x, d.dose_knot_log2) + d.dose_slope_above_knot * np.maximum(
        x - d.dose_knot_log2, 0.0
    )


def log_duration_mean(
    cfg: SimConfig,
    *,
    region: np.ndarray,
    log2_dose: np.ndarray,
    male: np.ndarray,
    bulk: np.ndarray,
    exercise_met_h: np.ndarray,
    age_years: np.ndarray,
    product: np.ndarray,
    cycle: np.ndarray,
    severity: np.ndarray,
) -> np.ndarray:
    """Population (fixed-effect) mean of log T in days, frailty excluded."""
    d = cfg.duration
    return (
        np.asarray(cfg.log_median_days)[region]
        + dose_effect(cfg, log2_dose, region)
        + d.sex_male * male
        + d.muscle_bulk_per_grade * (bulk - REFERENCE_BULK)
        + d.exercise_per_10_met_h * exercise_met_h / EXERCISE_STEP_MET_H
        + d.age_per_10_years * (age_years - REFERENCE_AGE_YEARS) / AGE_STEP_YEARS
        + np.asarray(cfg.product_log_time)[product]
        + d.log2_cycle * np.log2(cycle)
        + d.baseline_severity_per_grade * (severity - REFERENCE_SEVERITY)
    )


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def complication_effects(
    cfg: SimConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clinic and injector logit effects; returns (clinic_effect, injector_effect, truly_worse)."""
    c = cfg.complications
    clinic_eff = c.clinic_sd * rng.standard_normal(cfg.n_clinics)
    inj_eff = c.injector_sd * rng.standard_normal(cfg.n_injectors)
    worse = np.zeros(cfg.n_injectors, dtype=bool)
    k = min(c.n_worse_injectors, cfg.n_injectors)
    worse[rng.choice(cfg.n_injectors, size=k, replace=False)] = True
    inj_eff = inj_eff + worse * rng.uniform(*c.worse_injector_shift, size=cfg.n_injectors)
    return clinic_eff, inj_eff, worse


def complication_risk(
    cfg: SimConfig,
    *,
    type_idx: int,
    region: np.ndarray,
    log2_dose: np.ndarray,
    product: np.ndarray,
    clinic: np.ndarray,
    injector: np.ndarray,
    clinic_eff: np.ndarray,
    injector_eff: np.ndarray,
) -> np.ndarray:
    """True 30-day risk of one complication type per episode (NaN where it cannot occur)."""
    base = cfg.base_rate[type_idx][region]
    eta = (
        _logit(base)
        + cfg.complication_dose_slope[type_idx] * log2_dose
        + np.asarray(cfg.product_logit)[product]
        + clinic_eff[clinic]
        + injector_eff[injector]
    )
    return 1.0 / (1.0 + np.exp(-eta))


@dataclass(frozen=True)
class TouchupEffects:
    """True clinic and injector effects on the log-odds of a touch-up (``simulate.touchup``)."""

    clinic: np.ndarray
    injector: np.ndarray


def touchup_effects(cfg: SimConfig, rng: np.random.Generator) -> TouchupEffects:
    """Draw the clinic and injector touch-up effects (independent normals on the logit)."""
    t = cfg.touchup
    return TouchupEffects(
        clinic=t.clinic_sd * rng.standard_normal(cfg.n_clinics),
        injector=t.injector_sd * rng.standard_normal(cfg.n_injectors),
    )


def touchup_probability(
    cfg: SimConfig,
    *,
    region: np.ndarray,
    log2_first_dose: np.ndarray,
    clinic: np.ndarray,
    injector: np.ndarray,
    effects: TouchupEffects,
) -> np.ndarray:
    """True probability of a touch-up at the two-week check, per episode.

    ``expit(logit(base_rate[region]) + dose_logit_per_doubling * log2_first_dose
    + clinic effect + injector effect)``, with ``log2_first_dose`` the first injection's
    log2(ona-equivalent units / reference dose).
    """
    eta = (
        _logit(np.asarray(cfg.touchup_base_rate)[region])
        + cfg.touchup.dose_logit_per_doubling * log2_first_dose
        + effects.clinic[clinic]
        + effects.injector[injector]
    )
    return 1.0 / (1.0 + np.exp(-eta))


def draw_touchup_units(
    cfg: SimConfig, rng: np.random.Generator, region: np.ndarray, product: np.ndarray
) -> np.ndarray:
    """Touch-up units in the product's own units: Uniform(units_fraction) x reference dose,
    converted to the product and rounded to its recorded precision (at least one step)."""
    lo, hi = cfg.touchup.units_fraction
    ona = np.asarray(cfg.reference_dose_units)[region] * rng.uniform(lo, hi, region.size)
    step = np.asarray(cfg.units_rounding)[product]
    raw = ona * np.asarray(cfg.units_per_ona_unit)[product]
    return np.maximum(np.rint(raw / step) * step, step)
