"""Turnbull nonparametric maximum-likelihood estimator (NPMLE) for interval-censored durations.

Observations are half-open intervals ``(lower, upper]`` in days: ``upper = inf`` is right-censored,
``lower == upper`` is an exact (patient-reported) time, treated as ``(t - EXACT_EPS, t]``.

Methods (stated in the stage's methods text):

* NPMLE by the EM (self-consistency) algorithm of Turnbull (1976, JRSS-B 38:290) on the
  innermost intervals, accelerated by SQUAREM (Varadhan & Roland 2008, Scand J Stat 35:335),
  run for all bootstrap replicates at once as one matrix iteration.
* Inside an innermost interval the NPMLE does not say where the mass lies; curves spread it
  uniformly (linear interpolation), which fixes medians and proportions at given days.
* 95% bands: percentile intervals from a patient-level (cluster) bootstrap: patients are
  resampled with replacement and keep all their episodes, so bands account for repeated
  episodes per patient. The innermost intervals are those of the full sample.
* Group comparison: generalised log-rank score test for interval-censored data (logrank scores
  of Finkelstein 1986, Biometrics 42:845, in the form of Fay 1999, Stat Med 18:273) computed from
  the pooled NPMLE, with a patient-clustered (sandwich) variance of the group score sums;
  chi-square with K-1 degrees of freedom. Stratified version: NPMLE and scores within each
  stratum, score sums added over strata. The variance ignores the estimation of the pooled
  curve (as the asymptotic permutation form does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

#: Width (days) given to an exact time so that it becomes the interval (t - EXACT_EPS, t].
EXACT_EPS = 1e-6
DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class NPMLE:
    """Masses of the Turnbull NPMLE on innermost intervals ``(left, right]`` (days).

    ``mass`` has shape ``(m,)`` for one fit or ``(m, B)`` for B bootstrap replicates.
    """

    left: np.ndarray
    right: np.ndarray
    mass: np.ndarray
    n_iter: int
    converged: bool

    def survival(self, t_days: np.ndarray) -> np.ndarray:
        """P(T > t) with mass spread uniformly inside innermost intervals; shape (len(t), [B])."""
        t = np.asarray(t_days, dtype=float)[:, None]
        width = np.where(np.isfinite(self.right), self.right - self.left, np.inf)
        frac = np.clip((t - self.left[None, :]) / width[None, :], 0.0, 1.0)
        frac = np.where(np.isfinite(self.right)[None, :], frac, 0.0)
        return 1.0 - frac @ self.mass

    def knots(self) -> np.ndarray:
        """Days at which the interpolated survival curve changes slope."""
        pts = np.concatenate([self.left, self.right[np.isfinite(self.right)]])
        return np.unique(pts)


def _as_intervals(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    exact = lower == upper
    return np.where(exact, upper - EXACT_EPS, lower), upper


def innermost_intervals(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turnbull's innermost intervals ``(l_j, r_j]`` of half-open observations ``(L_i, R_i]``.

    An innermost interval is a left endpoint immediately followed by a right endpoint in the
    sorted list of all endpoints; at ties a right endpoint sorts first because ``(a, b]`` and
    ``(b, c]`` do not overlap.
    """
    lo, up = _as_intervals(lower, upper)
    values = np.concatenate([np.unique(up), np.unique(lo)])
    is_left = np.concatenate(
        [np.zeros(np.unique(up).size, bool), np.ones(np.unique(lo).size, bool)]
    )
    order = np.lexsort((is_left, values))
    values, is_left = values[order], is_left[order]
    starts = np.flatnonzero(is_left[:-1] & ~is_left[1:])
    return values[starts], values[starts + 1]


def _clique_bounds(lo: np.ndarray, up: np.ndarray, left: np.ndarray, right: np.ndarray):
    """Observation i contains innermost intervals ``first[i]..last[i]`` (a contiguous block,
    because innermost intervals are disjoint and sorted), so the clique matrix is never built."""
    first = np.searchsorted(left, lo, side="left")
    last = np.searchsorted(right, up, side="right") - 1
    n, m = lo.size, left.size
    # difference operator: +1 at the block start, -1 just after its end (sparse, built once)
    ends = sparse.csr_matrix(
        (
            np.r_[np.ones(n), -np.ones(n)],
            (np.r_[first, last + 1], np.r_[np.arange(n), np.arange(n)]),
        ),
        shape=(m + 1, n),
    )
    return first, last, ends


def _contained_mass(bounds, p: np.ndarray) -> np.ndarray:
    """``alpha @ p``: probability of each observed interval, by cumulative sums."""
    first, last, _ = bounds
    cum = np.vstack([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
    return cum[last + 1] - cum[first]


def _spread_back(bounds, r: np.ndarray, m: int) -> np.ndarray:
    """``alpha.T @ r`` by a difference array."""
    diff = bounds[2] @ r
    return np.cumsum(diff[:-1], axis=0)


def _em_step(bounds, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    denom = _contained_mass(bounds, p)
    ratio = np.divide(w, denom, out=np.zeros_like(w), where=denom > 0)
    p_new = p * _spread_back(bounds, ratio, p.shape[0])
    return p_new / w.sum(axis=0, keepdims=True)


def _loglik(bounds, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    denom = _contained_mass(bounds, p)
    return np.sum(np.where(w > 0, w * np.log(np.maximum(denom, 1e-300)), 0.0), axis=0)


def _squarem(alpha, w: np.ndarray, p0: np.ndarray, tol: float, max_iter: int):
    """SQUAREM-accelerated EM, one column per replicate; returns (p, n_iter, converged)."""
    p = p0
    for it in range(1, max_iter + 1):
        p1 = _em_step(alpha, w, p)
        p2 = _em_step(alpha, w, p1)
        r = p1 - p
        v = p2 - p1 - r
        step = -np.sqrt((r**2).sum(0)) / np.maximum(np.sqrt((v**2).sum(0)), 1e-300)
        step = np.minimum(step, -1.0)
        p_acc = np.clip(p - 2 * step * r + step**2 * v, 0.0, None)
        p_acc /= p_acc.sum(axis=0, keepdims=True)
        p_acc = _em_step(alpha, w, p_acc)
        worse = _loglik(alpha, w, p_acc) < _loglik(alpha, w, p2)
        p_new = np.where(worse[None, :], p2, p_acc)
        change = np.abs(np.cumsum(p_new - p, axis=0)).max()
        p = p_new
        if change < tol:
            return p, it, True
    return p, max_iter, False


def fit_npmle(
    lower: np.ndarray,
    upper: np.ndarray,
    weights: np.ndarray | None = None,
    tol: float = 1e-6,
    max_iter: int = 3000,
) -> NPMLE:
    """Turnbull NPMLE of interval-censored times.

    Parameters
    ----------
    lower, upper : array of float
        Interval bounds in days; ``upper = inf`` is right-censored, ``lower == upper`` exact.
    weights : array, optional
        Shape ``(n,)`` or ``(n, B)``: frequency weights, one column per bootstrap replicate.
    tol : float
        Convergence when the cumulative mass moves less than ``tol`` in one iteration.

    Returns
    -------
    NPMLE
    """
    lo, up = _as_intervals(lower, upper)
    if lo.size == 0:
        raise ValueError("fit_npmle needs at least one observation")
    left, right = innermost_intervals(lower, upper)
    pairs = pd.DataFrame({"lo": lo, "up": up})
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs))
    u_lo = uniq.get_level_values(0).to_numpy(float)
    u_up = uniq.get_level_values(1).to_numpy(float)
    w = (
        np.ones((lo.size, 1))
        if weights is None
        else np.asarray(weights, float).reshape(lo.size, -1)
    )
    w_u = np.zeros((u_lo.size, w.shape[1]))
    np.add.at(w_u, codes, w)
    bounds = _clique_bounds(u_lo, u_up, left, right)
    p0 = np.full((left.size, w.shape[1]), 1.0 / left.size)
    p, n_iter, converged = _squarem(bounds, w_u, p0, tol, max_iter)
    mass = p[:, 0] if weights is None or np.ndim(weights) == 1 else p
    return NPMLE(left=left, right=right, mass=mass, n_iter=n_iter, converged=converged)


def median_days(npmle: NPMLE) -> np.ndarray:
    """Median (S = 0.5) by linear interpolation between knots; NaN if S stays above 0.5."""
    knots = npmle.knots()
    surv = npmle.survival(knots)
    surv = surv[:, None] if surv.ndim == 1 else surv
    out = np.full(surv.shape[1], np.nan)
    for b in range(surv.shape[1]):
        s = surv[:, b]
        below = np.flatnonzero(s <= 0.5)
        if below.size == 0:
            continue
        k = below[0]
        if k == 0:
            out[b] = knots[0]
            continue
        s0, s1 = s[k - 1], s[k]
        frac = 0.0 if s0 == s1 else (s0 - 0.5) / (s0 - s1)
        out[b] = knots[k - 1] + frac * (knots[k] - knots[k - 1])
    return out if np.ndim(npmle.mass) == 2 else out[:1]


@dataclass(frozen=True)
class TurnbullResult:
    """NPMLE of one group with patient-bootstrap percentile intervals.

    ``curve``: time_days, survival, lower, upper. ``summary``: one row per quantity
    (median duration and proportion still effective at each reported week) with interval and unit.
    """

    group: str
    n_episodes: int
    n_patients: int
    npmle: NPMLE
    curve: pd.DataFrame
    summary: pd.DataFrame


def _bootstrap_weights(
    patient_codes: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    n_pat = patient_codes.max() + 1
    draws = rng.integers(0, n_pat, size=(n_boot, n_pat))
    counts = np.stack([np.bincount(d, minlength=n_pat) for d in draws], axis=1)
    return counts[patient_codes].astype(float)


def turnbull(
    lower: np.ndarray,
    upper: np.ndarray,
    patient: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    ci_level: float = 0.95,
    report_weeks: tuple[float, ...] = (8, 12, 16, 20, 24),
    grid_days: np.ndarray | None = None,
    group: str = "all",
) -> TurnbullResult:
    """Turnbull curve, median and proportions still effective, with patient-bootstrap intervals.

    Parameters
    ----------
    lower, upper : array of float
        Interval bounds (days).
    patient : array
        Patient key of each episode (the bootstrap resamples patients).
    n_boot, seed : int
        Bootstrap replicates and seed.
    """
    patient_codes = pd.factorize(np.asarray(patient))[0]
    fit = fit_npmle(lower, upper, tol=1e-7)
    rng = np.random.default_rng(seed)
    # replicates stop at a looser tolerance (curve error < 1e-4, measured ~3e-5: far inside
    # the band)
    boot = fit_npmle(lower, upper, weights=_bootstrap_weights(patient_codes, n_boot, rng), tol=1e-4)
    q = [(1 - ci_level) / 2, (1 + ci_level) / 2]
    grid = np.arange(0.0, 301.0, 2.0) if grid_days is None else np.asarray(grid_days, float)
    s_hat = fit.survival(grid)
    s_boot = boot.survival(grid)
    curve = pd.DataFrame(
        {
            "group": group,
            "time_days": grid,
            "survival": s_hat,
            "lower": np.quantile(s_boot, q[0], axis=1),
            "upper": np.quantile(s_boot, q[1], axis=1),
            "n_known_effective": _known_effective(lower, grid),
        }
    )
    rows = [_row(group, "median_duration", median_days(fit)[0], median_days(boot), q, "days")]
    week_days = np.asarray(report_weeks, float) * DAYS_PER_WEEK
    s_w, s_wb = fit.survival(week_days), boot.survival(week_days)
    for k, wk in enumerate(report_weeks):
        rows.append(_row(group, f"still_effective_week_{wk:g}", s_w[k], s_wb[k], q, "proportion"))
    summary = pd.DataFrame(rows)
    summary["n_episodes"] = int(len(patient_codes))
    summary["n_patients"] = int(patient_codes.max() + 1)
    summary["n_boot_failed"] = int((~np.isfinite(median_days(boot))).sum())
    return TurnbullResult(
        group, len(patient_codes), int(patient_codes.max() + 1), fit, curve, summary
    )


def _known_effective(lower: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Episodes known to be still effective at each grid day (lower bound >= day)."""
    lo = np.sort(np.asarray(lower, float))
    return (lo.size - np.searchsorted(lo, grid, side="left")).astype(int)


def _row(group, quantity, estimate, boot, q, unit) -> dict:
    boot = np.asarray(boot, float)
    finite = boot[np.isfinite(boot)]
    lo, hi = np.quantile(finite, q) if finite.size > 0.9 * boot.size else (np.nan, np.nan)
    # days to 0.01 (exact times are widened by EXACT_EPS), proportions to 1e-6
    digits = 2 if unit == "days" else 6
    return {
        "group": group,
        "quantity": quantity,
        "estimate": round(float(estimate), digits),
        "lower": round(float(lo), digits),
        "upper": round(float(hi), digits),
        "unit": unit,
    }


def turnbull_by(
    df: pd.DataFrame,
    by: str,
    *,
    n_boot: int,
    seed: int,
    ci_level: float = 0.95,
    report_weeks: tuple[float, ...] = (8, 12, 16, 20, 24),
    grid_days: np.ndarray | None = None,
    min_episodes: int = 20,
) -> tuple[dict[str, TurnbullResult], pd.DataFrame]:
    """:func:`turnbull` for each level of ``by`` with at least ``min_episodes`` episodes.

    Returns the results by level and, for the levels too small to estimate, summary rows in
    the same format with missing estimates (so that no level leaves the table unannounced).
    """
    out, too_few = {}, []
    quantities = ["median_duration", *(f"still_effective_week_{wk:g}" for wk in report_weeks)]
    for k, (level, sub) in enumerate(df.groupby(by, observed=True, sort=True)):
        group = f"{by}={level}"
        if len(sub) < min_episodes:
            too_few += [
                {
                    "group": group,
                    "quantity": q,
                    "estimate": np.nan,
                    "lower": np.nan,
                    "upper": np.nan,
                    "unit": "days" if q == "median_duration" else "proportion",
                    "n_episodes": len(sub),
                    "n_patients": int(sub["patient_key"].nunique()),
                    "n_boot_failed": 0,
                    "level": str(level),
                }
                for q in quantities
            ]
            continue
        out[str(level)] = turnbull(
            sub["dur_lower_days"].to_numpy(),
            sub["dur_upper_days"].to_numpy(),
            sub["patient_key"].to_numpy(),
            n_boot=n_boot,
            seed=seed + k,
            ci_level=ci_level,
            report_weeks=report_weeks,
            grid_days=grid_days,
            group=group,
        )
    return out, pd.DataFrame(too_few)


@dataclass(frozen=True)
class LogrankResult:
    """Generalised log-rank test; ``summary`` has one row per group (observed score sum)."""

    variable: str
    strata: str | None
    chi2: float
    df: int
    p_value: float
    summary: pd.DataFrame


def logrank_scores(lower: np.ndarray, upper: np.ndarray, npmle: NPMLE) -> np.ndarray:
    """Fay's (1999) logrank scores ``[S(L)logS(L) - S(R)logS(R)] / [S(L) - S(R)]``, ``npmle``."""
    lo, up = _as_intervals(lower, upper)
    s_lo = _surv_at_endpoints(npmle, lo)
    s_up = np.where(
        np.isfinite(up), _surv_at_endpoints(npmle, np.where(np.isfinite(up), up, 0)), 0.0
    )

    def slogs(s):
        return np.where(s > 0, s * np.log(np.maximum(s, 1e-300)), 0.0)

    diff = s_lo - s_up
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (slogs(s_lo) - slogs(s_up)) / diff
    # a zero-probability interval under the pooled NPMLE cannot occur for the data it was fitted on
    return np.where(diff > 0, c, 0.0)


def _surv_at_endpoints(npmle: NPMLE, x: np.ndarray) -> np.ndarray:
    """P(T > x) for observed endpoints (never inside an innermost interval, so exact)."""
    order = np.argsort(npmle.left)
    left_sorted = npmle.left[order]
    tail = np.concatenate([np.cumsum(npmle.mass[order][::-1])[::-1], [0.0]])
    return np.clip(tail[np.searchsorted(left_sorted, x, side="left")], 0.0, 1.0)


def generalised_logrank(
    df: pd.DataFrame, variable: str, strata: str | None = None, cluster: str = "patient_key"
) -> LogrankResult:
    """Generalised log-rank test of equal duration distributions across levels of ``variable``.

    Uses ``dur_lower_days``/``dur_upper_days``; the variance of the group score sums is the
    patient-clustered sandwich (episodes of one patient are not independent).
    """
    levels = pd.Index(sorted(df[variable].dropna().unique(), key=str))
    if levels.size < 2:
        raise ValueError(f"generalised_logrank: '{variable}' has fewer than two levels")
    z_all = (df[variable].to_numpy()[:, None] == levels.to_numpy()[None, :]).astype(float)
    contrib = np.zeros((len(df), levels.size))
    strata_values = np.zeros(len(df)) if strata is None else df[strata].to_numpy()
    for s in pd.unique(strata_values):
        idx = np.flatnonzero(strata_values == s)
        lo = df["dur_lower_days"].to_numpy()[idx]
        up = df["dur_upper_days"].to_numpy()[idx]
        c = logrank_scores(lo, up, fit_npmle(lo, up))
        z = z_all[idx]
        contrib[idx] = (z - z.mean(axis=0)) * c[:, None]
    u = contrib.sum(axis=0)
    clusters = pd.factorize(df[cluster])[0]
    per_cluster = np.zeros((clusters.max() + 1, levels.size))
    np.add.at(per_cluster, clusters, contrib)
    g = per_cluster.shape[0]
    v = per_cluster.T @ per_cluster * g / (g - 1)
    u_r, v_r = u[:-1], v[:-1, :-1]
    chi2 = float(u_r @ np.linalg.solve(v_r, u_r))
    dof = levels.size - 1
    summary = pd.DataFrame(
        {
            "variable": variable,
            "level": levels.astype(str),
            "n_episodes": z_all.sum(0).astype(int),
            "score_sum": u,
            "score_se": np.sqrt(np.diag(v)),
        }
    )
    return LogrankResult(variable, strata, chi2, dof, float(stats.chi2.sf(chi2, dof)), summary)
