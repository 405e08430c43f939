"""Time and peak memory of every stage of the whole pipeline, demo cohort and 1M episodes.

Each stage's command is taken from dvc.yaml (``${data.input_dir}`` substituted) and run as
its own child process in a scratch directory holding a copy of params.yaml (with
``simulate.n_patients`` scaled for the large cohort) and of requirements.lock, each as soon as
the stages it reads from have finished and at most ``--jobs`` at a time, as ``./run pipeline``
runs them (analysis/lanes.py; ``--jobs 1``: one at a time, as plain ``dvc repro``, in the
runner's order); the package is the repository's (the venv's editable install).
Per stage it prints wall seconds, CPU seconds (user + system of the child: less sensitive to
other load on a shared machine than wall time) and the child's peak resident memory
(``ru_maxrss`` from ``os.wait4``), beside the previous measured figures (the baseline).

Usage (from the repository root)::

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 \\
    MALLOC_TOP_PAD_=67108864 .venv/bin/python benchmarks/bench_pipeline.py --cohort demo
    .venv/bin/python benchmarks/bench_pipeline.py --cohort 1m --keep \\
        --set advice.max_train_patients=5000

Goals on 2 cores: the demo pipeline under 5 minutes; 1M episodes end to end under 30 minutes
and 8 GB per stage. ``--stages`` runs a subset (the earlier stages' outputs must be in the
scratch directory, e.g. from a run with ``--keep``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from analysis.config import with_overrides
from analysis.lanes import default_jobs, load_graph, run_stages

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "benchmark-key-not-secret-0123456789"
#: episodes of the demo cohort (params.yaml simulate.n_patients = 5000): 4.367 per patient
DEMO_EPISODES, DEMO_PATIENTS = 21_835, 5_000
#: previous measured figures (issue 13: `./run pipeline --force` on a quiet 2-core machine)
BASELINE = {
    "demo": {
        "fit_survival": 423.0,
        "fit_advice": 344.0,
        "fit_complications": 189.0,
        "others": 42.0,
        "total": 16.5 * 60,
        # 4 December 2026, this script one stage at a time (before ./run pipeline's lanes)
        "one_at_a_time": 636.0,
    },
    # the first 1M run (3 December 2026, 990,798 episodes, advice.max_train_patients=5000):
    # describe before its sparse Kaplan-Meier bootstrap; fit_survival stopped unfinished at 40 min
    "1m": {"simulate": 23.0, "prepare": 86.0, "describe": 932.0},
}
GOALS = {"demo": (5 * 60, None), "1m": (30 * 60, 8.0)}  # (total seconds, GB per stage)


def stage_commands(input_dir: str) -> list[tuple[str, list[str]]]:
    """``(stage, argv)`` in dvc.yaml's order, with ``${data.input_dir}`` substituted."""
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    out = []
    for name, stage in dvc["stages"].items():
        cmd = " ".join(str(stage["cmd"]).split()).replace("${data.input_dir}", input_dir)
        argv = shlex.split(cmd)
        argv[0] = str(BIN / argv[0])
        out.append((name, argv))
    return out


def prepare_scratch(workdir: Path, n_patients: int, overrides: dict | None = None) -> str:
    """Copy params.yaml (cohort size set, ``overrides`` applied) and requirements.lock; return
    data.input_dir."""
    workdir.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["simulate"]["n_patients"] = int(n_patients)
    params = with_overrides(params, overrides or {})
    with open(workdir / "params.yaml", "w", encoding="utf-8") as fh:
        yaml.safe_dump(params, fh, sort_keys=False)
    shutil.copy(REPO / "requirements.lock", workdir / "requirements.lock")
    return str(params["data"]["input_dir"])


class StageProcess:
    """One stage's command as a child process, its output in ``log``: :meth:`poll` is None
    while it runs, then its exit status; :attr:`figures` then holds wall and CPU seconds and
    peak RSS (GB) of that child alone (``os.wait4``)."""

    def __init__(self, argv: list[str], workdir: Path, log: Path) -> None:
        env = dict(os.environ, BONTA_PSEUDONYM_KEY=KEY)
        self.start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as fh:
            self.proc = subprocess.Popen(
                argv, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT
            )
        self.figures: dict = {}

    def poll(self) -> int | None:
        if self.figures:
            return self.figures["code"]
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.figures = {
            "wall_s": time.perf_counter() - self.start,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_gb": usage.ru_maxrss / 1024**2,  # kB on Linux
            "code": self.proc.returncode,
        }
        return self.figures["code"]


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def report(
    cohort: str, rows: list[dict], n_episodes: int | None, n_stages: int, wall: float, jobs: int
) -> None:
    """Print the table with the baseline and the goals (judged only when all ``n_stages``
    stages ran and succeeded). ``wall``: the whole run, ``jobs`` stages at a time (with more
    than one, the stages' wall seconds overlap and their sum is not the run's time)."""
    base = BASELINE[cohort]
    print(f"\n== {cohort} cohort ({n_episodes or '?'} episodes), {jobs} stage(s) at a time ==")
    print(f"{'stage':<20}{'wall s':>9}{'cpu s':>9}{'peak GB':>9}{'baseline s':>12}  status")
    others_base = base.get("others")
    for r in rows:
        b = base.get(r["stage"])
        print(
            f"{r['stage']:<20}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}{r['peak_gb']:>9.2f}"
            f"{_fmt(b, '.0f'):>12}  {'ok' if r['code'] == 0 else 'FAILED (' + str(r['code']) + ')'}"
        )
    named = {"fit_survival", "fit_advice", "fit_complications"}
    others = sum(r["wall_s"] for r in rows if r["stage"] not in named)
    peak = max((r["peak_gb"] for r in rows), default=0.0)
    print(f"{'other stages':<20}{others:>9.1f}{'':>9}{'':>9}{_fmt(others_base, '.0f'):>12}")
    print(
        f"{'total':<20}{wall:>9.1f}{sum(r['cpu_s'] for r in rows):>9.1f}{peak:>9.2f}"
        f"{_fmt(base.get('total'), '.0f'):>12}"
    )
    if "one_at_a_time" in base:
        print(f"{'(one at a time)':<20}{'':>9}{'':>9}{'':>9}{base['one_at_a_time']:>12.0f}")
    goal_s, goal_gb = GOALS[cohort]
    verdict = "met" if wall <= goal_s and (goal_gb is None or peak <= goal_gb) else "NOT met"
    ran = sum(r["code"] == 0 for r in rows)
    if ran < n_stages:  # a failed or partial run says nothing about the whole pipeline
        verdict = f"not judged ({ran} of {n_stages} stages ran and succeeded)"
    gb = f" and {goal_gb:g} GB per stage" if goal_gb else ""
    print(f"goal: under {goal_s / 60:.0f} min{gb}: {verdict}")


def _episodes(workdir: Path) -> int | None:
    path = workdir / "data" / "processed" / "episodes.parquet"
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def run_cohort(
    cohort: str,
    workdir: Path,
    episodes: int,
    only: list[str] | None,
    overrides: dict,
    jobs: int,
) -> None:
    """Run the stages (``only``: a subset) as ``./run pipeline`` does: each once the stages
    it reads from have finished, at most ``jobs`` at a time (:func:`analysis.lanes.run_stages`;
    ``jobs=1``: one at a time, as plain ``dvc repro``)."""
    n_patients = max(1, round(DEMO_PATIENTS * episodes / DEMO_EPISODES))
    input_dir = prepare_scratch(workdir, n_patients, overrides)
    for key, value in overrides.items():
        print(f"[bench-pipeline] {cohort}: params {key} = {value!r}", file=sys.stderr, flush=True)
    commands = dict(stage_commands(input_dir))
    graph, _ = load_graph(REPO, status=False)
    needed = {s for s in graph.stages if not only or s in only}
    started: dict[str, StageProcess] = {}

    def start(stage: str) -> StageProcess:
        started[stage] = StageProcess(commands[stage], workdir, workdir / f"{stage}.log")
        return started[stage]

    def progress(line: str) -> None:
        stage = line.split()[0]
        if " finished" in line or " failed" in line:
            r = started[stage].figures
            print(
                f"[bench-pipeline] {cohort} {stage}: {r['wall_s']:.0f} s, {r['peak_gb']:.2f} GB"
                + ("" if r["code"] == 0 else f" FAILED, see {workdir / stage}.log"),
                file=sys.stderr,
                flush=True,
            )

    began = time.perf_counter()
    run_stages(graph, needed, start, jobs, progress)
    wall = time.perf_counter() - began
    rows = [started[s].figures | {"stage": s} for s in graph.stages if s in started]
    report(cohort, rows, _episodes(workdir), len(commands), wall, jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cohort", choices=["demo", "1m", "both"], default="demo")
    parser.add_argument("--episodes-1m", type=int, default=1_000_000, help="large cohort size")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--stages", nargs="*", default=None, help="run only these stages")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="stages at a time, as ./run pipeline (default: as it; 1: one at a time, as plain "
        "dvc repro, the previous method)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml entry (dotted key, YAML value), e.g. "
        "advice.max_train_patients=5000; printed with the results",
    )
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: use KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    cohorts = ["demo", "1m"] if args.cohort == "both" else [args.cohort]
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        for cohort in cohorts:
            episodes = DEMO_EPISODES if cohort == "demo" else args.episodes_1m
            run_cohort(cohort, root / cohort, episodes, args.stages, overrides, args.jobs)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"scratch directory kept: {root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
