"""Interval-censored parametric accelerated-failure-time (AFT) models of effect duration.

Model: ``log T = x'beta + sigma * eps`` with eps standard normal (log-normal), logistic
(log-logistic) or minimum-Gumbel (Weibull); ``exp(beta_k)`` is the **time ratio** of covariate k.
Fitting is done by lifelines (``fit_interval_censoring``). lifelines offers no clustered
variance for interval-censored data, so the patient-clustered sandwich is computed here:
``V = H^-1 (sum_g s_g s_g') H^-1`` where ``H^-1`` is lifelines' inverse observed information and
``s_g`` the sum over patient g of per-episode score vectors. Scores are exact by the chain rule,
``d ll_i / d beta = x_i * d ll_i / d mu_i``, with the scalar derivatives ``d ll_i/d mu_i`` and
``d ll_i/d log sigma`` taken by central differences of the per-episode log-likelihood
(error ~1e-10). The per-episode log-likelihood is checked against lifelines' total in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from lifelines import (
    GeneralizedGammaRegressionFitter,
    LogLogisticAFTFitter,
    LogNormalAFTFitter,
    WeibullAFTFitter,
)
from scipy import special, stats

from analysis.errors import BontaError
from analysis.survival.covariates import DesignSpec, design_matrix
from analysis.survival.families import GENERALISED_GAMMA, interval_loglik, log_surv_std

#: family -> (lifelines class, location parameter, scale parameter, sign of log sigma)
LIFELINES_FITTERS: dict[str, tuple[Any, str, str, float]] = {
    "weibull": (WeibullAFTFitter, "lambda_", "rho_", -1.0),
    "lognormal": (LogNormalAFTFitter, "mu_", "sigma_", 1.0),
    "loglogistic": (LogLogisticAFTFitter, "alpha_", "beta_", -1.0),
    # flexible option: generalised gamma (Prentice 1974), log-normal at lambda = 0, Weibull at 1
    GENERALISED_GAMMA: (GeneralizedGammaRegressionFitter, "mu_", "sigma_", 1.0),
}
LOWER, UPPER = "dur_lower_days", "dur_upper_days"
#: lifelines' log-normal likelihood is NaN at a lower bound of 0 days; intervals (0, R] are
#: passed as (LOWER_FLOOR_DAYS, R], which changes no likelihood by more than ~1e-30.
LOWER_FLOOR_DAYS = 1e-3


class FitError(BontaError):
    """A survival model did not converge on the data given."""


# ---------------------------------------------------------------------------------------------
def loglik_rows(
    family: str,
    mu: np.ndarray,
    log_sigma: np.ndarray | float,
    lower: np.ndarray,
    upper: np.ndarray,
    shape: float | None = None,
) -> np.ndarray:
    """Log-likelihood of each episode: interval ``(lower, upper]``, right-censored or exact (days).

    :func:`analysis.survival.families.interval_loglik` in the form the sandwich has always used
    (``stable_tails=False``); ``shape`` is the generalised-gamma lambda (``"gengamma"`` only).
    """
    return interval_loglik(
        lower, upper, mu, np.exp(log_sigma), family, shape=shape, stable_tails=False
    )


def score_rows(
    family: str,
    mu: np.ndarray,
    log_sigma: float,
    lower: np.ndarray,
    upper: np.ndarray,
    h: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-episode derivatives of the log-likelihood with respect to ``mu_i`` and ``log sigma``."""
    d_mu = (
        loglik_rows(family, mu + h, log_sigma, lower, upper)
        - loglik_rows(family, mu - h, log_sigma, lower, upper)
    ) / (2 * h)
    d_ls = (
        loglik_rows(family, mu, log_sigma + h, lower, upper)
        - loglik_rows(family, mu, log_sigma - h, lower, upper)
    ) / (2 * h)
    return d_mu, d_ls


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AFTResult:
    """A fitted interval-censored AFT model.

    ``summary``: one row per covariate with ``coef`` (log time ratio), ``se_model``,
    ``se_robust`` (patient-clustered), ``time_ratio`` and its interval from the robust SE, ``p``.
    """

    family: str
    spec: DesignSpec
    fitter: Any
    loglik: float
    n_params: int
    n_episodes: int
    n_patients: int
    cov_robust: pd.DataFrame
    summary: pd.DataFrame

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglik

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """Location ``mu = x'beta`` (log days) of each episode."""
        cls, loc, _, _ = LIFELINES_FITTERS[self.family]
        x = design_matrix(df, self.spec)
        beta = self.fitter.params_.loc[loc]
        return (
            beta["Intercept"]
            + x[beta.index.drop("Intercept")].to_numpy() @ beta.drop("Intercept").to_numpy()
        )

    @property
    def log_sigma(self) -> float:
        _, _, scale, sign = LIFELINES_FITTERS[self.family]
        return float(sign * self.fitter.params_.loc[scale]["Intercept"])

    @property
    def shape(self) -> float | None:
        """Generalised-gamma lambda (None for the two-parameter families)."""
        return (
            float(self.fitter.params_.loc["lambda_"]["Intercept"])
            if self.family == GENERALISED_GAMMA
            else None
        )

    def survival(self, df: pd.DataFrame, t_days: np.ndarray) -> np.ndarray:
        """Predicted P(T > t) for each episode (rows) at each day in ``t_days`` (columns)."""
        mu = self.linear_predictor(df)[:, None]
        z = (np.log(np.asarray(t_days, float))[None, :] - mu) / np.exp(self.log_sigma)
        return np.exp(log_surv_std(z, self.family, self.shape))

    def median_days(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted median duration (days) of each episode."""
        return np.exp(
            self.linear_predictor(df) + np.exp(self.log_sigma) * z_median(self.family, self.shape)
        )


def z_median(family: str, shape: float | None = None) -> float:
    """Median of the standardised log time of ``family``."""
    if family == GENERALISED_GAMMA:
        q = 1.0 / shape**2
        u = special.gammainccinv(q, 0.5) if shape > 0 else special.gammaincinv(q, 0.5)
        return float(np.log(u / q) / shape)
    return {"lognormal": 0.0, "loglogistic": 0.0, "weibull": float(np.log(np.log(2.0)))}[family]


def _to_frame(df: pd.DataFrame, spec: DesignSpec) -> pd.DataFrame:
    x = design_matrix(df, spec)
    lower = df[LOWER].to_numpy(float)
    upper = df[UPPER].to_numpy(float)
    x[LOWER] = np.where(lower == upper, lower, np.maximum(lower, LOWER_FLOOR_DAYS))
    x[UPPER] = upper
    return x


def fit_aft(
    df: pd.DataFrame,
    family: str,
    spec: DesignSpec,
    cluster: str = "patient_key",
    ci_level: float = 0.95,
    initial_point: np.ndarray | None = None,
) -> AFTResult:
    """Fit one interval-censored AFT model with patient-clustered robust standard errors.

    Parameters
    ----------
    df : DataFrame
        Episodes in the duration analysis (``dur_lower_days``, ``dur_upper_days``, covariates,
        ``cluster``).
    family : {"weibull", "lognormal", "loglogistic", "gengamma"}
    spec : DesignSpec
        Covariate coding (:func:`analysis.survival.covariates.make_spec`).
    """
    if family not in LIFELINES_FITTERS:
        raise ValueError(f"unknown AFT family {family!r}; choose from {sorted(LIFELINES_FITTERS)}")
    cls, loc, scale, sign = LIFELINES_FITTERS[family]
    data = _to_frame(df, spec)
    fitter = cls()
    try:
        if family == GENERALISED_GAMMA:
            regressors = {"mu_": " + ".join(spec.columns), "sigma_": "1", "lambda_": "1"}
            fitter.fit_interval_censoring(
                data,
                lower_bound_col=LOWER,
                upper_bound_col=UPPER,
                regressors=regressors,
                initial_point=initial_point,
            )
        else:
            fitter.fit_interval_censoring(
                data, lower_bound_col=LOWER, upper_bound_col=UPPER, initial_point=initial_point
            )
    except Exception as exc:  # lifelines raises ConvergenceError / LinAlgError / ValueError
        raise FitError(f"{family} AFT did not converge on {len(df)} episodes: {exc}") from None
    cov = clustered_covariance(fitter, family, data, df[cluster].to_numpy())
    summary = _summary(fitter, family, cov, ci_level)
    return AFTResult(
        family=family,
        spec=spec,
        fitter=fitter,
        loglik=float(fitter.log_likelihood_),
        n_params=int(fitter.params_.size),
        n_episodes=len(df),
        n_patients=int(pd.Series(df[cluster]).nunique()),
        cov_robust=cov,
        summary=summary,
    )


def score_matrix(fitter: Any, family: str, data: pd.DataFrame) -> np.ndarray:
    """Per-episode score vectors, columns in the order of ``fitter.params_``."""
    _, loc, scale, sign = LIFELINES_FITTERS[family]
    params = fitter.params_
    beta = params.loc[loc]
    x = data[beta.index.drop("Intercept")].to_numpy(float)
    mu = beta["Intercept"] + x @ beta.drop("Intercept").to_numpy()
    log_sigma = sign * params.loc[scale]["Intercept"]
    lower, upper = data[LOWER].to_numpy(), data[UPPER].to_numpy()
    if family == GENERALISED_GAMMA:
        d_mu, d_ls, d_lam = _gg_scores(
            mu, log_sigma, float(params.loc["lambda_"]["Intercept"]), lower, upper
        )
    else:
        d_mu, d_ls = score_rows(family, mu, log_sigma, lower, upper)
    blocks = {}
    for par, cov_name in params.index:
        if par == loc:
            blocks[(par, cov_name)] = (
                d_mu if cov_name == "Intercept" else d_mu * data[cov_name].to_numpy(float)
            )
        elif par == "lambda_":
            blocks[(par, cov_name)] = d_lam
        else:
            blocks[(par, cov_name)] = sign * d_ls
    return np.column_stack([blocks[k] for k in params.index])


def _gg_scores(mu, log_sigma, lam, lower, upper, h=1e-5):
    def f(m, ls, shape):
        return loglik_rows(GENERALISED_GAMMA, m, ls, lower, upper, shape)

    d_mu = (f(mu + h, log_sigma, lam) - f(mu - h, log_sigma, lam)) / (2 * h)
    d_ls = (f(mu, log_sigma + h, lam) - f(mu, log_sigma - h, lam)) / (2 * h)
    d_lam = (f(mu, log_sigma, lam + h) - f(mu, log_sigma, lam - h)) / (2 * h)
    return d_mu, d_ls, d_lam


def clustered_covariance(
    fitter: Any, family: str, data: pd.DataFrame, cluster: np.ndarray
) -> pd.DataFrame:
    """Patient-clustered sandwich covariance ``H^-1 (S_g' S_g) H^-1`` of all parameters."""
    scores = score_matrix(fitter, family, data)
    codes = pd.factorize(cluster)[0]
    per_cluster = np.zeros((codes.max() + 1, scores.shape[1]))
    np.add.at(per_cluster, codes, scores)
    bread = fitter.variance_matrix_.to_numpy()
    cov = bread @ (per_cluster.T @ per_cluster) @ bread
    return pd.DataFrame(cov, index=fitter.params_.index, columns=fitter.params_.index)


def _summary(fitter: Any, family: str, cov: pd.DataFrame, ci_level: float) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + ci_level / 2)
    params = fitter.params_
    se_model = np.sqrt(np.diag(fitter.variance_matrix_.to_numpy()))
    se_robust = np.sqrt(np.diag(cov.to_numpy()))
    out = pd.DataFrame(
        {
            "family": family,
            "parameter": [p for p, _ in params.index],
            "term": [c for _, c in params.index],
            "coef": params.to_numpy(),
            "se_model": se_model,
            "se_robust": se_robust,
        }
    )
    out["coef_lower"] = out["coef"] - z * out["se_robust"]
    out["coef_upper"] = out["coef"] + z * out["se_robust"]
    out["time_ratio"] = np.exp(out["coef"])
    out["time_ratio_lower"] = np.exp(out["coef_lower"])
    out["time_ratio_upper"] = np.exp(out["coef_upper"])
    out["p"] = 2 * stats.norm.sf(np.abs(out["coef"] / out["se_robust"]))
    loc = LIFELINES_FITTERS[family][1]
    is_scale = out["parameter"] != loc
    out.loc[is_scale, ["time_ratio", "time_ratio_lower", "time_ratio_upper"]] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelChoice:
    """AFT fits of several families, ``aic_table`` sorted by AIC, and the chosen family."""

    fits: dict[str, AFTResult]
    aic_table: pd.DataFrame
    chosen: str

    @property
    def best(self) -> AFTResult:
        return self.fits[self.chosen]


def choose_family(
    df: pd.DataFrame, spec: DesignSpec, families: tuple[str, ...], ci_level: float = 0.95
) -> ModelChoice:
    """Fit each family and choose the one with the smallest AIC (families that fail are listed)."""
    fits, rows = {}, []
    for fam in families:
        if fam not in LIFELINES_FITTERS:
            continue
        try:
            fits[fam] = fit_aft(df, fam, spec, ci_level=ci_level)
            rows.append(
                {
                    "family": fam,
                    "loglik": fits[fam].loglik,
                    "n_params": fits[fam].n_params,
                    "aic": fits[fam].aic,
                    "converged": True,
                }
            )
        except FitError:
            rows.append(
                {
                    "family": fam,
                    "loglik": np.nan,
                    "n_params": np.nan,
                    "aic": np.nan,
                    "converged": False,
                }
            )
    if not fits:
        raise FitError(f"no AFT family converged among {list(families)}")
    table = pd.DataFrame(rows).sort_values("aic", na_position="last").reset_index(drop=True)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["akaike_weight"] = np.exp(-0.5 * table["delta_aic"]) / np.nansum(
        np.exp(-0.5 * table["delta_aic"])
    )
    return ModelChoice(fits=fits, aic_table=table, chosen=str(table.loc[0, "family"]))


@dataclass(frozen=True)
class SlopeTest:
    """Likelihood-ratio test of region-specific dose slopes below the knot."""

    lr_stat: float
    df: int
    p_value: float
    aic_common: float
    aic_region: float
    region_specific: bool


def compare_dose_slopes(
    df: pd.DataFrame, spec: DesignSpec, family: str, alpha: float
) -> tuple[SlopeTest, AFTResult, AFTResult]:
    """Compare a common dose slope with one slope per region (LR test and AIC)."""
    common = fit_aft(df, family, replace(spec, region_slopes=False))
    per_region = fit_aft(df, family, replace(spec, region_slopes=True))
    lr = max(2 * (per_region.loglik - common.loglik), 0.0)
    dof = per_region.n_params - common.n_params
    p = float(stats.chi2.sf(lr, dof))
    test = SlopeTest(
        lr, dof, p, common.aic, per_region.aic, bool(p < alpha and per_region.aic < common.aic)
    )
    return test, common, per_region


def _median_gradient(fit: AFTResult, x_row: pd.Series) -> tuple[float, np.ndarray]:
    """log median and its gradient with respect to all parameters (order of ``params_``)."""
    _, loc, scale, sign = LIFELINES_FITTERS[fit.family]
    z50 = z_median(fit.family, fit.shape)
    sigma = np.exp(fit.log_sigma)
    grad = []
    for par, cov_name in fit.fitter.params_.index:
        if par == loc:
            grad.append(1.0 if cov_name == "Intercept" else float(x_row[cov_name]))
        elif par == "lambda_":
            h = 1e-6
            grad.append(
                sigma
                * (
                    z_median(GENERALISED_GAMMA, fit.shape + h)
                    - z_median(GENERALISED_GAMMA, fit.shape - h)
                )
                / (2 * h)
            )
        else:
            grad.append(sign * z50 * sigma)
    beta = fit.fitter.params_.loc[loc]
    log_med = (
        beta["Intercept"]
        + float(x_row[beta.index.drop("Intercept")] @ beta.drop("Intercept"))
        + sigma * z50
    )
    return float(log_med), np.asarray(grad)


def predicted_medians(
    fit: AFTResult, profiles: pd.DataFrame, ci_level: float = 0.95
) -> pd.DataFrame:
    """Predicted median duration (days) of covariate profiles, delta-method CI (robust cov.)."""
    z = stats.norm.ppf(0.5 + ci_level / 2)
    x = design_matrix(profiles, fit.spec)
    cov = fit.cov_robust.to_numpy()
    rows = []
    for i in range(len(x)):
        log_med, g = _median_gradient(fit, x.iloc[i])
        se = float(np.sqrt(g @ cov @ g))
        rows.append((np.exp(log_med), np.exp(log_med - z * se), np.exp(log_med + z * se)))
    out = profiles.reset_index(drop=True).copy()
    out[["median_days", "median_lower", "median_upper"]] = np.asarray(rows)
    return out


def marginal_survival(
    fit: AFTResult, df: pd.DataFrame, by: str, grid_days: np.ndarray
) -> pd.DataFrame:
    """Model-based survival averaged over the episodes of each group (to set against the NPMLE)."""
    frames = []
    for level, sub in df.groupby(by, observed=True, sort=True):
        s = fit.survival(sub, np.maximum(grid_days, 1e-9)).mean(axis=0)
        frames.append(
            pd.DataFrame({"group": f"{by}={level}", "time_days": grid_days, "survival": s})
        )
    return pd.concat(frames, ignore_index=True)
