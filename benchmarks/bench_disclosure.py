"""The disclosure layer on a pipeline's analyst copies: time, suppressions and what an attacker
recovers, beside the baselines measured in the same run: primary suppression only (the
report's behaviour before issue 15), and the protected release with the previous LP method
(``scipy.optimize.linprog`` solving each audit LP from scratch, instead of one warm-started
HiGHS model: :mod:`analysis.disclosure.lp`), with the largest difference between the two
methods' audited intervals and whether they suppressed the same cells.

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
    args = parser.parse_args()
    use_file_backend()
    params = load_params(args.params)
    config = DisclosureConfig.from_params(params)
    stages = args.stages or list(params["report"]["stages"])
    baseline = DisclosureConfig(config.min_count, 1e-9, config.total_cost)
    rows, protected = [], {}
    runs = (
        ("primary only (baseline)", baseline, "highs"),
        ("protected, linprog from scratch (previous)", config, "linprog"),
        ("protected", config, "highs"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, cfg, solver) in enumerate(runs):
            LinkedTables.solver = solver
            t0 = time.perf_counter()
            done = release(args.results, Path(tmp) / str(k), stages, cfg)
            seconds = time.perf_counter() - t0
            audit = done.protection.audit
            if cfg is baseline:  # every primary cell, suppressed alone: what can be recovered
                status = primary_status(done.model, config.min_count)
                assert (status == PRIMARY).sum() == done.protection.n_primary
                audit = audit_cells(done.model, status)
            else:
                protected[solver] = done.protection
            width, min_count = config.protection_width, config.min_count
            rows.append({**_summary(name, done, audit, seconds, width, min_count), "lp": solver})
    LinkedTables.solver = "highs"
    print(
        f"stages: {', '.join(stages)}; min_count {config.min_count}, protection width "
        f"{config.protection_width:g}"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    old, new = protected["linprog"], protected["highs"]
    if not np.array_equal(old.status, new.status):
        print("previous vs warm-started LP: DIFFERENT suppressed cells")
        return
    bounds = ["lower", "upper"]
    with np.errstate(invalid="ignore"):  # inf - inf where a bound is unbounded in both
        diff = np.abs(old.audit[bounds].to_numpy() - new.audit[bounds].to_numpy())
    finite = np.isfinite(diff)
    print(
        "previous vs warm-started LP: same suppressed cells; largest difference of an audited "
        f"bound {diff[finite].max() if finite.any() else 0.0:.2g} counts "
        f"({int((~finite).sum())} unbounded in both)"
    )


if __name__ == "__main__":
    main()
