"""Interval estimates of the cohort description, accounting for repeated episodes per patient.

A patient contributes several episodes (4.4 on average in the demo cohort), and episodes of one
patient are alike (a patient prone to complications or to coming back early stays so), so the
episode counts overstate the information. Two patient-clustered intervals are used:

- Rates: the Wilson interval at the *effective* sample size ``n / deff`` (Korn and Graubard
  1998, Survey Methodology 24:193, with Wilson's score interval in place of Clopper-Pearson),
  where the design effect ``deff`` is the ratio of the patient-clustered (ratio-estimator,
  "sandwich") variance of the rate, ``m / (m - 1) * sum_i (k_i - p n_i)^2 / n^2`` over the
  ``m`` patients with ``k_i`` events in ``n_i`` episodes, to the binomial variance
  ``p (1 - p) / n``. ``deff`` is not taken below 1 (no interval narrower than the naive one)
  and is 1 when no event or no non-event was seen (no information on the correlation).
- Kaplan-Meier medians (time to re-treatment): the Kaplan-Meier median with a patient
  bootstrap percentile interval; each replicate draws patients with replacement
  (multinomial counts) and refits the Kaplan-Meier curve with those counts as weights,
  vectorised over replicates: a replicate's weights per distinct day are its patient counts
  times sparse tables of each patient's episodes and events per day (one pass over the
  episodes per replicate; exact, since the weights are integers).

:func:`wilson_interval` and :func:`km_median` are the naive (independent-episode) intervals,
kept as references (tests compare the coverage of both on clustered data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import sparse
from statsmodels.stats.proportion import proportion_confint

#: Bootstrap replicates refitted per block (memory: block x patients doubles for the counts).
_BLOCK = 100


def wilson_interval(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` events in ``n`` trials (NaN where ``n == 0``).

    Parameters
    ----------
    k, n
        Events and trials (arrays of the same shape; non-integer effective counts allowed).
    level
        Coverage of the interval, e.g. 0.95.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds of the proportion ``k / n``.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(k[ok], n[ok], alpha=1 - level, method="wilson")
    return lo, hi


@dataclass(frozen=True)
class ClusteredRate:
    """A rate with its patient-clustered Wilson interval (see the module docstring)."""

    n: int
    k: int
    n_patients: int
    rate: float
    lower: float
    upper: float
    design_effect: float

    @property
    def effective_n(self) -> float:
        """Episodes' worth of independent information, ``n / deff``."""
        return self.n / self.design_effect if self.design_effect > 0 else float("nan")


def design_effect(k_patient: np.ndarray, n_patient: np.ndarray) -> float:
    """Design effect of the rate ``sum k / sum n`` over patients (>= 1; 1 if undefined).

    Parameters
    ----------
    k_patient, n_patient
        Events and episodes of each patient (patients with ``n = 0`` are ignored).
    """
    k = np.asarray(k_patient, dtype=float)
    n = np.asarray(n_patient, dtype=float)
    keep = n > 0
    k, n = k[keep], n[keep]
    m, total = len(n), n.sum()
    if m < 2:
        return 1.0
    p = k.sum() / total
    if p <= 0.0 or p >= 1.0:
        return 1.0
    clustered = m / (m - 1) * np.sum((k - p * n) ** 2) / total**2
    return float(max(clustered / (p * (1 - p) / total), 1.0))


def clustered_rate(events: np.ndarray, patient: np.ndarray, level: float) -> ClusteredRate:
    """Rate of ``events`` (one boolean per episode) with its patient-clustered Wilson interval.

    Parameters
    ----------
    events
        True where the episode had the event.
    patient
        The episode's patient (any hashable codes; only equality is used).
    level
        Coverage of the interval, e.g. 0.95.
    """
    events = np.asarray(events, dtype=bool)
    n = len(events)
    if n == 0:
        return ClusteredRate(0, 0, 0, np.nan, np.nan, np.nan, np.nan)
    codes, _ = pd.factorize(np.asarray(patient), sort=False)
    n_i = np.bincount(codes)
    k_i = np.bincount(codes, weights=events.astype(float))
    k = int(events.sum())
    deff = design_effect(k_i, n_i)
    n_eff = n / deff
    lo, hi = wilson_interval(np.array([k / n * n_eff]), np.array([n_eff]), level)
    return ClusteredRate(n, k, len(n_i), k / n, float(lo[0]), float(hi[0]), deff)


def km_median(days: pd.Series, event: pd.Series, level: float) -> tuple[float, float, float]:
    """Kaplan-Meier median of right-censored times with its naive (independent) interval.

    Parameters
    ----------
    days
        Follow-up time (days).
    event
        True where the event was observed, False where the time is censored.
    level
        Coverage of the interval from the Kaplan-Meier confidence band.

    Returns
    -------
    tuple of float
        Median, lower, upper (days); NaN for no data, ``inf`` when not reached.
    """
    if len(days) == 0:
        return (np.nan, np.nan, np.nan)
    kmf = KaplanMeierFitter(alpha=1 - level)
    kmf.fit(np.asarray(days, dtype=float), np.asarray(event, dtype=bool))
    ci = median_survival_times(kmf.confidence_interval_)
    return float(kmf.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])


def _km_medians(times: np.ndarray, at_each: np.ndarray, events_at_each: np.ndarray) -> np.ndarray:
    """Kaplan-Meier median for each row of weights summed per distinct time.

    ``times`` are the distinct follow-up times in increasing order; ``at_each`` and
    ``events_at_each`` (replicates x times) the weight of the episodes ending at each time and
    of those ending in an event. The median is the first event time at which the weighted
    Kaplan-Meier curve is at or below 0.5 (``inf`` if it never is), the convention of
    lifelines' ``median_survival_time_``.
    """
    before = np.cumsum(at_each, axis=1) - at_each  # weight that ended before t_j
    at_risk = at_each.sum(axis=1, keepdims=True) - before  # weight with time >= t_j
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events_at_each / at_risk, 0.0)
    surv = np.cumprod(1.0 - hazard, axis=1)
    below = surv <= 0.5 + 1e-12
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), times[first], np.inf)


def _patient_counts(rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    """``size`` patient bootstraps of ``m`` patients: how often each is drawn (size x m).

    Multinomial counts drawn as ``m`` uniform picks each, as
    ``survival.nonparametric.bootstrap_counts`` draws them (numpy's ``multinomial`` over ``m``
    equal cells draws ``m`` binomials in sequence: 3.3 s per 100 replicates of 229,000
    patients, against 1.1 s here)."""
    picks = rng.integers(0, m, size=(size, m))
    return np.stack([np.bincount(row, minlength=m) for row in picks]).astype(float)


def km_median_clustered(
    days: np.ndarray,
    event: np.ndarray,
    patient: np.ndarray,
    level: float,
    n_boot: int,
    seed: int,
) -> tuple[float, float, float]:
    """Kaplan-Meier median with a patient-bootstrap percentile interval.

    Parameters
    ----------
    days, event
        Follow-up time (days) and event indicator of each episode.
    patient
        The episode's patient: replicates resample patients with all their episodes.
    level
        Coverage of the interval, e.g. 0.95.
    n_boot
        Bootstrap replicates.
    seed
        Seed of the resampling (params.yaml ``seed``).

    Returns
    -------
    tuple of float
        Median, lower, upper (days); NaN for no data; ``inf`` when the median (or, for the
        upper bound, more than ``(1 - level) / 2`` of the replicate medians) is not reached.
    """
    days = np.asarray(days, dtype=float)
    if len(days) == 0:
        return (np.nan, np.nan, np.nan)
    order = np.argsort(days, kind="stable")
    t, d = days[order], np.asarray(event, dtype=float)[order]
    codes, _ = pd.factorize(np.asarray(patient)[order], sort=False)
    m = int(codes.max()) + 1
    # episodes and events of each patient at each distinct time: a replicate's Kaplan-Meier
    # curve is its patient counts times these (sparse) tables, so a replicate costs one pass
    # over the episodes, not a dense replicates x episodes array (describe on 1M episodes:
    # 932 s, now 144 s)
    times, at = np.unique(t, return_inverse=True)
    shape = (m, len(times))
    episodes_at = sparse.csr_array((np.ones(len(t)), (codes, at)), shape=shape)
    events_at = sparse.csr_array((d, (codes, at)), shape=shape)
    ones = np.ones((1, m))
    median = float(_km_medians(times, ones @ episodes_at, ones @ events_at)[0])
    rng = np.random.default_rng(seed)
    boots = []
    for start in range(0, n_boot, _BLOCK):
        size = min(_BLOCK, n_boot - start)
        counts = _patient_counts(rng, m, size)
        boots.append(_km_medians(times, counts @ episodes_at, counts @ events_at))
    reps = np.sort(np.concatenate(boots))
    alpha = (1.0 - level) / 2.0
    lo = reps[int(np.floor(alpha * (n_boot - 1)))]
    hi = reps[int(np.ceil((1.0 - alpha) * (n_boot - 1)))]
    return median, float(lo), float(hi)
