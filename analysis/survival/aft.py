"""Interval-censored parametric accelerated-failure-time (AFT) models of effect duration.

Model: ``log T = x'beta + sigma * eps`` with eps standard normal (log-normal), logistic
(log-logistic) or minimum-Gumbel (Weibull); ``exp(beta_k)`` is the **time ratio** of covariate k.
Observations are intervals ``(lower, upper]`` in days: two-sided, right-censored
(``upper = inf``), left-censored (``lower = 0``) or exact (``lower == upper``).

Maximiser (survreg's algorithm, Therneau's ``survreg.fit``): Newton-Raphson in
``theta = (beta, log sigma)`` with the analytic gradient and Hessian of
:func:`analysis.survival.families.loglik_derivatives`, step-halving whenever a step lowers the
log-likelihood, and a Levenberg ridge when ``-H`` is not positive definite. Starting values:
least squares of log interval midpoints on the design, the residual SD converted to the
family's scale. Convergence is declared on the gradient: the largest **scaled** component
``|g_k| max(1, |theta_k|) / max(1, |loglik|)`` (the relative change of the log-likelihood for a
relative change of ``theta_k``) at most ``gradient_tol`` (params.yaml
``survival.aft.gradient_tol``, 1e-8); if that is not reached in ``max_iter`` iterations a
:class:`FitError` names the family and the gradient. The model-choice table reports
``iterations``, ``max_abs_gradient`` (unscaled) and ``max_scaled_gradient``.

Variance: the patient-clustered sandwich ``V = H^-1 (sum_g s_g s_g') H^-1`` with ``H`` the
analytic Hessian at the maximum and ``s_g`` the sum over patient g of the analytic per-episode
scores ``(x_i d ll_i/d eta_i, d ll_i/d log sigma)`` (no finite differences); the model-based
covariance ``-H^-1`` is reported beside it. ``validation/validate_survival_r.py`` checks the
fits against R ``survreg`` and the sandwich against an independent numerical one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import linalg, stats

from analysis.errors import BontaError
from analysis.survival.covariates import DesignSpec, design_matrix
from analysis.survival.families import (
    FAMILIES,
    MOMENTS_STD,
    LoglikDerivatives,
    Observations,
    check_family,
    log_surv_std,
    loglik_derivatives,
    quantile_std,
)
from analysis.survival.sandwich import meat

LOWER, UPPER = "dur_lower_days", "dur_upper_days"
INTERCEPT = "Intercept"
LOG_SIGMA = "log_sigma"
#: ``parameter`` of the location terms in the summary (the scale row is ``log_sigma``)
LOCATION = "mu_"


class FitError(BontaError):
    """A survival model did not converge on the data given."""


# ---------------------------------------------------------------------------------------------
# The maximiser
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Convergence:
    """How the Newton-Raphson maximiser ended.

    ``max_abs_gradient``: largest |d loglik / d theta_k|; ``max_scaled_gradient``: largest
    ``|g_k| max(1, |theta_k|) / max(1, |loglik|)``, the quantity compared with the tolerance.
    """

    iterations: int
    step_halvings: int
    max_abs_gradient: float
    max_scaled_gradient: float
    gradient_tol: float
    converged: bool


@dataclass(frozen=True)
class Maximum:
    """The maximum of an AFT log-likelihood: ``theta = (beta, log sigma)``, Hessian, scores."""

    theta: np.ndarray
    loglik: float
    hessian: np.ndarray
    derivatives: LoglikDerivatives
    convergence: Convergence


def _evaluate(x: np.ndarray, obs: Observations, theta: np.ndarray, family: str):
    """Log-likelihood, gradient, Hessian and per-row derivatives at ``theta`` (gradient and
    Hessian are None where the log-likelihood or a derivative is not finite: a rejected step)."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = loglik_derivatives(obs, x @ theta[:-1], float(theta[-1]), family)
    ll = float(d.loglik.sum())
    assert d.d2_eta is not None and d.d2_eta_ls is not None and d.d2_ls is not None
    rows = (d.d_eta, d.d_ls, d.d2_eta, d.d2_eta_ls, d.d2_ls)
    if not np.isfinite(ll) or not all(np.isfinite(r).all() for r in rows):
        return -np.inf, None, None, d
    grad = np.append(x.T @ d.d_eta, d.d_ls.sum())
    p = x.shape[1]
    hess = np.empty((p + 1, p + 1))
    hess[:p, :p] = (x * d.d2_eta[:, None]).T @ x
    hess[:p, p] = hess[p, :p] = x.T @ d.d2_eta_ls
    hess[p, p] = d.d2_ls.sum()
    return ll, grad, hess, d


def _scaled_gradient(grad: np.ndarray, theta: np.ndarray, ll: float) -> float:
    return float(np.max(np.abs(grad) * np.maximum(1.0, np.abs(theta))) / max(1.0, abs(ll)))


def _newton_direction(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """Solve ``-H d = g``; add a ridge (Levenberg) while ``-H`` is not positive definite."""
    neg = -hess
    ridge = 0.0
    scale = float(np.max(np.abs(np.diag(neg)))) or 1.0
    for _ in range(30):
        try:
            chol = linalg.cho_factor(neg + ridge * np.eye(len(grad)), lower=True)
            return linalg.cho_solve(chol, grad)
        except linalg.LinAlgError:
            ridge = max(2 * ridge, 1e-8 * scale)
    raise linalg.LinAlgError("the Hessian is not negative definite even with a ridge")


def start_values(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, family: str) -> np.ndarray:
    """Least-squares start: log of interval midpoints (right-censored: the lower bound;
    left-censored: half the upper bound) on ``x``; the residual SD converted to ``sigma``."""
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    mid = np.where(np.isinf(upper), lower, np.where(lower <= 0, upper / 2, (lower + upper) / 2))
    keep = mid > 0
    y = np.log(mid[keep])
    xk = x[keep]
    beta = linalg.solve(xk.T @ xk, xk.T @ y, assume_a="pos")
    sd = float(np.std(y - x[keep] @ beta)) or 1.0
    mean_std, sd_std = MOMENTS_STD[family]
    sigma = sd / sd_std
    beta = beta.copy()
    beta[0] -= mean_std * sigma  # E[log T] = eta + sigma E[eps]
    return np.append(beta, np.log(sigma))


def maximise(
    x: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    family: str,
    *,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
    theta0: np.ndarray | None = None,
) -> Maximum:
    """Maximise the interval-censored AFT log-likelihood by Newton-Raphson.

    Parameters
    ----------
    x : array (n, p)
        Design matrix with the intercept as its first column.
    lower, upper : array (n,)
        Bounds in days (``upper = inf``: right-censored; ``lower == upper``: exact).
    family : {"lognormal", "loglogistic", "weibull"}
    gradient_tol, max_iter
        Convergence: largest scaled gradient component <= ``gradient_tol`` (module docstring).
    theta0 : array (p + 1,), optional
        Starting ``(beta, log sigma)``; default :func:`start_values`.

    Raises
    ------
    FitError
        If the gradient criterion is not met within ``max_iter`` iterations, or the
        log-likelihood is not finite at the start.
    """
    check_family(family)
    obs = Observations.from_bounds(lower, upper)
    theta = start_values(x, lower, upper, family) if theta0 is None else np.asarray(theta0, float)
    ll, grad, hess, d = _evaluate(x, obs, theta, family)
    if grad is None or hess is None:
        raise FitError(f"{family} AFT: the log-likelihood is not finite at the starting values")
    halvings = 0
    for it in range(max_iter + 1):
        scaled = _scaled_gradient(grad, theta, ll)
        if scaled <= gradient_tol:
            conv = Convergence(it, halvings, float(np.abs(grad).max()), scaled, gradient_tol, True)
            return Maximum(theta, ll, hess, d, conv)
        if it == max_iter:
            break
        try:
            step = _newton_direction(grad, hess)
        except linalg.LinAlgError:
            break
        for _ in range(40):
            cand = theta + step
            new = _evaluate(x, obs, cand, family)
            # accept any finite step that does not lower the log-likelihood (beyond rounding)
            if new[1] is not None and new[0] >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
            halvings += 1
        else:
            break
        theta = cand
        ll, grad, hess, d = new[0], new[1], new[2], new[3]
        assert grad is not None and hess is not None  # accepted steps are finite
    raise FitError(
        f"{family} AFT did not converge in {max_iter} Newton iterations: largest scaled "
        f"gradient component {_scaled_gradient(grad, theta, ll):.2e} (tolerance "
        f"{gradient_tol:g}), largest absolute component {np.abs(grad).max():.3g}"
    )


# ---------------------------------------------------------------------------------------------
# A fitted model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AFTResult:
    """A fitted interval-censored AFT model.

    ``coef``: ``(beta, log sigma)`` by name (``Intercept``, the design's terms, ``log_sigma``);
    ``cov_model`` (``-H^-1``) and ``cov_robust`` (patient-clustered sandwich) over the same
    names. ``summary``: one row per parameter with ``coef`` (log time ratio), ``se_model``,
    ``se_robust``, ``time_ratio`` and its interval from the robust SE, ``p``.
    """

    family: str
    spec: DesignSpec
    coef: pd.Series
    loglik: float
    n_episodes: int
    n_patients: int
    cov_model: pd.DataFrame
    cov_robust: pd.DataFrame
    summary: pd.DataFrame
    convergence: Convergence

    @property
    def n_params(self) -> int:
        return int(self.coef.size)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglik

    @property
    def log_sigma(self) -> float:
        return float(self.coef[LOG_SIGMA])

    @property
    def beta(self) -> pd.Series:
        """Location coefficients (Intercept first)."""
        return self.coef.drop(LOG_SIGMA)

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """Location ``mu = x'beta`` (log days) of each episode."""
        beta = self.beta
        return (
            float(beta[INTERCEPT])
            + design_matrix(df, self.spec).to_numpy() @ beta.drop(INTERCEPT).to_numpy()
        )

    def survival(self, df: pd.DataFrame, t_days: np.ndarray) -> np.ndarray:
        """Predicted P(T > t) for each episode (rows) at each day in ``t_days`` (columns)."""
        mu = self.linear_predictor(df)[:, None]
        with np.errstate(divide="ignore"):
            log_t = np.log(np.asarray(t_days, float))[None, :]
        return np.exp(log_surv_std((log_t - mu) / np.exp(self.log_sigma), self.family))

    def median_days(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted median duration (days) of each episode."""
        return np.exp(self.linear_predictor(df) + np.exp(self.log_sigma) * z_median(self.family))


def z_median(family: str) -> float:
    """Median of the standardised log time of ``family``."""
    return float(quantile_std(np.asarray(0.5), family))


def design_with_intercept(df: pd.DataFrame, spec: DesignSpec) -> tuple[np.ndarray, list[str]]:
    """The AFT design matrix with its intercept column, and the column names."""
    x = design_matrix(df, spec)
    return np.column_stack([np.ones(len(x)), x.to_numpy(float)]), [INTERCEPT, *x.columns]


def _check_design(x: np.ndarray, names: list[str], family: str) -> None:
    constant = [n for n, col in zip(names[1:], x[:, 1:].T, strict=True) if np.ptp(col) == 0]
    if constant:
        raise FitError(
            f"{family} AFT: the design columns {constant} do not vary in these episodes "
            "(a level absent from the data?)"
        )


@dataclass(frozen=True)
class MatrixFit:
    """An AFT fit on a design matrix: ``coef`` over the matrix's columns and ``log_sigma``,
    model-based (``-H^-1``) and patient-clustered sandwich covariances over the same names."""

    family: str
    coef: pd.Series
    loglik: float
    cov_model: pd.DataFrame
    cov_robust: pd.DataFrame
    convergence: Convergence


def fit_matrix(
    x: np.ndarray,
    names: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
    cluster: np.ndarray,
    family: str,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> MatrixFit:
    """Maximum-likelihood AFT fit and its clustered sandwich on a design matrix ``x`` (n, p)
    whose first column is the intercept (:func:`maximise`; ``cluster``: the patient of each
    row)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown AFT family {family!r}; choose from {list(FAMILIES)}")
    _check_design(x, names, family)
    fit = maximise(x, lower, upper, family, gradient_tol=gradient_tol, max_iter=max_iter)
    index = [*names, LOG_SIGMA]
    try:
        bread = -linalg.inv(fit.hessian)
    except linalg.LinAlgError:
        raise FitError(f"{family} AFT: the information matrix is singular") from None
    scores = np.column_stack([x * fit.derivatives.d_eta[:, None], fit.derivatives.d_ls])
    cov = bread @ meat(scores, cluster) @ bread
    return MatrixFit(
        family=family,
        coef=pd.Series(fit.theta, index=index),
        loglik=fit.loglik,
        cov_model=pd.DataFrame(bread, index=index, columns=index),
        cov_robust=pd.DataFrame(cov, index=index, columns=index),
        convergence=fit.convergence,
    )


def fit_aft(
    df: pd.DataFrame,
    family: str,
    spec: DesignSpec,
    cluster: str = "patient_key",
    ci_level: float = 0.95,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> AFTResult:
    """Fit one interval-censored AFT model with patient-clustered robust standard errors.

    Parameters
    ----------
    df : DataFrame
        Episodes in the duration analysis (``dur_lower_days``, ``dur_upper_days``, covariates,
        ``cluster``).
    family : {"weibull", "lognormal", "loglogistic"}
    spec : DesignSpec
        Covariate coding (:func:`analysis.survival.covariates.make_spec`).
    cluster : str
        Column of the patient (the sandwich sums scores within it).
    ci_level : float
        Level of the intervals in ``summary``.
    gradient_tol, max_iter
        Convergence rule of :func:`maximise`.
    """
    x, names = design_with_intercept(df, spec)
    fit = fit_matrix(
        x,
        names,
        df[LOWER].to_numpy(float),
        df[UPPER].to_numpy(float),
        df[cluster].to_numpy(),
        family,
        gradient_tol=gradient_tol,
        max_iter=max_iter,
    )
    return AFTResult(
        family=family,
        spec=spec,
        coef=fit.coef,
        loglik=fit.loglik,
        n_episodes=len(df),
        n_patients=int(pd.Series(df[cluster]).nunique()),
        cov_model=fit.cov_model,
        cov_robust=fit.cov_robust,
        summary=_summary(family, fit.coef, fit.cov_model, fit.cov_robust, ci_level),
        convergence=fit.convergence,
    )


def score_matrix(fit: AFTResult, df: pd.DataFrame) -> np.ndarray:
    """Analytic per-episode score vectors at the fit, columns in the order of ``fit.coef``."""
    x, _ = design_with_intercept(df, fit.spec)
    obs = Observations.from_bounds(df[LOWER].to_numpy(float), df[UPPER].to_numpy(float))
    d = loglik_derivatives(obs, x @ fit.beta.to_numpy(), fit.log_sigma, fit.family, second=False)
    return np.column_stack([x * d.d_eta[:, None], d.d_ls])


def _summary(
    family: str, coef: pd.Series, cov_model: pd.DataFrame, cov: pd.DataFrame, ci_level: float
) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + ci_level / 2)
    out = pd.DataFrame(
        {
            "family": family,
            "parameter": np.where(coef.index == LOG_SIGMA, LOG_SIGMA, LOCATION),
            "term": coef.index,
            "coef": coef.to_numpy(),
            "se_model": np.sqrt(np.diag(cov_model.to_numpy())),
            "se_robust": np.sqrt(np.diag(cov.to_numpy())),
        }
    )
    out["coef_lower"] = out["coef"] - z * out["se_robust"]
    out["coef_upper"] = out["coef"] + z * out["se_robust"]
    out["time_ratio"] = np.exp(out["coef"])
    out["time_ratio_lower"] = np.exp(out["coef_lower"])
    out["time_ratio_upper"] = np.exp(out["coef_upper"])
    out["p"] = 2 * stats.norm.sf(np.abs(out["coef"] / out["se_robust"]))
    is_scale = out["parameter"] == LOG_SIGMA
    out.loc[is_scale, ["time_ratio", "time_ratio_lower", "time_ratio_upper"]] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# Family choice, dose slopes, predictions
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


def _choice_row(family: str, fit: AFTResult | None, error: str = "") -> dict:
    if fit is None:
        return {
            "family": family,
            "loglik": np.nan,
            "n_params": np.nan,
            "aic": np.nan,
            "converged": False,
            "iterations": np.nan,
            "max_abs_gradient": np.nan,
            "max_scaled_gradient": np.nan,
            "note": error,
        }
    c = fit.convergence
    return {
        "family": family,
        "loglik": fit.loglik,
        "n_params": fit.n_params,
        "aic": fit.aic,
        "converged": c.converged,
        "iterations": c.iterations,
        "max_abs_gradient": c.max_abs_gradient,
        "max_scaled_gradient": c.max_scaled_gradient,
        "note": "",
    }


def choose_family(
    df: pd.DataFrame,
    spec: DesignSpec,
    families: tuple[str, ...],
    ci_level: float = 0.95,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> ModelChoice:
    """Fit each family and choose the one with the smallest AIC (families that fail are listed
    with ``converged`` False and the reason in ``note``)."""
    fits, rows = {}, []
    for fam in families:
        try:
            fits[fam] = fit_aft(
                df, fam, spec, ci_level=ci_level, gradient_tol=gradient_tol, max_iter=max_iter
            )
            rows.append(_choice_row(fam, fits[fam]))
        except FitError as exc:
            rows.append(_choice_row(fam, None, str(exc)))
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
    df: pd.DataFrame,
    spec: DesignSpec,
    family: str,
    alpha: float,
    common: AFTResult | None = None,
    ci_level: float = 0.95,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> tuple[SlopeTest, AFTResult, AFTResult]:
    """Compare a common dose slope with one slope per region (LR test and AIC).

    ``common``: an existing fit with the common slope (it is not refitted); ``ci_level``,
    ``gradient_tol``, ``max_iter``: as :func:`fit_aft`.
    """
    options = {"ci_level": ci_level, "gradient_tol": gradient_tol, "max_iter": max_iter}
    common_spec = replace(spec, region_slopes=False)
    if common is None or common.spec != common_spec or common.family != family:
        common = fit_aft(df, family, common_spec, **options)  # type: ignore[arg-type]
    per_region = fit_aft(
        df,
        family,
        replace(spec, region_slopes=True),
        **options,  # type: ignore[arg-type]
    )
    lr = max(2 * (per_region.loglik - common.loglik), 0.0)
    dof = per_region.n_params - common.n_params
    p = float(stats.chi2.sf(lr, dof))
    test = SlopeTest(
        lr, dof, p, common.aic, per_region.aic, bool(p < alpha and per_region.aic < common.aic)
    )
    return test, common, per_region


def predicted_medians(
    fit: AFTResult, profiles: pd.DataFrame, ci_level: float = 0.95
) -> pd.DataFrame:
    """Predicted median duration (days) of covariate profiles, delta-method CI (robust cov.).

    ``log median = x'beta + sigma z_50``; its gradient is ``(x, sigma z_50)``.
    """
    z = stats.norm.ppf(0.5 + ci_level / 2)
    x, _ = design_with_intercept(profiles, fit.spec)
    sigma_z50 = np.exp(fit.log_sigma) * z_median(fit.family)
    grad = np.column_stack([x, np.full(len(x), sigma_z50)])
    log_med = grad[:, :-1] @ fit.beta.to_numpy() + sigma_z50
    se = np.sqrt(np.einsum("ij,jk,ik->i", grad, fit.cov_robust.to_numpy(), grad))
    out = profiles.reset_index(drop=True).copy()
    out["median_days"] = np.exp(log_med)
    out["median_lower"] = np.exp(log_med - z * se)
    out["median_upper"] = np.exp(log_med + z * se)
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


# ---------------------------------------------------------------------------------------------
# Unadjusted associations (TRIPOD 14b)
# ---------------------------------------------------------------------------------------------
#: Columns of :func:`unadjusted_time_ratios`, in order.
UNADJUSTED_COLUMNS = [
    "predictor",
    "term",
    "time_ratio",
    "time_ratio_lower",
    "time_ratio_upper",
    "coef",
    "se_robust",
    "p",
    "family",
    "note",
]


def predictor_groups(spec: DesignSpec) -> dict[str, list[str]]:
    """The candidate predictors of the AFT design and their columns (common dose slope):
    region and product indicators, the two dose-spline slopes, each patient term and the
    touch-up indicator (when the design has it). A factor with one level has no column and
    is left out (it is no candidate in these data)."""
    common = replace(spec, region_slopes=False)
    columns = common.columns
    groups = {
        "region": [c for c in columns if c.startswith("region_")],
        "product": [c for c in columns if c.startswith("product_")],
        "dose": [c for c in columns if c.startswith(("dose_slope_below", "dose_slope_above"))],
    }
    groups |= {c: [c] for c in columns if c not in {t for g in groups.values() for t in g}}
    return {name: cols for name, cols in groups.items() if cols}


def unadjusted_time_ratios(
    df: pd.DataFrame,
    spec: DesignSpec,
    family: str,
    cluster: str = "patient_key",
    ci_level: float = 0.95,
    gradient_tol: float = 1e-8,
    max_iter: int = 100,
) -> pd.DataFrame:
    """Time ratio of each candidate predictor alone: one AFT model of ``family`` per predictor
    (intercept + the predictor's columns, :func:`predictor_groups`), patient-clustered
    sandwich intervals as in :func:`fit_aft`.

    A predictor whose model cannot be fitted (a column constant in ``df``, no convergence) keeps
    its rows with missing estimates and the reason in ``note``.
    """
    x_all = design_matrix(df, replace(spec, region_slopes=False))
    lower, upper = df[LOWER].to_numpy(float), df[UPPER].to_numpy(float)
    rows = []
    for predictor, cols in predictor_groups(spec).items():
        names = [INTERCEPT, *cols]
        x = np.column_stack([np.ones(len(df)), x_all[cols].to_numpy(float)])
        try:
            fit = fit_matrix(
                x, names, lower, upper, df[cluster].to_numpy(), family, gradient_tol, max_iter
            )
        except FitError as exc:
            rows += [{"predictor": predictor, "term": c, "note": str(exc)} for c in cols]
            continue
        table = _summary(family, fit.coef, fit.cov_model, fit.cov_robust, ci_level)
        table = table.loc[table["term"].isin(cols)].assign(predictor=predictor, note="")
        rows += table.to_dict("records")
    out = pd.DataFrame(rows).reindex(columns=UNADJUSTED_COLUMNS)
    out["family"] = family
    return out
