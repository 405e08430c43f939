"""The manuscript and the PDFs, on the synthetic study released by the real disclose stage.

Facts checked: no table of either PDF loses a column at the page edge; page 1 of each PDF
carries the simulated-data banner on simulated data; the STROBE and TRIPOD checklists name a
section for every item marked answered, each named section exists and has text (and an item
marked unanswered for a missing section really has none); the manuscript's numbers are the
released ones; p-values print as "<0.001".
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from analysis.cli import main
from analysis.report.checklists import ChecklistItem, resolve
from analysis.report.formatting import format_number, format_table

PDFS = ("research.pdf", "manuscript/manuscript.pdf")


# ------------------------------------------------------------------------------------------
# Reading the PDFs
# ------------------------------------------------------------------------------------------
def _pages(pdf: Path) -> list[tuple[str, float, float]]:
    """(text, largest x at which a text run starts, page width) of every page.

    WeasyPrint places every text run with its own ``Tm`` operator; a run placed beyond the
    page's width is text a reader never sees (a clipped column), though pypdf still extracts it.
    """
    out = []
    for page in PdfReader(pdf).pages:
        xs: list[float] = []

        def visit(op, args, cm, tm, xs=xs):
            if op == b"Tm":
                xs.append(float(args[4]) * cm[0] + float(args[5]) * cm[2] + cm[4])

        text = page.extract_text(visitor_operand_before=visit)
        out.append((text, max(xs, default=0.0), float(page.mediabox.width)))
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _manuscript_tables(markdown: str) -> list[tuple[str, list[str]]]:
    """(source path, header cells) of every table of the Markdown source."""
    lines = markdown.splitlines()
    out = []
    for i, line in enumerate(lines):
        found = re.match(r"\*\*Table \d+\.\*\* .*\(source: `reports/([^`]+)`\)$", line)
        if found:
            header = next(ln for ln in lines[i + 1 :] if ln.startswith("|"))
            out.append((found.group(1), [c.strip() for c in header.strip("|").split("|")]))
    return out


@pytest.fixture(scope="module")
def pdf_pages(built_report) -> dict[str, list[tuple[str, float, float]]]:
    return {name: _pages(built_report["reports"] / name) for name in PDFS}


@pytest.mark.parametrize("name", PDFS)
def test_no_text_starts_beyond_the_page_edge(pdf_pages, name):
    for number, (_text, right, width) in enumerate(pdf_pages[name], start=1):
        assert right < width, f"{name} page {number}: text starts at x={right:.0f} > {width:.0f}"


@pytest.mark.parametrize("name", PDFS)
def test_first_page_carries_the_simulated_data_banner(pdf_pages, name):
    assert "Simulated data." in pdf_pages[name][0][0]
    assert "Simulated data." not in pdf_pages[name][1][0]  # said once, on page 1


def test_research_pdf_tables_keep_their_last_column(built_report, pdf_pages):
    """Every research-view table: the pages that carry its source line (one per part of a split
    table) show its last column and, together, every column."""
    reports = built_report["reports"]
    holding: dict[str, list[str]] = {}
    for page_text, *_ in pdf_pages["research.pdf"]:
        on_page = _squash(page_text)  # a long source path may wrap
        for source in re.findall(r"Source:reports/(.+?\.csv)", on_page):
            holding.setdefault(source, []).append(on_page)
    assert {"cohort/table1.csv", "survival/time_ratios.csv", "cohort/data_quality.csv"} <= set(
        holding
    )
    for source, pages in holding.items():
        columns = [str(c) for c in pd.read_csv(reports / source, nrows=0).columns]
        assert any(_squash(columns[-1]) in page for page in pages), (source, columns[-1])
        for column in columns:
            assert any(_squash(column) in page for page in pages), (source, column)


@pytest.fixture(scope="module")
def wide_report(built_report, tmp_path_factory) -> Path:
    """The synthetic reports plus a 23-column research table, assembled again."""
    reports = tmp_path_factory.mktemp("wide") / "reports"
    for stage in ("cohort", "survival", "complications", "advice"):
        shutil.copytree(built_report["reports"] / stage, reports / stage)
    columns = {"term": ["dose", "muscle bulk", "exercise"]}
    columns |= {f"estimate_number_{k:02d}_long_header": [1.5 + k, 0.25, 12.75] for k in range(22)}
    pd.DataFrame(columns).to_csv(reports / "survival" / "wide_table.csv", index=False)
    manifest = json.loads((reports / "survival" / "manifest.json").read_text())
    research = next(s for s in manifest["sections"] if s["view"] == "research")
    research["tables"].append({"path": "wide_table.csv", "caption": "A wide table"})
    (reports / "survival" / "manifest.json").write_text(json.dumps(manifest))
    args = ["report", "--params", str(built_report["params"]), "--out", str(reports)]
    assert main([*args, "--processed", str(built_report["processed"])]) == 0
    return reports


def test_a_wide_table_prints_on_landscape_pages_split_with_its_key_column(wide_report):
    pages = _pages(wide_report / "research.pdf")
    holding = [
        (_squash(text), width)
        for text, _right, width in pages
        if "Source:reports/survival/wide_table.csv" in _squash(text)
    ]
    assert holding and all(width > 800 for _, width in holding)  # landscape A4
    parts = "".join(text for text, _ in holding)
    assert "(part1of2)" in parts and "(part2of2)" in parts
    header = pd.read_csv(wide_report / "survival" / "wide_table.csv", nrows=0).columns
    for column in header:  # every column printed, none clipped
        assert any(column in text for text, _ in holding), column
    assert all("muscle bulk".replace(" ", "") in text for text, _ in holding)  # key repeated
    assert all(right < width for _text, right, width in pages)


def test_manuscript_pdf_tables_keep_their_last_column(built_report, pdf_pages):
    markdown = (built_report["reports"] / "manuscript" / "manuscript.md").read_text()
    tables = _manuscript_tables(markdown)
    assert len(tables) >= 6
    pages = [_squash(text) for text, *_ in pdf_pages["manuscript/manuscript.pdf"]]
    for source, header in tables:
        holding = [p for p in pages if _squash(f"source:reports/{source}") in p]
        assert holding, f"table from {source} not found in the PDF"
        assert any(_squash(header[-1]) in p for p in holding), (source, header[-1])


# ------------------------------------------------------------------------------------------
# Checklists
# ------------------------------------------------------------------------------------------
class _Headings(HTMLParser):
    """Headings of an HTML page with their ids, and the text between consecutive headings."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[tuple[int, str, str]] = []  # (level, id, title)
        self.texts: list[str] = []
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-6]", tag):
            self.heads.append((int(tag[1]), dict(attrs).get("id", ""), ""))
            self.texts.append("")
            self._in_head = True

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag):
            self._in_head = False

    def handle_data(self, data):
        if not self.heads:
            return
        if self._in_head:
            level, hid, title = self.heads[-1]
            self.heads[-1] = (level, hid, title + data)
        else:
            self.texts[-1] += data

    def section_text(self, hid: str) -> str | None:
        """Text under heading ``hid`` up to the next heading of the same or a higher level."""
        for k, (level, other, _title) in enumerate(self.heads):
            if other == hid:
                text = self.texts[k]
                for j in range(k + 1, len(self.heads)):
                    if self.heads[j][0] <= level:
                        break
                    text += self.heads[j][2] + self.texts[j]
                return text
        return None


def _checklist_rows(markdown: str, appendix: str) -> list[list[str]]:
    block = markdown.split(f"## {appendix}", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in block.splitlines() if ln.startswith("| ")][2:]  # header, rule
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


@pytest.mark.parametrize(
    "appendix, n_items",
    [("Appendix A: STROBE checklist", 34), ("Appendix B: TRIPOD checklist", 31)],
)
def test_checklist_names_an_existing_non_empty_section_for_every_answered_item(
    built_report, appendix, n_items
):
    folder = built_report["reports"] / "manuscript"
    markdown = (folder / "manuscript.md").read_text()
    page = _Headings()
    page.feed((folder / "manuscript.html").read_text())
    rows = _checklist_rows(markdown, appendix)
    assert len(rows) == n_items
    answered = 0
    for item, _topic, _asks, status, where in rows:
        links = re.findall(r"\]\(#([a-z0-9_]+)\)", where)
        if status == "yes":
            answered += 1
            assert links, f"item {item} is marked answered but names no section"
            for hid in links:
                text = page.section_text(hid)
                assert text is not None, f"item {item}: section #{hid} does not exist"
                assert text.strip(), f"item {item}: section #{hid} is empty"
        else:
            assert status == "no" and where, f"item {item}: an unanswered item says why"
            missing = re.search(r"section (\w+) was not produced", where)
            if missing:
                assert page.section_text(missing.group(1)) is None
    assert answered >= n_items // 2


def test_an_item_whose_section_is_empty_is_not_answered():
    items = (
        ChecklistItem("1", "A", "a", ("bias",)),
        ChecklistItem("2", "B", "b", ("bias", "funding")),
        ChecklistItem("3", "C", "c", note="not applicable"),
    )
    rows = resolve(items, {"bias": ("Bias", "text"), "funding": ("Funding", "  ")})
    assert [r.answered for r in rows] == [True, False, False]
    assert "funding" in rows[1].remark and rows[2].remark == "not applicable"


# ------------------------------------------------------------------------------------------
# Content: released numbers, banner, design, self-contained HTML
# ------------------------------------------------------------------------------------------
def test_manuscript_numbers_are_the_released_ones(built_report):
    reports = built_report["reports"]
    markdown = (reports / "manuscript" / "manuscript.md").read_text()
    medians = pd.read_csv(reports / "survival" / "median_duration_by_region.csv")
    for row in medians.itertuples(index=False):
        if str(row.median_days) == "suppressed":
            assert re.search(rf"\| {row.region} \| suppressed \| suppressed \|", markdown)
        else:
            median = format_number(float(row.median_days))
            expected = f"{median} ({format_number(float(row.median_lower))}–"
            assert re.search(rf"\| {row.region} \|.*\| {re.escape(expected)}", markdown), row
    at_glance = pd.read_csv(reports / "cohort" / "cohort_at_glance.csv").set_index("measure")
    n_episodes = at_glance.loc["n_episodes", "value"]
    assert f"records: {n_episodes} treatment episodes (one region treated at one visit)" in markdown
    title = markdown.splitlines()[0]
    assert title.startswith("# ") and "a retrospective multicentre cohort study" in title


def test_manuscript_html_is_self_contained_and_says_the_data_are_simulated(built_report):
    html = (built_report["reports"] / "manuscript" / "manuscript.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert 'class="banner"' in html and "Simulated data." in html


def test_p_values_print_as_less_than_one_in_a_thousand():
    shown = format_table(pd.DataFrame({"p": [8.86e-204, 0.0123, 0.5], "p_above_1": [0.1] * 3}))
    assert [row[0] for row in shown] == ["<0.001", "0.012", "0.50"]
    assert shown[0][1] == "0.1"  # a posterior probability is not a p-value


def _checklist_row(markdown: str, appendix: str, item: str) -> list[str]:
    return next(r for r in _checklist_rows(markdown, appendix) if r[0] == item)


def test_follow_up_is_summarised_from_the_released_table_and_answers_strobe_14c(
    built_report, synthetic
):
    reports = built_report["reports"]
    markdown = (reports / "manuscript" / "manuscript.md").read_text()
    table = pd.read_csv(reports / "cohort" / "follow_up_summary.csv").set_index("measure")
    section = markdown.split("### Follow-up", 1)[1].split("\n### ", 1)[0]
    fu = table.loc["follow_up_days"]
    median = f"{format_number(float(fu['median']), 0)} days (IQR {format_number(fu['q1'], 0)}–"
    assert f"a median of {median}" in section
    assert f"{format_number(float(fu['total']), 1)} person-years in total" in section
    episodes = synthetic[0]
    assert int(table.loc["episodes_per_patient", "total"]) == len(episodes)
    assert "source: `reports/cohort/follow_up_summary.csv`" in section
    status, where = _checklist_row(markdown, "Appendix A: STROBE checklist", "14c")[3:]
    assert status == "yes" and "(#follow_up)" in where


def test_tripod_title_and_unadjusted_associations_are_answered(built_report):
    markdown = (built_report["reports"] / "manuscript" / "manuscript.md").read_text()
    lines = markdown.splitlines()
    subtitle = lines[2]
    assert subtitle.startswith("*Development of a multivariable prediction model")
    assert "duration of effect" in subtitle and "patients receiving" in subtitle
    status, where = _checklist_row(markdown, "Appendix B: TRIPOD checklist", "1")[3:]
    assert status == "yes" and "[Subtitle](#" in where
    unadjusted = pd.read_csv(
        built_report["reports"] / "survival" / "aft_unadjusted_time_ratios.csv"
    )
    section = markdown.split("### Unadjusted associations", 1)[1].split("\n### ", 1)[0]
    for row in unadjusted.itertuples(index=False):
        shown = f"{format_number(row.time_ratio)} ({format_number(row.time_ratio_lower)}–"
        assert f"| {row.label} | {shown}" in section, row.label
    status, where = _checklist_row(markdown, "Appendix B: TRIPOD checklist", "14b")[3:]
    assert status == "yes" and "(#unadjusted_associations)" in where
    status, where = _checklist_row(markdown, "Appendix A: STROBE checklist", "16a")[3:]
    assert status == "yes" and "(#unadjusted_associations)" in where
