"""Touch-ups end to end against the simulator's truth (issue 14): simulate, prepare, fit.

For each seed: simulate the cohort (params.yaml, optionally fewer patients), run ``prepare``
(touch-ups folded into their episodes), then

* check that the derived touch-ups are exactly the simulated ones;
* fit the stage's interval-censored AFT (family by AIC, dose-slope test) and compare the
  touch-up time ratio (at the same total dose) with ``simulate.duration.touchup``;
* fit the touch-up rate model of ``fit_complications`` and count how often the 95% credible
  intervals of region, clinic and injector rates contain the true expected rate (the mean true
  touch-up probability of the same episodes), and whether the first-dose odds ratio covers
  ``exp(simulate.touchup.dose_logit_per_doubling)``.

Prints one line per seed and a JSON summary; asserts nothing (the tests do).

    .venv/bin/python validation/validate_touchups.py --seeds 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.complications.config import ComplicationsConfig
from analysis.complications.touchups import eligible, fit_touchup_rates, touchup_tables
from analysis.config import load_params
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.pseudonym import pseudonymise
from analysis.simulator.cohort import simulate_cohort, write_cohort
from analysis.simulator.config import SimConfig
from analysis.survival.config import SurvivalStudyConfig
from analysis.survival.covariates import duration_frame
from analysis.survival.study import regression_results
from analysis.vocabulary import Vocabulary

KEY = b"validate-touchups"


def _truth_by_episode(cohort, episodes: pd.DataFrame) -> pd.DataFrame:
    truth = cohort.truth_tables["episodes"]
    truth = truth.assign(episode_key=pseudonymise(truth["episode_id"], KEY, "episode"))
    cols = ["episode_key", "touchup", "touchup_prob"]
    return episodes.merge(truth[cols], on="episode_key", suffixes=("", "_true"), validate="1:1")


def _coverage(table: pd.DataFrame, truth: pd.DataFrame, key: str) -> tuple[int, int, list]:
    """Intervals containing the truth, intervals, and the standardised errors of the misses
    ((posterior mean - truth) / (interval width / 3.92); regions by name)."""
    true = truth.groupby(key)["touchup_prob"].mean().reindex(table[key]).to_numpy()
    lo, hi = table["rate_lower"].to_numpy(), table["rate_upper"].to_numpy()
    inside = (lo <= true) & (true <= hi)
    z = (table["rate_mean"].to_numpy() - true) / ((hi - lo) / 3.92)
    names = table[key].tolist() if key == "region" else [""] * len(table)
    missed = [f"{n}{z[i]:+.2f}" for i, n in enumerate(names) if not inside[i]]
    return int(inside.sum()), len(table), missed


def one_seed(params: dict, seed: int, n_patients: int | None) -> dict:
    t0 = time.perf_counter()
    sim = SimConfig.from_params(params, n_patients=n_patients)
    cohort = simulate_cohort(dataclasses.replace(sim, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        write_cohort(cohort, Path(tmp))
        prepared = prepare(Path(tmp), PrepareConfig.from_params(params), key=KEY)
    ep = _truth_by_episode(cohort, prepared.episodes)
    reg = regression_results(
        duration_frame(prepared.episodes), SurvivalStudyConfig.from_params(params)
    )
    tr = reg.time_ratios.set_index("term").loc["touchup"]
    config = ComplicationsConfig.from_params(params)
    study = fit_touchup_rates(prepared.episodes, config, Vocabulary.from_params(params), seed)
    tables = touchup_tables(study, config)
    used = ep.loc[eligible(ep, config.touchup.min_followup_days).to_numpy()]
    odds = tables.odds_ratios.set_index("term").loc["first dose (per doubling of relative dose)"]
    true_or = float(np.exp(params["simulate"]["touchup"]["dose_logit_per_doubling"]))
    out = {
        "seed": seed,
        "episodes": len(ep),
        "touchups": int(ep["touchup"].sum()),
        "derived_equals_simulated": bool((ep["touchup"] == ep["touchup_true"]).all()),
        "family": reg.family,
        "touchup_time_ratio": [
            float(tr.time_ratio),
            float(tr.time_ratio_lower),
            float(tr.time_ratio_upper),
        ],
        "true_time_ratio": float(np.exp(params["simulate"]["duration"]["touchup"])),
        "first_dose_or": [float(odds["mean"]), float(odds["lower"]), float(odds["upper"])],
        "true_first_dose_or": true_or,
        "seconds": 0.0,
    }
    for level in ("region", "clinic", "injector"):
        out[f"{level}_covered"] = _coverage(getattr(tables, f"rates_by_{level}"), used, level)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--n-patients", type=int, default=None)
    parser.add_argument("--first-seed-offset", type=int, default=0)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    offsets = range(args.first_seed_offset, args.first_seed_offset + args.seeds)
    rows = [one_seed(params, params["seed"] + k, args.n_patients) for k in offsets]
    for r in rows:
        print(json.dumps(r))
    summary = {
        f"{level}_coverage": sum(r[f"{level}_covered"][0] for r in rows)
        / sum(r[f"{level}_covered"][1] for r in rows)
        for level in ("region", "clinic", "injector")
    }
    summary["time_ratio_covered"] = sum(
        r["touchup_time_ratio"][1] <= r["true_time_ratio"] <= r["touchup_time_ratio"][2]
        for r in rows
    ) / len(rows)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
