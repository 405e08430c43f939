"""The disclosure layer on a pipeline's analyst copies: time, suppressions and what an attacker
recovers, beside the baselines measured in the same run: primary suppression only (the
report's behaviour before issue 15), and the protected release with the previous LP method
(``scipy.optimize.linprog`` solving each audit LP from scratch, instead of one warm-started
HiGHS model: :mod:`analysis.disclosure.lp`) and the warm-started release that solves every
cell's check (before cells seen wide enough were certified without their LPs:
``LinkedTables.seen_width``), with the largest difference between the methods' audited
intervals and whether they suppressed the same cells and found the same narrowest interval.

For each of the two releases it prints the seconds of the LP work (model build, suppression,
audit) and of the whole release (tables and figures written), the LPs solved, the primary and
secondary suppressions, and from the audit of every suppressed cell (the layer's own attacker
LP over everything released): how many cells come back exactly (interval width 0), how many
can be narrowed below the protection width, and the narrowest interval.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_disclosure.py --results data/results
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cli import use_file_backend
from analysis.config import load_params
from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.model import LinkedTables
from analysis.disclosure.protect import PRIMARY, audit_cells, primary_status
from analysis.disclosure.release import release


def _summary(
    name: str, done, audit: pd.DataFrame, seconds: float, width: float, min_count: int
) -> dict:
    could_be_small = audit["lower"] < min_count - 1e-6
    return {
        "release": name,
        "seconds": round(seconds, 1),
        "lps": done.protection.n_lp,
        "cells": len(done.model.cells),
        "primary": done.protection.n_primary,
        "secondary": done.protection.n_secondary,
        "exact": int((could_be_small & (audit["width"] < 1e-6)).sum()),
        f"narrower_than_{width:g}": int((could_be_small & (audit["width"] < width - 1e-6)).sum()),
        "narrowest": float(audit.loc[could_be_small, "width"].min())
        if could_be_small.any()
        else np.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("data/results"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--stages", nargs="*", default=None)
    parser.add_argument(
        "--no-linprog",
        action="store_true",
        help="leave out the release solving each LP from scratch (the slowest, about 15 min on "
        "the demo cohort on 2 cores)",
    )
    args = parser.parse_args()
    use_file_backend()
    params = load_params(args.params)
    config = DisclosureConfig.from_params(params)
    stages = args.stages or list(params["report"]["stages"])
    baseline = DisclosureConfig(config.min_count, 1e-9, config.total_cost)
    rows, protected = [], {}
    runs = (
        ("primary only (baseline)", baseline, "highs", False),
        ("protected, linprog from scratch", config, "linprog", False),
        ("protected, every check solved (previous)", config, "highs", False),
        ("protected", config, "highs", True),
    )
    if args.no_linprog:
        runs = tuple(r for r in runs if r[2] != "linprog")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, cfg, solver, certify) in enumerate(runs):
            LinkedTables.solver, LinkedTables.certify = solver, certify
            t0 = time.perf_counter()
            done = release(args.results, Path(tmp) / str(k), stages, cfg)
            seconds = time.perf_counter() - t0
            audit = done.protection.audit
            if cfg is baseline:  # every primary cell, suppressed alone: what can be recovered
                status = primary_status(done.model, config.min_count)
                assert (status == PRIMARY).sum() == done.protection.n_primary
                audit = audit_cells(done.model, status)
            else:
                protected[(solver, certify)] = done.protection
            width, min_count = config.protection_width, config.min_count
            rows.append(
                {
                    **_summary(name, done, audit, seconds, width, min_count),
                    "lp": solver,
                    "certified": done.protection.n_certified,
                }
            )
    LinkedTables.solver, LinkedTables.certify = "highs", True
    print(
        f"stages: {', '.join(stages)}; min_count {config.min_count}, protection width "
        f"{config.protection_width:g}"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    reference = next(iter(protected))
    old = protected[reference]
    ref_label = {("linprog", False): "linprog from scratch", ("highs", False): "every check solved"}
    for key, label in ((("highs", False), "every check solved"), (("highs", True), "certified")):
        new = protected[key]
        if key == reference:
            continue
        if not np.array_equal(old.status, new.status):
            print(f"{ref_label[reference]} vs {label}: DIFFERENT suppressed cells")
            continue
        both = old.audit.merge(new.audit, on="cell", suffixes=("_old", "_new"))
        bounds_old, bounds_new = ["lower_old", "upper_old"], ["lower_new", "upper_new"]
        with np.errstate(invalid="ignore"):  # inf - inf where a bound is unbounded in both
            diff = np.abs(both[bounds_old].to_numpy() - both[bounds_new].to_numpy())
        finite = np.isfinite(diff)
        same_min = old.min_width(config.min_count) == new.min_width(config.min_count)
        print(
            f"{ref_label[reference]} vs {label}: same suppressed cells; largest difference of an "
            f"audited bound {diff[finite].max() if finite.any() else 0.0:.2g} counts over "
            f"{len(both)} cells ({int((~finite).sum())} bounds unbounded in both); narrowest "
            f"interval {'the same' if same_min else 'DIFFERENT'}"
        )


if __name__ == "__main__":
    main()
