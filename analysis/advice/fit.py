"""Fitting the duration models: one NUTS fit per family, LOO comparison, diagnostics gate.

Each candidate family is sampled (nutpie by default, :func:`analysis.inference.sample`);
its pointwise log-likelihood (one value per episode, computed in NumPy from the posterior draws
with :func:`analysis.survival.families.interval_loglik`) feeds PSIS-LOO. The family with the
highest expected log predictive density is chosen, and only then gated: if its R-hat, ESS or
divergences fail, :class:`~analysis.errors.ConvergenceError` stops the stage.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from analysis.advice.config import AdviceConfig
from analysis.advice.model import DurationData, build_duration_model, duration_data
from analysis.advice.predict import frailty_grid
from analysis.advice.spec import AdviceSpec, with_trained_ranges
from analysis.errors import ConvergenceError
from analysis.inference import check_convergence, diagnostics_table, n_divergences, sample
from analysis.survival.families import interval_loglik

#: Parameters shared by every patient (what the advice needs and the gate checks).
POPULATION_VARS: list[str] = ["mu_region", "beta", "dose_sd", "dose_region", "sigma", "tau"]
#: Parameters the diagnostics gate checks (all population parameters).
GATED_VARS: list[str] = POPULATION_VARS


@dataclass(frozen=True)
class FamilyFit:
    """One family's fit: posterior, pointwise LOO and diagnostics."""

    family: str
    idata: az.InferenceData
    loo: az.ELPDData | None
    diagnostics: dict
    gate_error: str | None
    seconds: float


@dataclass(frozen=True)
class AdviceFit:
    """Result of :func:`fit_duration_models`.

    ``posterior`` holds only the population parameters (no patient frailties), thinned to
    ``stored_draws``: it is what `bonta advise` loads. ``summary`` has one row a parameter.
    """

    family: str
    spec: AdviceSpec
    posterior: xr.Dataset
    fits: dict[str, FamilyFit]
    comparison: pd.DataFrame
    summary: pd.DataFrame
    diagnostics: dict
    n_episodes: int
    n_patients: int
    final: FamilyFit | None = None
    train_patient_keys: tuple[str, ...] = ()  # in memory only (validation); never written


def pointwise_loglik(idata: az.InferenceData, data: DurationData, family: str) -> xr.DataArray:
    """Log-likelihood of every episode at every draw given its patient's frailty draw.

    Shape (chain, draw, episode). Conditional on the fitted frailties: used for checks, not
    for LOO (see :func:`patient_marginal_loglik`).
    """
    post = idata.posterior
    mu = post["mu_region"].values  # (c, d, R)
    beta = post["beta"].values  # (c, d, P)
    dose = post["dose_region"].values  # (c, d, R)
    sigma = post["sigma"].values[..., None]
    u = post["tau"].values[..., None] * post["z_patient"].values  # (c, d, N)
    eta = (
        mu[..., data.region_idx]
        + beta @ data.X.T
        + dose[..., data.region_idx] * data.X[:, 0]
        + u[..., data.patient_idx]
    )
    ll = interval_loglik(data.lower_days, data.upper_days, eta, sigma, family)
    return xr.DataArray(ll, dims=("chain", "draw", "episode"), name="duration")


def patient_marginal_loglik(
    idata: az.InferenceData, data: DurationData, family: str, n_nodes: int = 21, chunk: int = 25
) -> xr.DataArray:
    """log p(all episodes of patient i | population draw), frailty integrated out.

    Shape (chain, draw, patient). The frailty is integrated on a standard-normal grid of
    ``n_nodes`` points over +-6 (:func:`analysis.advice.predict.frailty_grid`; the trapezoid
    rule on this smooth integrand has relative error ~exp(-2 pi^2 s^2 / h^2), < 1e-3 for a
    frailty posterior sd s >= 0.4 prior sd at spacing h = 0.6). PSIS-LOO on these values
    estimates how well each family predicts a *new patient*'s durations, which is the advice
    use case; per-episode LOO conditional on the fitted frailties was unreliable in trials
    (many Pareto k > 0.7: each frailty is driven by the patient's one or two episodes).
    """
    post = idata.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    flat = lambda v: post[v].values.reshape(n_chain * n_draw, *post[v].shape[2:])  # noqa: E731
    mu, beta, sigma, tau = flat("mu_region"), flat("beta"), flat("sigma"), flat("tau")
    dose = flat("dose_region")
    z, w = frailty_grid(n_nodes)
    order = np.argsort(data.patient_idx, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(data.patient_idx[order])) + 1]
    lower, upper = data.lower_days[order], data.upper_days[order]
    region_idx, X = data.region_idx[order], data.X[order]
    out = np.empty((n_chain * n_draw, data.n_patients))
    for start in range(0, n_chain * n_draw, chunk):
        sl = slice(start, start + chunk)
        # (s, E), episodes sorted by patient
        eta = mu[sl][:, region_idx] + beta[sl] @ X.T + dose[sl][:, region_idx] * X[:, 0]
        loc = eta[:, None, :] + tau[sl, None, None] * z[None, :, None]  # (s, K, E)
        ll = interval_loglik(lower, upper, loc, sigma[sl, None, None], family)
        per_patient = np.add.reduceat(ll, starts, axis=2)  # (s, K, N)
        m = per_patient.max(axis=1, keepdims=True)
        out[sl] = m[:, 0, :] + np.log(np.einsum("k,skn->sn", w, np.exp(per_patient - m)))
    return xr.DataArray(
        out.reshape(n_chain, n_draw, data.n_patients),
        dims=("chain", "draw", "patient"),
        name="duration",
    )


def fit_family(
    data: DurationData, config: AdviceConfig, family: str, seed: int, with_loo: bool = True
) -> FamilyFit:
    """Sample one family's model; with ``with_loo`` add per-patient log-likelihood and LOO."""
    start = time.perf_counter()
    model = build_duration_model(data, config.priors, family)
    idata = sample(model, config.sampler, seed)
    seconds = time.perf_counter() - start
    loo = None
    if with_loo:
        ll = patient_marginal_loglik(idata, data, family)
        idata.add_groups(log_likelihood=xr.Dataset({"duration": ll}))
        with warnings.catch_warnings():
            # patients certain under every draw give constant log-weights; PSIS divides by
            # their zero spread and warns, harmlessly
            warnings.simplefilter("ignore", RuntimeWarning)
            loo = az.loo(idata, var_name="duration")
    try:
        diag = check_convergence(idata, f"advice-{family}", config.gate, var_names=GATED_VARS)
        error = None
    except ConvergenceError as exc:
        table = diagnostics_table(idata, GATED_VARS)
        diag = {
            "model": f"advice-{family}",
            "max_rhat": float(table["r_hat"].max()),
            "min_ess_bulk": float(table["ess_bulk"].min()),
            "min_ess_tail": float(table["ess_tail"].min()),
            "divergences": n_divergences(idata),
            "passed": False,
        }
        error = str(exc)
    diag["sampling_seconds"] = seconds
    diag["pareto_k_over_0.7"] = (
        int((np.asarray(loo.pareto_k) > 0.7).sum()) if loo is not None else None
    )
    return FamilyFit(family, idata, loo, diag, error, seconds)


def comparison_table(fits: dict[str, FamilyFit]) -> pd.DataFrame:
    """LOO comparison, best first: elpd, its SE, difference to the best and its SE."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cmp = az.compare({f: fit.idata for f, fit in fits.items()}, ic="loo", var_name="duration")
    out = cmp.reset_index(names="family")[
        ["family", "rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight"]
    ]
    out = out.rename(columns={"se": "elpd_se", "dse": "elpd_diff_se"})
    out["compare_fit_passed_gate"] = [fits[f].diagnostics["passed"] for f in out["family"]]
    out["pareto_k_over_0_7"] = [fits[f].diagnostics["pareto_k_over_0.7"] for f in out["family"]]
    return out


def population_posterior(idata: az.InferenceData, n_draws: int, seed: int) -> xr.Dataset:
    """Population parameters stacked to a ``sample`` dimension, thinned to ``n_draws``."""
    post = idata.posterior[POPULATION_VARS].stack(sample=("chain", "draw"))
    total = post.sizes["sample"]
    if n_draws < total:
        keep = np.sort(np.random.default_rng(seed).choice(total, n_draws, replace=False))
        post = post.isel(sample=keep)
    post = post.drop_vars(["chain", "draw", "sample"]).assign_coords(
        sample=np.arange(post.sizes["sample"])
    )
    post.attrs = {}
    return post


def parameter_summary(post: xr.Dataset, spec: AdviceSpec) -> pd.DataFrame:
    """One row a population parameter: mean, sd, 2.5/50/97.5% and, for beta, the time ratio."""
    rows = []

    def add(name: str, values: np.ndarray, kind: str) -> None:
        q = np.quantile(values, [0.025, 0.5, 0.975])
        row = {
            "parameter": name,
            "kind": kind,
            "mean": values.mean(),
            "sd": values.std(ddof=1),
            "q2_5": q[0],
            "median": q[1],
            "q97_5": q[2],
        }
        if kind == "coefficient":
            tr = np.quantile(np.exp(values), [0.025, 0.5, 0.975])
            row.update(time_ratio=tr[1], time_ratio_lower=tr[0], time_ratio_upper=tr[2])
        rows.append(row)

    for i, region in enumerate(spec.regions):
        add(f"mu_region[{region}]", post["mu_region"].values[i], "log_days")
    for i, cov in enumerate(spec.covariate_names):
        add(f"beta[{cov}]", post["beta"].values[i], "coefficient")
    for i, region in enumerate(spec.regions):
        add(f"dose_region[{region}]", post["dose_region"].values[i], "dose_slope_deviation")
    add("dose_sd", post["dose_sd"].values, "dose_slope_sd")
    add("sigma", post["sigma"].values, "scale")
    add("tau", post["tau"].values, "frailty_sd")
    return pd.DataFrame(rows)


def subsample_patients(episodes: pd.DataFrame, max_patients: int | None, seed: int) -> pd.DataFrame:
    """All episodes of at most ``max_patients`` randomly chosen patients (seeded)."""
    if max_patients is None:
        return episodes
    keys = episodes["patient_key"].unique()  # first-appearance order: the data's, not the key's
    if len(keys) <= max_patients:
        return episodes
    keep = np.random.default_rng(seed).choice(keys, int(max_patients), replace=False)
    return episodes[episodes["patient_key"].isin(keep)]


def fit_duration_models(
    episodes: pd.DataFrame, spec: AdviceSpec, config: AdviceConfig, seed: int
) -> AdviceFit:
    """Compare the families by LOO on a patient subsample, refit the best on all, gate it.

    Every family in ``config.families`` is sampled with ``config.compare_sampler`` on the
    episodes of ``config.compare_patients`` seeded patients; the family with the highest
    ELPD-LOO is refitted with ``config.sampler`` on ``config.max_train_patients`` patients
    (``None`` = all) and must pass the diagnostics gate.

    Raises
    ------
    ConvergenceError
        If the final fit of the chosen family fails the diagnostics gate.
    """
    if "in_duration_analysis" in episodes.columns:
        episodes = episodes[episodes["in_duration_analysis"].astype(bool)]
    train = subsample_patients(episodes, config.max_train_patients, seed)
    spec = with_trained_ranges(spec, train)
    data = duration_data(train, spec)
    if len(config.families) == 1:  # nothing to compare: one fit, no LOO
        best = config.families[0]
        final = fit_family(data, config, best, seed, with_loo=False)
        fits = {best: final}
        comparison = _single_comparison(fits)
        comparison.insert(1, "n_episodes", data.n_episodes)
    else:
        compare = subsample_patients(train, config.compare_patients, seed + 1)
        compare_data = duration_data(compare, spec)
        compare_config = replace(config, sampler=config.compare_sampler)
        fits = {
            fam: fit_family(compare_data, compare_config, fam, seed + k)
            for k, fam in enumerate(config.families)
        }
        comparison = comparison_table(fits)
        comparison.insert(1, "n_episodes", compare_data.n_episodes)
        best = str(comparison["family"].iloc[0])
        final = fit_family(data, config, best, seed + len(fits), with_loo=False)
    if final.gate_error:
        raise ConvergenceError(final.gate_error)
    post = population_posterior(final.idata, config.stored_draws, seed)
    return AdviceFit(
        family=best,
        spec=spec,
        posterior=post,
        fits=fits,
        comparison=comparison,
        summary=parameter_summary(post, spec),
        diagnostics=final.diagnostics,
        n_episodes=data.n_episodes,
        n_patients=data.n_patients,
        final=final,
        train_patient_keys=tuple(np.sort(train["patient_key"].unique())),
    )


def _single_comparison(fits: dict[str, FamilyFit]) -> pd.DataFrame:
    ((fam, fit),) = fits.items()
    loo = fit.loo
    return pd.DataFrame(
        [
            {
                "family": fam,
                "rank": 0,
                "elpd_loo": loo.elpd_loo if loo is not None else np.nan,
                "elpd_se": loo.se if loo is not None else np.nan,
                "elpd_diff": 0.0,
                "elpd_diff_se": 0.0,
                "p_loo": loo.p_loo if loo is not None else np.nan,
                "weight": 1.0,
                "compare_fit_passed_gate": fit.diagnostics["passed"],
                "pareto_k_over_0_7": fit.diagnostics["pareto_k_over_0.7"],
            }
        ]
    )
