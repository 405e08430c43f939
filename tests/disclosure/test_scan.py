"""No count from 1 to min_count - 1 appears in anything shipped under ``reports/``: tables (CSV
and Parquet), the data behind every figure (the released tables a figure is drawn from), the
manifests' headlines, the metrics JSON, and the tables of the HTML report. Count columns are
found by their names, independently of the layer's declarations."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from analysis.config import load_params
from analysis.disclosure.config import DisclosureConfig

#: Columns holding counts of people or episodes, by name.
COUNT_COLUMN = re.compile(
    r"^(n|rows)_|_(events|episodes|patients|treatments|retreated|complications|excluded|in|kept)$"
    r"|known_effective"
)
#: Count-like names that count no person: parameters, bootstrap failures.
NOT_PEOPLE = {"n_params", "n_parameters", "n_boot_failed"}
PEOPLE_UNITS = {"patients", "episodes", "treatments"}


def _small(value, min_count: int) -> bool:
    if isinstance(value, str):
        head = value.strip().split(" ")[0].replace(",", "")
        try:
            value = float(head)
        except ValueError:
            return False
    try:
        return 0 < float(value) < min_count
    except (TypeError, ValueError):
        return False


def small_counts_in_table(table: pd.DataFrame, min_count: int) -> list[str]:
    found = []
    cols = [c for c in table.columns if COUNT_COLUMN.search(str(c)) and c not in NOT_PEOPLE]
    if {"measure", "value", "unit"} <= set(table.columns):  # long format (at a glance)
        rows = table.loc[table["unit"].isin(PEOPLE_UNITS)]
        found += [
            f"value of {m}"
            for m, v in zip(rows["measure"], rows["value"], strict=True)
            if _small(v, min_count)
        ]
    if {"characteristic", "statistic"} <= set(table.columns):  # Table 1
        counts = table.loc[table["statistic"].isin(["n", "n (%)"])]
        cols += [c for c in table.columns if c not in ("characteristic", "level", "statistic")]
        table = counts
    for col in cols:
        found += [f"{col} row {i + 1}" for i, v in enumerate(table[col]) if _small(v, min_count)]
    return found


def small_counts_under(reports: Path, min_count: int) -> list[str]:
    found = []
    for path in sorted(reports.rglob("*")):
        if path.suffix == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif path.suffix == ".parquet":
            table = pd.read_parquet(path)
        elif path.name == "manifest.json":
            heads = json.loads(path.read_text()).get("headlines", [])
            found += [
                f"{path}: headline {h['key']}"
                for h in heads
                if h.get("unit") in PEOPLE_UNITS and _small(h.get("value"), min_count)
            ]
            continue
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            found += [
                f"{path}: {k}"
                for k, v in data.items()
                if COUNT_COLUMN.search(k) and k not in NOT_PEOPLE and _small(v, min_count)
            ]
            continue
        else:
            continue
        found += [f"{path}: {hit}" for hit in small_counts_in_table(table, min_count)]
    return found


class _Tables(HTMLParser):
    """Header and body cells of every ``<table>`` of a page."""

    def __init__(self):
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self._head: list[str] = []
        self._rows: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._head, self._rows = [], []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "tr":
            self._row = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            if self._rows or self._head:
                self._rows.append(self._row)
            else:
                self._head = self._row
        elif tag == "table":
            self.tables.append((self._head, self._rows))


def small_counts_in_html(path: Path, min_count: int) -> list[str]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    found = []
    for k, (head, rows) in enumerate(parser.tables):
        if not head or any(len(r) != len(head) for r in rows):
            continue
        table = pd.DataFrame(rows, columns=head)
        found += [f"HTML table {k + 1}: {hit}" for hit in small_counts_in_table(table, min_count)]
    return found


def test_the_scan_finds_a_small_count_left_in_a_table(tmp_path):
    table = pd.DataFrame({"region": ["a", "b"], "n_events": [12, 3], "rate": [0.1, 0.2]})
    table.to_csv(tmp_path / "t.csv", index=False)
    assert small_counts_under(tmp_path, 5) == [f"{tmp_path / 't.csv'}: n_events row 2"]


def test_nothing_released_shows_a_small_count(released, params):
    min_count = DisclosureConfig.from_params(params).min_count
    assert small_counts_under(released["reports"], min_count) == []


def test_the_analyst_copies_do_have_small_counts(released, params):
    """The cohorts are small: the scan would have something to find before release."""
    min_count = DisclosureConfig.from_params(params).min_count
    assert small_counts_under(released["results"], min_count)


def _numbers(table: pd.DataFrame) -> list[float]:
    values = pd.to_numeric(table.stack(), errors="coerce")
    return [float(v) for v in values.dropna()]


def test_every_released_headline_is_a_number_of_its_released_table(released):
    """A headline repeating a withheld value (a rate whose count is suppressed) would give the
    count back: every headline number must be readable in the table it cites."""
    for path in released["reports"].rglob("manifest.json"):
        for head in json.loads(path.read_text())["headlines"]:
            if not head.get("source") or isinstance(head["value"], str):
                continue
            shown = _numbers(pd.read_csv(path.parent / head["source"], dtype=str))
            for key in ("value", "lower", "upper"):
                if head.get(key) is not None:
                    assert any(abs(head[key] - v) <= 1e-6 * max(1, abs(v)) for v in shown), (
                        f"{path}: headline {head['key']} {key} is not in {head['source']}"
                    )


def test_no_analyst_only_output_is_released(released):
    reports = released["reports"]
    assert not list(reports.rglob("cubes"))
    for path in reports.rglob("manifest.json"):
        data = json.loads(path.read_text())
        assert "cubes" not in data and "tables" not in data


@pytest.mark.slow
def test_the_pipeline_reports_show_no_small_count(pipeline_root):
    params = load_params(pipeline_root / "params.yaml")
    reports = pipeline_root / "reports"
    assert (reports / "cohort" / "disclosure_audit.csv").exists()
    min_count = DisclosureConfig.from_params(params).min_count
    found = small_counts_under(reports, min_count)
    if (reports / "index.html").exists():
        found += small_counts_in_html(reports / "index.html", min_count)
    assert found == []
