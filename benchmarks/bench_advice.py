"""Timings of the advice model: NUTS fits by cohort size, the 1M-episode strategy, advice latency.

Jobs (each prints its figures and a comparison against a baseline measured in the same run):

- ``fit``: nutpie NUTS on synthetic cohorts of ``--patients`` sizes (log-normal family,
  ``--chains`` x ``--draws``); reports compile and sampling seconds and seconds per 1k episodes
  (baseline: the smallest cohort).
- ``scale``: the 1M-episode strategy. Builds a synthetic cohort of ``--episodes`` episodes,
  fits NUTS on a seeded subsample of ``--subsample`` patients (what `fit-advice` does with
  ``advice.max_train_patients``: the advice needs only the population posterior, and the
  frailty of any patient is integrated at advice time from their own history), times one
  gradient of the full-data model (the cost of a NUTS leapfrog step or an ADVI iteration on
  all episodes) and, with ``--advi-iters N``, tries mean-field ADVI on all episodes.
  Prints the subsample estimates against the generating truth.
- ``advise``: latency of one advice without history (baseline), with a 3-episode history,
  and batch throughput.
- ``loglik``: the cost of one log-density-and-gradient evaluation of the advice model (what
  each NUTS leapfrog step pays) on a synthetic cohort of ``--patients`` patients, per family:
  the compiled likelihood Op (:mod:`analysis.survival.interval_op`, what the model uses) beside
  the elementwise PyTensor graph with automatic differentiation (the previous method); and the
  per-patient log-likelihood with the frailty integrated (what PSIS-LOO needs) for ``--draws``
  draws: the compiled loop beside the NumPy form it replaced.

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
    PYTHONPATH=. .venv/bin/python benchmarks/bench_advice.py --job fit --patients 500 2000
    PYTHONPATH=. .venv/bin/python benchmarks/bench_advice.py --job scale --episodes 1000000 \
        --subsample 5000
    PYTHONPATH=. .venv/bin/python benchmarks/bench_advice.py --job advise
    PYTHONPATH=. .venv/bin/python benchmarks/bench_advice.py --job loglik --patients 5000 \
        --draws 1000
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from analysis.advice.config import AdviceStudyConfig, PriorConfig
from analysis.advice.fit import population_posterior, subsample_patients
from analysis.advice.model import build_duration_model, duration_data
from analysis.advice.spec import spec_from_vocabulary, with_trained_ranges
from analysis.config import load_params
from analysis.inference import diagnostics_table
from analysis.validation.advice_synthetic import synthetic_episodes

SEED = 20261124


def _nuts(
    episodes: pd.DataFrame, spec, priors: PriorConfig, chains: int, draws: int
) -> tuple[dict, object]:
    import nutpie

    data = duration_data(episodes, with_trained_ranges(spec, episodes))
    t0 = time.perf_counter()
    model = build_duration_model(data, priors, "lognormal")
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    t1 = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=draws,
        chains=chains,
        cores=2,
        seed=SEED,
        progress_bar=False,
        target_accept=0.9,
    )
    t2 = time.perf_counter()
    diag = diagnostics_table(idata, ["mu_region", "beta", "sigma", "tau"])
    return {
        "episodes": data.n_episodes,
        "patients": data.n_patients,
        "compile_s": t1 - t0,
        "sample_s": t2 - t1,
        "min_ess_bulk": diag["ess_bulk"].min(),
        "max_rhat": diag["r_hat"].max(),
    }, idata


def job_fit(args, spec, priors: PriorConfig) -> None:
    rows = []
    for n in args.patients:
        episodes, _, _ = synthetic_episodes(spec, n, seed=SEED)
        row, _ = _nuts(episodes, spec, priors, args.chains, args.draws)
        row["sample_s_per_1k_episodes"] = row["sample_s"] / row["episodes"] * 1000
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    out = pd.DataFrame(rows)
    out["ratio_vs_smallest"] = (
        out["sample_s_per_1k_episodes"] / out["sample_s_per_1k_episodes"].iloc[0]
    )
    print("\nNUTS (nutpie) by cohort size:\n" + out.to_string(index=False))


def _truth_vector(truth, spec) -> pd.Series:
    vals = {f"beta[{c}]": truth.beta[c] for c in spec.covariate_names}
    vals.update(sigma=truth.sigma, tau=truth.tau)
    return pd.Series(vals)


def _estimates(post) -> pd.Series:
    spec_names = post["beta"].coords["covariate"].values
    vals = {f"beta[{c}]": float(post["beta"].sel(covariate=c).mean()) for c in spec_names}
    vals.update(sigma=float(post["sigma"].mean()), tau=float(post["tau"].mean()))
    return pd.Series(vals)


def job_scale(args, spec, priors: PriorConfig) -> None:
    import pymc as pm

    n_patients = int(args.episodes / 3.5)  # the generator gives 3.5 episodes per patient on average
    t0 = time.perf_counter()
    episodes, truth, _ = synthetic_episodes(spec, n_patients, seed=SEED)
    print(
        f"generated {len(episodes)} episodes of {n_patients} patients in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    truth_vec = _truth_vector(truth, spec)

    sub = subsample_patients(episodes, args.subsample, SEED)
    row, idata = _nuts(sub, spec, priors, args.chains, args.draws)
    nuts_est = _estimates(population_posterior(idata, 1000, SEED))
    print(f"NUTS on a {args.subsample}-patient subsample: {row}")

    data = duration_data(episodes, with_trained_ranges(spec, episodes))
    t1 = time.perf_counter()
    model = build_duration_model(data, priors, "lognormal")
    dlogp = model.compile_dlogp()
    point = model.initial_point()
    t2 = time.perf_counter()
    dlogp(point)
    t3 = time.perf_counter()
    for _ in range(3):
        dlogp(point)
    grad_s = (time.perf_counter() - t3) / 3
    print(
        f"full data: {data.n_episodes} episodes, {data.n_patients} frailties; build+compile "
        f"{t2 - t1:.1f} s; one gradient {grad_s:.3f} s (C backend) -> NUTS 2 chains x 1000 "
        "iterations at tree depth 5 (31 steps, as on the demo) ~ "
        f"{grad_s * 31 * 2000 / 3600:.1f} h "
        f"on one core, vs {row['compile_s'] + row['sample_s']:.0f} s for the subsample fit"
    )
    cmp = pd.DataFrame({"truth": truth_vec, "nuts_subsample": nuts_est})
    cmp["nuts_abs_err"] = (cmp["nuts_subsample"] - cmp["truth"]).abs()
    if args.advi_iters:
        import pymc as pm

        t4 = time.perf_counter()
        try:
            with model, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                approx = pm.fit(
                    n=args.advi_iters,
                    method="advi",
                    random_seed=SEED,
                    progressbar=False,
                    obj_optimizer=pm.adam(learning_rate=0.005),
                )
                advi_idata = approx.sample(1000, random_seed=SEED)
            advi_s = time.perf_counter() - t4
            cmp["advi_full"] = _estimates(advi_idata.posterior.stack(sample=("chain", "draw")))
            cmp["advi_abs_err"] = (cmp["advi_full"] - cmp["truth"]).abs()
            print(f"ADVI on all episodes: {args.advi_iters} iterations in {advi_s:.1f} s")
        except FloatingPointError as exc:
            print(
                f"ADVI on all episodes failed after {time.perf_counter() - t4:.1f} s: "
                f"{str(exc).splitlines()[0]}"
            )
    print(
        "\nPopulation estimates against the generating truth:\n"
        + cmp.to_string(float_format=lambda x: f"{x:.4f}")
    )
    print(f"\nmean abs error of the NUTS subsample fit: {cmp['nuts_abs_err'].mean():.4f}")


def job_advise(args, spec, config) -> None:
    from analysis.advice.advise import AdviceRequest, PastEpisode, advise
    from analysis.advice.predict import PosteriorDraws
    from analysis.validation.advice_synthetic import default_truth

    truth = default_truth(spec)
    rng = np.random.default_rng(SEED)
    s = config.advice_draws
    episodes, _, _ = synthetic_episodes(spec, 300, seed=SEED)
    jitter = lambda n: 1 + 0.02 * rng.standard_normal(n)  # noqa: E731 - a posterior-like spread
    draws = PosteriorDraws(
        family="lognormal",
        spec=with_trained_ranges(spec, episodes),
        mu_region=np.array([truth.mu_region[r] for r in spec.regions])[None, :] * jitter((s, 1)),
        beta=np.array([truth.beta[c] for c in spec.covariate_names])[None, :] * jitter((s, 1)),
        sigma=truth.sigma * jitter(s),
        tau=truth.tau * jitter(s),
    )
    req = AdviceRequest("glabella", "ona", 20, 2, 12, "F", 45)
    hist = tuple(PastEpisode("glabella", "ona", 20, lo, lo + 30) for lo in (90, 100, 110))
    timings = {}
    for name, r in (
        ("no history", req),
        ("3-episode history", AdviceRequest(**{**req.__dict__, "history": hist})),
    ):
        advise(r, draws, config, n_nodes=config.quadrature_nodes)  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            advise(r, draws, config, n_nodes=config.quadrature_nodes)
        timings[name] = (time.perf_counter() - t0) / args.repeats
    base = timings["no history"]
    for name, sec in timings.items():
        print(
            f"advise ({name}, {s} draws, {config.quadrature_nodes} nodes): {sec * 1000:.1f} ms "
            f"per call ({sec / base:.1f}x the no-history baseline)"
        )
    print(
        f"batch throughput (no history): {1 / base:.0f} patients/s; with history: "
        f"{1 / timings['3-episode history']:.0f} patients/s"
    )


def _logp_dlogp_ms(model, repeats: int) -> tuple[float, float]:
    """Compile seconds and milliseconds per log-density-and-gradient call (Numba, one core)."""
    from pymc.blocking import DictToArrayBijection

    t0 = time.perf_counter()
    fn = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    fn.set_extra_values({})
    point = model.initial_point()
    x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    x = x + 0.01 * np.random.default_rng(SEED).standard_normal(x.size)
    fn(x)
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return compile_s, (time.perf_counter() - t1) / repeats * 1000


def _numpy_patient_loglik(post, data, family: str, n_nodes: int = 21) -> np.ndarray:
    """The per-patient frailty-integrated log-likelihood in NumPy (the replaced form)."""
    from scipy import special

    from analysis.advice.predict import frailty_grid
    from analysis.survival.families import interval_loglik

    z, w = frailty_grid(n_nodes)
    order = np.argsort(data.patient_idx, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(data.patient_idx[order])) + 1]
    x, ridx = data.X[order], data.region_idx[order]
    out = []
    for s in range(post["sigma"].size):
        eta = (
            post["mu_region"][s][ridx]
            + x @ post["beta"][s]
            + post["dose_region"][s][ridx] * x[:, 0]
        )
        loc = eta[None, :] + post["tau"][s] * z[:, None]
        ll = interval_loglik(
            data.lower_days[order], data.upper_days[order], loc, post["sigma"][s], family
        )
        out.append(
            special.logsumexp(np.add.reduceat(ll, starts, axis=1) + np.log(w)[:, None], axis=0)
        )
    return np.array(out)


def job_loglik(args, spec, priors: PriorConfig) -> None:
    import arviz as az
    import xarray as xr

    from analysis.advice.fit import patient_marginal_loglik
    from analysis.survival.families import pt_interval_loglik_graph

    episodes, truth, _ = synthetic_episodes(spec, args.patients[0], seed=SEED)
    data = duration_data(episodes, with_trained_ranges(spec, episodes))
    print(f"{data.n_episodes} episodes of {data.n_patients} patients")
    rows = []
    for family in ("lognormal", "weibull", "loglogistic"):
        row = {"family": family}
        for name, loglik in (("op", None), ("graph", pt_interval_loglik_graph)):
            kw = {} if loglik is None else {"loglik": loglik}
            model = build_duration_model(data, priors, family, **kw)
            row[f"{name}_compile_s"], row[f"{name}_ms"] = _logp_dlogp_ms(model, args.repeats)
        row["graph_over_op"] = row["graph_ms"] / row["op_ms"]
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    print(
        "\nlog density + gradient per call (one core):\n"
        + pd.DataFrame(rows).to_string(index=False)
    )
    rng = np.random.default_rng(SEED)
    n = args.draws
    post = {
        "mu_region": np.array([truth.mu_region[r] for r in spec.regions])
        + 0.01 * rng.standard_normal((n, len(spec.regions))),
        "beta": np.array([truth.beta[c] for c in spec.covariate_names])
        + 0.01 * rng.standard_normal((n, len(spec.covariate_names))),
        "dose_region": 0.01 * rng.standard_normal((n, len(spec.regions))),
        "sigma": truth.sigma * (1 + 0.02 * rng.standard_normal(n)),
        "tau": truth.tau * (1 + 0.02 * rng.standard_normal(n)),
    }
    dims = {
        "mu_region": ["region"],
        "beta": ["covariate"],
        "dose_region": ["region"],
        "sigma": [],
        "tau": [],
    }
    idata = az.InferenceData(
        posterior=xr.Dataset({k: (["chain", "draw", *dims[k]], v[None]) for k, v in post.items()})
    )
    for family in ("lognormal", "weibull"):
        patient_marginal_loglik(idata.isel(draw=slice(0, 2)), data, family)  # compile
        t0 = time.perf_counter()
        new = patient_marginal_loglik(idata, data, family).values[0]
        t1 = time.perf_counter()
        old = _numpy_patient_loglik(post, data, family)
        t2 = time.perf_counter()
        print(
            f"per-patient log-likelihood, {family}, {n} draws: compiled {t1 - t0:.1f} s (all "
            f"cores), NumPy {t2 - t1:.1f} s (one thread): max abs difference "
            f"{np.abs(new - old).max():.1e}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--job", choices=["fit", "scale", "advise", "loglik"], required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--patients", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--subsample", type=int, default=5000)
    parser.add_argument("--advi-iters", type=int, default=0, help="0 = skip ADVI")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    cfg = AdviceStudyConfig.from_params(load_params(args.params))
    spec = spec_from_vocabulary(cfg.vocabulary, cfg.model.dose_knot_log2)
    if args.job == "fit":
        job_fit(args, spec, cfg.advice.priors)
    elif args.job == "scale":
        job_scale(args, spec, cfg.advice.priors)
    elif args.job == "loglik":
        job_loglik(args, spec, cfg.advice.priors)
    else:
        job_advise(args, spec, cfg.advice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
