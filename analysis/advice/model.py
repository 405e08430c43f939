"""Bayesian interval-censored AFT model of effect duration with a patient frailty.

``log T_ij = mu[r] + x_ij . beta + delta[r] * min(log2_rel_dose_ij, knot) + u_i + sigma * eps_ij``
with ``r`` the episode's region, ``delta[r]`` a partially pooled, zero-sum region deviation
of the dose slope below the knot (``beta`` holds the average slope), ``u_i = tau * z_i``,
``z_i ~ N(0, 1)`` (non-centred frailty), ``eps`` from the chosen family
(:mod:`analysis.survival.families`). An observation ``lower < T <= upper`` contributes
``log(S(lower) - S(upper))``, right-censored ones ``log S(lower)``, exact ones ``log f(t)``, and
``lower = 0`` ones ``log(1 - S(upper))``: the likelihood and its gradient are one compiled Op
(:mod:`analysis.survival.interval_op`, each tail formed without cancellation, the log scale
where probabilities underflow); observations are coded by kind when the model is built, so no
infinity or log(0) ever enters the graph.

``build_duration_model`` only builds; sampling lives in :mod:`analysis.advice.fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from analysis.advice.config import PriorConfig
from analysis.advice.spec import AdviceSpec, design_arrays
from analysis.errors import AdviceInputError
from analysis.survival.families import check_family
from analysis.survival.interval_op import pt_interval_loglik


@dataclass(frozen=True)
class DurationData:
    """Arrays the model is built from (one entry per episode)."""

    region_idx: np.ndarray
    X: np.ndarray
    patient_idx: np.ndarray
    lower_days: np.ndarray
    upper_days: np.ndarray
    n_patients: int
    spec: AdviceSpec

    @property
    def n_episodes(self) -> int:
        return int(len(self.lower_days))


def duration_data(episodes: pd.DataFrame, spec: AdviceSpec) -> DurationData:
    """Code the episodes kept for the duration analysis (``in_duration_analysis``).

    Raises :class:`AdviceInputError` if a bound is negative, NaN, or ``upper < lower``.
    """
    ep = episodes
    if "in_duration_analysis" in ep.columns:
        ep = ep[ep["in_duration_analysis"].astype(bool)]
    lower = ep["dur_lower_days"].to_numpy(dtype=float)
    upper = ep["dur_upper_days"].to_numpy(dtype=float)
    bad = ~(np.isfinite(lower) & (lower >= 0) & ~np.isnan(upper) & (upper >= lower))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise AdviceInputError(
            f"episodes, row {pos + 1}, columns 'dur_lower_days'/'dur_upper_days', values "
            f"({lower[pos]!r}, {upper[pos]!r}): need 0 <= lower <= upper (upper may be inf); "
            f"{int(bad.sum())} such row(s)"
        )
    region_idx, X = design_arrays(ep, spec)
    # first-appearance order (the processed tables' order comes from the data, not the key)
    patient_codes, _ = pd.factorize(ep["patient_key"], sort=False)
    return DurationData(
        region_idx=region_idx,
        X=X,
        patient_idx=patient_codes.astype(np.int64),
        lower_days=lower,
        upper_days=upper,
        n_patients=int(patient_codes.max()) + 1,
        spec=spec,
    )


def build_duration_model(
    data: DurationData,
    priors: PriorConfig,
    family: str,
    loglik: Callable[..., pt.TensorVariable] = pt_interval_loglik,
) -> pm.Model:
    """Build (not sample) the frailty AFT model for ``family`` in {lognormal, loglogistic, weibull}.

    Parameters
    ----------
    data : DurationData
        Coded episodes (:func:`duration_data`).
    priors : PriorConfig
        Prior scales; region intercepts are centred on ``log(region_median_days)``.
    family : str
        Error distribution of ``log T``.
    loglik : callable
        ``(eta, sigma, lower_days, upper_days, family) -> summed log-likelihood``: the compiled
        Op; ``benchmarks/bench_advice.py --job loglik`` passes the elementwise graph
        (:func:`analysis.survival.families.pt_interval_loglik_graph`) to time both.

    Returns
    -------
    pm.Model
        Free variables ``mu_region``, ``beta``, ``dose_sd``, ``dose_region`` (zero-sum region
        deviation of the below-knot dose slope), ``sigma``, ``tau``, ``z_patient``; the
        likelihood is a ``pm.Potential`` named ``loglik``.
    """
    check_family(family)
    spec = data.spec
    coords = {
        "region": list(spec.regions),
        "covariate": spec.covariate_names,
        "patient": np.arange(data.n_patients),
    }
    with pm.Model(coords=coords) as model:
        mu_region = pm.Normal(
            "mu_region", mu=np.log(priors.region_median_days), sigma=priors.region_sd, dims="region"
        )
        beta = pm.Normal("beta", 0.0, priors.beta_sd, dims="covariate")
        dose_sd = pm.HalfNormal("dose_sd", priors.dose_sd)
        # zero-sum deviations: their mean would be confounded with beta[dose_below_knot]
        # (R-hat 1.05 on the demo cohort with free non-centred deviations); centred because
        # every region's slope is well informed by the data
        dose_region = pm.ZeroSumNormal("dose_region", sigma=dose_sd, dims="region")
        sigma = pm.HalfNormal("sigma", priors.sigma_sd)
        tau = pm.HalfNormal("tau", priors.tau_sd)
        z_patient = pm.Normal("z_patient", 0.0, 1.0, dims="patient")
        eta = (
            mu_region[data.region_idx]
            + pt.dot(data.X, beta)
            + dose_region[data.region_idx] * data.X[:, 0]
            + tau * z_patient[data.patient_idx]
        )
        pm.Potential("loglik", loglik(eta, sigma, data.lower_days, data.upper_days, family))
    return model
