"""Fixtures of the report tests: the real describe, disclose and report stages run on the
synthetic processed cohort and fake model-stage outputs of tests/synthetic_study.py.
"""

from __future__ import annotations

import shutil

import pytest
from reader_study import write_reader_fakes
from synthetic_study import (
    build_reports,
    make_data_quality,
    make_episodes,
    write_fake_stage_outputs,
    write_processed,
)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """(episodes, raw identifiers, data quality) of the synthetic cohort."""
    episodes, raw = make_episodes()
    return episodes, raw, make_data_quality(len(episodes))


@pytest.fixture(scope="session")
def built_report(synthetic, tmp_path_factory, repo_root) -> dict:
    """Run the real describe, disclose and report stages on the synthetic cohort + fake model
    stages (written, like every stage's output, to the analyst directory data/results)."""
    episodes, raw, dq = synthetic
    root = tmp_path_factory.mktemp("built")
    processed = write_processed(episodes, dq, root / "data" / "processed")
    results, reports = root / "data" / "results", root / "reports"
    fakes = write_fake_stage_outputs(results)
    readers = write_reader_fakes(results, episodes, fakes)
    params = root / "params.yaml"
    shutil.copy(repo_root / "params.yaml", params)
    build_reports(params, processed, results, reports)
    return {
        "root": root,
        "reports": reports,
        "results": results,
        "processed": processed,
        "raw": raw,
        "fakes": fakes,
        "params": params,
        "flagged": readers["flagged"],
    }
