"""Prediction quality under patient-grouped cross-validation.

Folds: ``sklearn.model_selection.GroupKFold`` by ``patient_key`` (no patient in both the
training and test fold). Out-of-fold predictions are scored as follows.

Duration (interval-censored, AFT):

* Harrell-type concordance for interval-censored data: a pair is comparable when one episode is
  known to have worn off before the other was known to be still effective (``R_i <= L_j``);
  concordant when the predicted median of i is shorter; ties in prediction count 1/2.
* Time-dependent Brier score with the status at t replaced by its conditional probability
  given the observed interval, ``pi_i(t) = P(T > t | L_i < T <= R_i)``, computed from the
  training fold's region-specific Turnbull NPMLE (never from the model being scored):
  ``BS(t) = mean[pi (1 - S_hat)^2 + (1 - pi) S_hat^2]``; integrated over the reported weeks by
  the trapezoid rule and divided by the range. No midpoint imputation.
* Calibration at given weeks: episodes grouped by quantiles of the predicted S(t); per group
  the Turnbull NPMLE of S(t) with a patient-bootstrap interval against the mean prediction.

Re-treatment (right-censored, Cox): Harrell's and Uno's (IPCW) concordance as scikit-survival
defines them (computed in O(n log n): :mod:`analysis.survival.concordance`),
Brier score and integrated Brier score, in :mod:`analysis.survival.cox_cv`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from analysis.survival.aft import fit_aft
from analysis.survival.concordance import interval_concordance
from analysis.survival.covariates import DesignSpec
from analysis.survival.nonparametric import DAYS_PER_WEEK, MAX_ITER, NPMLE, fit_npmle, turnbull


def patient_groups(df: pd.DataFrame) -> np.ndarray:
    """Fold groups: patients numbered by first appearance in ``df``.

    ``GroupKFold`` breaks ties between equally sized groups by the sorted group labels; with
    the pseudonyms as labels the folds (and every cross-validated number) would depend on the
    pseudonymisation key. The row order is derived from the data (issue 12), so these codes are
    not.
    """
    return pd.factorize(df["patient_key"].to_numpy())[0]


def concordance_interval(
    lower: np.ndarray, upper: np.ndarray, predicted: np.ndarray
) -> tuple[float, int]:
    """Harrell-type C for interval-censored data; returns (C, number of comparable pairs).

    ``predicted`` is a predicted duration (longer = later wear-off). With exact times this is
    Harrell's C. O(n log n) (:func:`analysis.survival.concordance.interval_concordance`; the
    pairwise definition, O(n^2), took 40 minutes on the 1M-episode cohort's folds).
    """
    return interval_concordance(lower, upper, predicted)


def status_probability(
    npmle: NPMLE, lower: np.ndarray, upper: np.ndarray, t_days: float
) -> np.ndarray:
    """``P(T > t | lower < T <= upper)`` under ``npmle`` (1 if t <= lower, 0 if t >= upper)."""
    s_lo = npmle.survival(np.asarray(lower, float))
    s_up = np.where(
        np.isfinite(upper), npmle.survival(np.where(np.isfinite(upper), upper, 0.0)), 0.0
    )
    s_t = npmle.survival(np.maximum(np.full_like(np.asarray(lower, float), t_days), lower))
    denom = s_lo - s_up
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 1e-12, (s_t - s_up) / denom, 0.5)
    p = np.where(t_days <= lower, 1.0, np.where(t_days >= upper, 0.0, p))
    return np.clip(p, 0.0, 1.0)


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold metrics; ``summary`` has one row per metric (estimate, fold SD, unit)."""

    summary: pd.DataFrame
    brier: pd.DataFrame
    predictions: pd.DataFrame


def cv_aft(
    df: pd.DataFrame,
    family: str,
    spec: DesignSpec,
    folds: int,
    brier_weeks: tuple[float, ...],
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> CVResult:
    """Patient-grouped CV of an interval-censored AFT model (see module docstring).

    ``gradient_tol``, ``max_iter``: convergence rule of each fold's fit (:func:`fit_aft`).
    """
    gkf = GroupKFold(n_splits=folds)
    rows, briers, preds = [], [], []
    week_days = np.asarray(brier_weeks, float) * DAYS_PER_WEEK
    for k, (tr, te) in enumerate(gkf.split(df, groups=patient_groups(df))):
        train, test = df.iloc[tr], df.iloc[te]
        fit = fit_aft(train, family, spec, gradient_tol=gradient_tol, max_iter=max_iter)
        med = fit.median_days(test)
        surv = fit.survival(test, week_days)
        c, n_pairs = concordance_interval(test["dur_lower_days"], test["dur_upper_days"], med)
        bs = _expected_brier(train, test, surv, week_days)
        rows.append(
            {
                "fold": k,
                "c_harrell_interval": c,
                "comparable_pairs": n_pairs,
                "integrated_brier": _integrate(week_days, bs),
            }
        )
        briers.append(pd.DataFrame({"fold": k, "week": brier_weeks, "brier": bs}))
        pred = test[["region", "dur_lower_days", "dur_upper_days", "patient_key"]].copy()
        pred["predicted_median_days"] = med
        for w, col in zip(brier_weeks, surv.T, strict=True):
            pred[f"pred_surv_week_{w:g}"] = col
        preds.append(pred)
    per_fold = pd.DataFrame(rows)
    summary = pd.DataFrame(
        [
            _metric(
                "c_harrell_interval", per_fold["c_harrell_interval"], "concordance (0.5 = chance)"
            ),
            _metric(
                "integrated_brier",
                per_fold["integrated_brier"],
                f"Brier, weeks {brier_weeks[0]:g}-{brier_weeks[-1]:g}",
            ),
        ]
    ).assign(endpoint="duration", model=f"{family} AFT", folds=folds)
    brier = (
        pd.concat(briers)
        .groupby("week", as_index=False)["brier"]
        .agg(["mean", "std"])
        .reset_index()
    )
    return CVResult(summary, brier, pd.concat(preds, ignore_index=True))


def _expected_brier(train, test, surv, week_days) -> np.ndarray:
    out = np.zeros(len(week_days))
    for region, idx in test.groupby("region").indices.items():
        ref = train[train["region"] == region]
        ref = train if len(ref) < 30 else ref
        npmle = fit_npmle(ref["dur_lower_days"], ref["dur_upper_days"])
        lo = test["dur_lower_days"].to_numpy()[idx]
        up = test["dur_upper_days"].to_numpy()[idx]
        for k, t in enumerate(week_days):
            pi = status_probability(npmle, lo, up, t)
            s = surv[idx, k]
            out[k] += np.sum(pi * (1 - s) ** 2 + (1 - pi) * s**2)
    return out / len(test)


def _integrate(t: np.ndarray, values: np.ndarray) -> float:
    return float(np.trapezoid(values, t) / (t[-1] - t[0])) if len(t) > 1 else float(values[0])


def _metric(name, values, unit) -> dict:
    values = np.asarray(values, float)
    return {
        "metric": name,
        "estimate": float(np.mean(values)),
        "fold_sd": float(np.std(values, ddof=1)) if values.size > 1 else np.nan,
        "unit": unit,
    }


def calibration_table(
    predictions: pd.DataFrame,
    weeks: tuple[float, ...],
    groups: int,
    n_boot: int,
    seed: int,
    ci_level: float = 0.95,
    kkt_tol: float = 1e-7,
    max_iter: int = MAX_ITER,
) -> pd.DataFrame:
    """Observed (Turnbull, patient bootstrap CI) vs mean predicted S(t) in predicted-risk groups.

    ``kkt_tol``, ``max_iter``: stopping rule of each group's NPMLE (:func:`turnbull`).
    """
    rows = []
    for w in weeks:
        col = f"pred_surv_week_{w:g}"
        grp = pd.qcut(predictions[col].rank(method="first"), groups, labels=False)
        for g, sub in predictions.groupby(grp):
            tb = turnbull(
                sub["dur_lower_days"].to_numpy(),
                sub["dur_upper_days"].to_numpy(),
                sub["patient_key"].to_numpy(),
                n_boot=n_boot,
                seed=seed + int(g),
                ci_level=ci_level,
                report_weeks=(w,),
                grid_days=np.array([w * DAYS_PER_WEEK]),
                kkt_tol=kkt_tol,
                max_iter=max_iter,
            )
            obs = tb.summary.iloc[1]
            rows.append(
                {
                    "week": w,
                    "risk_group": int(g) + 1,
                    "n_episodes": len(sub),
                    "predicted": float(sub[col].mean()),
                    "observed": obs["estimate"],
                    "observed_lower": obs["lower"],
                    "observed_upper": obs["upper"],
                }
            )
    return pd.DataFrame(rows)


def _surv_array(df, duration_col, event_col):
    from sksurv.util import Surv

    return Surv.from_arrays(df[event_col].to_numpy(bool), df[duration_col].to_numpy(float))
