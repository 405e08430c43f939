"""The built report in a real headless browser (Debian's Chromium driven by Playwright).

Checks that every view renders after clicking its navigation link, every image loads, the page
asks for nothing outside file:// and data: URLs, no console error occurs, and every headline
number shown equals the value in its stage's manifest and appears in the table it cites.
Runs on the report built from fake manifests, and also on the repository's own
reports/index.html when the pipeline has produced one.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import yaml

VIEWS = ("clinic", "research", "advice")


def _manifests(reports: Path, params_file: Path) -> list[tuple[Path, dict]]:
    stages = yaml.safe_load(params_file.read_text())["report"]["stages"]
    return [(reports / s, json.loads((reports / s / "manifest.json").read_text())) for s in stages]


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _assert_shown_equals(text: str, value, what: str) -> None:
    if isinstance(value, str):
        assert text == value, what
        return
    shown = float(text.replace(",", ""))
    tol = 0.5 * 10 ** -_decimals(text) + 1e-9
    assert abs(shown - float(value)) <= tol, f"{what}: page {text!r} vs stage {value!r}"


def _assert_in_source(stage_dir: Path, head: dict) -> None:
    """The headline value occurs in the table the manifest cites as its source."""
    source = head.get("source")
    if not source or not (stage_dir / source).is_file():
        return
    table = pd.read_csv(stage_dir / source, dtype=str, keep_default_na=False)
    cells = table.to_numpy().ravel().tolist()
    if isinstance(head["value"], str):
        assert head["value"] in cells, f"{head['key']} not in {source}"
        return
    numbers = pd.to_numeric(pd.Series(cells), errors="coerce").dropna()
    value = float(head["value"])
    # a stage may round its headline (2.665 for a cell 2.66537): allow half its last digit
    tol = 0.5 * 10 ** -_decimals(repr(value)) if "e" not in repr(value) else 0.0
    assert any(math.isclose(x, value, rel_tol=1e-5, abs_tol=tol + 1e-9) for x in numbers), (
        f"{head['key']}={head['value']} not found in {source}"
    )


def check_report(browser, index: Path, manifests: list[tuple[Path, dict]]) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(index.resolve().as_uri(), wait_until="load")
    heads = [(d, h) for d, m in manifests for h in m["headlines"]]
    for view in VIEWS:
        page.click(f"#nav-{view}")
        expect(page.locator(f"#view-{view}")).to_be_visible()  # waits for the hashchange
        for other in set(VIEWS) - {view}:
            expect(page.locator(f"#view-{other}")).to_be_hidden()
        expect(page.locator(f"#nav-{view}")).to_have_attribute("aria-current", "page")
        assert page.locator(f"#view-{view} h2").first.inner_text().strip()
        assert page.locator("footer.provenance").is_visible()
        for stage_dir, head in heads:
            if head["view"] != view:
                continue
            el = page.locator(f'[data-headline="{head["key"]}"]')
            assert el.count() == 1 and el.is_visible(), head["key"]
            _assert_shown_equals(
                el.locator(".value").inner_text().strip(), head["value"], head["key"]
            )
            if not isinstance(head["value"], str):
                assert math.isclose(
                    float(el.get_attribute("data-value")), float(head["value"]), rel_tol=1e-12
                )
            if head.get("lower") is not None and head.get("upper") is not None:
                lo, hi = re.split("–", el.locator(".interval-text").inner_text().strip())
                _assert_shown_equals(lo, head["lower"], head["key"] + " lower")
                _assert_shown_equals(hi, head["upper"], head["key"] + " upper")
            _assert_in_source(stage_dir, head)
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    n_figures = sum(len(s.get("figures", []) or []) for _, m in manifests for s in m["sections"])
    assert len(images) == n_figures
    assert all(done and width > 0 and alt for done, width, alt in images), images
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    page.close()


def test_built_report_in_browser(browser, built_report):
    check_report(
        browser,
        built_report["reports"] / "index.html",
        _manifests(built_report["reports"], built_report["params"]),
    )


def test_pipeline_report_in_browser(browser, pipeline_root):
    index = pipeline_root / "reports" / "index.html"
    check_report(
        browser, index, _manifests(pipeline_root / "reports", pipeline_root / "params.yaml")
    )
