"""The reader views in Chromium (Playwright) at 1440 and 390 px: the clinic outcome pages,
the advice card, the simulated-data banner and deep links of index.html.

Built once per session from the synthetic cohort and the fake stage outputs of
``reader_study.py`` (fixture ``built_report``), whose flagged providers are known.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.data.processed import read_simulated

WIDTHS = (1440, 390)


def _pages(reports: Path) -> list[Path]:
    return sorted((reports / "clinics").glob("*.html"))


def _open(browser, url: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    return page, errors


def _clinics(reports: Path) -> list[str]:
    return sorted(pd.read_csv(reports / "cohort" / "clinic_outcomes.csv")["clinic"].astype(str))


def test_one_self_contained_page_per_clinic_and_the_network(built_report):
    reports = built_report["reports"]
    names = [p.stem for p in _pages(reports)]
    assert names == sorted(["network", *_clinics(reports)])
    index = (reports / "index.html").read_text()
    for name in names:
        assert f'href="clinics/{name}.html"' in index
        html = (reports / "clinics" / f"{name}.html").read_text()
        # nothing loaded from elsewhere: no script or image source, links only to sibling pages
        assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"(?!data:)", html)
        hrefs = set(re.findall(r'href="([^"#]+)', html))
        assert hrefs <= {f"{n}.html" for n in names} | {"../index.html", "data:,"}, hrefs
        assert not re.search(r"Rosewood|Harbourside|Juniper|Quillon", html)  # raw names


def _review(page) -> set[tuple[str, str, str]]:
    items = page.locator("#needs-review .review-item")
    return {
        (
            items.nth(k).get_attribute("data-level"),
            items.nth(k).get_attribute("data-provider"),
            items.nth(k).get_attribute("data-outcome"),
        )
        for k in range(items.count())
    }


def flagged_in_tables(reports: Path) -> set[tuple[str, str, str]]:
    """(level, provider, outcome) of every flagged row of the released provider tables."""
    out = set()
    for kind in ("complication", "touchup"):
        for level in ("clinic", "injector"):
            table = pd.read_csv(reports / "complications" / f"{kind}_rates_by_{level}.csv")
            for _, row in table.loc[table["flagged"].astype(str) == "True"].iterrows():
                outcome = "touch-up" if kind == "touchup" else row["complication"]
                out.add((level, str(row[level]), outcome.replace("_", " ")))
    return out


def test_needs_review_box_lists_exactly_the_flagged_providers(browser, built_report):
    reports, flagged = built_report["reports"], built_report["flagged"]
    assert flagged  # the fakes flag an injector, a clinic and a touch-up
    assert flagged_in_tables(reports) == flagged
    check_review_boxes(browser, reports, flagged)


def test_pipeline_clinic_pages(browser, pipeline_root):
    """The same checks on the pages the whole pipeline built."""
    reports = pipeline_root / "reports"
    assert (reports / "clinics" / "network.html").exists()
    check_review_boxes(browser, reports, flagged_in_tables(reports))
    check_tiles(browser, reports)
    simulated = read_simulated(pipeline_root / "data" / "processed")
    for width in WIDTHS:
        check_fit(browser, reports, width, simulated)


def check_review_boxes(browser, reports: Path, flagged: set) -> None:
    injectors = pd.read_csv(reports / "complications" / "complication_rates_by_injector.csv")
    clinic_of = dict(zip(injectors["injector"], injectors["clinic"], strict=False))
    for path in _pages(reports):
        page, _ = _open(browser, path.as_uri(), 1440)
        expected = (
            flagged
            if path.stem == "network"
            else {
                f for f in flagged if (f[1] if f[0] == "clinic" else clinic_of[f[1]]) == path.stem
            }
        )
        assert _review(page) == expected, path.stem
        nothing = page.locator("#needs-review .nothing")
        assert nothing.count() == (0 if expected else 1)
        if not expected:
            assert "Nothing needs review" in nothing.inner_text()
        for k in range(len(expected)):
            text = page.locator("#needs-review .review-item").nth(k).inner_text()
            assert "treatments" in text and "Flagged because" in text and "95% CrI" in text
        page.close()
    index, _ = _open(browser, (reports / "index.html").as_uri() + "#clinic", 1440)
    assert _review(index) == flagged
    index.close()


def test_headline_tiles_equal_their_tables(browser, built_report):
    check_tiles(browser, built_report["reports"])


def check_tiles(browser, reports: Path) -> None:
    for path in _pages(reports):
        page, _ = _open(browser, path.as_uri(), 1440)
        tiles = page.locator(".tile")
        assert tiles.count() >= 4
        for k in range(tiles.count()):
            tile = tiles.nth(k)
            cell = page.locator(
                f'table[data-table="{tile.get_attribute("data-ref-table")}"] '
                f'tr[data-key="{tile.get_attribute("data-ref-row")}"] '
                f'td[data-col="{tile.get_attribute("data-ref-col")}"]'
            )
            assert cell.count() == 1
            shown = " ".join(
                t
                for t in (
                    tile.locator(".value").inner_text(),
                    tile.locator(".interval").inner_text(),
                )
                if t
            )
            assert shown == cell.inner_text().strip(), (path.stem, k)
        # the page's own row of the summary table is the released row of its clinic
        code = path.stem
        row = page.locator('table[data-table="summary"] tr').nth(1)
        released = pd.read_csv(
            reports
            / "cohort"
            / ("network_outcomes.csv" if code == "network" else "clinic_outcomes.csv")
        )
        if code != "network":
            released = released.loc[released["clinic"] == code]
        n = str(released["n_episodes"].iloc[0])
        assert row.locator('td[data-col="Treatments"]').inner_text().replace("\u202f", "") == n
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_views_fit_the_screen_without_errors(browser, built_report, width):
    check_fit(browser, built_report["reports"], width, simulated=True)  # the synthetic data


def check_fit(browser, reports: Path, width: int, simulated: bool) -> None:
    """No horizontal overflow, no console error, the banner exactly when the data are
    simulated, on every view of index.html and every clinic page."""
    urls = [(reports / "index.html").as_uri() + f"#{v}" for v in ("clinic", "research", "advice")]
    urls += [p.as_uri() for p in _pages(reports)]
    for url in urls:
        page, errors = _open(browser, url, width)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{url}: {scroll} px wide at {width} px"
        assert errors == [], url
        assert page.locator("#simulated-banner").count() == int(simulated), url
        if simulated:
            assert page.locator("#simulated-banner").is_visible(), url
        page.close()


@pytest.mark.parametrize(
    ("anchor", "view"),
    [("methods", "research"), ("advice-card", "advice"), ("needs-review", "clinic")],
)
def test_deep_links_open_their_view_at_their_section(browser, built_report, anchor, view):
    url = (built_report["reports"] / "index.html").as_uri() + f"#{anchor}"
    page, errors = _open(browser, url, 390)
    assert page.locator(f"#view-{view}").is_visible()
    box = page.locator(f"#{anchor}").bounding_box()
    assert box is not None and -1 <= box["y"] < 900, box  # scrolled into the viewport
    assert page.evaluate("window.scrollY") > 0 or box["y"] < 300
    assert errors == []
    page.close()


def test_advice_card_has_every_region_and_marks_the_floor(built_report):
    reports = built_report["reports"]
    advice = pd.read_csv(reports / "advice" / "advice_table.csv")
    html = (reports / "index.html").read_text()
    for region in advice["region"].unique():
        assert f'id="advice-{region}"' in html
    n_floor = int(advice["floor_binds"].sum())
    assert f"({n_floor} of {len(advice)} cells)" in html
    assert html.count("†</td>") == n_floor
    for product in ("ona", "inco", "abo", "prabo", "daxi"):
        assert f'<th scope="col" class="num">{product}, U</th>' in html
    assert "bonta advise" in html and "--past" in html and "bonta serve" in html
