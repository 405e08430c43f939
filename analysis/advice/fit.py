"""Fitting the duration models: one NUTS fit per family, LOO comparison, diagnostics gate.

Each candidate family is sampled (nutpie by default, :func:`analysis.inference.sample`) on a
seeded patient subsample and held to the same diagnostics gate as the final fit; each patient's
log-likelihood with the frailty integrated out (:func:`patient_marginal_loglik`) feeds PSIS-LOO.
The family with the highest expected log predictive density is chosen only when every
comparison fit passed the gate; otherwise the comparison table says the comparison is not
trustworthy and ``advice.default_family`` is used. The Pareto k diagnostics of every fit are
counted in the table (ArviZ's warnings about them are not printed). The chosen family is
refitted on all training patients and gated: a failure raises
:class:`~analysis.errors.ConvergenceError`.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import arviz as az
import numba
import numpy as np
import pandas as pd
import xarray as xr

from analysis.advice.config import AdviceConfig
from analysis.advice.model import DurationData, build_duration_model, duration_data
from analysis.advice.predict import frailty_grid
from analysis.advice.spec import AdviceSpec, with_trained_ranges
from analysis.errors import ConvergenceError
from analysis.inference import check_convergence, diagnostics_table, n_divergences, sample
from analysis.progress import ProgressFn, step
from analysis.survival.families import interval_loglik
from analysis.survival.interval_op import FAMILY_CODE, coded_bounds, observation_loglik

#: Parameters shared by every patient (what the advice needs and the gate checks).
POPULATION_VARS: list[str] = ["mu_region", "beta", "dose_sd", "dose_region", "sigma", "tau"]
#: Parameters the diagnostics gate checks (all population parameters).
GATED_VARS: list[str] = POPULATION_VARS
#: The gate's figures shown beside each comparison fit (model_comparison.csv: compare_<key>).
GATE_SUMMARY = ("max_rhat", "min_ess_bulk", "min_ess_tail")
#: ArviZ's warning when some Pareto k are large: counted in the comparison table instead.
PARETO_K_WARNING = r"Estimated shape parameter of Pareto distribution is greater than"


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
    ``stored_draws`` and stacked to a ``sample`` dimension: what the advice uses. ``idata`` is
    the same draws as an ArviZ InferenceData (``chain``, ``draw``) with ``sample_stats`` and
    ``log_likelihood`` (``duration``: each training patient's log-likelihood, frailty
    integrated; patients numbered, never keyed): what is stored. ``summary`` has one row a
    parameter.
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
    idata: az.InferenceData | None = None


#: free variables that start at their initial point (0) in every chain (see fit_family)
UNJITTERED = ("beta", "dose_region")


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
    Each observation's term is the compiled likelihood's
    (:func:`analysis.survival.interval_op.observation_loglik`, as the sampler's).
    """
    post = idata.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    flat = lambda v: post[v].values.reshape(n_chain * n_draw, *post[v].shape[2:])  # noqa: E731
    mu, beta, sigma, tau = flat("mu_region"), flat("beta"), flat("sigma"), flat("tau")
    dose = flat("dose_region")
    z, w = frailty_grid(n_nodes)
    order = np.argsort(data.patient_idx, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(data.patient_idx[order])) + 1, order.size]
    coded = coded_bounds(data.lower_days[order], data.upper_days[order])
    region_idx, X = data.region_idx[order], data.X[order]
    out = np.empty((n_chain * n_draw, data.n_patients))
    code, log_w = FAMILY_CODE[family], np.log(w)

    def fill(start: int) -> None:
        sl = slice(start, min(start + chunk, out.shape[0]))
        # (s, E), episodes sorted by patient
        eta = mu[sl][:, region_idx] + beta[sl] @ X.T + dose[sl][:, region_idx] * X[:, 0]
        for j, s in enumerate(range(sl.start, sl.stop)):
            _quadrature_loglik(eta[j], sigma[s], tau[s], z, log_w, *coded, starts, code, out[s])

    # chunks of draws on every core (the compiled loop releases the GIL); each chunk writes
    # its own rows, so the result does not depend on the scheduling
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(fill, range(0, n_chain * n_draw, chunk)))
    return xr.DataArray(
        out.reshape(n_chain, n_draw, data.n_patients),
        dims=("chain", "draw", "patient"),
        name="duration",
    )


@numba.njit(nogil=True, cache=True)
def _quadrature_loglik(
    eta, sigma, tau, nodes, log_weights, log_lower, log_upper, kind, starts, family, out
) -> None:
    """``out[p] = log sum_k w_k prod_{e in p} p(y_e | eta_e + tau z_k)`` for each patient
    ``p`` (episodes ``starts[p]:starts[p + 1]``), one posterior draw."""
    inv_sigma = 1.0 / sigma
    log_sigma = math.log(sigma)
    per_node = np.empty(nodes.size)
    for p in range(starts.size - 1):
        per_node[:] = log_weights
        for e in range(starts[p], starts[p + 1]):
            for k in range(nodes.size):
                per_node[k] += observation_loglik(
                    eta[e] + tau * nodes[k],
                    inv_sigma,
                    log_sigma,
                    log_lower[e],
                    log_upper[e],
                    kind[e],
                    family,
                )[0]
        top = per_node.max()
        out[p] = top + math.log(np.exp(per_node - top).sum())


def fit_family(
    data: DurationData, config: AdviceConfig, family: str, seed: int, with_loo: bool = True
) -> FamilyFit:
    """Sample one family's model; with ``with_loo`` add per-patient log-likelihood and LOO."""
    start = time.perf_counter()
    model = build_duration_model(data, config.priors, family)
    # coefficients start at 0 (no effect) in every chain: jittered, they sent Weibull chains
    # of the demo's comparison fit to log-likelihoods of -1e11 (R-hat 3-4.6)
    idata = sample(model, config.sampler, seed, unjittered=UNJITTERED)
    seconds = time.perf_counter() - start
    loo = None
    if with_loo:
        ll = patient_marginal_loglik(idata, data, family)
        idata.add_groups(log_likelihood=xr.Dataset({"duration": ll}))
        loo = patient_loo(idata, informative_patients(idata))
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
    k = np.asarray(loo.pareto_k) if loo is not None else None
    diag["pareto_k_over_0.7"] = int((k > 0.7).sum()) if k is not None else None
    diag["pareto_k_over_1"] = int((k > 1.0).sum()) if k is not None else None
    return FamilyFit(family, idata, loo, diag, error, seconds)


@contextmanager
def _quiet_loo() -> Iterator[None]:
    """Filters for PSIS-LOO: ArviZ's large-k warning (the k are counted in the comparison
    table) and NumPy's warnings for patients certain under every draw (constant log weights:
    PSIS divides by their zero spread, harmlessly)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PARETO_K_WARNING, category=UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def comparison_table(fits: dict[str, FamilyFit]) -> pd.DataFrame:
    """LOO comparison, best first: elpd, its SE, difference to the best and its SE, whether
    each comparison fit passed the gate, and its counts of patients with Pareto k > 0.7 and
    > 1 (PSIS-LOO unreliable for them; > 1: the estimate may be badly biased)."""
    # the same patients for every family (those informative in all)
    with_ll = {f: fit for f, fit in fits.items() if fit.loo is not None}
    keep = informative_patients(*(fit.idata for fit in with_ll.values()))
    loos = {f: patient_loo(fit.idata, keep) for f, fit in with_ll.items()}
    with _quiet_loo():
        cmp = az.compare(loos, ic="loo")
    out = cmp.reset_index(names="family")[
        ["family", "rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight"]
    ]
    out = out.rename(columns={"se": "elpd_se", "dse": "elpd_diff_se"})
    out["compare_fit_passed_gate"] = [fits[f].diagnostics["passed"] for f in out["family"]]
    for key in GATE_SUMMARY:
        out[f"compare_{key}"] = [fits[f].diagnostics[key] for f in out["family"]]
    out["pareto_k_over_0_7"] = [fits[f].diagnostics["pareto_k_over_0.7"] for f in out["family"]]
    out["pareto_k_over_1"] = [fits[f].diagnostics["pareto_k_over_1"] for f in out["family"]]
    return out


def choose_family(comparison: pd.DataFrame, default: str) -> tuple[str, str]:
    """The family to refit and why: the best by ELPD-LOO when every comparison fit passed the
    diagnostics gate, else ``default`` (a comparison of unconverged fits is not evidence)."""
    failed = comparison.loc[~comparison["compare_fit_passed_gate"].astype(bool), "family"]
    if len(failed):
        return default, (
            f"stated default (advice.default_family): comparison fits of {', '.join(failed)} "
            "failed the diagnostics gate, so the comparison is not trustworthy"
        )
    if "elpd_loo" in comparison and not np.isfinite(comparison["elpd_loo"]).all():
        undefined = comparison.loc[~np.isfinite(comparison["elpd_loo"]), "family"]
        return default, (
            f"stated default (advice.default_family): PSIS-LOO of {', '.join(undefined)} is "
            "undefined, so the comparison is not trustworthy"
        )
    return str(comparison["family"].iloc[0]), "highest ELPD-LOO; every comparison fit passed"


def thinned(idata: az.InferenceData, n_draws: int) -> az.InferenceData:
    """Population parameters and sample stats, every k-th draw of each chain so that at most
    ``n_draws`` remain (chains kept, so that R-hat and ESS can be recomputed)."""
    total = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    k = int(np.ceil(total / n_draws)) if n_draws < total else 1
    keep = slice(None, None, k)
    groups = {"posterior": _clean(idata.posterior[POPULATION_VARS].isel(draw=keep))}
    if "sample_stats" in idata.groups():
        groups["sample_stats"] = _clean(idata.sample_stats.isel(draw=keep))
    return az.InferenceData(**groups)


def _clean(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {}
    for var in ds.data_vars:
        ds[var].attrs = {}
    return ds


def stacked(posterior: xr.Dataset) -> xr.Dataset:
    """A (chain, draw) posterior stacked to ``sample`` = 0..S-1 (chain-major; ``sample`` is
    each variable's last dimension, as :func:`parameter_summary` and the advice expect)."""
    post = posterior.stack(sample=("chain", "draw"))
    post = post.drop_vars(["chain", "draw", "sample"]).assign_coords(
        sample=np.arange(post.sizes["sample"])
    )
    post.attrs = {}
    return post


def population_posterior(idata: az.InferenceData, n_draws: int) -> xr.Dataset:
    """Population parameters stacked to a ``sample`` dimension, thinned to ``n_draws``."""
    return stacked(thinned(idata, n_draws).posterior)


def stored_idata(
    idata: az.InferenceData, data: DurationData, family: str, n_draws: int
) -> tuple[az.InferenceData, np.ndarray]:
    """What is stored of the final fit: :func:`thinned` draws with ``log_likelihood`` per
    patient (frailty integrated), and the patients' Pareto k of PSIS-LOO."""
    out = thinned(idata, n_draws)
    ll = patient_marginal_loglik(out, data, family)
    out.add_groups(log_likelihood=xr.Dataset({"duration": ll}))
    loo = patient_loo(out, informative_patients(out))
    return out, np.asarray(loo.pareto_k)


#: A patient whose log-likelihood varies by less than this over the draws carries no
#: information on the parameters (e.g. only an interval so wide that its probability is 1 to
#: machine precision): its LOO term is its constant log-likelihood, and PSIS on a constant
#: returns an infinite k and an undefined estimate, so such patients are left out of PSIS.
UNINFORMATIVE_SPREAD = 1e-9


def informative_patients(*idatas: az.InferenceData) -> np.ndarray:
    """Patients whose log-likelihood varies over the draws in every one of ``idatas``."""
    keep = None
    for idata in idatas:
        ll = idata.log_likelihood["duration"]
        spread = (ll.max(("chain", "draw")) - ll.min(("chain", "draw"))).values
        ok = spread >= UNINFORMATIVE_SPREAD
        keep = ok if keep is None else keep & ok
    assert keep is not None
    return keep


def patient_loo(idata: az.InferenceData, keep: np.ndarray) -> az.ELPDData:
    """PSIS-LOO over the ``keep`` patients (pointwise; ArviZ's k warnings not printed)."""
    sub = az.InferenceData(
        posterior=idata.posterior,
        log_likelihood=idata.log_likelihood.isel(patient=np.flatnonzero(keep)),
    )
    with _quiet_loo():
        return az.loo(sub, var_name="duration", pointwise=True)


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


def training_episodes(episodes: pd.DataFrame, config: AdviceConfig, seed: int) -> pd.DataFrame:
    """The episodes the final fit is trained on, in the order that numbers its patients.

    Those in the duration analysis (``in_duration_analysis``) of at most
    ``config.max_train_patients`` seeded patients (:func:`subsample_patients`); the stored
    log-likelihood numbers the patients by first appearance in this table.
    """
    if "in_duration_analysis" in episodes.columns:
        episodes = episodes[episodes["in_duration_analysis"].astype(bool)]
    return subsample_patients(episodes, config.max_train_patients, seed)


def fit_duration_models(
    episodes: pd.DataFrame,
    spec: AdviceSpec,
    config: AdviceConfig,
    seed: int,
    progress: ProgressFn | None = None,
) -> AdviceFit:
    """Compare the families by LOO on a patient subsample, refit the chosen one on all, gate it.

    Every family in ``config.families`` is sampled with ``config.compare_sampler`` on the
    episodes of ``config.compare_patients`` seeded patients and held to the gate; the family
    with the highest ELPD-LOO (or ``config.default_family`` if a comparison fit failed the
    gate: :func:`choose_family`) is refitted with ``config.sampler`` on
    ``config.max_train_patients`` patients (``None`` = all) and must pass the diagnostics gate.
    ``progress`` receives one line per finished fit.

    Raises
    ------
    ConvergenceError
        If the final fit of the chosen family fails the diagnostics gate.
    """
    train = training_episodes(episodes, config, seed)
    spec = with_trained_ranges(spec, train)
    data = duration_data(train, spec)
    if len(config.families) == 1:  # nothing to compare: one fit, no LOO
        best = config.families[0]
        final = fit_family(data, config, best, seed, with_loo=False)
        fits = {best: final}
        comparison = _single_comparison(fits)
        comparison.insert(1, "n_episodes", data.n_episodes)
        reason = "the only family in advice.families"
    else:
        compare = subsample_patients(train, config.compare_patients, seed + 1)
        compare_data = duration_data(compare, spec)
        compare_config = replace(config, sampler=config.compare_sampler)
        fits = {}
        for k, fam in enumerate(config.families):
            fits[fam] = fit_family(compare_data, compare_config, fam, seed + k)
            _report(
                progress, f"family comparison {k + 1}/{len(config.families)} ({fam})", fits[fam]
            )
        comparison = comparison_table(fits)
        comparison.insert(1, "n_episodes", compare_data.n_episodes)
        best, reason = choose_family(comparison, config.default_family)
        final = fit_family(data, config, best, seed + len(fits), with_loo=False)
    _report(progress, f"final fit ({best}, {data.n_patients} patients)", final)
    comparison["comparison_trustworthy"] = not reason.startswith("stated default")
    comparison["chosen"] = comparison["family"] == best
    comparison["choice"] = reason
    if final.gate_error:
        raise ConvergenceError(final.gate_error)
    with step(progress, "per-patient log-likelihood and PSIS-LOO of the final fit"):
        idata, pareto_k = stored_idata(final.idata, data, best, config.stored_draws)
    diagnostics = {
        **final.diagnostics,
        "pareto_k_over_0.7": int((pareto_k > 0.7).sum()),
        "pareto_k_over_1": int((pareto_k > 1.0).sum()),
    }
    post = stacked(idata.posterior)
    return AdviceFit(
        family=best,
        spec=spec,
        posterior=post,
        fits=fits,
        comparison=comparison,
        summary=parameter_summary(post, spec),
        diagnostics=diagnostics,
        n_episodes=data.n_episodes,
        n_patients=data.n_patients,
        final=final,
        train_patient_keys=tuple(np.sort(train["patient_key"].unique())),
        idata=idata,
    )


def _report(progress: ProgressFn | None, what: str, fit: FamilyFit) -> None:
    if progress is not None:
        d = fit.diagnostics
        gate = (
            "passed the gate"
            if fit.gate_error is None
            else f"FAILED the gate: max R-hat {d['max_rhat']:.3f}, min ESS bulk "
            f"{d['min_ess_bulk']:.0f}, tail {d['min_ess_tail']:.0f}"
        )
        progress(f"{what} done, {gate} ({fit.seconds:.0f} s)")


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
                **{f"compare_{key}": fit.diagnostics[key] for key in GATE_SUMMARY},
                "pareto_k_over_0_7": fit.diagnostics["pareto_k_over_0.7"],
                "pareto_k_over_1": fit.diagnostics["pareto_k_over_1"],
            }
        ]
    )
