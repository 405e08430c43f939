"""Fit time and peak memory of the survival models at 10k, 100k and 1M episodes.

Every (model, size) runs in a fresh subprocess; peak memory is the growth of the process's
maximum resident set during the fit (``ru_maxrss`` after minus before). The clustered-variance
Cox fit is timed both ways, lifelines ``cluster_col`` and this project's vectorised sandwich, and
the ratio is printed (lifelines ``cluster_col`` is skipped at 1M: quadratic time).

Usage::

    python benchmarks/bench_survival.py [--sizes 10000 100000 1000000] \
        [--skip-lifelines-cluster-above 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

MODELS = (
    "turnbull",
    "weibull_aft",
    "lognormal_aft_clustered",
    "cox_lifelines",
    "cox_lifelines_cluster_col",
    "cox_fast_clustered",
)


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    """Clustered episodes (4 per patient): log-normal durations seen at visits, re-treatment."""
    rng = np.random.default_rng(seed)
    n_pat = max(n // 4, 1)
    pid = rng.integers(0, n_pat, n)
    x = rng.normal(size=(n, 6))
    u = rng.normal(0, 0.15, n_pat)[pid]
    t = np.exp(
        np.log(130)
        + x @ np.array([0.1, -0.05, 0.08, 0.0, -0.1, 0.03])
        + u
        + 0.21 * rng.normal(size=n)
    )
    visits = np.sort(rng.integers(10, 300, (n, 4)), axis=1).astype(float)
    k = (visits < t[:, None]).sum(1)
    lo = np.where(k > 0, visits[np.arange(n), np.maximum(k - 1, 0)], 0.0)
    up = np.where(k < 4, visits[np.arange(n), np.minimum(k, 3)], np.inf)
    up = np.where(up == lo, up + 1, up)
    retreat = t + rng.gamma(2.0, 15.0, n)
    cens = rng.uniform(60, 500, n)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    return df.assign(
        dur_lower_days=lo,
        dur_upper_days=up,
        retreat_days=np.minimum(retreat, cens).round(),
        retreat_event=retreat <= cens,
        patient_key=pid,
    )


def run_job(model: str, n: int) -> dict:
    from lifelines import CoxPHFitter, LogNormalAFTFitter, WeibullAFTFitter

    from analysis.survival import aft, cox
    from analysis.survival.nonparametric import fit_npmle

    df = make_data(n)
    cols = [f"x{i}" for i in range(6)]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    extra = {}
    if model == "turnbull":
        fit_npmle(df["dur_lower_days"].to_numpy(), df["dur_upper_days"].to_numpy(), tol=1e-7)
    elif model == "weibull_aft":
        d = df[cols + ["dur_lower_days", "dur_upper_days"]].assign(
            dur_lower_days=lambda d: d["dur_lower_days"].clip(lower=1e-3)
        )
        WeibullAFTFitter().fit_interval_censoring(d, "dur_lower_days", "dur_upper_days")
    elif model == "lognormal_aft_clustered":
        d = df[cols + ["dur_lower_days", "dur_upper_days"]].assign(
            dur_lower_days=lambda d: d["dur_lower_days"].clip(lower=1e-3)
        )
        f = LogNormalAFTFitter().fit_interval_censoring(d, "dur_lower_days", "dur_upper_days")
        t1 = time.perf_counter()
        aft.clustered_covariance(f, "lognormal", d, df["patient_key"].to_numpy())
        extra["sandwich_s"] = time.perf_counter() - t1
    elif model == "cox_lifelines":
        CoxPHFitter().fit(
            df[cols + ["retreat_days", "retreat_event"]], "retreat_days", "retreat_event"
        )
    elif model == "cox_lifelines_cluster_col":
        CoxPHFitter().fit(
            df[cols + ["retreat_days", "retreat_event", "patient_key"]],
            "retreat_days",
            "retreat_event",
            cluster_col="patient_key",
        )
    elif model == "cox_fast_clustered":
        r = cox.fit_cox(df, "retreat_days", "retreat_event", cols, cluster_col="patient_key")
        t1 = time.perf_counter()
        cox.clustered_covariance(
            df[cols].to_numpy(),
            df["retreat_days"].to_numpy(float),
            df["retreat_event"].to_numpy(bool),
            r.summary["coef"].to_numpy(),
            r.fitter.variance_matrix_.to_numpy(),
            df["patient_key"].to_numpy(),
        )
        extra["sandwich_s"] = time.perf_counter() - t1
    fit_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"model": model, "n": n, "fit_s": fit_s, "peak_mb": (peak - base) / 1024, **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--skip-lifelines-cluster-above", type=int, default=100_000)
    ap.add_argument("--job", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        print(json.dumps(run_job(args.job[0], int(args.job[1]))))
        return 0
    rows = []
    for n in args.sizes:
        for model in args.models:
            if model == "cox_lifelines_cluster_col" and n > args.skip_lifelines_cluster_above:
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--job", model, str(n)], capture_output=True, text=True
            )
            if out.returncode != 0:
                print(f"{model} at {n}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{model:28s} n={n:>9,d}  fit {row['fit_s']:8.2f} s  peak +{row['peak_mb']:8.0f} MB"
                + (f"  (sandwich {row['sandwich_s']:.3f} s)" if "sandwich_s" in row else ""),
                flush=True,
            )
    table = pd.DataFrame(rows)
    print("\n" + table.round(3).to_string(index=False))
    wide = table.pivot(index="n", columns="model", values="fit_s")
    if {"cox_lifelines_cluster_col", "cox_fast_clustered"} <= set(wide.columns):
        ratio = (wide["cox_lifelines_cluster_col"] / wide["cox_fast_clustered"]).dropna()
        for n, r in ratio.items():
            print(
                f"clustered Cox at n={n:,}: lifelines cluster_col / fast sandwich "
                f"(both incl. fit) = {r:.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
