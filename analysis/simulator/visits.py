"""The visit process of the demo cohort: treatment cycles, follow-up visits and assessments.

Loops over treatment cycle number (never over patients). In each cycle every active patient is
treated in all of their regions (one episode per region), attends a two-week check and the
clinic's protocol reviews (independent of the latent durations), and either drops out, books
on a fixed schedule, or returns when the first treated region wears off (plus a delay, never
before ``min_retreat_days``). Every visit assesses every active episode of the patient.

Touch-ups (``simulate.touchup``) are decided per episode at the patient's two-week check day,
before the latent duration is drawn: their units join the episode's total dose, which is the
dose the latent duration model uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.simulator.config import SimConfig
from analysis.simulator.population import (
    PatientArrays,
    TouchupEffects,
    draw_touchup_units,
    draw_units,
    log2_rel_dose,
    log_duration_mean,
    touchup_probability,
)


@dataclass(frozen=True)
class EpisodeArrays:
    """One entry per episode (concatenated over cycles, in generation order)."""

    patient: np.ndarray
    region: np.ndarray
    day: np.ndarray  # treatment day since start_date
    cycle: np.ndarray
    product: np.ndarray
    injector: np.ndarray
    clinic: np.ndarray
    units: np.ndarray  # first injection, product's own units
    log2_dose: np.ndarray  # total dose (first + touch-up), log2(ona-eq / reference)
    log2_dose_first: np.ndarray  # first injection only
    touchup_prob: np.ndarray  # true probability of a touch-up
    touchup: np.ndarray  # bool
    touchup_day: np.ndarray  # days since the first injection (NaN if none)
    touchup_units: np.ndarray  # product's own units (0 if none)
    followup_on_touchup: np.ndarray  # later rows filed under the touch-up's episode_id
    muscle_bulk: np.ndarray
    exercise_met_h: np.ndarray
    baseline_severity: np.ndarray
    age_years: np.ndarray
    log_mean: np.ndarray  # fixed-effect mean of log T
    latent_days: np.ndarray
    effect_severity: np.ndarray  # severity while the effect holds
    next_treatment_day: np.ndarray  # inf if no return before the cut-off
    reported_day: np.ndarray  # patient-reported wear-off day since treatment (NaN if none)
    end_reason: np.ndarray  # 0 dropout, 1 scheduled, 2 wear-off driven, 3 beyond cut-off


@dataclass(frozen=True)
class AssessmentArrays:
    episode: np.ndarray  # index into EpisodeArrays
    day: np.ndarray  # days since the episode's treatment
    severity: np.ndarray
    reported_day: np.ndarray  # NaN unless this row carries the patient's report


END_DROPOUT, END_SCHEDULED, END_WEAROFF, END_CUTOFF = 0, 1, 2, 3


def _protocol_matrix(cfg: SimConfig) -> np.ndarray:
    o = cfg.observation
    width = max((len(d) for d in o.protocol_days), default=0)
    mat = np.full((cfg.n_clinics, width), np.nan)
    for c, days in enumerate(o.protocol_days):
        mat[c, : len(days)] = days
    return mat


def _visit_days(
    cfg: SimConfig,
    rng: np.random.Generator,
    clinic: np.ndarray,
    interval: np.ndarray,
    days_left: np.ndarray,
    check_day: np.ndarray,
) -> np.ndarray:
    """Visit days since treatment per patient (NaN = no visit), the return visit last.

    ``check_day`` is each patient's two-week check day (drawn with the touch-ups).
    """
    o = cfg.observation
    n = clinic.size
    two_week = check_day.astype(float)
    two_week[rng.random(n) >= o.two_week_attendance] = np.nan
    proto = _protocol_matrix(cfg)[clinic]
    jitter = rng.integers(-o.visit_jitter_days, o.visit_jitter_days + 1, proto.shape)
    proto = proto + jitter
    attend = rng.random(proto.shape) < np.asarray(o.protocol_attendance)[clinic][:, None]
    proto[~attend] = np.nan
    days = np.column_stack([two_week, proto])
    days[(days >= interval[:, None]) | (days > days_left[:, None])] = np.nan
    ret = np.where(interval <= days_left, interval, np.nan)
    return np.column_stack([days, ret])


def _next_interval(
    cfg: SimConfig, rng: np.random.Generator, scheduled: np.ndarray, first_wearoff: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Days to the next treatment (inf = never returns) and why the episode ended."""
    o = cfg.observation
    n = scheduled.size
    sched = rng.integers(o.scheduled_interval_days[0], o.scheduled_interval_days[1] + 1, n)
    delay = rng.uniform(o.return_delay_days[0], o.return_delay_days[1], n)
    driven = np.maximum(np.ceil(first_wearoff + delay), o.min_retreat_days)
    interval = np.where(scheduled, sched, driven).astype(float)
    reason = np.where(scheduled, END_SCHEDULED, END_WEAROFF)
    dropout = rng.random(n) < o.dropout_per_episode
    interval[dropout] = np.inf
    reason[dropout] = END_DROPOUT
    return interval, reason


@dataclass(frozen=True)
class TouchupDraws:
    """What the touch-up step needs: its own random stream, the true effects and each active
    patient's two-week check day of this cycle."""

    rng: np.random.Generator
    effects: TouchupEffects
    check_day: np.ndarray


def _touchups(
    cfg: SimConfig,
    touch: TouchupDraws,
    *,
    region: np.ndarray,
    product: np.ndarray,
    units: np.ndarray,
    x_first: np.ndarray,
    clinic: np.ndarray,
    injector: np.ndarray,
    local: np.ndarray,
    day: np.ndarray,
) -> dict[str, np.ndarray]:
    """Touch-up probability, occurrence, day and units per episode, and the total dose."""
    n = region.size
    rng = touch.rng
    prob = touchup_probability(
        cfg,
        region=region,
        log2_first_dose=x_first,
        clinic=clinic,
        injector=injector,
        effects=touch.effects,
    )
    check = touch.check_day[local].astype(float)
    happened = (rng.random(n) < prob) & (day + check <= cfg.cutoff_day)
    extra = np.where(happened, draw_touchup_units(cfg, rng, region, product), 0.0)
    followup = happened & (rng.random(n) < cfg.touchup.followup_on_touchup_share)
    return {
        "log2_dose": log2_rel_dose(cfg, units + extra, region, product),
        "log2_dose_first": x_first,
        "touchup_prob": prob,
        "touchup": happened,
        "touchup_day": np.where(happened, check, np.nan),
        "touchup_units": extra,
        "followup_on_touchup": followup,
    }


def _cycle_episodes(
    cfg: SimConfig,
    rng: np.random.Generator,
    pa: PatientArrays,
    active: np.ndarray,
    day: np.ndarray,
    cycle: int,
    touch: TouchupDraws,
) -> dict[str, np.ndarray]:
    """Treat every region of every active patient once; returns per-episode arrays."""
    t, o = cfg.treatment, cfg.observation
    na = active.size
    product = np.where(
        rng.random(na) < t.product_stickiness,
        pa.usual_product[active],
        rng.choice(len(cfg.products), size=na, p=cfg.product_probs),
    )
    other = pa.clinic[active] * cfg.injectors_per_clinic + rng.integers(
        0, cfg.injectors_per_clinic, na
    )
    injector = np.where(rng.random(na) < cfg.injector_stickiness, pa.usual_injector[active], other)
    met = pa.exercise_base_met_h[active] * np.exp(
        cfg.patients.exercise_visit_sd_log * rng.standard_normal(na)
    )
    # the log-normal tail passes any limit on a large cohort (2,352 MET-h/week in 1M episodes);
    # a simulated export must pass the export validation, so reports stop at the stated cap
    met = np.minimum(np.round(met, 1), cfg.patients.exercise_max_met_h)
    local, slot = np.nonzero(pa.region_slots[active] >= 0)
    pid = active[local]
    region = pa.region_slots[pid, slot]
    units = draw_units(cfg, rng, region, product[local], pa.male[pid])
    tu = _touchups(
        cfg,
        touch,
        region=region,
        product=product[local],
        units=units,
        x_first=log2_rel_dose(cfg, units, region, product[local]),
        clinic=pa.clinic[pid],
        injector=injector[local],
        local=local,
        day=day[local],
    )
    x = tu["log2_dose"]
    dates = np.datetime64(cfg.start_date, "D") + day[local]
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    age = (year - pa.birth_year[pid]).astype(float)
    bulk = pa.muscle_bulk[pid, slot]
    sev = pa.baseline_severity[pid, slot]
    mean = (
        log_duration_mean(
            cfg,
            region=region,
            log2_dose=x,
            male=pa.male[pid],
            bulk=bulk,
            exercise_met_h=met[local],
            age_years=age,
            product=product[local],
            cycle=np.full(local.size, cycle),
            severity=sev,
        )
        + cfg.duration.touchup * tu["touchup"]
    )
    latent = np.exp(
        mean + pa.frailty[pid] + cfg.duration.residual_sd * rng.standard_normal(local.size)
    )
    drop = 1 + (rng.random(local.size) < 0.5)
    reported = latent + o.reported_wearoff_sd_days * rng.standard_normal(local.size)
    reports = np.asarray(o.reports_wearoff)[pa.clinic[pid]] & (
        rng.random(local.size) < o.reported_wearoff_share
    )
    by_phone = reports & (rng.random(local.size) < o.reported_by_phone_share)
    return {
        "local": local,
        "patient": pid,
        "region": region,
        "day": day[local],
        "cycle": np.full(local.size, cycle),
        "product": product[local],
        "injector": injector[local],
        "clinic": pa.clinic[pid],
        "units": units,
        **tu,
        "muscle_bulk": bulk,
        "exercise_met_h": met[local],
        "baseline_severity": sev,
        "age_years": age,
        "log_mean": mean,
        "latent_days": latent,
        "effect_severity": np.maximum(sev - drop, 0),
        "reported_day": np.where(reports, np.maximum(np.rint(reported), 1.0), np.nan),
        "by_phone": by_phone,
    }


def _assess(
    ep: dict[str, np.ndarray], visits: np.ndarray, end_day: np.ndarray, offset: int
) -> dict[str, np.ndarray]:
    """One assessment row per (visit, episode of the visiting patient), plus phone reports.

    ``end_day`` (per patient) is the last day an event of this cycle can be recorded: the day
    before the next treatment, or the cut-off.
    """
    per_episode = visits[ep["local"]]
    e_idx, v_idx = np.nonzero(np.isfinite(per_episode))
    day = per_episode[e_idx, v_idx]
    worn = day >= ep["latent_days"][e_idx]
    severity = np.where(worn, ep["baseline_severity"][e_idx], ep["effect_severity"][e_idx]).astype(
        float
    )
    # A phone report is its own row on the reported day, without a severity grade.
    phone = np.flatnonzero(ep["by_phone"] & (ep["reported_day"] <= end_day[ep["local"]]))
    e_idx = np.concatenate([e_idx, phone])
    day = np.concatenate([day, ep["reported_day"][phone]])
    severity = np.concatenate([severity, np.full(phone.size, np.nan)])
    is_phone = np.arange(e_idx.size) >= e_idx.size - phone.size
    order = np.lexsort((~is_phone, day, e_idx))
    e_idx, day, severity, is_phone = e_idx[order], day[order], severity[order], is_phone[order]
    # Otherwise the report is written on the first visit on or after the reported day.
    rep = ep["reported_day"][e_idx]
    candidate = np.flatnonzero((day >= rep) & (is_phone | ~ep["by_phone"][e_idx]))
    _, first = np.unique(e_idx[candidate], return_index=True)
    reported = np.full(day.size, np.nan)
    reported[candidate[first]] = rep[candidate[first]]
    return {"episode": e_idx + offset, "day": day, "severity": severity, "reported_day": reported}


def simulate_visits(
    cfg: SimConfig,
    rng: np.random.Generator,
    pa: PatientArrays,
    progress: Callable[[int], None] | None = None,
    *,
    touch_rng: np.random.Generator,
    touch_effects: TouchupEffects,
) -> tuple[EpisodeArrays, AssessmentArrays]:
    """Run the cycle loop for the whole cohort.

    Parameters
    ----------
    touch_rng, touch_effects : numpy.random.Generator, TouchupEffects
        The touch-up step's own random stream and true clinic/injector effects.
    progress : callable, optional
        Called with the number of new episodes after each cycle (drives a progress bar).
    """
    active = np.arange(cfg.n_patients)
    day = pa.entry_day.astype(np.int64)
    episodes: list[dict[str, np.ndarray]] = []
    assessments: list[dict[str, np.ndarray]] = []
    offset, cycle = 0, 1
    lo, hi = cfg.observation.two_week_day_range
    while active.size:
        check_day = touch_rng.integers(lo, hi + 1, active.size)
        touch = TouchupDraws(touch_rng, touch_effects, check_day)
        ep = _cycle_episodes(cfg, rng, pa, active, day, cycle, touch)
        first = np.full(active.size, np.inf)
        np.minimum.at(first, ep["local"], ep["latent_days"])
        interval, reason = _next_interval(cfg, rng, pa.scheduled[active], first)
        days_left = (cfg.cutoff_day - day).astype(float)
        reason = np.where((reason != END_DROPOUT) & (interval > days_left), END_CUTOFF, reason)
        visits = _visit_days(cfg, rng, pa.clinic[active], interval, days_left, check_day)
        ep["next_treatment_day"] = np.where(interval <= days_left, day + interval, np.inf)[
            ep["local"]
        ]
        ep["end_reason"] = reason[ep["local"]]
        end_day = np.minimum(interval - 1, days_left)
        assessments.append(_assess(ep, visits, end_day, offset))
        episodes.append(ep)
        offset += ep["local"].size
        if progress is not None:
            progress(ep["local"].size)
        back = interval <= days_left
        active, day, cycle = active[back], (day + interval)[back].astype(np.int64), cycle + 1
    return _stack(EpisodeArrays, episodes), _stack(AssessmentArrays, assessments)


def _stack(kind, parts: list[dict[str, np.ndarray]]):
    names = kind.__dataclass_fields__
    return kind(**{k: np.concatenate([p[k] for p in parts]) for k in names})
