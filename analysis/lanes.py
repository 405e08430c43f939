"""Run the DVC pipeline with independent stages side by side (``./run pipeline``).

``dvc repro`` runs one stage at a time. The study's model stages (describe, fit_survival,
fit_complications, fit_advice) all read only the prepared data, and each spends long stretches
on one core (compiling a model, PSIS-LOO, tables and figures) between its multi-core sampling.
This runner asks DVC once which stages have changed (``dvc status``), then runs each stage that
must run as its own ``dvc --wait-for-lock repro --single-item <stage>`` as soon as the stages it
depends on have finished, at most ``jobs`` at a time, longest expected first. DVC itself decides
whether the stage runs, records it in dvc.lock and guards its files with its read/write locks:
the outputs, dvc.lock and the cache are what ``dvc repro`` gives (the tiny pipeline's
reproducibility test builds two copies with this runner and compares them byte for byte).

A stage that fails stops new stages from starting; the ones running finish (their results are
valid and recorded), then the runner exits with the failing stage's status. Progress: one line
per stage started and finished on stderr, beside the stages' own lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from analysis.progress import ProgressFn, reporter

#: Expected seconds of a stage on the demo cohort (`./run pipeline --force`, 5 December 2026,
#: the two model stages side by side): the runner starts the longest ready stage first, so that
#: the two model stages overlap. Unknown stages count as short. An order, not a promise: a
#: wrong figure costs time, never a result.
EXPECTED_SECONDS: Mapping[str, float] = {
    "fit_advice": 216.0,
    "fit_complications": 130.0,
    "fit_survival": 43.0,
    "disclose": 23.0,
    "report": 17.0,
    "describe": 8.0,
}


class Running(Protocol):
    """A started stage: ``poll()`` is None while it runs, then its exit status."""

    def poll(self) -> int | None: ...


@dataclass(frozen=True)
class Graph:
    """The pipeline's stages in dvc.yaml's order and, per stage, the stages it reads from."""

    stages: tuple[str, ...]
    upstream: Mapping[str, frozenset[str]]

    def downstream_of(self, changed: set[str]) -> set[str]:
        """``changed`` and every stage that reads (directly or not) from one of them."""
        out = set(changed)
        grew = True
        while grew:
            grew = False
            for stage in self.stages:
                if stage not in out and self.upstream[stage] & out:
                    out.add(stage)
                    grew = True
        return out


def load_graph(root: Path, status: bool = True) -> tuple[Graph, set[str]]:
    """The stage graph of the DVC project at ``root`` and (with ``status``) the stages ``dvc
    status`` reports as changed: new, with changed dependencies or parameters, or with missing
    outputs."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph
        stages = tuple(s.addressing for s in repo.index.stages)
        upstream = {
            s.addressing: frozenset(d.addressing for d in graph.successors(s)) for s in graph.nodes
        }
        changed = {name for name in repo.status() if name in upstream} if status else set()
    return Graph(stages, upstream), changed


def run_stages(
    graph: Graph,
    needed: set[str],
    start: Callable[[str], Running],
    jobs: int,
    progress: ProgressFn,
    poll_seconds: float = 0.5,
) -> int:
    """Run the ``needed`` stages of ``graph`` (``start(stage)`` starts one), each once every
    needed stage it reads from has finished, at most ``jobs`` at once, longest expected first.

    Returns 0, or the exit status of the first stage that failed (the stages then running are
    waited for; no other stage starts)."""
    waiting = [s for s in graph.stages if s in needed]
    running: dict[str, tuple[Running, float]] = {}
    done: set[str] = set()
    failed = 0
    while (waiting and not failed) or running:
        ready = [s for s in waiting if not (graph.upstream[s] & needed) - done]
        ready.sort(key=lambda s: -EXPECTED_SECONDS.get(s, 0.0))
        while ready and not failed and len(running) < jobs:
            stage = ready.pop(0)
            waiting.remove(stage)
            running[stage] = (start(stage), time.perf_counter())
            progress(f"{stage} started")
        time.sleep(poll_seconds)
        for stage, (proc, began) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            del running[stage]
            seconds = time.perf_counter() - began
            if code == 0:
                done.add(stage)
                progress(f"{stage} finished ({seconds:.0f} s)")
            else:
                failed = failed or code
                progress(f"{stage} failed (exit status {code}); no further stage starts")
    return failed


#: DVC's closing hints, printed after every ``dvc repro``: shown once, after the last stage.
DVC_HINTS = ("To track the changes with git", "To enable auto staging", "Use `dvc push`")


class StageRun:
    """One ``dvc --wait-for-lock repro --single-item <options> <stage>`` in ``root``; its output
    (DVC's lines and the stage's own) is copied line by line to ``out`` without DVC's closing
    hints (``hints`` records that they were printed)."""

    def __init__(self, stage: str, options: Sequence[str], root: Path, out: TextIO) -> None:
        argv = [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item"]
        self.proc = subprocess.Popen(
            [*argv, *options, stage],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # lines in the order they were made
        )
        self.hints = False
        self.copier = threading.Thread(target=self._copy, args=(out,), daemon=True)
        self.copier.start()

    def _copy(self, out: TextIO) -> None:
        assert self.proc.stdout is not None
        in_hint = False
        for line in self.proc.stdout:
            if line.startswith(DVC_HINTS):
                self.hints = in_hint = True
                continue
            if in_hint and (not line.strip() or line.startswith("\t")):
                continue
            in_hint = False
            out.write(line)
            out.flush()

    def poll(self) -> int | None:
        """The exit status once the stage has ended and all its output is copied."""
        code = self.proc.poll()
        if code is not None:
            self.copier.join()
        return code


def default_jobs() -> int:
    """Two stages at a time, or as many as there are cores (at most 4: the model stages each
    sample 4 chains)."""
    return max(2, min(4, os.cpu_count() or 2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.lanes",
        description="Run `dvc repro` with independent stages side by side.",
    )
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("-f", "--force", action="store_true", help="run every stage")
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    progress = reporter("pipeline")
    graph, changed = load_graph(args.root)
    needed = set(graph.stages) if args.force else graph.downstream_of(changed)
    if not needed:
        progress("every stage is up to date")
        return 0
    progress(
        f"{len(needed)} of {len(graph.stages)} stages to run, up to {args.jobs} at a time: "
        + json.dumps([s for s in graph.stages if s in needed])
    )
    options = ["--force"] if args.force else []
    runs: list[StageRun] = []

    def start(stage: str) -> StageRun:
        runs.append(StageRun(stage, options, args.root, sys.stderr))
        return runs[-1]

    began = time.perf_counter()
    code = run_stages(graph, needed, start, args.jobs, progress)
    if any(run.hints for run in runs):
        progress("dvc.lock changed: record it with `git add dvc.lock` (DVC's hints, once)")
    if code == 0:
        progress(f"done ({time.perf_counter() - began:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
