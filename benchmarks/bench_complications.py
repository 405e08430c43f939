"""Sampling time and ESS per second of the complication model: 20k, 200k and 2M episodes,
PyMC's default NUTS against nutpie, side by side.

The aggregated binomial likelihood makes the cost per gradient depend on the number of distinct
covariate cells, not of episodes, and the parametrisation (analysis/complications/model.py)
keeps the leapfrog steps per draw flat as the data grow; ``steps_per_draw`` and ``cells`` show
both. The baseline of each sampler is its own 20k run in the same process. The calendar trend
is on (the costlier model: about three times the cells of the stage's default).
Episodes are synthesised directly (analysis.validation.complications_synthetic), not through
the full simulator.

``--job kernel`` times instead one log-density-and-gradient call (what each leapfrog step
pays; one core) at each size: the compiled cell likelihood (analysis/complications/cell_op.py,
what the model samples with) beside the PyTensor graph of the same kernel (the previous method).

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
    .venv/bin/python benchmarks/bench_complications.py [--sizes 20000 200000 2000000]
    .venv/bin/python benchmarks/bench_complications.py --job kernel --sizes 20000 200000
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from analysis.complications.aggregate import aggregate_cells, levels_from_episodes
from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import (
    FREE_PARAMETERS,
    ComplicationSampler,
    build_complication_model,
    model_data,
)
from analysis.config import load_params
from analysis.inference import SamplerConfig, diagnostics_table, n_divergences
from analysis.validation.complications_synthetic import simulate_episodes
from analysis.vocabulary import Vocabulary


def one_run(sampler: ComplicationSampler, cells, priors, seed: int) -> dict:
    start = time.perf_counter()
    idata = sampler.sample(model_data(cells, priors, "hierarchical"), seed)
    seconds = time.perf_counter() - start
    diag = diagnostics_table(idata, list(FREE_PARAMETERS))
    ess = float(diag["ess_bulk"].min())
    steps = float(idata.sample_stats["n_steps"].mean())
    return {
        "sampling_s": seconds,
        "steps_per_draw": steps,
        "min_ess_bulk": ess,
        "min_ess_tail": float(diag["ess_tail"].min()),
        "ess_bulk_per_s": ess / seconds,
        "max_rhat": float(diag["r_hat"].max()),
        "divergences": n_divergences(idata),
    }


def kernel_ms(cells, priors, likelihood: str, repeats: int) -> float:
    """Milliseconds per log-density-and-gradient call of the model (Numba backend)."""
    from pymc.blocking import DictToArrayBijection

    model = build_complication_model(cells, priors, likelihood=likelihood)
    fn = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    fn.set_extra_values({})
    point = model.initial_point()
    x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats * 1000


def job_kernel(data: dict, priors, repeats: int) -> None:
    rows = []
    for n, (cells, _, _) in data.items():
        op = kernel_ms(cells, priors, "binomial", repeats)
        graph = kernel_ms(cells, priors, "binomial_graph", repeats)
        rows.append(
            {
                "episodes": n,
                "cells": len(cells.table),
                "op_ms": op,
                "graph_ms": graph,
                "graph_over_op": graph / op,
            }
        )
    print("log density + gradient per call (one core):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 2_000_000])
    parser.add_argument("--complication", default="eyelid_ptosis")
    parser.add_argument("--samplers", nargs="+", default=["pymc", "nutpie"])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--job", choices=["sample", "kernel"], default="sample")
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    ctype = args.complication
    vocabulary = Vocabulary.from_params(params)
    regions = vocabulary.complication_regions[ctype]
    informative = ComplicationsConfig.from_params(params).priors.prior_set("informative")
    base = {ctype: {r: informative.rate_prior(ctype, r).rate for r in regions}}
    data = {}
    for n in args.sizes:
        t0 = time.perf_counter()
        episodes, _ = simulate_episodes(n, {ctype: regions}, base, seed=int(params["seed"]))
        t1 = time.perf_counter()
        levels = levels_from_episodes(episodes, vocabulary.region_codes, vocabulary.product_codes)
        cells = aggregate_cells(episodes, ctype, regions, levels, calendar_trend=True)
        t2 = time.perf_counter()
        data[n] = (cells, t1 - t0, t2 - t1)
        del episodes
    priors = informative.for_type(ctype, regions)
    if args.job == "kernel":
        job_kernel(data, priors, args.repeats)
        return 0
    rows = []
    for name in args.samplers:
        config = SamplerConfig(
            draws=args.draws, tune=args.tune, chains=4, cores=2, target_accept=0.9, sampler=name
        )
        t0 = time.perf_counter()
        sampler = ComplicationSampler(data[args.sizes[0]][0], priors, config)
        compile_s = time.perf_counter() - t0
        for n in args.sizes:
            cells, gen_s, agg_s = data[n]
            res = one_run(sampler, cells, priors, seed=1)
            rows.append(
                {
                    "sampler": name,
                    "episodes": n,
                    "at_risk": cells.n_treatments,
                    "cells": len(cells.table),
                    "events": cells.n_events,
                    "simulate_s": gen_s,
                    "aggregate_s": agg_s,
                    "compile_s": compile_s,
                    **res,
                }
            )
            print(f"{name} {n}: {res['sampling_s']:.1f}s", file=sys.stderr)
    table = pd.DataFrame(rows)
    base_time = table.groupby("sampler")["sampling_s"].transform("first")
    table["time_vs_own_20k"] = table["sampling_s"] / base_time
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if {"pymc", "nutpie"} <= set(table["sampler"]):
        wide = table.pivot(
            index="episodes", columns="sampler", values=["sampling_s", "ess_bulk_per_s"]
        )
        print("\nside by side (nutpie speed-up = pymc time / nutpie time):")
        wide[("speedup", "nutpie")] = wide[("sampling_s", "pymc")] / wide[("sampling_s", "nutpie")]
        print(wide.to_string(float_format=lambda x: f"{x:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
