"""Fit times of the survival engine beside R's, on the study's real design, at 10k/100k/1M.

Data: the demo cohort's processed episodes (``--episodes``) resampled by patient (with
replacement; each draw a new patient, all its episodes kept) to about 10k, 100k and 1M
episodes. Design: the study's AFT design (9 region and 4 product indicators, 6 patient terms,
2 dose-spline terms: 22 columns with the intercept, 23 parameters with log sigma) on the
duration-analysis episodes; the same 21 covariates for the Cox model of time to re-treatment.

Jobs, each in a fresh process, timed around the fit only (data already in memory):

* ``aft_<family>``: :func:`analysis.survival.aft.fit_matrix` (Newton-Raphson + clustered
  sandwich) against R ``survreg(Surv(l, u, type = "interval2") ~ ., dist, cluster = pid)``
  (its default tolerance; it computes its robust variance too), for every family.
* ``cox``: :func:`analysis.survival.cox.fit_cox` (Newton-Raphson on the Efron partial
  likelihood + the vectorised clustered sandwich) against R ``coxph(..., cluster = pid,
  ties = "efron")`` and lifelines ``CoxPHFitter(cluster_col=...)`` (both quadratic in n:
  skipped above ``--cluster-max``).
* ``turnbull_bootstrap``: the 1,000-replicate patient bootstrap of the Turnbull NPMLE for
  every stratum level of the study (region, product, exercise tier, muscle bulk) on the demo
  cohort itself, as the stage runs it; the previous EM/SQUAREM implementation took 291 s of
  the stage's 338 s (issue 13).

Prints one table with ours, R's (or lifelines') time and the ratio, and peak memory growth.

Usage::

    .venv/bin/python benchmarks/bench_survival.py [--sizes 10000 100000 1000000]
        [--episodes data/processed/episodes.parquet] [--cluster-max 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FAMILIES = ("weibull", "lognormal", "loglogistic")
R_DIST = {"weibull": "weibull", "lognormal": "lognormal", "loglogistic": "loglogistic"}


def resample(episodes: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Whole patients drawn with replacement until about ``n`` episodes; new patient ids."""
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(episodes["patient_key"])
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 2))
    per = np.diff(starts)
    draws = rng.integers(0, per.size, int(1.1 * n / per.mean()) + 10)
    keep = draws[: np.searchsorted(np.cumsum(per[draws]), n) + 1]
    rows = np.concatenate([order[starts[p] : starts[p + 1]] for p in keep])
    out = episodes.iloc[rows].reset_index(drop=True)
    out["patient_key"] = np.repeat(np.arange(keep.size), per[keep])
    return out


def write_designs(episodes: pd.DataFrame, n: int, workdir: Path) -> dict:
    """AFT and Cox designs of a resample as Parquet (ours) and CSV (R)."""
    from analysis.survival.aft import design_with_intercept
    from analysis.survival.covariates import design_matrix, duration_frame, make_spec

    ep = resample(episodes, n, seed=n)
    dur = duration_frame(ep)
    x, names = design_with_intercept(dur, make_spec(dur, "glabella", "ona", 1.0))
    aft = pd.DataFrame(x[:, 1:], columns=[f"x{k}" for k in range(1, len(names))])
    aft["l"], aft["u"] = dur["dur_lower_days"].to_numpy(), dur["dur_upper_days"].to_numpy()
    aft["pid"] = dur["patient_key"].to_numpy()
    aft = aft[~((aft["l"] <= 0) & np.isinf(aft["u"]))].reset_index(drop=True)
    rt = ep[ep["retreat_days"] > 0].reset_index(drop=True)
    xc = design_matrix(rt, make_spec(rt, "glabella", "ona", 1.0))
    cox = pd.DataFrame(xc.to_numpy(), columns=[f"x{k}" for k in range(1, xc.shape[1] + 1)])
    cox["time"], cox["event"] = rt["retreat_days"].to_numpy(), rt["retreat_event"].astype(int)
    cox["pid"] = rt["patient_key"].to_numpy()
    aft.to_parquet(workdir / f"aft_{n}.parquet")
    cox.to_parquet(workdir / f"cox_{n}.parquet")
    r_aft = aft.assign(l=aft["l"].where(aft["l"] > 0), u=aft["u"].where(np.isfinite(aft["u"])))
    r_aft.to_csv(workdir / f"aft_{n}.csv", index=False, na_rep="NA", float_format="%.17g")
    cox.to_csv(workdir / f"cox_{n}.csv", index=False, float_format="%.17g")
    return {"aft_rows": len(aft), "cox_rows": len(cox), "params_aft": x.shape[1] + 1}


def run_job(job: str, n: int, workdir: Path) -> dict:
    """One timed fit in this process."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict = {}
    if job.startswith("aft_"):
        from analysis.survival.aft import fit_matrix

        d = pd.read_parquet(workdir / f"aft_{n}.parquet")
        xcols = [c for c in d.columns if c.startswith("x")]
        x = np.column_stack([np.ones(len(d)), d[xcols].to_numpy()])
        t0 = time.perf_counter()
        fit = fit_matrix(
            x,
            ["Intercept", *xcols],
            d["l"].to_numpy(),
            d["u"].to_numpy(),
            d["pid"].to_numpy(),
            job[4:],
        )
        out["seconds"] = time.perf_counter() - t0
        out["iterations"] = fit.convergence.iterations
        out["max_abs_gradient"] = fit.convergence.max_abs_gradient
    elif job in ("cox", "cox_lifelines_cluster_col"):
        d = pd.read_parquet(workdir / f"cox_{n}.parquet").astype({"event": bool})
        xcols = [c for c in d.columns if c.startswith("x")]
        t0 = time.perf_counter()
        if job == "cox":
            from analysis.survival.cox import fit_cox

            fit_cox(d, "time", "event", xcols, cluster_col="pid")
        else:
            from lifelines import CoxPHFitter

            CoxPHFitter().fit(d, "time", "event", cluster_col="pid")
        out["seconds"] = time.perf_counter() - t0
    elif job == "turnbull_bootstrap":
        out.update(_turnbull_bootstrap(workdir))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"job": job, "n": n, "peak_mb": (peak - base) / 1024, **out}


def _turnbull_bootstrap(workdir: Path) -> dict:
    from analysis.survival.covariates import duration_frame
    from analysis.survival.nonparametric import turnbull_by

    df = duration_frame(pd.read_parquet(workdir / "episodes.parquet"))
    turnbull_by(df.iloc[:200], "region", n_boot=20, seed=1, min_episodes=1)  # compile / load
    t0 = time.perf_counter()
    worst, levels = 0.0, 0
    for k, var in enumerate(("region", "product", "exercise_tier", "muscle_bulk")):
        res, _ = turnbull_by(df, var, n_boot=1000, seed=1000 * k)
        levels += len(res)
        worst = max(
            worst, *(float(r.summary["boot_kkt_violation_max"].iloc[0]) for r in res.values())
        )
    return {"seconds": time.perf_counter() - t0, "levels": levels, "max_kkt_violation": worst}


R_AFT = """
suppressMessages(library(survival))
d <- read.csv("aft_{n}.csv")
xs <- grep("^x", names(d), value = TRUE)
form <- as.formula(paste("Surv(l, u, type = 'interval2') ~", paste(xs, collapse = " + ")))
t0 <- proc.time()[["elapsed"]]
f <- survreg(form, data = d, dist = "{dist}", cluster = pid)
cat(proc.time()[["elapsed"]] - t0, "\\n")
"""
R_COX = """
suppressMessages(library(survival))
d <- read.csv("cox_{n}.csv")
xs <- grep("^x", names(d), value = TRUE)
form <- as.formula(paste("Surv(time, event) ~", paste(xs, collapse = " + ")))
t0 <- proc.time()[["elapsed"]]
f <- coxph(form, data = d, ties = "efron", cluster = pid)
cat(proc.time()[["elapsed"]] - t0, "\\n")
"""


def r_seconds(rscript: str, script: str, workdir: Path) -> float:
    from analysis.validation.r_tools import run_r

    return float(run_r(rscript, script, workdir).split()[-1])


def python_job(job: str, n: int, workdir: Path) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--job", job, str(n), str(workdir)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{job} at {n} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--episodes", type=Path, default=Path("data/processed/episodes.parquet"))
    ap.add_argument(
        "--cluster-max",
        type=int,
        default=100_000,
        help="largest n for R coxph cluster() and lifelines cluster_col (both quadratic in n)",
    )
    ap.add_argument("--skip-turnbull", action="store_true")
    ap.add_argument("--job", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        print(json.dumps(run_job(args.job[0], int(args.job[1]), Path(args.job[2]))))
        return 0
    from analysis.validation.r_tools import RUnavailable, ensure_r, r_versions

    try:
        rscript = ensure_r()
        print(r_versions(rscript), flush=True)
    except RUnavailable as exc:
        print(f"bench_survival: {exc}; R columns left empty", file=sys.stderr)
        rscript = None
    episodes = pd.read_parquet(args.episodes)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        episodes.to_parquet(workdir / "episodes.parquet")
        if not args.skip_turnbull:
            r = python_job("turnbull_bootstrap", len(episodes), workdir)
            rows.append({**r, "reference": "previous EM/SQUAREM (issue 13)", "ref_seconds": 291.0})
            print(rows[-1], flush=True)
        for n in args.sizes:
            info = write_designs(episodes, n, workdir)
            print(f"n={n:,}: {info}", flush=True)
            for fam in FAMILIES:
                r = python_job(f"aft_{fam}", n, workdir)
                ref = (
                    r_seconds(rscript, R_AFT.format(n=n, dist=R_DIST[fam]), workdir)
                    if rscript
                    else np.nan
                )
                rows.append(
                    {
                        **r,
                        "rows": info["aft_rows"],
                        "reference": "R survreg cluster()",
                        "ref_seconds": ref,
                    }
                )
                print(rows[-1], flush=True)
            r = python_job("cox", n, workdir)
            refs = []
            if n <= args.cluster_max and rscript:
                refs.append(("R coxph cluster()", r_seconds(rscript, R_COX.format(n=n), workdir)))
            if n <= args.cluster_max:
                refs.append(
                    (
                        "lifelines cluster_col",
                        python_job("cox_lifelines_cluster_col", n, workdir)["seconds"],
                    )
                )
            for name, ref in refs or [("(skipped: quadratic)", np.nan)]:
                rows.append({**r, "rows": info["cox_rows"], "reference": name, "ref_seconds": ref})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["ratio_ours_to_ref"] = table["seconds"] / table["ref_seconds"]
    cols = [
        "job",
        "n",
        "rows",
        "seconds",
        "reference",
        "ref_seconds",
        "ratio_ours_to_ref",
        "peak_mb",
    ]
    pd.set_option("display.width", 200)
    print("\n" + table.reindex(columns=cols).to_string(index=False, float_format="%.3g"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
