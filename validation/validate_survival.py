"""Coverage and bias of the interval-censored log-normal AFT model over replicate simulated cohorts.

Each replicate simulates a cohort with the project's simulator (params.yaml, a different seed),
runs the real ``prepare`` step, fits the log-normal AFT with region-specific dose slopes and
patient-clustered standard errors, and records whether each 95% interval covers the truth.
Also records the Turnbull glabella median against the median of the latent durations.

Usage::

    python validation/validate_survival.py --replicates 100 --n-patients 1500 [--out results.csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import load_params, with_overrides
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.pseudonym import pseudonymise
from analysis.simulator.cohort import simulate_cohort, write_cohort
from analysis.simulator.config import SimConfig
from analysis.survival.aft import fit_aft
from analysis.survival.covariates import duration_frame, make_spec
from analysis.survival.nonparametric import fit_npmle, median_days

KEY = b"validation-key-not-secret-0123456789"


def truth_table(truth: dict, regions: tuple[str, ...]) -> pd.Series:
    d = truth["duration"]
    out = pd.Series(d["log_coefficients"], dtype=float)
    lm = d["log_median_days_reference"]
    for r in regions[1:]:
        out[f"region_{r}"] = lm[r] - lm[regions[0]]
    out["Intercept"] = lm[regions[0]]
    out["log_sigma"] = np.log(d["total_sd"])
    return out


def one_replicate(params: dict, seed: int) -> tuple[pd.DataFrame, dict]:
    cohort = simulate_cohort(SimConfig.from_params(params, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        write_cohort(cohort, Path(tmp) / "raw")
        episodes = prepare(Path(tmp) / "raw", PrepareConfig.from_params(params), key=KEY).episodes
    df = duration_frame(episodes)
    spec = make_spec(df, "glabella", "ona", 1.0, region_slopes=True)
    fit = fit_aft(df, "lognormal", spec)
    s = fit.summary.copy()
    s["term"] = np.where(s["parameter"] == "mu_", s["term"], "log_sigma")
    s = s.set_index("term")
    truth = truth_table(cohort.truth, spec.regions).reindex(s.index)
    out = pd.DataFrame(
        {
            "seed": seed,
            "estimate": s["coef"],
            "se": s["se_robust"],
            "truth": truth,
            "covered": (s["coef_lower"] <= truth) & (truth <= s["coef_upper"]),
        }
    )
    latent = cohort.truth_tables["episodes"][["episode_id", "latent_duration_days"]].copy()
    latent["episode_key"] = pseudonymise(latent["episode_id"], KEY, "episode").to_numpy()
    gl = df[df["region"] == "glabella"].merge(latent, on="episode_key")
    med = median_days(fit_npmle(gl["dur_lower_days"], gl["dur_upper_days"], kkt_tol=1e-8))[0]
    extra = {
        "seed": seed,
        "turnbull_median": med,
        "latent_median": float(gl["latent_duration_days"].median()),
        "n_episodes": len(df),
    }
    return out.reset_index(), extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--n-patients", type=int, default=1500)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--seed", type=int, default=None, help="first seed (default: params seed + 1)")
    ap.add_argument(
        "--out", type=Path, default=None, help="optional CSV of every replicate estimate"
    )
    args = ap.parse_args(argv)
    params = with_overrides(load_params(args.params), {"simulate.n_patients": args.n_patients})
    first = args.seed if args.seed is not None else int(params["seed"]) + 1
    rows, extras = [], []
    t0 = time.time()
    for k in range(args.replicates):
        try:
            r, e = one_replicate(params, first + k)
        except Exception as exc:  # report, do not hide, a failed replicate
            print(f"replicate {k} (seed {first + k}) failed: {exc}", file=sys.stderr)
            continue
        rows.append(r)
        extras.append(e)
        if (k + 1) % 10 == 0:
            print(f"  {k + 1} replicates, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    res = pd.concat(rows, ignore_index=True)
    if args.out:
        res.to_csv(args.out, index=False)
    table = res.groupby("term").agg(
        truth=("truth", "first"),
        mean_estimate=("estimate", "mean"),
        bias=("estimate", lambda x: 0.0),
        coverage=("covered", "mean"),
        mean_se=("se", "mean"),
        sd_estimate=("estimate", "std"),
        n=("covered", "size"),
    )
    table["bias"] = table["mean_estimate"] - table["truth"]
    table["se_ratio"] = table["mean_se"] / table["sd_estimate"]
    mc = 1.96 * np.sqrt(0.95 * 0.05 / table["n"])
    pd.set_option("display.width", 160)
    print(
        f"\nLog-normal AFT, {len(extras)} replicates x {args.n_patients} patients "
        f"(mean {np.mean([e['n_episodes'] for e in extras]):.0f} episodes), "
        f"{time.time() - t0:.0f} s"
    )
    print(f"Nominal 95%; Monte-Carlo band for coverage +/- {mc.iloc[0]:.3f}\n")
    print(table.round(4).to_string())
    print(
        f"\nOverall coverage: {res['covered'].mean():.3f}; parameters outside 93-97%: "
        f"{int(((table['coverage'] < 0.93) | (table['coverage'] > 0.97)).sum())} of {len(table)}"
    )
    ex = pd.DataFrame(extras)
    rel = (ex["turnbull_median"] - ex["latent_median"]) / ex["latent_median"]
    print(
        f"Turnbull glabella median vs latent median: mean relative error {rel.mean():+.4f}, "
        f"SD {rel.std():.4f}, max |error| {rel.abs().max():.4f}, "
        f"share within 5% {(rel.abs() < 0.05).mean():.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
