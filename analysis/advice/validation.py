"""Out-of-sample validation of the advice for a new patient: patient-level PSIS-LOO.

What is validated
    The advice for a patient with no history: the population predictive law of an episode,
    the patient frailty integrated over its N(0, tau^2) distribution within each posterior draw
    (:mod:`analysis.advice.predict`). For patients the fit has not seen, this module estimates
    its calibration at the validation weeks (observed Turnbull S(t) with a patient-bootstrap
    interval against the mean prediction in predicted-risk groups,
    :func:`analysis.survival.cv.calibration_table`), its discrimination (Harrell-type C for
    interval-censored data, :func:`analysis.survival.cv.concordance_interval`, on the
    predicted median), its integrated Brier score (status at t replaced by its Turnbull
    probability given the observed interval, from the training fold:
    ``analysis.survival.cv._expected_brier``) and its log score, beside the frequentist AFT's
    on the same patients and folds.

Method: leave-one-patient-out by Pareto-smoothed importance sampling, no refit
    The stored log-likelihood (``posterior.nc``, group ``log_likelihood``) is each training
    patient's log-likelihood with the frailty *integrated out*, ``log p(y_i | theta_s)`` for all
    of patient i's episodes jointly (:func:`analysis.advice.fit.patient_marginal_loglik`,
    21-node quadrature); it is not conditional on sampled frailties (those are not stored).
    Its PSIS log weights ``lw_is`` (smoothed ``-log p(y_i | theta_s)``, :func:`arviz.psislw`
    with the relative efficiency :func:`arviz.loo` uses, normalised over the draws) turn the
    posterior draws into draws of the posterior without patient i. The prediction consistent
    with that log-likelihood is the population (frailty-marginal) one,
    ``S_i(t) = sum_s w_is S_pop(t | x, theta_s)``: what the model would advise patient i had
    it never seen them. The log score is reported
    - per patient: ``log sum_s w_is p(y_i | theta_s)``, ArviZ's pointwise ``loo_i`` (the joint
      predictive probability of all of a new patient's observed intervals, one frailty), and
    - per episode: ``log sum_s w_is p(y_ij | theta_s)``, each episode with its own frailty
      integrated out (the single new episode the advice is about).
    Patient-grouped K-fold with NUTS refits was rejected as too slow (one fit per fold, minutes
    each on the demo cohort, against a stage the pipeline is trying to shorten); PSIS costs
    one pass over the stored draws.

Influential patients
    PSIS is unreliable for a patient whose Pareto k exceeds ``pareto_k_max`` (0.7): the
    posterior without that patient is too far from the full one. Exact refits (one NUTS fit
    each) cost minutes per patient, so instead their number is reported and every metric is
    computed twice, on all patients and without them, for both models on the same patients:
    the difference bounds their influence. Patients whose log-likelihood does not vary over
    the draws (:func:`analysis.advice.fit.informative_patients`) carry no information; their
    leave-one-out posterior is the full one (k = 0).

The frequentist AFT on the same patients
    Patient-grouped K-fold (the survival stage's ``GroupKFold`` on
    :func:`analysis.survival.cv.patient_groups`), :func:`analysis.survival.aft.fit_aft`
    refitted per fold with the Bayesian model's family and design (region intercepts and
    region-specific dose slopes below the knot, dose above the knot, patient terms, touch-up,
    product; no frailty). The Bayesian model's leave-one-patient-out predictions of each test
    fold are scored with the same folds: the same episodes, comparable pairs and Turnbull
    status probabilities; metrics are fold means with their fold SD. The Bayesian predictions
    are trained on all other patients, the AFT's on (K-1)/K of them (a small advantage to the
    Bayesian model, 1/K of the data). The AFT's log score treats a patient's episodes as
    independent, as that model does.

Cost
    One pass over the stored draws (population S(t) per draw, exact for the log-normal), five
    AFT fits and the calibration bootstraps: 53 s on the demo cohort (4,901 patients, 20,575
    episodes, 1,000 draws) on two busy cores, peak memory 0.8 GB; a NUTS refit per fold would
    cost minutes each.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
from scipy import special
from sklearn.model_selection import GroupKFold

from analysis.advice.config import ValidationConfig
from analysis.advice.fit import (
    PARETO_K_WARNING,
    UNINFORMATIVE_SPREAD,
    patient_marginal_loglik,
    stacked,
)
from analysis.advice.model import DurationData, duration_data
from analysis.advice.predict import frailty_grid
from analysis.advice.spec import AdviceSpec
from analysis.errors import AdviceInputError
from analysis.progress import ProgressFn, step
from analysis.survival.aft import fit_aft
from analysis.survival.covariates import DesignSpec, make_spec
from analysis.survival.cv import (
    _expected_brier,
    _integrate,
    calibration_table,
    concordance_interval,
    patient_groups,
)
from analysis.survival.families import interval_loglik, surv_std
from analysis.survival.nonparametric import DAYS_PER_WEEK

#: Model labels of the validation tables.
BAYES = "Bayesian frailty AFT"
FREQ = "frequentist AFT"
#: Patient subsets every metric is computed on.
ALL_PATIENTS = "all"
#: Times (days), 2 to 104 weeks, log-spaced 10% apart, on which each episode's predictive S(t) is
#: evaluated to find its median (linear in log t between them; clamped to the ends).
MEDIAN_GRID_DAYS = np.geomspace(14.0, 728.0, 41)


@dataclass(frozen=True)
class LooPredictions:
    """Leave-one-patient-out population predictions of every training episode."""

    weeks: tuple[float, ...]
    survival: np.ndarray  # (E, W) predictive S at ``weeks``
    median_days: np.ndarray  # (E,)
    episode_log_score: np.ndarray  # (E,) log P(observed interval), episode's own frailty
    patient_log_score: np.ndarray  # (N,) log P(all of a patient's intervals), one frailty
    pareto_k: np.ndarray  # (N,) 0 for uninformative patients
    patient_idx: np.ndarray  # (E,) as the stored log-likelihood numbers the patients


@dataclass(frozen=True)
class AdviceValidation:
    """Result of :func:`validate_new_patients`: ``summary`` (one row a model, patient subset
    and metric), ``calibration`` (one row a model, week and risk group), diagnostics."""

    summary: pd.DataFrame
    calibration: pd.DataFrame
    n_patients: int
    n_episodes: int
    pareto_k_over_0_7: int
    pareto_k_over_1: int
    seconds: float

    def metrics(self) -> dict:
        """Small metrics for ``dvc metrics show``: both models, all patients."""
        s = self.summary[self.summary["patients"] == ALL_PATIENTS]
        keys = {BAYES: "bayesian_frailty_aft", FREQ: "frequentist_aft"}
        out: dict = {
            keys[str(model)]: {r.metric: r.estimate for r in grp.itertuples()}
            for model, grp in s.groupby("model", sort=False)
        }
        out["pareto_k_over_0_7"] = self.pareto_k_over_0_7
        out["pareto_k_over_1"] = self.pareto_k_over_1
        out["seconds"] = round(self.seconds, 1)
        return out


def psis_patient_weights(idata: az.InferenceData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised PSIS log weights ``(N, S)``, Pareto k ``(N,)`` and log-likelihood ``(N, S)``.

    Draws are stacked chain-major (as :func:`analysis.advice.fit.stacked`); the relative
    efficiency is the one :func:`arviz.loo` uses, so the k are those of the stored fit's
    PSIS-LOO. Uninformative patients get uniform weights and k = 0.
    """
    ll_da = idata.log_likelihood["duration"].stack(__sample__=("chain", "draw"))
    ll = ll_da.transpose("patient", "__sample__").values
    n_patients, n_samples = ll.shape
    post = idata.posterior
    reff = 1.0
    if post.sizes["chain"] > 1:
        ess = az.ess(post, method="mean")
        reff = float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean() / n_samples)
    keep = (ll.max(axis=1) - ll.min(axis=1)) >= UNINFORMATIVE_SPREAD
    lw = np.full(ll.shape, -np.log(n_samples))
    k = np.zeros(n_patients)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PARETO_K_WARNING, category=UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        lw_keep, k_keep = az.psislw(-ll[keep], reff)
    lw[keep], k[keep] = lw_keep, k_keep
    return lw, k, ll


def population_survival(
    d: np.ndarray, sigma: float, tau: float, family: str, n_nodes: int = 21
) -> np.ndarray:
    """``S_pop`` of one draw at ``d = log t - eta``: ``E_u S((d - u) / sigma)``, u ~ N(0, tau^2).

    Log-normal: exact (``log T`` is normal with sd ``hypot(sigma, tau)``). Other families: the
    frailty integrated on :func:`analysis.advice.predict.frailty_grid` (as the advice does
    without history) on 2,401 points of ``d`` over +-12 (sigma + tau), then interpolated
    linearly (spacing 0.01 (sigma + tau): error below 1e-4).
    """
    if family == "lognormal":
        return special.ndtr(-d / np.hypot(sigma, tau))
    z, w = frailty_grid(n_nodes)
    grid = np.linspace(-12.0, 12.0, 2401) * (sigma + tau)
    table = surv_std((grid[:, None] - tau * z[None, :]) / sigma, family) @ w
    return np.interp(d, grid, table)


def _episode_marginal_loglik(
    lower: np.ndarray,
    upper: np.ndarray,
    eta: np.ndarray,
    sigma: np.ndarray,
    tau: np.ndarray,
    family: str,
    n_nodes: int = 21,
) -> np.ndarray:
    """log P(observed interval) of each episode alone, frailty integrated; shape of ``eta``
    ``(s, E)``. Log-normal exact; other families on the advice's frailty grid."""
    if family == "lognormal":
        return interval_loglik(lower, upper, eta, np.hypot(sigma, tau)[:, None], family)
    z, w = frailty_grid(n_nodes)
    terms = [
        np.log(wk) + interval_loglik(lower, upper, eta + tau[:, None] * zk, sigma[:, None], family)
        for zk, wk in zip(z, w, strict=True)
    ]
    return special.logsumexp(np.stack(terms), axis=0)


def loo_predictions(
    idata: az.InferenceData,
    data: DurationData,
    family: str,
    weeks: tuple[float, ...],
    time_ratio: float = 1.0,
    chunk: int = 20,
) -> LooPredictions:
    """Leave-one-patient-out population predictions of the episodes of ``data`` by PSIS.

    Parameters
    ----------
    idata : InferenceData
        The stored fit: ``posterior`` (population parameters) and ``log_likelihood``
        (``duration``, per patient, frailty integrated) over the patients of ``data``,
        numbered as :func:`analysis.advice.model.duration_data` numbers them.
    data : DurationData
        The training episodes.
    family : str
        The model's family.
    weeks : tuple of float
        Weeks at which S(t) is predicted.
    time_ratio : float
        Multiplies every predicted duration (1 = the model's own prediction). The PSIS weights
        stay those of the fitted model: a deliberately mis-specified predictor for tests.
    """
    n_ll = idata.log_likelihood.sizes["patient"]
    if n_ll != data.n_patients:
        raise AdviceInputError(
            f"stored log-likelihood has {n_ll} patients but the training episodes have "
            f"{data.n_patients}: the episodes or advice settings differ from the fit's"
        )
    lw, pareto_k, ll = psis_patient_weights(idata)
    post = idata.posterior
    if time_ratio != 1.0:
        post = post.copy()
        post["mu_region"] = post["mu_region"] + np.log(time_ratio)
        ll = (
            patient_marginal_loglik(az.InferenceData(posterior=post), data, family)
            .stack(__sample__=("chain", "draw"))
            .transpose("patient", "__sample__")
            .values
        )
    flat = stacked(post)
    mu = flat["mu_region"].transpose("sample", ...).values
    beta = flat["beta"].transpose("sample", ...).values
    dose = flat["dose_region"].transpose("sample", ...).values
    sigma, tau = flat["sigma"].values, flat["tau"].values
    times = np.concatenate([np.asarray(weeks, float) * DAYS_PER_WEEK, MEDIAN_GRID_DAYS])
    log_t = np.log(times)
    pidx, ridx, x = data.patient_idx, data.region_idx, data.X
    surv = np.zeros((data.n_episodes, times.size))
    log_score = np.full(data.n_episodes, -np.inf)
    for start in range(0, sigma.size, chunk):
        sl = slice(start, start + chunk)
        eta = mu[sl][:, ridx] + beta[sl] @ x.T + dose[sl][:, ridx] * x[:, 0]
        lw_e = lw[:, sl].T[:, pidx]  # (s, E): each episode gets its patient's weights
        w_e = np.exp(lw_e)
        for j in range(eta.shape[0]):
            d = log_t[None, :] - eta[j][:, None]
            surv += w_e[j][:, None] * population_survival(d, sigma[sl][j], tau[sl][j], family)
        ll_e = _episode_marginal_loglik(
            data.lower_days, data.upper_days, eta, sigma[sl], tau[sl], family
        )
        log_score = np.logaddexp(log_score, special.logsumexp(lw_e + ll_e, axis=0))
    n_weeks = len(weeks)
    return LooPredictions(
        weeks=tuple(weeks),
        survival=np.clip(surv[:, :n_weeks], 0.0, 1.0),
        median_days=_median_days(surv[:, n_weeks:], MEDIAN_GRID_DAYS),
        episode_log_score=log_score,
        patient_log_score=special.logsumexp(lw + ll, axis=1),
        pareto_k=pareto_k,
        patient_idx=pidx,
    )


def _median_days(surv: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Where each row of ``surv`` (decreasing over ``days``) crosses 1/2, linear in log t;
    clamped to the grid's ends."""
    below = surv <= 0.5
    j = np.where(below.any(axis=1), below.argmax(axis=1), days.size - 1)
    j = np.clip(j, 1, days.size - 1)
    rows = np.arange(surv.shape[0])
    s0, s1 = surv[rows, j - 1], surv[rows, j]
    frac = np.clip(np.where(s0 > s1, (s0 - 0.5) / np.where(s0 > s1, s0 - s1, 1.0), 0.0), 0, 1)
    log_d = np.log(days)
    return np.exp(log_d[j - 1] + frac * (log_d[j] - log_d[j - 1]))


def aft_design(train: pd.DataFrame, spec: AdviceSpec) -> DesignSpec:
    """The frequentist AFT design matching the Bayesian model's (region-specific dose slopes)."""
    return make_spec(train, spec.regions[0], spec.products[0], spec.dose_knot_log2, True)


def _aft_out_of_fold(
    train: pd.DataFrame, family: str, design: DesignSpec, folds: int, weeks: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold of each episode, and the AFT's out-of-fold S at ``weeks``, median and log score."""
    n = len(train)
    fold = np.empty(n, dtype=int)
    surv, median, log_score = np.empty((n, len(weeks))), np.empty(n), np.empty(n)
    days = np.asarray(weeks, float) * DAYS_PER_WEEK
    splits = GroupKFold(n_splits=folds).split(train, groups=patient_groups(train))
    for k, (tr, te) in enumerate(splits):
        fit = fit_aft(train.iloc[tr], family, design)
        test = train.iloc[te]
        fold[te] = k
        surv[te] = fit.survival(test, days)
        median[te] = fit.median_days(test)
        log_score[te] = interval_loglik(
            test["dur_lower_days"].to_numpy(float),
            test["dur_upper_days"].to_numpy(float),
            fit.linear_predictor(test),
            np.exp(fit.log_sigma),
            family,
        )
    return fold, surv, median, log_score


def _score_folds(
    train: pd.DataFrame,
    fold: np.ndarray,
    keep_episode: np.ndarray,
    preds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    weeks: tuple[float, ...],
    brier_weeks: tuple[float, ...],
) -> pd.DataFrame:
    """Per fold and model: C, integrated Brier and both log scores on the ``keep`` episodes.

    ``preds[model] = (survival at weeks, median days, episode log score, patient log score
    per episode row)``; the patient score is counted once per patient.
    """
    cols = [weeks.index(w) for w in brier_weeks]
    days = np.asarray(brier_weeks, float) * DAYS_PER_WEEK
    pid = patient_groups(train)
    rows = []
    for k in np.unique(fold):
        te = (fold == k) & keep_episode
        tr_rows, te_rows = train[fold != k], train[te]
        surv_all = np.hstack([preds[m][0][te][:, cols] for m in preds])
        brier = _expected_brier(tr_rows, te_rows, surv_all, np.tile(days, len(preds)))
        first = ~pd.Series(pid[te]).duplicated().to_numpy()
        for m_i, (model, (_, med, ep_ls, pat_ls)) in enumerate(preds.items()):
            c, _ = concordance_interval(
                te_rows["dur_lower_days"], te_rows["dur_upper_days"], med[te]
            )
            bs = brier[m_i * len(days) : (m_i + 1) * len(days)]
            rows.append(
                {
                    "model": model,
                    "fold": int(k),
                    "c_harrell_interval": c,
                    "integrated_brier": _integrate(days, bs),
                    "log_score_per_patient": float(pat_ls[te][first].mean()),
                    "log_score_per_episode": float(ep_ls[te].mean()),
                }
            )
    return pd.DataFrame(rows)


METRIC_UNITS = {
    "c_harrell_interval": "concordance of the predicted median (0.5 = chance)",
    "integrated_brier": "Brier score integrated over the weeks, Turnbull status (lower is better)",
    "log_score_per_patient": "mean log probability of a patient's observed intervals (nats)",
    "log_score_per_episode": "mean log probability of an episode's observed interval (nats)",
}


def _summary_rows(per_fold: pd.DataFrame, patients: str) -> list[dict]:
    rows = []
    for model, grp in per_fold.groupby("model", sort=False):
        for metric, unit in METRIC_UNITS.items():
            v = grp[metric].to_numpy(float)
            rows.append(
                {
                    "model": model,
                    "patients": patients,
                    "metric": metric,
                    "estimate": float(v.mean()),
                    "fold_sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                    "unit": unit,
                }
            )
    return rows


def _calibration_error_rows(calibration: pd.DataFrame) -> list[dict]:
    rows = []
    for (model, week), grp in calibration.groupby(["model", "week"], sort=False):
        err = (grp["observed"] - grp["predicted"]).abs()
        rows.append(
            {
                "model": model,
                "patients": ALL_PATIENTS,
                "metric": f"calibration_mean_abs_error_week_{week:g}",
                "estimate": float(err.mean()),
                "fold_sd": np.nan,
                "unit": "mean |observed - predicted S(t)| over the risk groups",
            }
        )
    return rows


def validate_new_patients(
    idata: az.InferenceData,
    family: str,
    spec: AdviceSpec,
    train: pd.DataFrame,
    cfg: ValidationConfig,
    seed: int,
    progress: ProgressFn | None = None,
    time_ratio: float = 1.0,
) -> AdviceValidation:
    """Calibration, C, integrated Brier and log score of the advice for new patients.

    Parameters
    ----------
    idata : InferenceData
        The stored fit (``posterior`` and per-patient ``log_likelihood``).
    family, spec : str, AdviceSpec
        The fitted model's family and covariate coding.
    train : DataFrame
        The fit's training episodes in the fit's order
        (:func:`analysis.advice.fit.training_episodes`).
    cfg : ValidationConfig
        Folds, weeks, risk groups, bootstrap replicates and the Pareto k threshold.
    seed : int
        Seed of the calibration bootstraps.
    time_ratio : float
        Multiplies the Bayesian model's predicted durations (1 = its own; see
        :func:`loo_predictions`).
    """
    start = time.perf_counter()
    weeks = tuple(sorted({*map(float, cfg.brier_weeks), *map(float, cfg.calibration_weeks)}))
    data = duration_data(train, spec)
    with step(progress, "leave-one-patient-out predictions (PSIS)"):
        loo = loo_predictions(idata, data, family, weeks, time_ratio=time_ratio)
    with step(progress, f"frequentist AFT, {cfg.folds} patient-grouped folds"):
        design = aft_design(train, spec)
        fold, aft_surv, aft_med, aft_ls = _aft_out_of_fold(train, family, design, cfg.folds, weeks)
    aft_patient = pd.Series(aft_ls).groupby(loo.patient_idx).transform("sum").to_numpy()
    preds = {
        BAYES: (
            loo.survival,
            loo.median_days,
            loo.episode_log_score,
            loo.patient_log_score[loo.patient_idx],
        ),
        FREQ: (aft_surv, aft_med, aft_ls, aft_patient),
    }
    influential = loo.pareto_k > cfg.pareto_k_max
    subsets = {
        ALL_PATIENTS: np.ones(len(train), dtype=bool),
        f"pareto_k<={cfg.pareto_k_max:g}": ~influential[loo.patient_idx],
    }
    rows: list[dict] = []
    counts = []
    with step(progress, "discrimination, Brier and log scores"):
        for name, keep in subsets.items():
            per_fold = _score_folds(train, fold, keep, preds, weeks, tuple(cfg.brier_weeks))
            new = _summary_rows(per_fold, name)
            rows += new
            n_pat = int(np.unique(loo.patient_idx[keep]).size)
            counts += [(n_pat, int(keep.sum()))] * len(new)
    with step(progress, "calibration by predicted-risk group"):
        calibration = _calibration(train, preds, weeks, cfg, seed)
    cal_rows = _calibration_error_rows(calibration)
    rows += cal_rows
    counts += [(data.n_patients, data.n_episodes)] * len(cal_rows)
    summary = pd.DataFrame(rows)
    summary["n_patients"] = [c[0] for c in counts]
    summary["n_episodes"] = [c[1] for c in counts]
    summary["method"] = summary["model"].map(
        {
            BAYES: f"{family}, patient frailty integrated (new patient); leave-one-patient-out "
            "by PSIS from the stored per-patient log-likelihood",
            FREQ: f"{family}, maximum likelihood, same design without frailty; refitted in "
            f"{cfg.folds} patient-grouped folds",
        }
    )
    summary = summary.sort_values(["patients", "metric"], kind="stable", ignore_index=True)
    return AdviceValidation(
        summary=summary,
        calibration=calibration,
        n_patients=data.n_patients,
        n_episodes=data.n_episodes,
        pareto_k_over_0_7=int((loo.pareto_k > 0.7).sum()),
        pareto_k_over_1=int((loo.pareto_k > 1.0).sum()),
        seconds=time.perf_counter() - start,
    )


def _calibration(
    train: pd.DataFrame,
    preds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    weeks: tuple[float, ...],
    cfg: ValidationConfig,
    seed: int,
) -> pd.DataFrame:
    """:func:`analysis.survival.cv.calibration_table` of each model's out-of-sample S(t)."""
    base = train[["region", "dur_lower_days", "dur_upper_days", "patient_key"]].reset_index(
        drop=True
    )
    tables = []
    for model, (surv, *_) in preds.items():
        frame = base.copy()
        for w in cfg.calibration_weeks:
            frame[f"pred_surv_week_{w:g}"] = surv[:, weeks.index(float(w))]
        table = calibration_table(
            frame,
            tuple(cfg.calibration_weeks),
            cfg.risk_groups,
            n_boot=cfg.calibration_bootstrap_replicates,
            seed=seed,
        )
        tables.append(table.assign(model=model))
    out = pd.concat(tables, ignore_index=True)
    return out[["model", *[c for c in out.columns if c != "model"]]]
