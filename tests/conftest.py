"""Session fixtures shared by the whole suite.

Expensive objects (a simulated cohort, its prepared tables) are built once per test run from
the repository's own params.yaml with a smaller cohort, through the same code the pipeline runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from analysis.cli import BLAS_THREADS, one_blas_thread  # imports no numpy

# One OpenBLAS thread per process, set before numpy loads it (here and in every process the
# tests start: workers, notebook kernels, the tiny pipeline's stages), as ``bonta`` runs a stage:
# the stages the tests run in-process give the bytes ``bonta`` gives. Two workers and their
# children already keep both cores busy, and OpenBLAS's idle threads spin between calls: on 2
# cores with a cold PyTensor cache, 956 CPU-s and 528 s with numpy's default, 754 CPU-s and 423 s
# with this (4 December 2026).
one_blas_thread()
# ...and in this process, where a pytest plugin (zarr's, hydra's) may have loaded numpy already
threadpool_limits(int(os.environ[BLAS_THREADS]), user_api="blas")

from analysis.config import load_params, with_overrides  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Select Matplotlib's Agg backend once, where the test session starts (as ``bonta`` does),
    and hide the library notices ``bonta`` hides (pytest resets warning filters per test)."""
    from analysis.cli import ARVIZ_REFACTOR_NOTICE, use_file_backend

    use_file_backend()
    config.addinivalue_line("filterwarnings", f"ignore:{ARVIZ_REFACTOR_NOTICE}:FutureWarning")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistGrouping(), "bonta-xdist-grouping")


#: Fixed test key: the pseudonymisation key normally comes from the environment or .secrets/.
TEST_KEY = b"test-key-not-secret-0123456789abcdef"

#: A cohort small enough to build in seconds, large enough for every region to appear.
SMALL_COHORT = {"simulate.n_patients": 1500}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def params() -> dict:
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def small_params(params) -> dict:
    return with_overrides(params, SMALL_COHORT)


@pytest.fixture(scope="session")
def pseudonym_key() -> bytes:
    return TEST_KEY


@pytest.fixture(scope="session")
def small_cohort(small_params):
    from analysis.simulator.cohort import simulate_cohort
    from analysis.simulator.config import SimConfig

    return simulate_cohort(SimConfig.from_params(small_params))


@pytest.fixture(scope="session")
def small_raw_dir(small_cohort, tmp_path_factory) -> Path:
    from analysis.simulator.cohort import write_cohort

    out = tmp_path_factory.mktemp("raw") / "demo"
    write_cohort(small_cohort, out)
    return out


@pytest.fixture(scope="session")
def small_prepared(small_raw_dir, small_params, pseudonym_key):
    from analysis.data.prepare import prepare
    from analysis.data.prepare_config import PrepareConfig

    return prepare(small_raw_dir, PrepareConfig.from_params(small_params), key=pseudonym_key)


@pytest.fixture(scope="session")
def small_episodes(small_prepared):
    """The processed episode table of the small cohort (one row per kept episode)."""
    return small_prepared.episodes


#: config.stash key (pytest-xdist controller): the directory where workers write test groups
GROUPS_DIR = pytest.StashKey[str]()

#: config.stash key: the session's tiny pipeline build (None when no collected test needs it)
TINY_BUILD = pytest.StashKey[object]()


def needs_tiny_pipeline(item: pytest.Item) -> bool:
    """The test reads the tiny pipeline: it asks for ``tiny_pipeline`` or is the "tiny
    pipeline" case of ``pipeline_root``."""
    if "tiny_pipeline" in item.fixturenames:
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("pipeline_root") == "tiny pipeline"


#: pytest-xdist groups (``./run test``: two workers, ``--dist loadgroup``): the tests that share
#: an expensive session fixture run in one worker, so that it is built once per run, not once
#: per worker (:class:`XdistGrouping`).
XDIST_GROUPS = {
    "advice_fit": "advice-fit",  # tests/advice and tests/serve: one small fit of the advice model
    "sampler": "complication-model",  # tests/complications: the compiled complication model
    "stage_run": "complication-stage",  # the fit_complications stage on the small cohort
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that read the tiny pipeline run last, so that the rest of the suite runs while
    it builds in the background (started by ``_tiny_pipeline_build`` when the session starts).
    Under pytest-xdist, each worker writes the group of every test that uses an expensive
    fixture (:data:`XDIST_GROUPS`) for the controller's scheduler; the tiny pipeline's readers
    are in no group (every worker reads the one build: ``_tiny_pipeline_build``)."""
    reads = {item.nodeid: needs_tiny_pipeline(item) for item in items}
    tiny = [item for item in items if reads[item.nodeid]]
    items[:] = [item for item in items if not reads[item.nodeid]] + tiny
    config.stash[TINY_BUILD] = (
        {"twin": any(item.get_closest_marker("pipeline_twin") for item in tiny)} if tiny else None
    )
    groups = {}
    for item in items:
        for fixture, group in XDIST_GROUPS.items():
            if fixture in item.fixturenames:
                groups[item.nodeid] = group
                break
    groups_dir = getattr(config, "workerinput", {}).get("bonta_groups_dir")
    if groups_dir:  # a pytest-xdist worker: tell the controller's scheduler
        worker = config.workerinput["workerid"]
        (Path(groups_dir) / f"{worker}.json").write_text(json.dumps(groups))


class XdistGrouping:
    """pytest-xdist hooks (registered by :func:`pytest_configure` when pytest-xdist is loaded):
    with ``--dist loadgroup``, one work unit per group of :data:`XDIST_GROUPS`, one per test
    otherwise. pytest-xdist 3.8 groups by a suffix it adds to each node id, which pytest 9 no
    longer lets a plugin change (its ``xdist_group`` marks are a no-op here), so the
    controller's scheduler reads the groups that the workers wrote at collection instead."""

    def pytest_configure_node(self, node) -> None:
        """Controller: tell each worker where to write its tests' groups."""
        stash = node.config.stash
        groups_dir = stash.setdefault(GROUPS_DIR, tempfile.mkdtemp(prefix="bonta-groups-"))
        node.workerinput["bonta_groups_dir"] = groups_dir

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadGroupScheduling

        class FixtureGroupScheduling(LoadGroupScheduling):
            def _split_scope(self, nodeid: str) -> str:
                if not hasattr(self, "_groups"):
                    self._groups = {}
                    for path in Path(config.stash[GROUPS_DIR]).glob("*.json"):
                        self._groups.update(json.loads(path.read_text()))
                return self._groups.get(nodeid, nodeid)

        return FixtureGroupScheduling(config, log)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        groups_dir = config.stash.get(GROUPS_DIR, None)
        if groups_dir:
            shutil.rmtree(groups_dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _tiny_pipeline_build(request, repo_root, tmp_path_factory):
    """Start the tiny pipeline (``tests/pipeline_run.py``) in the background when the first
    test starts, if a collected test reads it; stop its processes when the session ends.

    Under pytest-xdist (``./run test`` runs two workers) the first worker to get here starts
    the build and the others attach to it (a lock and a JSON file in the session's shared
    temporary directory), so it is built once per test run; the worker that started it waits
    for it at the end of its session instead of stopping it, as another worker may read it.
    """
    wanted = request.config.stash.get(TINY_BUILD, None)
    if not wanted:
        yield None
        return
    from filelock import FileLock
    from pipeline_run import TinyBuild

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    started: object
    owner = True
    try:
        if not worker:
            tmp = tmp_path_factory.mktemp("tiny")
            started = TinyBuild(repo_root, tmp, twin=wanted["twin"]).start()
        else:
            shared = tmp_path_factory.getbasetemp().parent  # the same for every worker
            with FileLock(str(shared / "tiny-build.lock")):
                described = shared / "tiny-build.json"
                if described.exists():
                    owner = False
                    started = TinyBuild.attach(
                        repo_root, shared / "tiny", json.loads(described.read_text())
                    )
                else:
                    started = TinyBuild(repo_root, shared / "tiny", twin=wanted["twin"]).start()
                    described.write_text(json.dumps(started.describe()))
    except Exception as failed:  # reported by the tests that read the pipeline, not by all
        started = failed
    yield started
    if isinstance(started, TinyBuild) and owner:
        try:
            if worker:  # another worker may still read it
                started.wait()
        finally:
            started.stop()


@pytest.fixture(scope="session")
def tiny_pipeline(_tiny_pipeline_build) -> dict:
    """The repository's whole dvc.yaml run once in a temporary copy, sampling with nutpie's
    test double (``tests/pipeline_run.py``): ``root``, ``hashes`` (of its outputs), ``params``;
    when a test marked ``pipeline_twin`` (the reproducibility test) is in the session, a twin
    copy runs beside it (``twin_hashes``)."""
    if isinstance(_tiny_pipeline_build, LookupError):  # a stage module not written yet
        pytest.skip(str(_tiny_pipeline_build))
    if isinstance(_tiny_pipeline_build, Exception):
        raise _tiny_pipeline_build
    return _tiny_pipeline_build.result()


@pytest.fixture(scope="session", params=["repository", "tiny pipeline"])
def pipeline_root(request, repo_root) -> Path:
    """A project root where the whole pipeline has run: the repository itself (skipped when
    its pipeline has not been run in this checkout) and the session's tiny pipeline (always
    built, so these tests run on a fresh clone and in CI)."""
    if request.param == "repository":
        if not (repo_root / "reports" / "index.html").exists():
            pytest.skip("the pipeline has not built reports/ in this checkout")
        return repo_root
    return request.getfixturevalue("tiny_pipeline")["root"]


#: Debian's Chromium, driven by Playwright in the browser tests (`./run test` installs it).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module; missing Chromium fails under CI and skips elsewhere."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium is missing: install Debian's chromium")
        pytest.skip("/usr/bin/chromium is absent and CI is not set (./run test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- one small fit of the advice model per test session (tests/advice and tests/serve) ---
#
# The small cohort through the real code path (`fit_duration_models`), with short chains: 2
# families compared on 300 patients, the chosen one refitted on 800 patients with 2 chains x 500
# draws, of which 500 are kept (every other draw: the stored posterior, its PSIS-LOO and the
# validation's leave-one-patient-out predictions; all 1,000 took twice the time). The gate
# thresholds are lowered for these short chains (ESS >= 150, R-hat <= 1.02); the production
# gate (params.yaml) is exercised by `test_gate_rejects_a_short_run`. The app's tests
# (tests/serve) serve this same fit: they check what the app does with a model, not the model.

ADVICE_TEST_FAMILIES = ("lognormal", "weibull")


@pytest.fixture(scope="session")
def advice_config(params):
    from dataclasses import replace

    from analysis.advice.config import AdviceConfig
    from analysis.inference import GateConfig, SamplerConfig

    return replace(
        AdviceConfig.from_params(params),
        families=ADVICE_TEST_FAMILIES,
        compare_patients=300,
        max_train_patients=800,
        compare_sampler=SamplerConfig(draws=300, tune=300, chains=2, cores=2),
        sampler=SamplerConfig(draws=500, tune=500, chains=2, cores=2),
        gate=GateConfig(max_rhat=1.02, min_ess_bulk=150, min_ess_tail=150, max_divergences=0),
        stored_draws=500,
        advice_draws=300,
    )


@pytest.fixture(scope="session")
def advice_spec(params):
    from analysis.advice.spec import spec_from_vocabulary
    from analysis.survival.covariates import DurationModelConfig
    from analysis.vocabulary import Vocabulary

    knot = DurationModelConfig.from_params(params).dose_knot_log2
    return spec_from_vocabulary(Vocabulary.from_params(params), knot)


@pytest.fixture(scope="session")
def advice_fit(small_episodes, advice_spec, advice_config, params):
    from analysis.advice.fit import fit_duration_models

    return fit_duration_models(small_episodes, advice_spec, advice_config, seed=params["seed"])


@pytest.fixture(scope="session")
def advice_draws(advice_fit, advice_config):
    from analysis.advice.predict import PosteriorDraws

    return PosteriorDraws.from_dataset(
        advice_fit.posterior, advice_fit.family, advice_fit.spec, advice_config.advice_draws
    )
