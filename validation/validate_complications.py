"""Coverage of the complication model's credible intervals on simulated cohorts.

For R replicates: draw true region rates from the informative prior, simulate an episode
table with known clinic/injector effects and 3 truly worse injectors, fit the model, and check
whether the 90% / 95% intervals of every region's, clinic's and injector's rate contain the
truth. Prints coverage per type (nominal vs observed, with a Monte Carlo SE clustered by
replicate), how often the truly worse injectors are ranked worst and flagged against chance,
and how often other injectors are flagged. A type with few events (``dysphagia:3000``) takes
the stage's region-only path.

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
    .venv/bin/python validation/validate_complications.py --replicates 50 --episodes 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from analysis.complications.config import ComplicationsConfig
from analysis.config import load_params
from analysis.errors import ConvergenceError
from analysis.inference import GateConfig, SamplerConfig
from analysis.validation.complications_calibration import (
    CalibrationSetup,
    coverage_summary,
    ranking_summary,
    run_replicate,
    template_sampler,
)
from analysis.vocabulary import Vocabulary


def _type_and_size(spec: str, default: int) -> tuple[str, int]:
    name, _, size = spec.partition(":")
    return name, int(size) if size else default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--replicates", type=int, default=50)
    parser.add_argument(
        "--episodes",
        type=int,
        default=20000,
        help="episodes per replicate (default for every type)",
    )
    parser.add_argument(
        "--complications",
        nargs="+",
        default=["eyelid_ptosis", "headache", "brow_ptosis", "dysphagia:3000"],
        help="types to validate; 'type:N' sets N episodes for that type (a small N makes a "
        "type very rare)",
    )
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", default=None, help="optional CSV of every interval")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    vocabulary = Vocabulary.from_params(params)
    complications = ComplicationsConfig.from_params(params)
    prior_set = complications.priors.prior_set("informative")
    rule = complications.region_only_below_events
    config = SamplerConfig(draws=args.draws, tune=800, chains=4, cores=2, target_accept=0.9)
    start = time.perf_counter()
    sampler = None
    results, failed = [], {}
    for spec in args.complications:
        ctype, n_episodes = _type_and_size(spec, args.episodes)
        setup = CalibrationSetup(
            complication=ctype,
            regions=vocabulary.complication_regions[ctype],
            all_regions=vocabulary.region_codes,
            products=vocabulary.product_codes,
            n_episodes=n_episodes,
        )
        if sampler is None:  # one compiled model serves every type (same levels, data swapped)
            sampler = template_sampler(setup, prior_set, config)
            print(f"compiled in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        failed[ctype] = 0
        for r in range(args.replicates):
            seed = int(params["seed"]) + 1000 + r
            t0 = time.perf_counter()
            try:
                res = run_replicate(
                    sampler,
                    setup,
                    prior_set,
                    seed,
                    gate=GateConfig(),
                    region_only_below_events=rule,
                )
            except ConvergenceError as exc:  # failed twice, as the stage would: counted, reported
                failed[ctype] += 1
                print(f"{ctype} replicate {r}: gate failed: {exc}", file=sys.stderr)
                continue
            results.append(res)
            retried = (
                " (passed the gate on the stage's retry: study.fit_with_retry)"
                if res["retried"].iloc[0]
                else ""
            )
            print(
                f"{ctype} replicate {r}: {res['n_events'].iloc[0]} events, "
                f"{res['structure'].iloc[0]}, {time.perf_counter() - t0:.1f}s{retried}",
                file=sys.stderr,
            )
        done = pd.concat(
            [r for r in results if r["complication"].iloc[0] == ctype], ignore_index=True
        )
        print(
            f"{ctype} done ({failed[ctype]} gate failures): "
            + coverage_summary(done).to_string(index=False, float_format=lambda x: f"{x:.3f}"),
            file=sys.stderr,
        )
    table = pd.concat(results, ignore_index=True)
    if args.out:
        table.to_csv(args.out, index=False)
    sizes = ", ".join(args.complications)
    print(
        f"\n{len(results)} replicates ({args.replicates} per type; episodes per type "
        f"{args.episodes} unless set: {sizes}); gate failures {failed}; "
        f"{time.perf_counter() - start:.0f}s"
    )
    per_rep = table.groupby(["complication", "replicate"])[["structure", "retried"]].first()
    print(
        "model structure per replicate:\n"
        + per_rep.groupby(level=0)["structure"].value_counts().to_string()
    )
    print(
        "replicates that needed the stage's retry:\n"
        + per_rep.groupby(level=0)["retried"].sum().to_string()
    )
    print(coverage_summary(table).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    for ctype, sel in table.groupby("complication", sort=False):
        if (sel["level"] == "injector").any():
            print(ctype, json.dumps(ranking_summary(sel)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
