"""Fixtures of the report tests: the real describe, disclose and report stages run on the
synthetic processed cohort and fake model-stage outputs of tests/synthetic_study.py.
"""

from __future__ import annotations

import shutil

import pytest
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
    }


# ------------------------------------------------------------------------------------------
# Reading the built HTML without a browser
# ------------------------------------------------------------------------------------------
def html_tables(html: str) -> dict[str, list[list[str]]]:
    """Body cells of every ``<table data-source=...>`` in ``html``, keyed by data-source."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables: dict[str, list[list[str]]] = {}
            self.current = None
            self.in_body = self.in_cell = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table" and "data-source" in attrs:
                self.current = self.tables.setdefault(attrs["data-source"], [])
            elif tag == "tbody" and self.current is not None:
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.current.append([])
            elif tag == "td" and self.in_body:
                self.in_cell = True
                self.current[-1].append("")

        def handle_endtag(self, tag):
            if tag == "td":
                self.in_cell = False
            elif tag == "tbody":
                self.in_body = False
            elif tag == "table":
                self.current = None

        def handle_data(self, data):
            if self.in_cell and self.current is not None:
                self.current[-1][-1] += data

    parser = Parser()
    parser.feed(html)
    return parser.tables
