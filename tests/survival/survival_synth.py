"""Synthetic episodes with known truth for the survival tests (imported by conftest and tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.survival.covariates import design_matrix, make_spec

TRUE_COEF = {
    "region_forehead": 0.10,
    "region_lip_flip": -0.30,
    "product_daxi": 0.22,
    "sex_male": -0.15,
    "muscle_bulk_per_grade": -0.08,
    "exercise_per_10_met_h": -0.04,
    "dose_slope_below_knot": 0.21,
    "dose_slope_above_knot": 0.03,
}
TRUE_LOG_MEDIAN = np.log(140.0)
TRUE_SIGMA, TRUE_TAU = 0.21, 0.15


def synthetic_episodes(
    n_patients: int, seed: int, family: str = "lognormal", visits: int = 5
) -> pd.DataFrame:
    """Episodes with log T = x'beta + u_patient + sigma*eps, observed at random visits.

    ``family`` sets eps: standard normal (lognormal) or minimum-Gumbel (weibull). 10% of
    episodes carry an exact time, the rest are interval- or right-censored by the visits.
    """
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients), 3)
    n = pid.size
    df = pd.DataFrame(
        {
            "patient_key": pd.Series(pid).map(lambda i: f"p{i:05d}"),
            "region": rng.choice(["glabella", "forehead", "lip_flip"], n),
            "product": rng.choice(["ona", "abo", "daxi"], n),
            "log2_rel_dose": rng.choice(np.log2([0.5, 1, 1.5, 2, 2.5]), n),
            "muscle_bulk": rng.integers(1, 5, n),
            "exercise_met_h_week": rng.lognormal(np.log(12), 1, n),
            "sex": np.where(rng.random(n_patients) < 0.2, "M", "F")[pid],
            "age_years": rng.uniform(25, 70, n),
            "cycle": rng.integers(1, 6, n),
            "baseline_severity": rng.integers(1, 4, n),
            "in_duration_analysis": True,
        }
    )
    x = design_matrix(df, make_spec(df, "glabella", "ona", 1.0))
    beta = pd.Series(0.0, index=x.columns)
    beta[list(TRUE_COEF)] = list(TRUE_COEF.values())
    eps = rng.normal(size=n) if family == "lognormal" else np.log(rng.exponential(size=n))
    u = rng.normal(0, TRUE_TAU, n_patients)[pid]
    t = np.exp(TRUE_LOG_MEDIAN + x.to_numpy() @ beta.to_numpy() + u + TRUE_SIGMA * eps)
    grid = np.sort(rng.uniform(10, 300, (n, visits)), axis=1).round()
    k = (grid < t[:, None]).sum(1)
    lower = np.where(k > 0, grid[np.arange(n), np.maximum(k - 1, 0)], 0.0)
    upper = np.where(k < visits, grid[np.arange(n), np.minimum(k, visits - 1)], np.inf)
    upper = np.where(upper == lower, upper + 1, upper)
    exact = rng.random(n) < 0.1
    df["dur_lower_days"] = np.where(exact, t.round(2), lower)
    df["dur_upper_days"] = np.where(exact, t.round(2), upper)
    df["latent_days"] = t
    return df


def mixed_observations(n: int = 300, seed: int = 1, eta_sd: float = 0.3):
    """Bounds and locations of ``n`` observations of every kind: two-sided intervals, left-
    censored (lower 0, rows 0-29), right-censored (30-59), exact (60-89) and right-censored at
    day 0 (no information, 90-94)."""
    rng = np.random.default_rng(seed)
    lower = rng.uniform(1, 200, n).round()
    upper = lower + rng.uniform(1, 80, n).round()
    lower[:30] = 0.0
    upper[30:60] = np.inf
    upper[60:90] = lower[60:90]
    lower[90:95], upper[90:95] = 0.0, np.inf
    eta = np.log(120.0) + eta_sd * rng.standard_normal(n)
    return lower, upper, eta
