"""Derived per-episode variables and endpoints (docs/ARCHITECTURE.md, "Duration endpoint").

All functions are pure DataFrame -> DataFrame steps on validated, pseudonymised tables
(``episode_key``/``patient_key`` instead of identifiers), vectorised with group-bys so that a
million episodes take seconds. Days are counted from the episode's first injection.

Touch-ups (issue 14, docs/data-dictionary.md "Touch-ups"): :func:`episode_roles` decides for
every treatment row whether it starts an episode or joins the patient's current episode of
that region (a touch-up within ``prepare.touchup_window_days`` of the region's previous
treatment, or as the export's ``is_touchup`` says; a second record of the region on the same
day is the same session). :func:`file_under_episodes` files the assessments and complications
of a joining row under its episode; :func:`derive_episodes` builds one row per episode with the
total dose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.prepare_config import PrepareConfig
from analysis.data.processed import DUR_STATUSES, EPISODE_COLUMNS, EXERCISE_TIERS
from analysis.data.schema import parse_touchup_flags

REASON_BASELINE_ZERO = "baseline severity 0: no wrinkle to return to"
REASON_NO_FOLLOWUP = "no follow-up assessment after the treatment day"

#: Why a treatment row joined an episode instead of starting one (data_quality.csv, table
#: ``episodes``); ``{w}`` is ``prepare.touchup_window_days``.
JOINED_BY_WINDOW = (
    "touch-up within {w} days of the region's previous treatment "
    "(prepare.touchup_window_days): units added to its episode"
)
JOINED_BY_FLAG = "touch-up marked by the clinic (is_touchup): units added to its episode"
JOINED_SAME_DAY = "region treated again on the same day: same session, units added to its episode"
#: Where the clinic's ``is_touchup`` mark and the window rule disagree (table ``touchup_flags``).
FLAG_BEYOND_WINDOW = (
    "is_touchup true but more than {w} days after the region's previous treatment: "
    "the clinic's mark was used (joined the episode)"
)
FLAG_WITHIN_WINDOW = (
    "is_touchup false but within {w} days of the region's previous treatment: "
    "the clinic's mark was used (new episode)"
)
FLAG_NO_EARLIER = (
    "is_touchup true but no earlier treatment of the region for this patient: kept as a new episode"
)

#: Columns of :func:`episode_roles`.
ROLE_COLUMNS: tuple[str, ...] = (
    "parent_episode_key",
    "starts_episode",
    "touchup",
    "day_in_episode",
    "join_reason",
    "flag_disagreement",
    "flag_marked",
)


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


def _first_label(conditions: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """The label of the first true condition per row (``None`` where none is true)."""
    out = np.full(len(conditions[0]), None, dtype=object)
    for cond, label in zip(conditions[::-1], labels[::-1], strict=True):
        out[cond] = label
    return out


def episode_roles(treatments: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Which episode each treatment row belongs to, and why (indexed like ``treatments``).

    Rows of one patient and region are taken in date order. A row starts an episode unless

    * it is on the same day as the previous row (same session: not a touch-up), or
    * it is a touch-up: the export's ``is_touchup`` says so, or, where that cell is empty (or
      the column absent), it lies within ``window_days`` of the previous row (the previous
      *treatment*, so touch-ups on days 10 and 20 both join).

    A marked touch-up with no earlier treatment of the region cannot join anything and starts
    an episode. Returns :data:`ROLE_COLUMNS`: ``parent_episode_key`` (the episode's first row;
    its own key when it starts one), ``starts_episode``, ``touchup``, ``day_in_episode``
    (days since the episode's first injection), ``join_reason`` (``None`` for a start),
    ``flag_disagreement`` (``None`` unless the mark and the window rule disagree) and
    ``flag_marked`` (the row has a non-empty mark).
    """
    n = len(treatments)
    patient = pd.factorize(treatments["patient_key"])[0]
    region = pd.factorize(treatments["region"])[0]
    day = _day_number(treatments["treatment_date"])
    # the larger same-day record leads its session (then the key: rows equal in all else)
    units = -treatments["units"].to_numpy("float64")
    order = np.lexsort((*hex_key_columns(treatments["episode_key"]), units, day, region, patient))
    p, r, d = patient[order], region[order], day[order]
    first = np.r_[True, (p[1:] != p[:-1]) | (r[1:] != r[:-1])] if n else np.zeros(0, bool)
    gap = np.r_[0, np.diff(d)] if n else np.zeros(0, "int64")
    same_day = ~first & (gap == 0)
    in_window = ~first & ~same_day & (gap <= window_days)
    if "is_touchup" in treatments.columns:
        flag, _ = parse_touchup_flags(treatments["is_touchup"])
    else:
        flag = pd.Series(pd.array([None] * n, dtype="boolean"), index=treatments.index)
    marked = flag.notna().to_numpy()[order]
    says_touchup = flag.fillna(False).to_numpy(bool)[order]
    touch = np.where(marked & ~same_day, says_touchup & ~first, in_window)
    starts = ~(touch | same_day)
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    w = f"{window_days:g}"
    join = _first_label(
        [same_day, touch & marked, touch],
        [JOINED_SAME_DAY, JOINED_BY_FLAG, JOINED_BY_WINDOW.format(w=w)],
    )
    disagree = _first_label(
        [
            marked & says_touchup & first,
            marked & says_touchup & ~first & ~same_day & ~in_window,
            marked & ~says_touchup & in_window,
        ],
        [FLAG_NO_EARLIER, FLAG_BEYOND_WINDOW.format(w=w), FLAG_WITHIN_WINDOW.format(w=w)],
    )
    keys = treatments["episode_key"].to_numpy()
    sorted_cols = {
        "parent_episode_key": keys[order[start_pos]],
        "starts_episode": starts,
        "touchup": touch,
        "day_in_episode": (d - d[start_pos]).astype("int64"),
        "join_reason": join,
        "flag_disagreement": disagree,
        "flag_marked": marked,
    }
    out = {}
    for name, values in sorted_cols.items():
        col = np.empty(n, dtype=values.dtype)
        col[order] = values
        out[name] = col
    return pd.DataFrame(out, index=treatments.index)[list(ROLE_COLUMNS)]


def file_under_episodes(table: pd.DataFrame, treatments: pd.DataFrame, roles: pd.DataFrame):
    """``table`` (assessments or complications) with ``episode_key`` replaced by the key of
    the episode its treatment row belongs to: a visit or complication recorded against a
    touch-up belongs to the touch-up's episode (days then count from its first injection).

    Keys not found in ``treatments`` are left as they are (validation reports them).
    """
    pos = pd.Index(treatments["episode_key"]).get_indexer(table["episode_key"])
    parent = roles["parent_episode_key"].to_numpy()
    keys = np.where(pos >= 0, parent[np.maximum(pos, 0)], table["episode_key"].to_numpy())
    return table.assign(episode_key=keys)


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


def add_touchups(
    ep: pd.DataFrame, treatments: pd.DataFrame, roles: pd.DataFrame, cfg: PrepareConfig
) -> pd.DataFrame:
    """The episode's total dose and its touch-ups (``ep``: one row per episode, after
    :func:`add_dose` of its first row).

    ``units_ona_eq`` becomes the total of every row of the episode (first injection, same-day
    records and touch-ups, each converted with its own product's ratio), with ``rel_dose`` and
    ``log2_rel_dose`` from it; ``log2_rel_dose_initial`` is the dose of the first session
    alone. Adds ``touchup``, ``n_touchups``, ``touchup_units_ona_eq``, ``touchup_day`` (first
    touch-up, days since the first injection; NaN if none) and the helper
    ``last_touchup_day`` (NaN if none).
    """
    pos = pd.Index(ep["episode_key"]).get_indexer(roles["parent_episode_key"])
    n = len(ep)
    ona = treatments["units"].to_numpy("float64") / _lookup(
        treatments["product"], cfg.units_per_ona_unit
    )
    touch = roles["touchup"].to_numpy(bool)
    total = np.bincount(pos, ona, minlength=n)
    added = np.bincount(pos, np.where(touch, ona, 0.0), minlength=n)
    day = roles["day_in_episode"].to_numpy("float64")
    first, last = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(first, pos[touch], day[touch])
    np.maximum.at(last, pos[touch], day[touch])
    ref = ep["reference_dose_units"].to_numpy("float64")
    return ep.assign(
        units_ona_eq=total,
        rel_dose=total / ref,
        log2_rel_dose=np.log2(total / ref),
        log2_rel_dose_initial=np.log2((total - added) / ref),
        touchup=np.isfinite(first),
        n_touchups=np.bincount(pos[touch], minlength=n).astype("int64"),
        touchup_units_ona_eq=added,
        touchup_day=np.where(np.isfinite(first), first, np.nan),
        last_touchup_day=np.where(np.isfinite(last), last, np.nan),
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
    episode: it is the pre-injection check). A visit at baseline on or before the episode's
    last touch-up (``last_touchup_day``, if ``ep`` has it) is an incomplete first response,
    the reason for the adjustment, not a wear-off: it bounds nothing. Returns columns
    ``visit_lower`` (0 if no visit shows effect before the first visit at baseline),
    ``visit_upper`` (``inf`` if never back at baseline) and ``n_visits``, indexed like ``ep``.
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
    raw_base = sev >= ep["baseline_severity"].to_numpy("float64")[pos]
    at_base = raw_base
    if "last_touchup_day" in ep.columns:
        at_base = raw_base & ~(day <= ep["last_touchup_day"].to_numpy("float64")[pos])
    upper = np.full(n, np.inf)
    np.minimum.at(upper, pos[at_base], day[at_base])
    effect = ~raw_base & (day < upper[pos])
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


def _days_since_latest_injection(
    pos: np.ndarray, onset_day: np.ndarray, touch_pos: np.ndarray, touch_day: np.ndarray
) -> np.ndarray:
    """Days from the latest injection of the episode on or before each onset (the first
    injection is day 0; touch-ups at ``touch_day`` of episode ``touch_pos``)."""
    latest = np.zeros(pos.size)
    if touch_pos.size and pos.size:
        shift = np.int64(1) << 32  # episode position in the high bits, day in the low bits
        t_key = touch_pos.astype(np.int64) * shift + touch_day.astype(np.int64)
        order = np.argsort(t_key)
        t_key, t_pos, t_day = t_key[order], touch_pos[order], touch_day[order]
        c_key = pos.astype(np.int64) * shift + np.floor(np.nan_to_num(onset_day)).astype(np.int64)
        idx = np.searchsorted(t_key, c_key, side="right") - 1
        ok = (idx >= 0) & (t_pos[np.maximum(idx, 0)] == pos)
        latest[ok] = t_day[idx[ok]]
    return onset_day - latest


def complication_flags(
    ep: pd.DataFrame,
    complications: pd.DataFrame,
    cfg: PrepareConfig,
    touchups: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``c30_<type>`` for every type in params.yaml and ``c30_any``: onset within the window.

    An onset on day ``0 .. complication_window_days`` (inclusive) after the episode's first
    injection counts, and so does one within that many days after a touch-up of the episode
    (``touchups``: episode positions in ``ep`` and days of every touch-up): a complication of
    the touch-up's injection is a complication of the episode.
    """
    pos = episode_position(ep, complications)
    known = pos >= 0
    onset_day = np.full(len(pos), np.nan)
    onset_day[known] = (
        _day_number(complications["onset_date"])[known]
        - _day_number(ep["treatment_date"])[pos[known]]
    )
    since = onset_day.copy()
    if touchups is not None:
        since[known] = _days_since_latest_injection(pos[known], onset_day[known], *touchups)
    early = known & (onset_day >= 0) & (since <= cfg.complication_window_days)
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
    roles: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per episode with every derived variable and endpoint.

    Parameters
    ----------
    treatments, patients, assessments, complications
        Validated, pseudonymised tables (``episode_key``, ``patient_key``, ``clinic``,
        ``injector`` instead of identifiers).
    cfg
        Stage configuration.
    cutoff
        Data cut-off date.
    roles
        :func:`episode_roles` of ``treatments`` (computed here if not given). Assessments and
        complications of a row that joins an episode are filed under that episode here (the
        caller may have done it already with :func:`file_under_episodes`).

    Returns
    -------
    pandas.DataFrame
        :data:`EPISODE_COLUMNS`, then ``c30_<type>`` and ``c30_any``, plus helper columns
        ``reported_present``/``reported_consistent`` (dropped before writing by the caller).
        One row per treatment row that starts an episode, in the order of ``treatments``.
    """
    if roles is None:
        roles = episode_roles(treatments, cfg.touchup_window_days)
    assessments = file_under_episodes(assessments, treatments, roles)
    complications = file_under_episodes(complications, treatments, roles)
    ep = treatments.loc[roles["starts_episode"].to_numpy(bool)].join(
        patients.set_index("patient_key")[["sex", "birth_year", "body_fat_pct"]], on="patient_key"
    )
    ep = add_dose(ep, cfg)
    ep = add_touchups(ep, treatments, roles, cfg)
    ep = add_calendar(ep)
    ep = add_age(ep)
    ep = add_exercise_tier(ep, cfg)
    ep = add_cycle_and_retreatment(ep, cutoff)
    dur = duration_endpoint(ep, assessments, cfg, cutoff)
    touch = roles["touchup"].to_numpy(bool)
    touch_pos = pd.Index(ep["episode_key"]).get_indexer(roles["parent_episode_key"][touch])
    touch_day = roles["day_in_episode"].to_numpy("float64")[touch]
    c30 = complication_flags(ep, complications, cfg, (touch_pos, touch_day))
    out = pd.concat([ep, dur, c30], axis=1)
    return out[
        list(EPISODE_COLUMNS) + list(c30.columns) + ["reported_present", "reported_consistent"]
    ]
