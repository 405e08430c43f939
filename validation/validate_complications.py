"""Coverage of the complication model's credible intervals on simulated cohorts.

For R replicates: draw true region rates from the informative prior, simulate an episode
table with known clinic/injector effects and 3 truly worse injectors, fit the model, and check
whether the 90% / 95% intervals of every region's and injector's rate contain the truth.
Prints coverage (nominal vs observed, with Monte Carlo SE) and how often the truly worse
injectors are ranked worst, against chance.

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
    .venv/bin/python validation/validate_complications.py --replicates 20 --episodes 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from analysis.bayes.calibration import (
    CalibrationSetup,
    coverage_summary,
    ranking_summary,
    run_replicate,
    template_sampler,
)
from analysis.bayes.diagnostics import GateConfig, SamplerConfig
from analysis.bayes.priors import prior_set_from_params
from analysis.errors import ConvergenceError
from analysis.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=20000)
    parser.add_argument("--complication", default="eyelid_ptosis")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", default=None, help="optional CSV of every interval")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    prior_set = prior_set_from_params(params["complications"], "informative")
    setup = CalibrationSetup(
        complication=args.complication,
        regions=tuple(params["complication_types"][args.complication]["regions"]),
        all_regions=tuple(params["regions"]),
        products=tuple(params["products"]),
        n_episodes=args.episodes,
    )
    config = SamplerConfig(draws=args.draws, tune=800, chains=4, cores=2, target_accept=0.95)
    start = time.perf_counter()
    sampler = template_sampler(setup, prior_set, config)
    print(f"compiled in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    results, failed = [], 0
    for r in range(args.replicates):
        seed = int(params["seed"]) + 1000 + r
        t0 = time.perf_counter()
        try:
            res = run_replicate(sampler, setup, prior_set, seed, gate=GateConfig())
        except ConvergenceError as exc:  # counted and reported, never silently dropped
            failed += 1
            print(f"replicate {r}: gate failed: {exc}", file=sys.stderr)
            continue
        results.append(res)
        print(f"replicate {r}: {res['n_events'].iloc[0]} events, {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    table = pd.concat(results, ignore_index=True)
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"\n{args.complication}: {len(results)} replicates of {args.episodes} episodes "
          f"({failed} failed the gate), {time.perf_counter() - start:.0f}s")
    print(coverage_summary(table).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(json.dumps(ranking_summary(table), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
