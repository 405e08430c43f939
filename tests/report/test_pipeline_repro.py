"""The DVC pipeline is reproducible to the byte: two copies of the project, run at the same time
in two directories, one by plain ``dvc repro`` and one by ``./run pipeline``'s runner (stages
side by side: analysis/lanes.py), give identical tables, metrics, figures and HTML, and a
second plain ``dvc repro`` runs nothing in either (dvc.lock is complete).

The copies are the session's tiny pipeline (``tests/pipeline_run.py``, fixture
``tiny_pipeline``, which builds the twin when a test marked ``pipeline_twin`` is in the
session); the tests of a built ``reports/`` read the first. Until 3 December 2026 this test ran
``dvc repro --force`` in the first copy after it had finished: the same check, one whole
pipeline run later. It replaced a second test that ran only describe, disclose and report on a
synthetic cohort with fake model outputs (written while the model stages did not exist yet).

PDF and NetCDF files are not compared (not part of the promise).
"""

from __future__ import annotations

import re
import sys

import pytest
from pipeline_run import run_in


@pytest.mark.slow
@pytest.mark.pipeline_twin
def test_whole_pipeline_reproduces(tiny_pipeline):
    project, first = tiny_pipeline["root"], tiny_pipeline["hashes"]
    second = tiny_pipeline["twin_hashes"]
    changed = sorted(k for k in first if first[k] != second.get(k))
    assert changed == [], f"outputs differ between two runs of the pipeline: {changed}"
    assert set(first) == set(second)
    for copy in (project, tiny_pipeline["twin_root"]):
        log = run_in([sys.executable, "-m", "dvc", "repro"], copy, 3000)
        assert "Running stage" not in log, log
        assert "up to date" in log.lower(), log
    for expected in (
        "reports/index.html",
        "reports/clinics/network.html",
        "reports/manuscript/manuscript.md",
        "reports/cohort/manifest.json",
        "reports/cohort/disclosure_audit.csv",
        "reports/metrics/disclosure.json",
        "reports/tables/cohort-table1.tex",
        "reports/cohort/quarterly_trends.png",
    ):
        assert expected in first
    for pdf in ("reports/research.pdf", "reports/manuscript/manuscript.pdf"):
        assert (project / pdf).stat().st_size > 0
    # the copies sample with nutpie's test double: every methods text that names nutpie says so
    manuscript = (project / "reports/manuscript/manuscript.md").read_text()
    assert "nutpie test double (prior draws, not a posterior)" in manuscript
    assert not re.search(r"nutpie \d", manuscript), "a methods text names the real nutpie"
