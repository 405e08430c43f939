"""Turnbull nonparametric maximum-likelihood estimator (NPMLE) for interval-censored durations.

Observations are half-open intervals ``(lower, upper]`` in days: ``upper = inf`` is right-censored,
``lower == upper`` is an exact (patient-reported) time, treated as ``(t - EXACT_EPS, t]``.

Methods (stated in the stage's methods text):

* NPMLE of Turnbull (1976, JRSS-B 38:290) on the innermost intervals, computed by a
  constrained Newton method (:mod:`analysis.survival.npmle_solver`) and stopped on the NPMLE's
  optimality (Kuhn-Tucker) conditions: with ``d_j = sum_i w_i alpha_ij / P_i`` (``alpha_ij`` = 1
  if observation i contains innermost interval j, ``P_i`` its probability), the NPMLE has
  ``d_j <= n`` for every j, with equality where it puts mass; the fit stops when the largest
  violation ``max_j d_j / n - 1`` is at most ``kkt_tol`` (params.yaml
  ``survival.turnbull_kkt_tol``), which bounds the log-likelihood still to gain by
  ``n * kkt_tol``. The violation is reported with every estimate.
* Inside an innermost interval the NPMLE does not say where the mass lies; curves spread it
  uniformly (linear interpolation), which fixes medians and proportions at given days.
* 95% bands: percentile intervals from a patient-level (cluster) bootstrap: patients are
  resampled with replacement and keep all their episodes, so bands account for repeated
  episodes per patient. A replicate is the weighted NPMLE on the full sample's innermost
  intervals (weights = how often each episode's patient was drawn), warm-started at the
  full-sample NPMLE and stopped on the same KKT rule; replicates whose violation stays above
  the tolerance are counted in the output.
* Group comparison: generalised log-rank score test for interval-censored data (logrank scores
  of Finkelstein 1986, Biometrics 42:845, in the form of Fay 1999, Stat Med 18:273) computed from
  the pooled NPMLE, with a patient-clustered (sandwich) variance of the group score sums;
  chi-square with K-1 degrees of freedom. Stratified version: NPMLE and scores within each
  stratum, score sums added over strata. The variance ignores the estimation of the pooled
  curve (as the asymptotic permutation form does).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.errors import BontaError
from analysis.survival import npmle_solver

#: Width (days) given to an exact time so that it becomes the interval (t - EXACT_EPS, t].
EXACT_EPS = 1e-6
DAYS_PER_WEEK = 7.0
#: Iterations of one NPMLE fit before it is declared not converged (5-15 are typical).
MAX_ITER = 500


class NPMLEError(BontaError):
    """The Turnbull NPMLE did not reach its optimality conditions."""


@dataclass(frozen=True)
class NPMLE:
    """Masses of the Turnbull NPMLE on innermost intervals ``(left, right]`` (days).

    ``mass`` has shape ``(m,)`` for one fit or ``(m, B)`` for B bootstrap replicates;
    ``kkt_violation`` and ``n_iter`` are scalars or one value per replicate.
    """

    left: np.ndarray
    right: np.ndarray
    mass: np.ndarray
    n_iter: np.ndarray | int
    kkt_violation: np.ndarray | float
    kkt_tol: float

    @property
    def converged(self) -> bool:
        """Every fit meets the KKT rule."""
        return bool(np.all(np.asarray(self.kkt_violation) <= self.kkt_tol))

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


@dataclass(frozen=True)
class TurnbullData:
    """Observations reduced to blocks of innermost intervals (built once per sample).

    Observation i contains the innermost intervals ``first..last`` of its block (a contiguous
    run, because innermost intervals are disjoint and sorted); observations with the same run
    share a block, so every fit and bootstrap replicate works on block weights.
    """

    left: np.ndarray
    right: np.ndarray
    first: np.ndarray
    last: np.ndarray
    block_of: np.ndarray

    @classmethod
    def from_bounds(cls, lower: np.ndarray, upper: np.ndarray) -> TurnbullData:
        lo, up = _as_intervals(lower, upper)
        if lo.size == 0:
            raise ValueError("the Turnbull NPMLE needs at least one observation")
        left, right = innermost_intervals(lower, upper)
        first = np.searchsorted(left, lo, side="left")
        last = np.searchsorted(right, up, side="right") - 1
        key = first * (left.size + 1) + last
        blocks, block_of = np.unique(key, return_inverse=True)
        return cls(
            left=left,
            right=right,
            first=(blocks // (left.size + 1)).astype(np.int64),
            last=(blocks % (left.size + 1)).astype(np.int64),
            block_of=block_of.ravel(),
        )

    @property
    def n_blocks(self) -> int:
        return int(self.first.size)

    def block_weights(self, weights: np.ndarray) -> np.ndarray:
        """Sum episode weights (n,) or (n, B) within blocks; shape (blocks, B)."""
        n = self.block_of.size
        w = np.asarray(weights, float).reshape(n, -1)
        members = sparse.csr_matrix(
            (np.ones(n), (self.block_of, np.arange(n))), shape=(self.n_blocks, n)
        )
        return np.ascontiguousarray(members @ w)

    def fit(self, w_blocks: np.ndarray, kkt_tol: float, max_iter: int) -> NPMLE:
        """The NPMLE of one weight vector over the blocks (start: uniform masses)."""
        m = self.left.size
        mass, n_iter, viol = npmle_solver.fit_blocks(
            self.first,
            self.last,
            np.asarray(w_blocks, float),
            np.full(m, 1.0 / m),
            kkt_tol,
            max_iter,
        )
        return NPMLE(self.left, self.right, mass, int(n_iter), float(viol), kkt_tol)

    def fit_replicates(
        self, w_blocks: np.ndarray, start: np.ndarray, kkt_tol: float, max_iter: int
    ) -> NPMLE:
        """The NPMLE of every column of ``w_blocks`` (blocks x B), warm-started at ``start``
        (which must give every block positive probability, e.g. the full-sample NPMLE)."""
        w_blocks = np.ascontiguousarray(w_blocks, float)

        def fit(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            w = np.ascontiguousarray(w_blocks[:, columns])
            return npmle_solver.fit_many(self.first, self.last, w, start, kkt_tol, max_iter)

        # the compiled solver releases the GIL: replicates are independent, so threads split
        # them with the same result as one loop
        chunks = np.array_split(np.arange(w_blocks.shape[1]), _threads(w_blocks.shape[1]))
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            parts = list(pool.map(fit, chunks))
        mass = np.concatenate([part[0] for part in parts], axis=1)
        n_iter = np.concatenate([part[1] for part in parts])
        viol = np.concatenate([part[2] for part in parts])
        return NPMLE(self.left, self.right, mass, n_iter, viol, kkt_tol)


def _threads(n_replicates: int) -> int:
    """Threads for the bootstrap replicates: the cores this process may use (at least one)."""
    return max(1, min(len(os.sched_getaffinity(0)), n_replicates))


def fit_npmle(
    lower: np.ndarray,
    upper: np.ndarray,
    weights: np.ndarray | None = None,
    kkt_tol: float = 1e-7,
    max_iter: int = MAX_ITER,
) -> NPMLE:
    """Turnbull NPMLE of interval-censored times, stopped on its KKT conditions.

    Parameters
    ----------
    lower, upper : array of float
        Interval bounds in days; ``upper = inf`` is right-censored, ``lower == upper`` exact.
    weights : array, optional
        Shape ``(n,)``: frequency weights; ``(n, B)``: one column per replicate, each fitted
        from the NPMLE of the unweighted sample.
    kkt_tol : float
        Stop when ``max_j d_j / n - 1 <= kkt_tol`` (module docstring).
    max_iter : int
        Newton iterations per fit.

    Returns
    -------
    NPMLE
        With ``kkt_violation`` and ``converged``; a fit that does not reach the tolerance is
        returned as such (callers decide; :func:`turnbull` raises for the point estimate).
    """
    data = TurnbullData.from_bounds(lower, upper)
    if weights is None or np.ndim(weights) == 1:
        w = np.ones(data.block_of.size) if weights is None else np.asarray(weights, float)
        return data.fit(data.block_weights(w)[:, 0], kkt_tol, max_iter)
    full = data.fit(data.block_weights(np.ones(data.block_of.size))[:, 0], kkt_tol, max_iter)
    return data.fit_replicates(data.block_weights(weights), full.mass, kkt_tol, max_iter)


def median_days(npmle: NPMLE) -> np.ndarray:
    """Median (S = 0.5) by linear interpolation between knots; NaN if S stays above 0.5."""
    knots = npmle.knots()
    surv = npmle.survival(knots)
    surv = surv[:, None] if surv.ndim == 1 else surv
    below = surv <= 0.5
    k = np.argmax(below, axis=0)
    found = below.any(axis=0)
    k_prev = np.maximum(k - 1, 0)
    cols = np.arange(surv.shape[1])
    s0, s1 = surv[k_prev, cols], surv[k, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(s0 == s1, 0.0, (s0 - 0.5) / (s0 - s1))
    out = np.where(k == 0, knots[0], knots[k_prev] + frac * (knots[k] - knots[k_prev]))
    out = np.where(found, out, np.nan)
    return out if np.ndim(npmle.mass) == 2 else out[:1]


@dataclass(frozen=True)
class TurnbullResult:
    """NPMLE of one group with patient-bootstrap percentile intervals.

    ``curve``: time_days, survival, lower, upper. ``summary``: one row per quantity
    (median duration and proportion still effective at each reported week) with interval, unit
    and the KKT diagnostics of the fit and of its bootstrap replicates.
    """

    group: str
    n_episodes: int
    n_patients: int
    npmle: NPMLE
    boot: NPMLE
    curve: pd.DataFrame
    summary: pd.DataFrame


def bootstrap_counts(n_patients: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial patient counts of a patient bootstrap, shape ``(n_patients, n_boot)``."""
    draws = rng.integers(0, n_patients, size=(n_boot, n_patients))
    counts = np.zeros((n_patients, n_boot))
    for b in range(n_boot):
        counts[:, b] = np.bincount(draws[b], minlength=n_patients)
    return counts


def bootstrap_npmle(
    data: TurnbullData,
    full: NPMLE,
    patient_codes: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    kkt_tol: float,
    max_iter: int = MAX_ITER,
) -> NPMLE:
    """Patient-bootstrap replicates of the NPMLE on ``data``'s blocks (weighted fits).

    Block weights of all replicates are one sparse product (blocks x patients episode counts
    times patients x replicates draw counts).
    """
    n_pat = int(patient_codes.max()) + 1
    counts = bootstrap_counts(n_pat, n_boot, rng)
    episodes = sparse.csr_matrix(
        (np.ones(patient_codes.size), (data.block_of, patient_codes)),
        shape=(data.n_blocks, n_pat),
    )
    return data.fit_replicates(np.asarray(episodes @ counts), full.mass, kkt_tol, max_iter)


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
    kkt_tol: float = 1e-7,
    max_iter: int = MAX_ITER,
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
    kkt_tol, max_iter
        Stopping rule of every NPMLE fit (:func:`fit_npmle`).

    Raises
    ------
    NPMLEError
        If the full-sample NPMLE does not meet the KKT rule within ``max_iter`` iterations.
    """
    patient_codes = pd.factorize(np.asarray(patient))[0]
    data = TurnbullData.from_bounds(lower, upper)
    fit = data.fit(data.block_weights(np.ones(patient_codes.size))[:, 0], kkt_tol, max_iter)
    if not fit.converged:
        raise NPMLEError(
            f"Turnbull NPMLE of {group}: KKT violation {fit.kkt_violation:.2e} above the "
            f"tolerance {kkt_tol:g} after {fit.n_iter} iterations"
        )
    rng = np.random.default_rng(seed)
    boot = bootstrap_npmle(data, fit, patient_codes, n_boot, rng, kkt_tol, max_iter)
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
    summary["kkt_violation"] = float(fit.kkt_violation)
    summary["boot_kkt_violation_max"] = float(np.max(boot.kkt_violation))
    summary["n_boot_not_converged"] = int(np.sum(boot.kkt_violation > kkt_tol))
    return TurnbullResult(
        group, len(patient_codes), int(patient_codes.max() + 1), fit, boot, curve, summary
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
    kkt_tol: float = 1e-7,
    max_iter: int = MAX_ITER,
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
                    "kkt_violation": np.nan,
                    "boot_kkt_violation_max": np.nan,
                    "n_boot_not_converged": 0,
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
            kkt_tol=kkt_tol,
            max_iter=max_iter,
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
