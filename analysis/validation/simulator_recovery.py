"""Validation of the demo-cohort simulator against its own truth (a script, not a stage).

Checks that a nonparametric interval-censored estimate (the Turnbull NPMLE of
:func:`analysis.survival.nonparametric.fit_npmle`, stopped on its optimality conditions and
checked against lifelines and R in tests/survival) of each region's median duration, computed
from intervals derived the way docs/ARCHITECTURE.md prescribes, recovers the median of the
latent durations, over several seeds; and times the simulator at a large size. Prints figures;
asserts nothing (the tests do).

Run (from the repository root)::

    .venv/bin/python -m analysis.validation.simulator_recovery --seeds 5 [--use-reported]
    .venv/bin/python -m analysis.validation.simulator_recovery --seeds 0 --timing-patients 250000
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import load_params
from analysis.simulator.cohort import SimulatedCohort, simulate_cohort
from analysis.simulator.config import SimConfig
from analysis.survival.nonparametric import fit_npmle, median_days


def derive_intervals(
    cohort: SimulatedCohort, use_reported: bool = False, tolerance_days: float = 14.0
) -> pd.DataFrame:
    """Duration intervals per episode from the raw tables (docs/ARCHITECTURE.md rules).

    Rows filed under a touch-up's ``episode_id`` belong to its episode (the simulator's truth
    says which); days count from the episode's first injection.

    ``lower`` = last visit day with severity < baseline before ``upper`` (0 if none);
    ``upper`` = first visit day with severity >= baseline (inf if none). Episodes with
    baseline severity 0 are dropped ("back to baseline" undefined). With ``use_reported`` a
    patient-reported wear-off day within ``tolerance_days`` of the visit interval replaces it
    by an exact time ``(r, r]``; without it (the stricter check) reports are ignored.
    """
    truth = cohort.truth_tables["episodes"]
    tr = cohort.treatments[["episode_id", "treatment_date", "baseline_severity", "region"]]
    tr = tr.loc[tr["episode_id"].isin(truth["episode_id"])]  # touch-up rows join their episode
    filed = truth.dropna(subset=["touchup_episode_id"])
    parent = dict(zip(filed["touchup_episode_id"], filed["episode_id"], strict=True))
    assessments = cohort.assessments.assign(
        episode_id=cohort.assessments["episode_id"].replace(parent)
    )
    a = assessments.merge(tr, on="episode_id")
    a = a.loc[a["severity"].notna()].copy()
    a["day"] = (a["assessment_date"] - a["treatment_date"]).dt.days.astype(float)
    worn = a["severity"].astype(float) >= a["baseline_severity"]
    upper = a.loc[worn].groupby("episode_id")["day"].min()
    a["upper"] = a["episode_id"].map(upper).fillna(np.inf)
    lower = a.loc[~worn & (a["day"] < a["upper"])].groupby("episode_id")["day"].max()
    ep = tr.set_index("episode_id")[["region", "baseline_severity"]].copy()
    ep["lower"] = lower.reindex(ep.index).fillna(0.0)
    ep["upper"] = upper.reindex(ep.index).fillna(np.inf)
    if use_reported:
        rep = assessments.dropna(subset=["reported_wearoff_date"]).merge(tr, on="episode_id")
        r = (
            (rep["reported_wearoff_date"] - rep["treatment_date"])
            .dt.days.astype(float)
            .set_axis(rep["episode_id"])
            .groupby(level=0)
            .min()
            .reindex(ep.index)
        )
        ok = r.notna() & (r >= ep["lower"] - tolerance_days) & (r <= ep["upper"] + tolerance_days)
        ep.loc[ok, "lower"] = r[ok]
        ep.loc[ok, "upper"] = r[ok]
    return ep.loc[ep["baseline_severity"] > 0]


def turnbull_median(lower: pd.Series, upper: pd.Series) -> float:
    """Median of the Turnbull NPMLE (interpolated between knots, as the survival stage reports).

    Until 3 December 2026 this was lifelines' ``fit_interval_censoring``: 40 s for the demo's
    5,608 glabella episodes against 0.6 s here. Its median (the knot where S first reaches 0.5)
    was 136.0 days there against 132.5 here, the latent median 136.2 (params.yaml seed 20261124)."""
    fit = fit_npmle(lower.clip(lower=1e-3).to_numpy(float), upper.to_numpy(float))
    if not fit.converged:
        raise RuntimeError(f"Turnbull NPMLE did not converge (KKT violation {fit.kkt_violation})")
    return float(median_days(fit)[0])


def median_recovery(
    cohort: SimulatedCohort, regions: list[str], use_reported: bool = False
) -> pd.DataFrame:
    """Turnbull median vs latent median per region for one cohort."""
    ep = derive_intervals(cohort, use_reported=use_reported)
    latent = cohort.truth_tables["episodes"].set_index("episode_id")["latent_duration_days"]
    rows = []
    for region in regions:
        g = ep.loc[ep["region"] == region]
        true_median = float(latent.loc[g.index].median())
        est = turnbull_median(g["lower"], g["upper"])
        rows.append(
            {
                "region": region,
                "n_episodes": len(g),
                "latent_median_days": true_median,
                "turnbull_median_days": est,
                "relative_error": est / true_median - 1,
                "share_right_censored": float(np.isinf(g["upper"]).mean()),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-patients", type=int, default=None)
    parser.add_argument("--regions", nargs="+", default=["glabella", "forehead", "crows_feet"])
    parser.add_argument(
        "--use-reported",
        action="store_true",
        help="use patient-reported wear-off dates as exact times",
    )
    parser.add_argument(
        "--timing-patients",
        type=int,
        default=0,
        help="also time one simulation of this many patients",
    )
    args = parser.parse_args(argv)
    params = load_params(args.params)
    base = SimConfig.from_params(params, n_patients=args.n_patients)
    results = []
    for k in range(args.seeds):
        cohort = simulate_cohort(dataclasses.replace(base, seed=base.seed + k))
        results.append(
            median_recovery(cohort, args.regions, args.use_reported).assign(seed_offset=k)
        )
    if results:
        res = pd.concat(results, ignore_index=True)
        pd.set_option("display.width", 160)
        print(res.round(4).to_string(index=False))
        agg = res.groupby("region")["relative_error"].agg(["mean", "std", "min", "max"])
        print("\nrelative error of the Turnbull median vs the latent median, over seeds:")
        print(agg.round(4).to_string())
    if args.timing_patients:
        t0 = time.perf_counter()
        cohort = simulate_cohort(SimConfig.from_params(params, n_patients=args.timing_patients))
        elapsed = time.perf_counter() - t0
        print(
            f"\ntiming: {args.timing_patients:,} patients -> {len(cohort.treatments):,} episodes, "
            f"{len(cohort.assessments):,} assessments in {elapsed:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
