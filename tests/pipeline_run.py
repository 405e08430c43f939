"""The repository's whole dvc.yaml, run once per test session (nutpie's test double in place
of NUTS), in the background while the rest of the suite runs (``tests/conftest.py`` starts
:class:`TinyBuild` at the first test and runs the tests that read it last).

The project is a temporary copy (its own ``git init`` + ``dvc init``, so the repository's own
outputs and dvc.lock are never touched) with short sampling settings (``TINY``, in the copy's
params.yaml only). ``tests/report/test_pipeline_repro.py`` checks that it reproduces to
the byte; the tests that read a built ``reports/`` (the browser, the identifier scan, the
disclosure scan and attack) read it too, so they run on a fresh clone and in CI, not only
where the repository's own pipeline has been run.

These tests check what the stages build, not the posteriors, so the copy samples with
nutpie's test double (``tests/doubles/nutpie``: seeded prior draws in nutpie's output format,
ahead of the real nutpie on the copy's ``PYTHONPATH``; its methods texts name it). Measured on
3 December 2026 (2 cores, beside a test run): the model stages took 77 s and 28 s with it,
against 128 s and 144 s with NUTS on a quiet machine, most of which was compiling the models.
The models are fitted with the real nutpie, and checked against the truth, by the tests of
tests/complications and tests/advice; its reproducibility for a seed by
``tests/complications/test_model.py::test_nutpie_draws_are_fixed_by_the_seed``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from analysis.cli import COMMANDS
from analysis.config import with_overrides

TEST_KEY = "test-key-not-secret-0123456789abcdef"
#: Outputs compared byte for byte (PDF and NetCDF files are not part of the promise).
COMPARED = (".csv", ".json", ".html", ".tex", ".png", ".parquet", ".md")

#: Two chains of 300 draws after 400 tuning steps (the double's 600 draws), and a gate that so
#: few draws can pass.
#: (each use a copy: a shared dict would reach params.yaml as a YAML alias)
FAST_NUTS = {
    "draws": 300,
    "tune": 400,
    "chains": 2,
    "cores": 2,
    "target_accept": 0.9,
    "sampler": "nutpie",
}
SMALL_GATE = {"max_rhat": 1.05, "min_ess_bulk": 100, "min_ess_tail": 100, "max_divergences": 10}
#: The demo's cohort size, fast sampling, and a gate that a few hundred draws can pass (tests
#: only). Measured on 3 December 2026 (2 cores, each beside another run): 1,000 patients
#: suppressed 342 + 157 counts with 2,203 LPs, lost the region-mix columns and took about 13
#: minutes to disclose; 3,000 patients 267 + 62 with 1,427 LPs in 260 s; 5,000 patients 230 + 47
#: with 1,219 LPs in 76 s (small cohorts have more small counts, each costing LPs). The advice
#: model's final fit takes 800 of them (46 s; on all 2,945 patients of the 3,000 it took 138 s):
#: the model stages were compile-bound then (fit_survival 70 s, fit_complications 205 s,
#: fit_advice 225 s, whole pipeline 689 s), before the copy sampled with the test double.
TINY = {
    "simulate.n_patients": 5000,
    "survival.bootstrap_replicates": 20,
    "survival.cv.folds": 2,  # the CV's code path (5 folds: 35 of fit_survival's 68 s)
    "survival.cv.calibration_bootstrap_replicates": 50,
    "complications.sensitivity": False,  # the weak-prior refits: same code path, 4 more fits
    "complications.sampler": dict(FAST_NUTS),
    "complications.sensitivity_sampler": dict(FAST_NUTS),
    "complications.gate": dict(SMALL_GATE),
    "complications.ppc_draws": 200,
    "advice.sampler": dict(FAST_NUTS),
    "advice.compare_sampler": {**FAST_NUTS, "draws": 200, "tune": 300},
    "advice.gate": dict(SMALL_GATE),
    "advice.stored_draws": 200,
    "advice.compare_patients": 300,  # the comparison on a subsample, as on the demo
    "advice.families": ["lognormal", "weibull"],  # a comparison (one compile and fit fewer)
    "advice.max_train_patients": 800,  # and the final fit
    "advice.advice_draws": 100,
}


def has_key(params: dict, dotted: str) -> bool:
    node = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


#: The nutpie test double (prior draws, not NUTS), ahead of the real nutpie in the copy only.
DOUBLES = Path(__file__).resolve().parent / "doubles"


def project_env(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # `bonta` imports the copy's own analysis package, and nutpie's test double
    env["PYTHONPATH"] = f"{project}{os.pathsep}{DOUBLES}"
    env["BONTA_PSEUDONYM_KEY"] = TEST_KEY
    env["DVC_NO_ANALYTICS"] = "1"
    env["MALLOC_MMAP_THRESHOLD_"] = "67108864"
    return env


def run_in(args: list[str], project: Path, timeout: float) -> str:
    res = subprocess.run(
        args,
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, (
        f"{' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    )
    return res.stdout + res.stderr


def new_project(tmp: Path, repo: Path, params: dict, stages: dict) -> Path:
    project = tmp / "project"
    shutil.copytree(
        repo / "analysis", project / "analysis", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(repo / "manuscript", project / "manuscript")  # the manuscript's texts
    for name in ("requirements.lock", ".gitignore", ".dvcignore"):
        if (repo / name).exists():
            shutil.copy(repo / name, project / name)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    run_in(["git", "init", "-q"], project, 60)
    run_in([sys.executable, "-m", "dvc", "init", "-q"], project, 120)
    run_in([sys.executable, "-m", "dvc", "config", "core.autostage", "false"], project, 60)
    return project


def output_hashes(project: Path, suffixes=COMPARED) -> dict[str, str]:
    out = {}
    for root in ("reports", "data/processed"):
        for path in sorted((project / root).rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                out[path.relative_to(project).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return out


def missing_stage_modules(stages: dict) -> list[str]:
    missing = []
    for name, stage in stages.items():
        words = str(stage.get("cmd", "")).split()
        if len(words) >= 2 and words[0] == "bonta":
            module = f"analysis.stages.{COMMANDS.get(words[1], words[1])}"
            if importlib.util.find_spec(module) is None:
                missing.append(f"{name} ({module})")
    return missing


#: Scheduling priority of the copies' processes (``nice``) where the kernel does not group by
#: session (see :meth:`TinyBuild.start`): the tests running beside them are the suite's critical
#: path and the copies' results are read only by its last tests; at equal priority the
#: foreground ran 2-3x slower while they built (the held-out advice validation 99 s in CI, 29 s
#: alone, before the suite used one BLAS thread per process).
BUILD_NICENESS = 10

#: How each copy is built: the first by plain ``dvc repro`` (one stage at a time), the twin by
#: ``./run pipeline``'s runner (analysis/lanes.py: independent stages side by side, each its own
#: ``dvc repro --single-item``), so the reproducibility test also checks that the runner gives
#: what ``dvc repro`` gives.
RUNNERS = ("dvc repro", "analysis.lanes")


class TinyBuild:
    """The tiny pipeline built in the background: :meth:`start` makes a copy of the project at
    ``tmp/one/project`` and starts ``dvc repro`` in it without waiting; :meth:`result` waits and
    returns ``{"root": project, "hashes": sha256 of every compared output, "params": params}``.

    With ``twin``, a second copy at ``tmp/twin/project`` is built at the same time by
    ``./run pipeline``'s runner (:data:`RUNNERS`; the copies share the machine's cores) and
    ``"twin_hashes"`` holds its outputs' hashes: the reproducibility check compares them. Each
    run's output goes to ``repro.log`` beside its project. :meth:`start` raises
    ``LookupError`` while a stage's module is not written yet. ``timeout`` counts from
    :meth:`start`."""

    def __init__(self, repo: Path, tmp: Path, twin: bool = False, timeout: float = 4500) -> None:
        self.repo, self.tmp, self.twin, self.timeout = repo, tmp, twin, timeout
        self.projects: list[Path] = []
        self.runs: list[subprocess.Popen] = []
        self.params: dict = {}
        self.deadline = 0.0

    def start(self) -> TinyBuild:
        stages = yaml.safe_load((self.repo / "dvc.yaml").read_text())["stages"]
        missing = missing_stage_modules(stages)
        if missing:
            raise LookupError(f"stage modules not written yet: {', '.join(missing)}")
        params = yaml.safe_load((self.repo / "params.yaml").read_text())
        self.params = with_overrides(params, {k: v for k, v in TINY.items() if has_key(params, k)})
        names = ("one", "twin")[: 1 + self.twin]
        self.projects = [new_project(self.tmp / n, self.repo, self.params, stages) for n in names]
        self.deadline = time.monotonic() + self.timeout
        for project, runner in zip(self.projects, RUNNERS, strict=False):
            # the exit status goes to a file, so that another test process (a pytest-xdist
            # worker that did not start the build: :meth:`attach`) can wait for it too
            script = (
                f"nice -n {BUILD_NICENESS} {shlex.quote(sys.executable)} -m {runner} "
                f"> ../repro.log 2>&1; echo $? > ../repro.rc"
            )
            self.runs.append(
                subprocess.Popen(
                    ["sh", "-c", script],
                    cwd=project,
                    env=project_env(project),
                    # its own session, so that stop() ends the stages dvc started too. Where the
                    # kernel schedules by autogroup (one group per session: this machine, 4
                    # December 2026), each copy's session gets as much CPU as the test session
                    # and the nice value acts only inside it; a copy in the tests' session
                    # (process_group=0), truly at nice 10, finished last: 410 s instead of 384
                    start_new_session=True,
                )
            )
        return self

    def describe(self) -> dict:
        """What another process needs to :meth:`attach` to this build (JSON-ready)."""
        return {
            "projects": [str(p) for p in self.projects],
            "params": self.params,
            "seconds_left": self.deadline - time.monotonic(),
        }

    @classmethod
    def attach(cls, repo: Path, tmp: Path, described: dict) -> TinyBuild:
        """A handle on a build another process started (:meth:`describe`): :meth:`result`
        waits for it; :meth:`stop` leaves it to the process that started it."""
        build = cls(repo, tmp, twin=len(described["projects"]) > 1)
        build.projects = [Path(p) for p in described["projects"]]
        build.params = described["params"]
        build.deadline = time.monotonic() + float(described["seconds_left"])
        return build

    def wait(self) -> None:
        """Wait until every copy's ``dvc repro`` has ended (or the deadline has passed)."""
        for project in self.projects:
            rc = project.parent / "repro.rc"
            while not (rc.exists() and rc.read_text().strip()):
                assert time.monotonic() < self.deadline, f"dvc repro timed out in {project}"
                time.sleep(1.0)

    def result(self) -> dict:
        try:
            self.wait()
            for project in self.projects:
                code = int((project.parent / "repro.rc").read_text())
                log = (project.parent / "repro.log").read_text()
                assert code == 0, f"dvc repro failed in {project}:\n{log[-8000:]}"
        finally:
            self.stop()  # a no-op for finished runs; ends the other one when one failed
        root = self.projects[0]
        built = {"root": root, "hashes": output_hashes(root), "params": self.params}
        if self.twin:
            built["twin_hashes"] = output_hashes(self.projects[1])
            built["twin_root"] = self.projects[1]
        return built

    def stop(self) -> None:
        """Kill the runs this process started that are still going (none for a handle from
        :meth:`attach`: the process that started the build stops it)."""
        for project, run in zip(self.projects[: len(self.runs)], self.runs, strict=True):
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                # the status another process waits for (:meth:`wait`)
                (project.parent / "repro.rc").write_text(f"{-signal.SIGKILL}\n")
