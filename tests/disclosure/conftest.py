"""Fixtures of the disclosure tests: small cohorts built to be easy to attack, each described,
given the complication stage's counts and released through the real ``disclose`` stage."""

from __future__ import annotations

import pytest
import yaml
from cohorts import SPECS, release_cohort

from analysis.config import with_overrides


def write_params(params: dict, path, **overrides) -> str:
    """A params file releasing the cohort and complication stages only."""
    changed = with_overrides(params, {"report.stages": ["cohort", "complications"], **overrides})
    path.write_text(yaml.safe_dump(changed))
    return str(path)


def disclose(params_file: str, dirs: dict) -> None:
    from analysis.cli import main

    args = ["disclose", "--params", params_file, "--results", str(dirs["results"])]
    assert main([*args, "--out", str(dirs["reports"])]) == 0


@pytest.fixture(scope="session", params=sorted(SPECS))
def released(request, tmp_path_factory, params) -> dict:
    """One adversarial cohort, released: directories, its spec and the params file."""
    root = tmp_path_factory.mktemp(request.param)
    params_file = write_params(params, root / "params.yaml")
    dirs = release_cohort(SPECS[request.param], root, params_file)
    disclose(params_file, dirs)
    return {**dirs, "name": request.param, "spec": SPECS[request.param], "params": params_file}


@pytest.fixture(scope="session")
def released_without_complements(tmp_path_factory, params) -> dict:
    """The one-event cohort released with primary suppression only (a protection width so
    small that no complement is ever needed): what the attack must be able to break."""
    root = tmp_path_factory.mktemp("primary_only")
    params_file = write_params(
        params, root / "params.yaml", **{"disclosure.protection_width": 1e-9}
    )
    dirs = release_cohort(SPECS["one_event_in_a_region"], root, params_file)
    disclose(params_file, dirs)
    return dirs
