"""Demo cohort with known truth: clinic-format raw tables plus every latent quantity.

The model (documented in ``docs/simulator.md``, every number in ``params.yaml`` ``simulate:``
with its source) has three parts:

* latent duration of effect, a log-normal AFT with patient frailty
  (:func:`analysis.simulator.population.log_duration_mean`);
* a realistic visit process that turns latent durations into interval-censored assessments
  (:mod:`analysis.simulator.visits`);
* 30-day complications, logistic in region x type base rates, dose, product, clinic and
  injector effects (a few injectors truly worse);
* touch-ups at the two-week check (logistic in region, first dose, clinic and injector),
  written as their own treatment rows; their units join the episode's total dose.

Example
-------
>>> cfg = SimConfig.from_params(load_params("params.yaml"), n_patients=200)  # doctest: +SKIP
>>> write_cohort(simulate_cohort(cfg), Path("/tmp/demo"))                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import ConfigError
from analysis.io import write_csv, write_json, write_parquet
from analysis.simulator.config import SimConfig
from analysis.simulator.population import (
    PatientArrays,
    TouchupEffects,
    complication_effects,
    complication_risk,
    dose_effect,
    simulate_patients,
    touchup_effects,
)
from analysis.simulator.visits import AssessmentArrays, EpisodeArrays, simulate_visits
from analysis.survival import covariates as cov

#: Canonical raw-table columns (docs/ARCHITECTURE.md, "Raw tables").
RAW_COLUMNS: dict[str, list[str]] = {
    "patients": ["patient_id", "sex", "birth_year", "body_fat_pct"],
    "treatments": [
        "episode_id",
        "patient_id",
        "clinic_id",
        "injector_id",
        "treatment_date",
        "region",
        "product",
        "units",
        "muscle_bulk",
        "exercise_met_h_week",
        "baseline_severity",
        "is_touchup",
    ],
    "assessments": ["episode_id", "assessment_date", "severity", "reported_wearoff_date"],
    "complications": [
        "episode_id",
        "complication_type",
        "onset_date",
        "severity",
        "resolution_date",
    ],
}
END_REASONS = ("dropout", "scheduled", "wearoff_driven", "cutoff")
FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class SimulatedCohort:
    """Raw clinic-format tables of a simulated cohort and the truth that generated them.

    Attributes
    ----------
    patients, treatments, assessments, complications : pandas.DataFrame
        Exactly the canonical raw columns of docs/ARCHITECTURE.md.
    truth : dict
        Every parameter used (JSON-serialisable); see docs/simulator.md for the keys.
    truth_tables : dict of str to pandas.DataFrame
        ``episodes`` (latent durations, true log-means, touch-ups), ``patients`` (frailty),
        ``injectors`` and ``clinics`` (true complication and touch-up effects,
        ``truly_worse``), ``complication_risk`` (true 30-day risk per episode and applicable
        type) and ``region_medians``.
    """

    patients: pd.DataFrame
    treatments: pd.DataFrame
    assessments: pd.DataFrame
    complications: pd.DataFrame
    truth: dict
    truth_tables: dict[str, pd.DataFrame]

    @property
    def summary(self) -> pd.DataFrame:
        """Row counts per raw and truth table."""
        rows = [("raw", k, len(getattr(self, k))) for k in RAW_COLUMNS]
        rows += [("truth", k, len(v)) for k, v in self.truth_tables.items()]
        return pd.DataFrame(rows, columns=["kind", "table", "rows"])


def simulate_cohort(cfg: SimConfig, *, progress: bool = False) -> SimulatedCohort:
    """Simulate a demo cohort with known truth.

    Parameters
    ----------
    cfg : SimConfig
        The simulator's configuration (:meth:`SimConfig.from_params`, which also takes the
        ``seed`` and ``n_patients`` overrides).
    progress : bool
        Show a tqdm progress bar (episodes simulated) on stderr.

    Returns
    -------
    SimulatedCohort
    """
    ss = np.random.SeedSequence(cfg.seed)
    rngs = [np.random.default_rng(s) for s in ss.spawn(5)]
    rng_pat, rng_visit, rng_comp, rng_eff, rng_touch = rngs
    pa = simulate_patients(cfg, rng_pat)
    touch_eff = touchup_effects(cfg, rng_touch)
    bar, tick = _progress_bar(progress, expected=int(cfg.n_patients * 4))
    try:
        ep, asm = simulate_visits(
            cfg, rng_visit, pa, progress=tick, touch_rng=rng_touch, touch_effects=touch_eff
        )
    finally:
        if bar is not None:
            bar.close()
    ids = _treatment_ids(ep)
    clinic_eff, inj_eff, worse = complication_effects(cfg, rng_eff)
    risk = _complication_risk_table(cfg, ep, ids.episode, ids.rank, clinic_eff, inj_eff, rng_comp)
    cohort = SimulatedCohort(
        patients=_patients_table(cfg, pa),
        treatments=_treatments_table(cfg, ep, ids),
        assessments=_assessments_table(cfg, ep, asm, ids),
        complications=_complications_table(cfg, ep, risk, ids, rng_comp),
        truth=_truth_dict(cfg),
        truth_tables={
            "episodes": _truth_episodes(cfg, ep, pa, ids),
            "patients": _truth_patients(cfg, pa),
            "injectors": _truth_injectors(cfg, inj_eff, worse, touch_eff),
            "clinics": _truth_clinics(cfg, clinic_eff, touch_eff),
            "complication_risk": risk.drop(columns=["_episode"]),
            "region_medians": region_medians(cfg),
        },
    )
    return cohort


def _progress_bar(enabled: bool, expected: int):
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=expected, unit="episode", desc="simulate", leave=False)
    return bar, bar.update


def _ids(prefix: str, width: int, n: int) -> np.ndarray:
    if n >= 10**width:
        raise ConfigError(f"cohort too large: {n} identifiers do not fit {prefix} + {width} digits")
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _dates(cfg: SimConfig, days: np.ndarray) -> pd.Series:
    """Days since start_date -> datetime64[ns] dates (NaN/inf -> NaT)."""
    days = np.asarray(days, dtype=float)
    out = np.full(days.size, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(days)
    out[ok] = np.datetime64(cfg.start_date, "D") + days[ok].astype(np.int64)
    return pd.Series(out, dtype="datetime64[ns]")


@dataclass(frozen=True)
class TreatmentIds:
    """Identifiers of the treatment rows: one per episode plus one per touch-up.

    IDs are numbered in the order of (treatment day, patient, region) over all treatment rows.
    ``episode`` and ``touchup`` (``None`` where an episode had none) are indexed by episode;
    ``rank`` / ``touchup_rank`` are each row's position in that order; ``order`` lists the
    rows (episodes first, then touch-ups, by episode index) in that order.
    """

    episode: np.ndarray
    touchup: np.ndarray
    rank: np.ndarray
    touchup_rank: np.ndarray
    order: np.ndarray
    touched: np.ndarray  # episode indices with a touch-up, in row order after the episodes


def _treatment_ids(ep: EpisodeArrays) -> TreatmentIds:
    touched = np.flatnonzero(ep.touchup)
    day = np.concatenate([ep.day, ep.day[touched] + ep.touchup_day[touched]])
    patient = np.concatenate([ep.patient, ep.patient[touched]])
    region = np.concatenate([ep.region, ep.region[touched]])
    order = np.lexsort((region, patient, day))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ids = _ids("E", 7, order.size)[rank]
    n = ep.day.size
    touchup = np.full(n, None, dtype=object)
    touchup[touched] = ids[n:]
    touchup_rank = np.full(n, -1, dtype=np.int64)
    touchup_rank[touched] = rank[n:]
    return TreatmentIds(ids[:n], touchup, rank[:n], touchup_rank, order, touched)


def _filed_under(
    ep: EpisodeArrays, ids: TreatmentIds, episode: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The treatment row a visit or complication is filed under, and that row's rank.

    Rows after a touch-up (``day`` since the first injection beyond the touch-up day) of an
    episode whose clinic files follow-up under the latest treatment go to the touch-up's row.
    """
    later = ep.followup_on_touchup[episode] & (day > ep.touchup_day[episode])
    row_id = np.where(later, ids.touchup[episode], ids.episode[episode])
    rank = np.where(later, ids.touchup_rank[episode], ids.rank[episode])
    return row_id, rank


def _clinic_ids(n: int) -> np.ndarray:
    return np.array([f"clinic_{i + 1:02d}" for i in range(n)], dtype=object)


def _injector_ids(n: int) -> np.ndarray:
    return np.array([f"inj_{i + 1:03d}" for i in range(n)], dtype=object)


def _patients_table(cfg: SimConfig, pa: PatientArrays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": _ids("P", 6, cfg.n_patients),
            "sex": np.where(pa.male, "M", "F").astype(object),
            "birth_year": pa.birth_year.astype(np.int64),
            "body_fat_pct": pa.body_fat_pct.astype(float),
        }
    )


def _treatments_table(cfg: SimConfig, ep: EpisodeArrays, ids: TreatmentIds) -> pd.DataFrame:
    """Episode rows and touch-up rows (same patient, staff, region, product and covariates;
    the touch-up's day and units), sorted like their IDs. Clinics of
    ``touchup.flag_clinics`` mark each row's ``is_touchup`` as ``true``/``false``."""
    e = np.concatenate([np.arange(ep.day.size), ids.touched])
    is_touchup = np.arange(e.size) >= ep.day.size
    day = np.where(is_touchup, ep.day[e] + np.nan_to_num(ep.touchup_day[e]), ep.day[e])
    flags = np.where(is_touchup, "true", "false").astype(object)
    flags[~np.asarray(cfg.touchup_flag_clinics)[ep.clinic[e]]] = None
    df = pd.DataFrame(
        {
            "episode_id": np.concatenate([ids.episode, ids.touchup[ids.touched]]),
            "patient_id": _ids("P", 6, cfg.n_patients)[ep.patient[e]],
            "clinic_id": _clinic_ids(cfg.n_clinics)[ep.clinic[e]],
            "injector_id": _injector_ids(cfg.n_injectors)[ep.injector[e]],
            "treatment_date": _dates(cfg, day),
            "region": np.asarray(cfg.regions, dtype=object)[ep.region[e]],
            "product": np.asarray(cfg.products, dtype=object)[ep.product[e]],
            "units": np.where(is_touchup, ep.touchup_units[e], ep.units[e]).astype(float),
            "muscle_bulk": ep.muscle_bulk[e].astype(np.int64),
            "exercise_met_h_week": ep.exercise_met_h[e].astype(float),
            "baseline_severity": ep.baseline_severity[e].astype(np.int64),
            "is_touchup": flags,
        }
    )
    return df.iloc[ids.order].reset_index(drop=True)


def _assessments_table(
    cfg: SimConfig, ep: EpisodeArrays, asm: AssessmentArrays, ids: TreatmentIds
) -> pd.DataFrame:
    """Rows sorted by the treatment id they are filed under, then date (integer sort keys:
    string sorts are slow at 1M)."""
    row_id, row_rank = _filed_under(ep, ids, asm.episode, asm.day)
    order = np.lexsort((asm.day, row_rank))
    episode = asm.episode[order]
    treated = ep.day[episode]
    df = pd.DataFrame(
        {
            "episode_id": row_id[order],
            "assessment_date": _dates(cfg, treated + asm.day[order]),
            "severity": pd.array(asm.severity[order], dtype="Int64"),
            "reported_wearoff_date": _dates(cfg, treated + asm.reported_day[order]),
        }
    )
    return df


def _complication_risk_table(
    cfg: SimConfig,
    ep: EpisodeArrays,
    ids: np.ndarray,
    rank: np.ndarray,
    clinic_eff: np.ndarray,
    inj_eff: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """True risk and latent occurrence per episode and applicable complication type.

    Sorted by episode id, then type in vocabulary order; ``_episode`` is the internal index.
    """
    episode: list[np.ndarray] = []
    type_idx: list[np.ndarray] = []
    base: list[np.ndarray] = []
    risk: list[np.ndarray] = []
    occurred: list[np.ndarray] = []
    for t in range(len(cfg.complication_types)):
        applicable = np.flatnonzero(np.isfinite(cfg.base_rate[t][ep.region]))
        p = complication_risk(
            cfg,
            type_idx=t,
            region=ep.region[applicable],
            log2_dose=ep.log2_dose[applicable],
            product=ep.product[applicable],
            clinic=ep.clinic[applicable],
            injector=ep.injector[applicable],
            clinic_eff=clinic_eff,
            injector_eff=inj_eff,
        )
        episode.append(applicable)
        type_idx.append(np.full(applicable.size, t))
        base.append(cfg.base_rate[t][ep.region[applicable]])
        risk.append(p)
        occurred.append(rng.random(applicable.size) < p)
    e, ctype = np.concatenate(episode), np.concatenate(type_idx)
    order = np.lexsort((ctype, rank[e]))
    e, ctype = e[order], ctype[order]
    return pd.DataFrame(
        {
            "_episode": e,
            "episode_id": ids[e],
            "complication_type": np.asarray(cfg.complication_types, dtype=object)[ctype],
            "base_rate": np.concatenate(base)[order],
            "risk_30d": np.concatenate(risk)[order],
            "occurred": np.concatenate(occurred)[order],
        }
    )


def _complications_table(
    cfg: SimConfig,
    ep: EpisodeArrays,
    risk: pd.DataFrame,
    ids: TreatmentIds,
    rng: np.random.Generator,
) -> pd.DataFrame:
    c = cfg.complications
    hit = risk.loc[risk["occurred"]]
    n = len(hit)
    e = hit["_episode"].to_numpy()
    offset = rng.integers(c.onset_day_range[0], c.onset_day_range[1] + 1, n)
    onset = ep.day[e] + offset
    resolution = onset + rng.integers(
        7 * c.resolution_weeks_range[0], 7 * c.resolution_weeks_range[1] + 1, n
    )
    resolution = np.where(
        (rng.random(n) < c.resolution_missing_share) | (resolution > cfg.cutoff_day),
        np.nan,
        resolution,
    )
    severity = np.asarray(cfg.severity_levels, dtype=object)[
        rng.choice(len(cfg.severity_levels), size=n, p=cfg.severity_probs)
    ]
    row_id, row_rank = _filed_under(ep, ids, e, offset.astype(float))
    df = pd.DataFrame(
        {
            "episode_id": row_id,
            "complication_type": hit["complication_type"].to_numpy(dtype=object),
            "onset_date": _dates(cfg, onset),
            "severity": severity,
            "resolution_date": _dates(cfg, resolution),
        }
    )
    # ``risk`` is sorted by episode and type; a stable sort by the filing row keeps the types
    keep = np.flatnonzero(onset <= cfg.cutoff_day)
    keep = keep[np.argsort(row_rank[keep], kind="stable")]
    return df.iloc[keep].reset_index(drop=True)


def _truth_episodes(
    cfg: SimConfig, ep: EpisodeArrays, pa: PatientArrays, ids: TreatmentIds
) -> pd.DataFrame:
    """One row per episode (keyed by the first injection's ``episode_id``), sorted by it."""
    df = pd.DataFrame(
        {
            "episode_id": ids.episode,
            "latent_duration_days": ep.latent_days,
            "log_duration_mean": ep.log_mean,
            "log_duration_mean_given_frailty": ep.log_mean + pa.frailty[ep.patient],
            "log2_rel_dose": ep.log2_dose,
            "log2_rel_dose_first": ep.log2_dose_first,
            "dose_effect": dose_effect(cfg, ep.log2_dose, ep.region),
            "touchup_prob": ep.touchup_prob,
            "touchup": ep.touchup,
            "touchup_day": ep.touchup_day,
            "touchup_units": ep.touchup_units,
            "touchup_episode_id": ids.touchup,
            "followup_on_touchup": ep.followup_on_touchup,
            "cycle": ep.cycle.astype(np.int64),
            "age_years": ep.age_years,
            "reported_wearoff_days": ep.reported_day,
            "next_treatment_days": ep.next_treatment_day - ep.day,
            "end_reason": np.asarray(END_REASONS, dtype=object)[ep.end_reason],
        }
    )
    return df.iloc[np.argsort(ids.rank)].reset_index(drop=True)


def _truth_patients(cfg: SimConfig, pa: PatientArrays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": _ids("P", 6, cfg.n_patients),
            "frailty": pa.frailty,
            "scheduled_booker": pa.scheduled,
            "clinic_id": _clinic_ids(cfg.n_clinics)[pa.clinic],
        }
    )


def _truth_injectors(
    cfg: SimConfig, inj_eff: np.ndarray, worse: np.ndarray, touch: TouchupEffects
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "injector_id": _injector_ids(cfg.n_injectors),
            "clinic_id": _clinic_ids(cfg.n_clinics)[
                np.arange(cfg.n_injectors) // cfg.injectors_per_clinic
            ],
            "complication_logit_effect": inj_eff,
            "complication_odds_ratio": np.exp(inj_eff),
            "truly_worse": worse,
            "touchup_logit_effect": touch.injector,
        }
    )


def _truth_clinics(cfg: SimConfig, clinic_eff: np.ndarray, touch: TouchupEffects) -> pd.DataFrame:
    o = cfg.observation
    return pd.DataFrame(
        {
            "clinic_id": _clinic_ids(cfg.n_clinics),
            "complication_logit_effect": clinic_eff,
            "complication_odds_ratio": np.exp(clinic_eff),
            "truly_worse": np.zeros(cfg.n_clinics, dtype=bool),
            "followup_protocol": np.asarray(o.clinic_protocols, dtype=object),
            "records_reported_wearoff": np.asarray(o.reports_wearoff),
            "touchup_logit_effect": touch.clinic,
            "marks_touchups": np.asarray(cfg.touchup_flag_clinics),
        }
    )


def region_medians(
    cfg: SimConfig, multipliers: tuple[float, ...] = (0.5, 1.0, 2.0)
) -> pd.DataFrame:
    """True median latent duration (days) per region for the reference profile.

    The reference profile: woman, bulk 2, 0 MET-h/week, age 45, ona, cycle 1, severity 2,
    frailty 0. The median of a log-normal is ``exp(mean)``.
    """
    rows = []
    for r, region in enumerate(cfg.regions):
        for m in multipliers:
            x = np.array([np.log2(m)])
            log_med = cfg.log_median_days[r] + dose_effect(cfg, x, np.array([r]))[0]
            rows.append(
                {
                    "region": region,
                    "dose_multiplier": m,
                    "units_ona": cfg.reference_dose_units[r] * m,
                    "median_days": float(np.exp(log_med)),
                }
            )
    return pd.DataFrame(rows)


def _truth_dict(cfg: SimConfig) -> dict[str, Any]:
    """Every parameter used, with duration effects as log-coefficients and time ratios."""
    return {
        "seed": cfg.seed,
        "n_patients": cfg.n_patients,
        "start_date": cfg.start_date.isoformat(),
        "cutoff_date": cfg.cutoff_date.isoformat(),
        "duration": _duration_truth(cfg),
        "observation": _observation_truth(cfg),
        "complications": _complication_truth(cfg),
        "touchup": _touchup_truth(cfg),
        "n_clinics": cfg.n_clinics,
        "n_injectors": cfg.n_injectors,
    }


def _duration_truth(cfg: SimConfig) -> dict[str, Any]:
    d = cfg.duration
    coef = {
        cov.SEX_MALE: d.sex_male,
        cov.MUSCLE_BULK: d.muscle_bulk_per_grade,
        cov.EXERCISE: d.exercise_per_10_met_h,
        cov.AGE: d.age_per_10_years,
        cov.CYCLE: d.log2_cycle,
        cov.SEVERITY: d.baseline_severity_per_grade,
        cov.TOUCHUP: d.touchup,
        cov.DOSE_ABOVE_KNOT: d.dose_slope_above_knot,
        **{f"product_{p}": v for p, v in zip(cfg.products, cfg.product_log_time, strict=True)},
        **{
            f"{cov.DOSE_BELOW_KNOT}_{r}": v
            for r, v in zip(cfg.regions, cfg.dose_slope_below_knot, strict=True)
        },
    }
    total_sd = float(np.hypot(d.frailty_sd, d.residual_sd))
    return {
        "model": "log T = log(median_days[region]) + spline(log2_rel_dose; knot)"
        " + sum(coef * covariate) + u_patient + sigma * eps",
        "distribution": "lognormal",
        "covariates": {
            cov.SEX_MALE: "1 if sex == 'M'",
            cov.MUSCLE_BULK: f"muscle_bulk - {cov.REFERENCE_BULK}",
            cov.EXERCISE: f"exercise_met_h_week / {cov.EXERCISE_STEP_MET_H:g}",
            cov.AGE: f"(age_years - {cov.REFERENCE_AGE_YEARS:g}) / {cov.AGE_STEP_YEARS:g},"
            " age_years = treatment year - birth_year",
            cov.CYCLE: "log2(cycle)",
            cov.SEVERITY: f"baseline_severity - {cov.REFERENCE_SEVERITY}",
            cov.TOUCHUP: "1 if the episode had a touch-up (its units are in log2_rel_dose)",
            "product_<code>": "indicator of product (ona = reference, 0)",
            "dose": "below * min(log2_rel_dose, knot) + above * max(log2_rel_dose - knot, 0),"
            " log2_rel_dose = log2(total ona-eq units (first + touch-up) / reference dose)",
        },
        "reference_profile": {
            "sex": "F",
            "muscle_bulk": cov.REFERENCE_BULK,
            "exercise_met_h_week": 0,
            "age_years": cov.REFERENCE_AGE_YEARS,
            "product": "ona",
            "cycle": 1,
            "baseline_severity": cov.REFERENCE_SEVERITY,
            "rel_dose": 1.0,
        },
        "median_days_reference": dict(
            zip(cfg.regions, np.exp(cfg.log_median_days).tolist(), strict=True)
        ),
        "log_median_days_reference": dict(zip(cfg.regions, cfg.log_median_days, strict=True)),
        "dose_knot_log2": d.dose_knot_log2,
        "log_coefficients": coef,
        "time_ratios": {k: float(np.exp(v)) for k, v in coef.items()},
        "frailty_sd": d.frailty_sd,
        "residual_sd": d.residual_sd,
        "total_sd": total_sd,
    }


def _observation_truth(cfg: SimConfig) -> dict[str, Any]:
    o = cfg.observation
    return {
        "two_week_attendance": o.two_week_attendance,
        "two_week_day_range": list(o.two_week_day_range),
        "clinic_protocols": {
            f"clinic_{i + 1:02d}": {"protocol": n, "days": list(p), "attendance": a}
            for i, (n, p, a) in enumerate(
                zip(o.clinic_protocols, o.protocol_days, o.protocol_attendance, strict=True)
            )
        },
        "visit_jitter_days": o.visit_jitter_days,
        "reported_wearoff_clinics": [
            f"clinic_{i + 1:02d}" for i, r in enumerate(o.reports_wearoff) if r
        ],
        "reported_wearoff_share": o.reported_wearoff_share,
        "reported_wearoff_sd_days": o.reported_wearoff_sd_days,
        "reported_by_phone_share": o.reported_by_phone_share,
        "min_retreat_days": o.min_retreat_days,
        "scheduled_share": o.scheduled_share,
        "scheduled_interval_days": list(o.scheduled_interval_days),
        "return_delay_days_uniform": list(o.return_delay_days),
        "dropout_per_episode": o.dropout_per_episode,
    }


def _touchup_truth(cfg: SimConfig) -> dict[str, Any]:
    t = cfg.touchup
    return {
        "model": "logit p = logit(base_rate[region]) + dose_logit_per_doubling"
        " * log2(first dose / reference) + clinic + injector; at the two-week check day",
        "base_rate": dict(zip(cfg.regions, cfg.touchup_base_rate, strict=True)),
        "dose_logit_per_doubling": t.dose_logit_per_doubling,
        "clinic_sd": t.clinic_sd,
        "injector_sd": t.injector_sd,
        "units_fraction_of_reference": list(t.units_fraction),
        "duration_log_time_ratio": cfg.duration.touchup,
        "followup_on_touchup_share": t.followup_on_touchup_share,
        "flag_clinics": [f"clinic_{c:02d}" for c in t.flag_clinics],
    }


def _complication_truth(cfg: SimConfig) -> dict[str, Any]:
    c = cfg.complications
    return {
        "model": "logit p = logit(base_rate[type][region]) + dose_slope[type] * log2_rel_dose"
        " + product[product] + clinic + injector",
        "base_rate": {
            t: {
                r: float(cfg.base_rate[i, j])
                for j, r in enumerate(cfg.regions)
                if np.isfinite(cfg.base_rate[i, j])
            }
            for i, t in enumerate(cfg.complication_types)
        },
        "dose_slope_logit": dict(
            zip(cfg.complication_types, cfg.complication_dose_slope, strict=True)
        ),
        "product_logit": dict(zip(cfg.products, cfg.product_logit, strict=True)),
        "clinic_sd": c.clinic_sd,
        "injector_sd": c.injector_sd,
        "n_worse_injectors": c.n_worse_injectors,
        "worse_injector_shift": list(c.worse_injector_shift),
    }


def write_cohort(cohort: SimulatedCohort, out_dir: Path, fmt: str = "parquet") -> None:
    """Write the raw tables (``<table>.<fmt>``) and ``truth/`` (JSON + Parquet) to ``out_dir``.

    Same cohort, same bytes. Stale raw tables of the other format are removed so that an
    export directory never holds two versions of a table. Like a clinic's export, the demo
    states the day it was taken: ``mapping.yaml`` with ``export_date`` (the simulated
    cut-off), which ``prepare`` uses as the data cut-off unless ``data.cutoff_date`` is set.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format {fmt!r}; expected one of {FORMATS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer: Callable[[pd.DataFrame, Path], Path] = (
        write_parquet if fmt == "parquet" else _write_raw_csv
    )
    for name in RAW_COLUMNS:
        for other in FORMATS:
            stale = out_dir / f"{name}.{other}"
            if other != fmt and stale.exists():
                stale.unlink()
        writer(getattr(cohort, name)[RAW_COLUMNS[name]], out_dir / f"{name}.{fmt}")
    (out_dir / "mapping.yaml").write_text(
        "# The day this demo export was taken (docs/data-dictionary.md, mapping file).\n"
        f"export_date: {cohort.truth['cutoff_date']}\n"
    )
    truth_dir = out_dir / "truth"
    write_json(cohort.truth, truth_dir / "truth.json")
    for name, table in cohort.truth_tables.items():
        write_parquet(table, truth_dir / f"{name}.parquet")


def _write_raw_csv(df: pd.DataFrame, path: Path) -> Path:
    # Dates as YYYY-MM-DD, enough digits for units and body-fat figures.
    return write_csv(df, path, float_format="%.10g")
