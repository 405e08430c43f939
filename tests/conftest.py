"""Session fixtures shared by the whole suite.

Expensive objects (a simulated cohort, its prepared tables) are built once per test run from
the repository's own params.yaml with a smaller cohort, through the same code the pipeline runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis.config import load_params, with_overrides

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Select Matplotlib's Agg backend once, where the test session starts (as ``bonta`` does)."""
    from analysis.cli import use_file_backend

    use_file_backend()


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
