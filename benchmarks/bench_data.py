"""Benchmark of the data steps at scale: simulate, write, read, validate, derive, write.

Each job runs in its own subprocess, so that the peak resident memory printed (``ru_maxrss``)
belongs to that job alone: ``simulate`` (simulate + write the raw export), ``floor`` (the same
files only read into pandas by Arrow, nothing checked: the floor any ingestion pays, measured in
the same run as the baseline beside the real one), ``steps`` (read, validate, pseudonymise,
derive, timed one by one; the peak printed after each step can only grow), ``prepare`` (the
real ``prepare()`` + ``write_prepared``: the figure held against the target) and ``naive``. A
naive row-wise derivation of the duration endpoint on a 10,000-episode sample is timed against
the vectorised one on the same sample, and both results are compared.

With ``--previous-src DIR`` (a source tree of an earlier ``analysis`` package, e.g.
``git archive <commit> analysis | tar -x -C DIR``) the job ``previous`` runs that version's
``prepare()`` on the same files in the same run (cut-off given as ``data.cutoff_date``, since
older versions do not read ``export_date``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_data.py                 # 1,000,000 episodes, Parquet
    .venv/bin/python benchmarks/bench_data.py --episodes 100000 --format csv
    .venv/bin/python benchmarks/bench_data.py --previous-src /tmp/main-src

Target (issue 14): ingest 1M treatments with ~3M assessments in under 60 s and under 3 GB.
Baseline before issue 14's ingestion changes (recorded in the issue, same machine type): 35 s
and 2.3 GB peak. Wall time on a shared machine is noisy: CPU seconds are printed beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEY = b"benchmark-key-not-secret"
TARGET_SECONDS, TARGET_GB = 60.0, 3.0
#: prepare() of 1M treatments before issue 14 (the issue's figures): seconds, peak GB.
RECORDED_BASELINE = (35.0, 2.3)
NAIVE_SAMPLE = 10_000


def _cpu_seconds() -> float:
    """User + system CPU time of this process: less sensitive than wall time to other load."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


class Steps:
    """Times named steps and records the process's peak memory after each."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def run(self, name: str, fn, *args, **kwargs):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        out = fn(*args, **kwargs)
        row = {
            "step": name,
            "seconds": time.perf_counter() - t0,
            "cpu": _cpu_seconds() - c0,
            "peak_gb": _peak_gb(),
        }
        self.rows.append(row)
        print(
            f"  {name:<28} {row['seconds']:7.2f} s wall {row['cpu']:7.2f} s CPU   "
            f"peak {row['peak_gb']:5.2f} GB",
            file=sys.stderr,
            flush=True,
        )
        return out


def job_simulate(args) -> list[dict]:
    from analysis.config import load_params
    from analysis.simulator.cohort import simulate_cohort, write_cohort
    from analysis.simulator.config import SimConfig

    params = load_params(REPO / "params.yaml")
    pilot = simulate_cohort(SimConfig.from_params(params, n_patients=2000))
    per_patient = len(pilot.treatments) / 2000
    n_patients = math.ceil(
        1.08 * args.episodes / per_patient
    )  # the pilot overstates episodes per patient by 3-7%
    steps = Steps()
    cfg = SimConfig.from_params(params, n_patients=n_patients)
    cohort = steps.run("simulate", simulate_cohort, cfg, progress=sys.stderr.isatty())
    steps.run(
        f"write raw ({args.format})", write_cohort, cohort, args.workdir / "raw", fmt=args.format
    )
    steps.rows.append(
        {"step": "episodes", "seconds": float(len(cohort.treatments)), "peak_gb": 0.0}
    )
    return steps.rows


def job_floor(args) -> list[dict]:
    """The export's four files read by Arrow into pandas, nothing parsed or checked."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from analysis.data.schema import TABLE_NAMES

    def read_all():
        for table in TABLE_NAMES:
            path = args.workdir / "raw" / f"{table}.{args.format}"
            reader = pq.read_table if args.format == "parquet" else pacsv.read_csv
            reader(path).to_pandas()

    steps = Steps()
    steps.run("Arrow read only (floor)", read_all)
    return steps.rows


def job_previous(args) -> list[dict]:
    """An earlier version's prepare() (imported from --previous-src) on the same files."""
    import yaml

    from analysis.config import load_params, with_overrides
    from analysis.data.prepare import prepare
    from analysis.data.prepare_config import PrepareConfig

    raw_dir = args.workdir / "raw"
    export_date = yaml.safe_load((raw_dir / "mapping.yaml").read_text())["export_date"]
    params = with_overrides(load_params(REPO / "params.yaml"), {"data.cutoff_date": export_date})
    empty = args.workdir / "empty-mapping.yaml"
    empty.write_text("{}\n")
    steps = Steps()
    steps.run(
        "previous prepare()",
        prepare,
        raw_dir,
        PrepareConfig.from_params(params),
        key=KEY,
        mapping_path=empty,
    )
    return steps.rows


def job_ingest(args) -> list[dict]:
    from analysis.config import load_params
    from analysis.data.derive import derive_episodes
    from analysis.data.ingest import default_mapping_path, load_mapping, read_export
    from analysis.data.prepare import _keyed
    from analysis.data.prepare_config import PrepareConfig
    from analysis.data.validate import resolve_cutoff, validate

    params = load_params(REPO / "params.yaml")
    cfg = PrepareConfig.from_params(params)
    raw_dir = args.workdir / "raw"
    mapping = load_mapping(default_mapping_path(raw_dir))
    steps = Steps()
    raw = steps.run("read", read_export, raw_dir, mapping)
    cutoff, _, cutoff_problems = resolve_cutoff(cfg, mapping)
    assert not cutoff_problems, cutoff_problems
    problems = steps.run("validate", validate, raw, cfg, cutoff)
    assert not problems, problems[:5]
    tables, _ = steps.run("pseudonymise", _keyed, raw.tables, KEY)
    steps.run(
        "derive",
        derive_episodes,
        tables["treatments"],
        tables["patients"],
        tables["assessments"],
        tables["complications"],
        cfg,
        cutoff,
    )
    return steps.rows


def job_prepare(args) -> list[dict]:
    from analysis.config import load_params
    from analysis.data.prepare import prepare, write_prepared
    from analysis.data.prepare_config import PrepareConfig

    cfg = PrepareConfig.from_params(load_params(REPO / "params.yaml"))
    steps = Steps()
    prepared = steps.run(
        "prepare() end to end",
        prepare,
        args.workdir / "raw",
        cfg,
        key=KEY,
        progress=sys.stderr.isatty(),
    )
    steps.run(
        "write processed", write_prepared, prepared, args.workdir / "processed", cfg.vocabulary
    )
    return steps.rows


def naive_duration(ep, assessments, cfg):
    """Row-wise reference of :func:`analysis.data.derive.visit_bounds` (a loop per episode)."""
    import numpy as np

    by_episode = {k: g for k, g in assessments.groupby("episode_key")}
    lower, upper = [], []
    for row in ep.itertuples():
        g = by_episode.get(row.episode_key)
        lo, up = 0.0, np.inf
        if g is not None:
            visits = []
            for a in g.itertuples():
                if a.severity is None or a.severity != a.severity:
                    continue
                day = float((a.assessment_date - row.treatment_date).days)
                nxt = row.next_treatment_days
                if day > 0 and (nxt != nxt or day <= nxt):
                    visits.append((day, a.severity))
            for day, sev in sorted(visits):
                if sev >= row.baseline_severity:
                    up = day
                    break
                lo = day
        lower.append(lo)
        upper.append(up)
    return np.array(lower), np.array(upper)


def job_naive(args) -> list[dict]:
    import numpy as np

    from analysis.config import load_params
    from analysis.data.derive import add_cycle_and_retreatment, visit_bounds
    from analysis.data.ingest import default_mapping_path, load_mapping, read_export
    from analysis.data.prepare import _keyed
    from analysis.data.prepare_config import PrepareConfig
    from analysis.data.validate import resolve_cutoff

    cfg = PrepareConfig.from_params(load_params(REPO / "params.yaml"))
    mapping = load_mapping(default_mapping_path(args.workdir / "raw"))
    raw = read_export(args.workdir / "raw", mapping)
    cutoff, _, _ = resolve_cutoff(cfg, mapping)
    tables, _ = _keyed(raw.tables, KEY)
    ep = add_cycle_and_retreatment(tables["treatments"], cutoff)
    sample = ep.sample(n=min(NAIVE_SAMPLE, len(ep)), random_state=1).reset_index(drop=True)
    asm = tables["assessments"][tables["assessments"]["episode_key"].isin(sample["episode_key"])]
    steps = Steps()
    vec = steps.run(f"vectorised bounds ({len(sample):,})", visit_bounds, sample, asm)
    lo, up = steps.run(f"naive row-wise ({len(sample):,})", naive_duration, sample, asm, cfg)
    same = bool(
        np.array_equal(lo, vec["visit_lower"].to_numpy())
        and np.array_equal(up, vec["visit_upper"].to_numpy())
    )
    steps.rows.append({"step": "naive == vectorised", "seconds": float(same), "peak_gb": 0.0})
    full = steps.run(f"vectorised bounds ({len(ep):,})", visit_bounds, ep, tables["assessments"])
    del full
    return steps.rows


def job_truth(args) -> list[dict]:
    """Derived endpoints of the processed cohort against the simulator's latent durations."""
    import numpy as np
    import pandas as pd

    from analysis.data.pseudonym import pseudonymise

    truth = pd.read_parquet(
        args.workdir / "raw" / "truth" / "episodes.parquet",
        columns=["episode_id", "latent_duration_days"],
    )
    truth["episode_key"] = pseudonymise(truth.pop("episode_id"), KEY, "episode")
    ep = pd.read_parquet(
        args.workdir / "processed" / "episodes.parquet",
        columns=[
            "episode_key",
            "dur_lower_days",
            "dur_upper_days",
            "dur_status",
            "in_duration_analysis",
        ],
    ).merge(truth, on="episode_key")
    ep = ep[ep["in_duration_analysis"]]
    lat, lo, up = ep["latent_duration_days"], ep["dur_lower_days"], ep["dur_upper_days"]
    rows = []
    for status, g in ep.groupby("dur_status"):
        if status == "exact_reported":  # lower == upper: judged by its error below
            continue
        i = g.index
        share = float(((lat[i] > lo[i]) & (lat[i] <= up[i])).mean())
        rows.append(
            {
                "step": f"{status}: n={len(g)}, truth in (lower, upper]",
                "seconds": share,
                "peak_gb": 0.0,
            }
        )
    exact = ep[ep["dur_status"] == "exact_reported"]
    err = exact["dur_lower_days"] - exact["latent_duration_days"]
    rows.append(
        {
            "step": "exact_reported: median |error| days",
            "seconds": float(np.median(np.abs(err))),
            "peak_gb": 0.0,
        }
    )
    rows.append(
        {"step": "exact_reported: mean error days", "seconds": float(err.mean()), "peak_gb": 0.0}
    )
    for r in rows:
        print(f"  {r['step']:<60} {r['seconds']:.4f}", file=sys.stderr)
    return rows


JOBS = {
    "simulate": job_simulate,
    "floor": job_floor,
    "previous": job_previous,
    "steps": job_ingest,
    "prepare": job_prepare,
    "naive": job_naive,
    "truth": job_truth,
}


def _use_previous_source(src: Path) -> None:
    """Import ``analysis`` from ``src``: bypass the editable install's import hook."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
    sys.path.insert(0, str(src))


def _child(job: str, args) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        __file__,
        "--job",
        job,
        "--episodes",
        str(args.episodes),
        "--format",
        args.format,
        "--workdir",
        str(args.workdir),
    ]
    if job == "previous":
        cmd += ["--previous-src", str(args.previous_src)]
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, cwd=REPO)
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out" / "bench_data")
    parser.add_argument(
        "--previous-src",
        type=Path,
        default=None,
        help="source tree of an earlier analysis package to time beside this one",
    )
    parser.add_argument("--job", choices=sorted(JOBS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        if args.job == "previous":
            _use_previous_source(args.previous_src)
        print(json.dumps(JOBS[args.job](args)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"bench_data: {args.episodes:,} episodes, raw format {args.format}, {os.cpu_count()} cores",
        file=sys.stderr,
    )
    results = {}
    jobs = ["simulate", "floor", "steps", "prepare", "naive", "truth"]
    if args.previous_src is not None:
        jobs.insert(2, "previous")
    for job in jobs:
        print(f"[{job}] (own process)", file=sys.stderr, flush=True)
        results[job] = {r["step"]: r for r in _child(job, args)}
    n = int(results["simulate"]["episodes"]["seconds"])
    ingest = results["prepare"]["prepare() end to end"]
    naive = results["naive"]
    names = list(naive)
    vec_s, naive_s = naive[names[0]]["seconds"], naive[names[1]]["seconds"]
    print("\nSummary", file=sys.stderr)
    print(f"  episodes simulated            {n:,}", file=sys.stderr)
    floor = results["floor"]["Arrow read only (floor)"]
    print(
        f"  ingest (prepare())            {ingest['seconds']:.1f} s wall, "
        f"{ingest['cpu']:.1f} s CPU (target < {TARGET_SECONDS:.0f} s)  "
        f"peak {ingest['peak_gb']:.2f} GB (target < {TARGET_GB:.0f} GB)",
        file=sys.stderr,
    )
    print(
        f"  baseline, same run: Arrow read only   {floor['seconds']:.1f} s wall, "
        f"{floor['cpu']:.1f} s CPU, peak {floor['peak_gb']:.2f} GB",
        file=sys.stderr,
    )
    if "previous" in results:
        prev = results["previous"]["previous prepare()"]
        print(
            f"  baseline, same run: previous prepare() {prev['seconds']:.1f} s wall, "
            f"{prev['cpu']:.1f} s CPU, peak {prev['peak_gb']:.2f} GB ({args.previous_src})",
            file=sys.stderr,
        )
    print(
        f"  baseline, recorded (before issue 14)  {RECORDED_BASELINE[0]:.0f} s, "
        f"peak {RECORDED_BASELINE[1]:.1f} GB (1M treatments, Parquet)",
        file=sys.stderr,
    )
    print(f"  load average (1, 5, 15 min)   {os.getloadavg()}", file=sys.stderr)
    print(
        f"  duration bounds on {NAIVE_SAMPLE:,}: naive {naive_s:.2f} s vs vectorised "
        f"{vec_s:.3f} s = {naive_s / max(vec_s, 1e-9):.0f}x; "
        f"identical results: {bool(naive[names[2]]['seconds'])}",
        file=sys.stderr,
    )
    print(
        f"  naive extrapolated to {n:,} episodes: {naive_s * n / NAIVE_SAMPLE:.0f} s",
        file=sys.stderr,
    )
    ok = ingest["seconds"] < TARGET_SECONDS and ingest["peak_gb"] < TARGET_GB
    ok_cpu = ingest["cpu"] < TARGET_SECONDS and ingest["peak_gb"] < TARGET_GB
    print(
        f"  target met: {ok} (wall), {ok_cpu} (CPU seconds; wall time on a machine whose load "
        f"exceeds its {os.cpu_count()} cores is mostly other processes' time)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
