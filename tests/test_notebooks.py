"""Every notebook is paired with a text file (jupytext) and runs top to bottom.

The ``.py`` file (jupytext percent format) is the one a researcher edits and reviews in a diff;
the ``.ipynb`` beside it must hold the same cells. Each notebook is executed from its text file
and its own check printed in the output is asserted (for example the survival walkthrough's
share of true time ratios covered by their 95% intervals).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))

#: notebook stem -> (regex on the executed output, check of the captured number)
CHECKS = {
    # correctly specified model: about 95% of the true time ratios should be covered
    "survival_walkthrough": (r"covered: (\d+)%", lambda covered: covered >= 80),
    # 95% credible intervals of the 10 region rates against the true mean risk (short run)
    "complications_walkthrough": (r"covered: (\d+)%", lambda covered: covered >= 70),
    # 95% credible intervals of the effects against the simulator's truth (visit-derived endpoint)
    "advice_walkthrough": (r"covered: (\d+)%", lambda covered: covered >= 70),
}


def _code_sources(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type in ("code", "markdown")]


def test_every_notebook_has_a_paired_text_file():
    stems = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    assert stems == {p.stem for p in NOTEBOOKS}, "pair each notebook: jupytext --set-formats"
    assert set(CHECKS) <= stems


@pytest.mark.parametrize("text_file", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_text_file_hold_the_same_cells(text_file):
    from_text = jupytext.read(text_file)
    from_ipynb = nbformat.read(text_file.with_suffix(".ipynb"), as_version=4)
    assert _code_sources(from_text) == _code_sources(from_ipynb), (
        f"{text_file.name} and its .ipynb differ: run `jupytext --sync {text_file}`"
    )


def _execute(text_file: Path) -> str:
    """Run the notebook from its text file in a fresh kernel; the text of its outputs."""
    nb = jupytext.read(text_file)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    return "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.fixture(scope="module")
def executed(request) -> Iterator[dict[str, Future[str]]]:
    """The selected notebooks started at once, two at a time: each runs in its own kernel
    process, so two use both cores (one after the other they took 63 + 53 + 11 s in CI on 3
    December 2026; two at a time, 77 s for the three on an otherwise idle machine)."""
    selected = [
        item.callspec.params["text_file"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_notebook_executes_and_shows_its_check"
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {p.stem: pool.submit(_execute, p) for p in selected}


@pytest.mark.slow
@pytest.mark.parametrize("text_file", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_and_shows_its_check(text_file, executed):
    outputs = executed[text_file.stem].result()
    pattern, check = CHECKS.get(text_file.stem, (None, None))
    if pattern is not None:
        found = re.search(pattern, outputs)
        assert found, f"{text_file.name} did not print its check ({pattern})"
        assert check(int(found.group(1))), found.group(0)
