"""A small, fast generator of processed-format episodes with known duration parameters.

It follows the duration law of the study's simulator (``log T = mu_region + spline(dose) +
covariates + u_patient + sigma * eps``) and its observation process (a two-week check, a
return visit some months later or never, occasional monthly follow-up, some patient-reported
exact dates), but nothing else. Used by the advice unit tests, the advice benchmark (1M
episodes) and as a fallback when the demo cohort is not built. It is *not* the study's
simulator (``analysis.simulator.cohort``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.advice.spec import AdviceSpec, design_arrays


@dataclass(frozen=True)
class SyntheticTruth:
    """Parameters used to generate a synthetic cohort (log-days scale)."""

    mu_region: dict[str, float]
    beta: dict[str, float]
    sigma: float
    tau: float
    family: str = "lognormal"


def default_truth(spec: AdviceSpec) -> SyntheticTruth:
    """A plausible truth: regions 90-150 days, effects of the size DOMAIN.md describes."""
    medians = np.linspace(150.0, 90.0, len(spec.regions))
    beta = {name: 0.0 for name in spec.covariate_names}
    beta.update(
        {
            "dose_slope_below_knot": 0.25,
            "dose_slope_above_knot": 0.05,
            "sex_male": -0.10,
            "muscle_bulk_per_grade": -0.08,
            "exercise_per_10_met_h": -0.04,
            "age_per_10_years": 0.02,
            "log2_cycle": 0.05,
            "baseline_severity_per_grade": -0.05,
        }
    )
    if "product_daxi" in beta:
        beta["product_daxi"] = 0.20
    return SyntheticTruth(
        mu_region={r: float(np.log(m)) for r, m in zip(spec.regions, medians, strict=True)},
        beta=beta,
        sigma=0.25,
        tau=0.20,
    )


def _covariates(rng: np.random.Generator, n_patients: int, spec: AdviceSpec) -> pd.DataFrame:
    n_ep = rng.integers(1, 7, size=n_patients)
    patient = np.repeat(np.arange(n_patients), n_ep)
    n = len(patient)
    sex = np.where(rng.random(n_patients) < 0.15, "M", "F")[patient]
    age0 = rng.uniform(25, 70, n_patients)[patient]
    bulk = rng.choice([1, 2, 3, 4], p=[0.2, 0.45, 0.25, 0.1], size=n_patients)[patient]
    exercise = rng.gamma(2.0, 8.0, n_patients)[patient]
    product = rng.choice(list(spec.products), p=_product_p(spec), size=n_patients)[patient]
    region = rng.choice(list(spec.regions), size=n)
    log2_dose = np.clip(rng.normal(0.0, 0.45, n), -1.5, 1.7)
    start = pd.Timestamp("2021-01-04") + pd.to_timedelta(rng.integers(0, 900, n_patients), "D")
    gap = np.concatenate([np.r_[0, np.full(k - 1, 1)] for k in n_ep]) * rng.integers(100, 220, n)
    days = pd.Series(gap).groupby(patient).cumsum().to_numpy()
    df = pd.DataFrame(
        {
            "patient_key": pd.Series(patient).map(lambda i: f"p{i:08d}").to_numpy(),
            "treatment_date": start[patient] + pd.to_timedelta(days, "D"),
            "region": region,
            "product": product,
            "log2_rel_dose": log2_dose,
            "muscle_bulk": bulk,
            "exercise_met_h_week": np.round(exercise, 1),
            "sex": sex,
            "age_years": np.floor(age0 + days / 365.25),
            "baseline_severity": rng.choice([1, 2, 3], p=[0.2, 0.5, 0.3], size=n),
        }
    )
    df["cycle"] = df.groupby(["patient_key", "region"]).cumcount() + 1
    return df


def _product_p(spec: AdviceSpec) -> np.ndarray:
    p = np.full(len(spec.products), 0.1)
    p[0] = 1.0 - 0.1 * (len(spec.products) - 1)
    return p


def _observe(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visit process: check at day 14, then monthly (30%) or one return visit, or none."""
    n = len(t)
    lower = np.zeros(n)
    upper = np.full(n, np.inf)
    status = np.full(n, "interval", dtype=object)
    returns = rng.random(n) < 0.75
    ret_day = rng.uniform(90, 260, n)
    monthly = rng.random(n) < 0.3
    for i in range(n):
        days = [14.0]
        if monthly[i]:
            days += list(np.arange(44.0, 300.0, 30.0))
        elif returns[i]:
            days.append(float(np.round(ret_day[i])))
        visits = np.asarray(days)
        before = visits[visits < t[i]]
        after = visits[visits >= t[i]]
        lower[i] = before.max() if len(before) else 0.0
        if len(after):
            upper[i] = after.min()
        else:
            status[i] = "right_no_return"
    exact = (rng.random(n) < 0.1) & np.isfinite(upper)
    lower[exact] = upper[exact] = np.round(t[exact], 1)
    status[exact] = "exact_reported"
    return lower, upper, status


def synthetic_episodes(
    spec: AdviceSpec, n_patients: int, seed: int, truth: SyntheticTruth | None = None
) -> tuple[pd.DataFrame, SyntheticTruth, np.ndarray]:
    """Episodes in the processed-table format, the truth, and the latent durations (days)."""
    truth = truth or default_truth(spec)
    rng = np.random.default_rng(seed)
    df = _covariates(rng, n_patients, spec)
    region_idx, X = design_arrays(df, spec)
    mu = np.array([truth.mu_region[r] for r in spec.regions])
    beta = np.array([truth.beta[c] for c in spec.covariate_names])
    u = rng.normal(0.0, truth.tau, n_patients)
    patient = df["patient_key"].str[1:].astype(int).to_numpy()
    log_t = mu[region_idx] + X @ beta + u[patient] + truth.sigma * rng.standard_normal(len(df))
    latent = np.exp(log_t)
    lower, upper, status = _observe(rng, latent)
    df["dur_lower_days"] = lower
    df["dur_upper_days"] = upper
    df["dur_status"] = status
    df["in_duration_analysis"] = True
    return df, truth, latent
