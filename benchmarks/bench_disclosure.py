"""The disclosure layer on a pipeline's analyst copies: time, suppressions and what an attacker
recovers, beside the baseline measured in the same run (primary suppression only, the report's
behaviour before issue 15).

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
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in (("primary only (baseline)", baseline), ("protected", config)):
            t0 = time.perf_counter()
            done = release(args.results, Path(tmp) / name.split()[0], stages, cfg)
            seconds = time.perf_counter() - t0
            audit = done.protection.audit
            if cfg is baseline:  # every primary cell, suppressed alone: what can be recovered
                status = primary_status(done.model, config.min_count)
                assert (status == PRIMARY).sum() == done.protection.n_primary
                audit = audit_cells(done.model, status)
            width, min_count = config.protection_width, config.min_count
            rows.append(_summary(name, done, audit, seconds, width, min_count))
    print(
        f"stages: {', '.join(stages)}; min_count {config.min_count}, protection width "
        f"{config.protection_width:g}"
    )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
