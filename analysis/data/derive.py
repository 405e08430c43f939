"""Derived per-episode variables and endpoints (docs/ARCHITECTURE.md, "Duration endpoint").

All functions are pure DataFrame -> DataFrame steps on validated, pseudonymised tables
(``episode_key``/``patient_key`` instead of identifiers), vectorised with group-bys so that a
million episodes take seconds. Days are counted from the treatment date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.prepare_config import PrepareConfig
from analysis.data.processed import DUR_STATUSES, EPISODE_COLUMNS, EXERCISE_TIERS

REASON_BASELINE_ZERO = "baseline severity 0: no wrinkle to return to"
REASON_NO_FOLLOWUP = "no follow-up assessment after the treatment day"


def hex_key_columns(keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A 16-hex-character key as two big-endian integers (last, first) for ``np.lexsort``.

    ASCII hex compares byte by byte like big-endian integers, so this sorts exactly like the
    text, an order of magnitude faster than sorting a million strings.
    """
    words = keys.to_numpy().astype("S16").view(">u8").reshape(-1, 2)
    return words[:, 1], words[:, 0]


def _lookup(codes: pd.Series, table: dict[str, float]) -> np.ndarray:
    """``table[code]`` for each code (vectorised through the few distinct codes)."""
    idx, uniques = pd.factorize(codes)
    return np.array([table[u] for u in uniques], dtype="float64")[idx]


def add_dose(ep: pd.DataFrame, cfg: PrepareConfig) -> pd.DataFrame:
    """Onabotulinumtoxin-A-equivalent units and dose relative to the region's reference dose.

    ``units_ona_eq = units / products.<p>.units_per_ona_unit``;
    ``rel_dose = units_ona_eq / regions.<r>.reference_dose_units``.
    """
    ona = ep["units"] / _lookup(ep["product"], cfg.units_per_ona_unit)
    ref = pd.Series(_lookup(ep["region"], cfg.reference_dose_units), index=ep.index)
    rel = ona / ref
    return ep.assign(
        units_ona_eq=ona, reference_dose_units=ref, rel_dose=rel, log2_rel_dose=np.log2(rel)
    )


def add_calendar(ep: pd.DataFrame) -> pd.DataFrame:
    """``year`` (int) and ``quarter`` ("2023Q2") of the treatment date."""
    d = ep["treatment_date"]
    year = d.dt.year.astype("int64")
    codes, uniques = pd.factorize(year * 10 + d.dt.quarter)
    labels = np.array([f"{u // 10}Q{u % 10}" for u in uniques], dtype=object)
    return ep.assign(year=year, quarter=labels[codes])


def add_age(ep: pd.DataFrame) -> pd.DataFrame:
    """Age in years at treatment, from birth year only: birth assumed at mid-year.

    ``age_years = fractional year of treatment - (birth_year + 0.5)``; the error is at most
    half a year either way.
    """
    d = ep["treatment_date"]
    days_in_year = np.where(d.dt.is_leap_year, 366.0, 365.0)
    frac_year = d.dt.year + (d.dt.dayofyear - 1) / days_in_year
    return ep.assign(age_years=(frac_year - (ep["birth_year"] + 0.5)).astype("float64"))


def add_exercise_tier(ep: pd.DataFrame, cfg: PrepareConfig) -> pd.DataFrame:
    """Exercise tier: low < first cut-off <= moderate < second cut-off <= high (MET-h/week)."""
    lo, hi = cfg.exercise_tier_cutoffs
    tier = pd.cut(
        ep["exercise_met_h_week"],
        [-np.inf, lo, hi, np.inf],
        right=False,
        labels=list(EXERCISE_TIERS),
    ).astype(str)
    return ep.assign(exercise_tier=tier)


def add_cycle_and_retreatment(ep: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Treatment cycle of the region, and time to the next treatment of the same region.

    ``cycle`` is the 1-based order of the episode among the patient's treatments of that region
    by date (ties broken by ``episode_key``). ``next_treatment_days`` is the number of days to
    the next treatment of the same region; ``retreat_days`` is that (``retreat_event=True``),
    or the days to the data cut-off (``retreat_event=False``).
    """
    patient = pd.factorize(ep["patient_key"])[0]
    region = pd.factorize(ep["region"])[0]
    day = ep["treatment_date"].to_numpy("datetime64[D]").astype("int64")
    order = np.lexsort((*hex_key_columns(ep["episode_key"]), day, region, patient))
    group = np.stack([patient[order], region[order]])
    starts = np.r_[True, (group[:, 1:] != group[:, :-1]).any(axis=0)]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
    cycle = np.empty(order.size, dtype="int64")
    cycle[order] = np.arange(order.size) - start_pos + 1
    has_next = np.r_[~starts[1:], False]
    gap = np.full(order.size, np.nan)
    gap[has_next] = (day[order][1:] - day[order][:-1])[has_next[:-1]]
    next_days = np.empty(order.size)
    next_days[order] = gap
    to_cutoff = (np.datetime64(cutoff.date(), "D").astype("int64") - day).astype("float64")
    return ep.assign(
        cycle=cycle,
        next_treatment_days=next_days,
        retreat_days=np.where(np.isnan(next_days), to_cutoff, next_days),
        retreat_event=~np.isnan(next_days),
    )


def episode_position(ep: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Row position in ``ep`` of each row of ``table`` (by ``episode_key``; -1 if absent)."""
    return pd.Index(ep["episode_key"]).get_indexer(table["episode_key"])


def _day_number(dates: pd.Series) -> np.ndarray:
    """Dates as integer day numbers (NaT -> a very negative number, never used unmasked)."""
    return dates.to_numpy("datetime64[D]").astype("int64")


def visit_bounds(ep: pd.DataFrame, assessments: pd.DataFrame) -> pd.DataFrame:
    """Per episode: last visit day still showing effect, first visit day back at baseline.

    Visits are assessments with a severity, after the treatment day (day > 0) and not after the
    next treatment of the same region (a visit on the re-treatment day still belongs to the old
    episode: it is the pre-injection check). Returns columns ``visit_lower`` (0 if no visit
    shows effect before the first visit at baseline), ``visit_upper`` (``inf`` if never back
    at baseline) and ``n_visits``, indexed like ``ep``.
    """
    n = len(ep)
    pos = episode_position(ep, assessments)
    sev = assessments["severity"].to_numpy("float64", na_value=np.nan)
    keep = (pos >= 0) & ~np.isnan(sev)
    pos, sev = pos[keep], sev[keep]
    day = (
        _day_number(assessments["assessment_date"])[keep] - _day_number(ep["treatment_date"])[pos]
    ).astype("float64")
    next_days = ep["next_treatment_days"].to_numpy("float64")[pos]
    valid = (day > 0) & ~(day > next_days)
    pos, sev, day = pos[valid], sev[valid], day[valid]
    at_base = sev >= ep["baseline_severity"].to_numpy("float64")[pos]
    upper = np.full(n, np.inf)
    np.minimum.at(upper, pos[at_base], day[at_base])
    effect = ~at_base & (day < upper[pos])
    lower = np.zeros(n)
    np.maximum.at(lower, pos[effect], day[effect])
    return pd.DataFrame(
        {"visit_lower": lower, "visit_upper": upper, "n_visits": np.bincount(pos, minlength=n)},
        index=ep.index,
    )


def reported_wearoff_day(ep: pd.DataFrame, assessments: pd.DataFrame) -> pd.Series:
    """Earliest patient-reported wear-off day of each episode (NaN if none), indexed like ``ep``."""
    has = assessments["reported_wearoff_date"].notna().to_numpy()
    pos = episode_position(ep, assessments)[has]
    rep = _day_number(assessments["reported_wearoff_date"])[has]
    keep = pos >= 0
    first = np.full(len(ep), np.inf)
    np.minimum.at(first, pos[keep], rep[keep].astype("float64"))
    day = first - _day_number(ep["treatment_date"])
    return pd.Series(np.where(np.isinf(first), np.nan, day), index=ep.index)


def duration_endpoint(
    ep: pd.DataFrame, assessments: pd.DataFrame, cfg: PrepareConfig, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """Interval-censored duration of effect (ARCHITECTURE.md "Duration endpoint").

    Returns ``dur_lower_days``, ``dur_upper_days`` (``inf`` = right-censored), ``dur_status``,
    ``in_duration_analysis``, ``dur_exclusion_reason``, and the helpers ``reported_present``
    (a reported wear-off date exists) and ``reported_consistent`` (it agrees with the visits),
    indexed like ``ep``.

    Rules: ``(lower, upper]`` from :func:`visit_bounds`; a reported wear-off day ``r`` (if
    ``use_reported_wearoff``) inside ``[lower - tol, upper + tol]``, not after a re-treatment
    of the region, gives the exact time ``r``. Without a visit at baseline the episode is
    right-censored at ``lower``: re-treated while responding if the region was treated again,
    else ``right_cutoff`` if treated less than ``recent_episode_days`` before the cut-off,
    else ``right_no_return``.
    """
    b = visit_bounds(ep, assessments)
    lower, upper = b["visit_lower"], b["visit_upper"]
    r = reported_wearoff_day(ep, assessments)
    tol = cfg.reported_wearoff_tolerance_days
    next_days = ep["next_treatment_days"]
    consistent = r.notna() & (r > 0) & (r >= lower - tol) & (r <= upper + tol) & ~(r > next_days)
    use = consistent & cfg.use_reported_wearoff
    since_cutoff = np.datetime64(cutoff.date(), "D").astype("int64") - _day_number(
        ep["treatment_date"]
    )
    status = np.array(DUR_STATUSES, dtype=object)[
        np.select(
            [use, np.isfinite(upper), next_days.notna(), since_cutoff < cfg.recent_episode_days],
            [1, 0, 3, 4],
            default=2,
        )
    ]
    reasons = np.array([None, REASON_BASELINE_ZERO, REASON_NO_FOLLOWUP], dtype=object)
    reason = reasons[
        np.select(
            [ep["baseline_severity"].to_numpy() == 0, ((b["n_visits"] == 0) & ~use).to_numpy()],
            [1, 2],
            default=0,
        )
    ]
    # A reported date is recall, not a measurement: with a window w > 0 it narrows the visit
    # interval to (r - w, r + w] instead of pretending to be exact. Treating noisy reports as
    # exact biased the AFT intercept by -2% and inflated sigma (validation/validate_survival.py),
    # because a report is only recorded when it falls before the next treatment or the cut-off.
    w = cfg.reported_wearoff_window_days
    rep_lower = np.maximum(lower, r - w) if w > 0 else r
    rep_upper = np.minimum(upper, r + w) if w > 0 else r
    if w > 0:
        status = np.where(use, "interval_reported", status).astype(object)
    return pd.DataFrame(
        {
            "dur_lower_days": np.where(use, rep_lower, lower).astype("float64"),
            "dur_upper_days": np.where(use, rep_upper, upper).astype("float64"),
            "dur_status": status,
            "in_duration_analysis": pd.isna(reason),
            "dur_exclusion_reason": reason,
            "reported_present": r.notna().to_numpy(),
            "reported_consistent": consistent.to_numpy(),
        },
        index=ep.index,
    )


def complication_flags(
    ep: pd.DataFrame, complications: pd.DataFrame, cfg: PrepareConfig
) -> pd.DataFrame:
    """``c30_<type>`` for every type in params.yaml and ``c30_any``: onset within the window.

    An onset on day ``0 .. complication_window_days`` (inclusive) counts.
    """
    pos = episode_position(ep, complications)
    known = pos >= 0
    onset_day = np.full(len(pos), np.nan)
    onset_day[known] = (
        _day_number(complications["onset_date"])[known]
        - _day_number(ep["treatment_date"])[pos[known]]
    )
    early = known & (onset_day >= 0) & (onset_day <= cfg.complication_window_days)
    kind = complications["complication_type"].to_numpy(object)
    flags = {}
    for t in cfg.complication_types:
        flag = np.zeros(len(ep), dtype=bool)
        flag[pos[early & (kind == t)]] = True
        flags[f"c30_{t}"] = flag
    out = pd.DataFrame(flags, index=ep.index)
    out["c30_any"] = out.any(axis=1)
    return out


def derive_episodes(
    treatments: pd.DataFrame,
    patients: pd.DataFrame,
    assessments: pd.DataFrame,
    complications: pd.DataFrame,
    cfg: PrepareConfig,
    cutoff: pd.Timestamp,
) -> pd.DataFrame:
    """One row per treatment with every derived variable and endpoint.

    Parameters
    ----------
    treatments, patients, assessments, complications
        Validated, pseudonymised tables (``episode_key``, ``patient_key``, ``clinic``,
        ``injector`` instead of identifiers).
    cfg
        Stage configuration.
    cutoff
        Data cut-off date.

    Returns
    -------
    pandas.DataFrame
        :data:`EPISODE_COLUMNS`, then ``c30_<type>`` and ``c30_any``, plus helper columns
        ``reported_present``/``reported_consistent`` (dropped before writing by the caller).
        Row order follows ``treatments``.
    """
    ep = treatments.join(
        patients.set_index("patient_key")[["sex", "birth_year", "body_fat_pct"]], on="patient_key"
    )
    ep = add_dose(ep, cfg)
    ep = add_calendar(ep)
    ep = add_age(ep)
    ep = add_exercise_tier(ep, cfg)
    ep = add_cycle_and_retreatment(ep, cutoff)
    dur = duration_endpoint(ep, assessments, cfg, cutoff)
    c30 = complication_flags(ep, complications, cfg)
    out = pd.concat([ep, dur, c30], axis=1)
    return out[
        list(EPISODE_COLUMNS) + list(c30.columns) + ["reported_present", "reported_consistent"]
    ]
