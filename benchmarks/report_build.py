"""Timing of the describe and report stages on simulated cohorts of growing size.

Prints wall-clock seconds of ``bonta describe`` and ``bonta report`` (cohort manifest only,
with and without the WeasyPrint PDF) per cohort size, and the PDF's cost relative to the
HTML-only build measured in the same run (the baseline). Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/report_build.py [n_patients ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from analysis.cli import main as bonta
from analysis.config import load_params, with_overrides
from analysis.data.prepare import prepare, write_prepared
from analysis.data.prepare_config import PrepareConfig
from analysis.simulator.cohort import simulate_cohort, write_cohort
from analysis.simulator.config import SimConfig

KEY = b"benchmark-key-not-secret-0123456789"


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    code = bonta(argv)
    if code != 0:
        raise SystemExit(f"bonta {' '.join(argv)} failed")
    return time.perf_counter() - start


def bench(n_patients: int, root: Path) -> dict[str, float]:
    params = with_overrides(
        load_params("params.yaml"), {"simulate.n_patients": n_patients, "report.stages": ["cohort"]}
    )
    cohort = simulate_cohort(SimConfig.from_params(params))
    write_cohort(cohort, root / "raw")
    prepared = prepare(root / "raw", PrepareConfig.from_params(params), key=KEY)
    write_prepared(prepared, root / "processed")
    out = {"episodes": float(len(prepared.episodes))}
    files = {}
    for pdf in (False, True):
        p = with_overrides(params, {"report.pdf": pdf})
        files[pdf] = root / f"params_pdf_{pdf}.yaml"
        files[pdf].write_text(yaml.safe_dump(p))
    common = ["--processed", str(root / "processed")]
    out["describe_s"] = _timed(
        [
            "describe",
            "--params",
            str(files[False]),
            *common,
            "--out",
            str(root / "reports" / "cohort"),
        ]
    )
    out["report_html_s"] = _timed(
        ["report", "--params", str(files[False]), *common, "--out", str(root / "reports")]
    )
    out["report_pdf_s"] = _timed(
        ["report", "--params", str(files[True]), *common, "--out", str(root / "reports")]
    )
    return out


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1500, 5000]
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, font cache, numba
        bench(300, Path(tmp))
    print(
        f"{'patients':>9} {'episodes':>9} {'describe s':>11} {'report html s':>14} "
        f"{'report +pdf s':>14} {'pdf/html':>9}"
    )
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            r = bench(n, Path(tmp))
        print(
            f"{n:>9} {r['episodes']:>9.0f} {r['describe_s']:>11.2f} {r['report_html_s']:>14.2f} "
            f"{r['report_pdf_s']:>14.2f} {r['report_pdf_s'] / r['report_html_s']:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
