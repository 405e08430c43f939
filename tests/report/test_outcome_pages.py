"""The clinic pages' duration section (analysis/report/outcomes.py), without a browser: each
clinic's median days per region beside the network's, from the released tables of the
synthetic study (``built_report``: real describe, disclose and report stages, fake model
stages with a clinic x region duration table, some of whose counts are small)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.disclosure import SUPPRESSED
from analysis.report.outcomes import TOO_FEW, build_page
from analysis.report.readers import Released

THIS = "This clinic: median days (95% CI)"
NETWORK = "Network: median days (95% CI)"


def _interval(value, lower, upper) -> str:
    return f"{float(value):.0f} ({float(lower):.0f}–{float(upper):.0f})"


@pytest.fixture(scope="module")
def released(built_report) -> Released:
    return Released(built_report["reports"], min_count=5)


def _clinic_and_network(
    folder, clinic_file: str, network_file: str, key: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A released per-clinic table and the network's table indexed by ``key``, as text."""
    read = {"dtype": str, "keep_default_na": False}
    return (
        pd.read_csv(folder / clinic_file, **read),
        pd.read_csv(folder / network_file, **read).set_index(key),
    )


@pytest.fixture(scope="module")
def tables(built_report) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _clinic_and_network(
        built_report["reports"] / "survival",
        "median_duration_by_clinic_region.csv",
        "median_duration_by_region.csv",
        "region",
    )


def test_each_clinic_page_shows_its_medians_beside_the_networks(released, tables):
    by_clinic, network = tables
    suppressed = too_few = 0
    for clinic, mine in by_clinic.groupby("clinic"):
        page = build_page(released, clinic)
        section = next(s for s in page.sections if s.section_id == "duration")
        table = section.tables[0]
        assert table.keys == list(mine["region"])  # every region of the clinic, no other
        for _, row in mine.iterrows():
            shown = table.cell(row["region"], THIS)
            if row["median_days"] == SUPPRESSED:
                assert shown == SUPPRESSED
                suppressed += 1
            elif row["too_few_to_estimate"] == "True":
                assert shown == TOO_FEW
                too_few += 1
            else:
                assert shown == _interval(
                    row["median_days"], row["median_lower"], row["median_upper"]
                )
            assert table.cell(row["region"], "Treatments assessed") == row["n_episodes"]
            if row["region"] in network.index:
                net = network.loc[row["region"]]
                expected = (
                    SUPPRESSED
                    if SUPPRESSED in (net["median_days"], net["median_lower"])
                    else _interval(net["median_days"], net["median_lower"], net["median_upper"])
                )
                assert table.cell(row["region"], NETWORK) == expected
            else:
                assert table.cell(row["region"], NETWORK) == "not estimated"
    assert suppressed and too_few  # the synthetic cohort has both kinds of cell


def test_the_network_page_keeps_the_network_table(released, tables):
    _by_clinic, network = tables
    page = build_page(released, None)
    section = next(s for s in page.sections if s.section_id == "duration")
    assert section.tables[0].keys == list(network.index)
    assert THIS not in section.tables[0].columns
    assert "each clinic's page" in section.text


def test_the_written_clinic_page_has_the_section(built_report, tables):
    by_clinic, _network = tables
    clinic = sorted(by_clinic["clinic"])[0]
    html = (built_report["reports"] / "clinics" / f"{clinic}.html").read_text()
    assert "How long treatments last: this clinic and the network" in html
    assert THIS in html and NETWORK in html


COMPLICATION = "30-day complication, % (95% CI)"
RETREATED = "Re-treated before cut-off, %"


def _pct(value, scale: float = 1.0) -> str:
    return SUPPRESSED if value == SUPPRESSED else f"{scale * float(value):.1f}"


@pytest.fixture(scope="module")
def quarters(built_report) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _clinic_and_network(
        built_report["reports"] / "cohort",
        "clinic_outcomes_by_quarter.csv",
        "quarterly_trends.csv",
        "quarter",
    )


def test_each_clinic_page_shows_its_quarters_beside_the_networks(released, quarters):
    per, network = quarters
    suppressed = 0
    for clinic, mine in per.groupby("clinic"):
        section = next(s for s in build_page(released, clinic).sections if s.section_id == "trends")
        complications, retreatment = section.tables
        assert complications.keys == retreatment.keys == list(mine["quarter"])
        for _, row in mine.iterrows():
            q, net = row["quarter"], network.loc[row["quarter"]]
            for table in (complications, retreatment):
                assert table.cell(q, "Treatments").replace("\u202f", "") == row["n_episodes"]
            if SUPPRESSED in (row["n_complications"], row["n_retreated"], row["n_episodes"]):
                assert complications.cell(q, COMPLICATION) == SUPPRESSED
                assert retreatment.cell(q, RETREATED) == SUPPRESSED
                suppressed += 1
            else:
                assert complications.cell(q, COMPLICATION) == (
                    f"{_pct(row['complication_rate_pct'])} "
                    f"({_pct(row['complication_rate_pct_lower'])}–"
                    f"{_pct(row['complication_rate_pct_upper'])})"
                )
                assert retreatment.cell(q, RETREATED) == _pct(row["retreated_pct"])
            assert complications.cell(q, "Network, %") == _pct(net["complication_rate"], 100)
            assert retreatment.cell(q, "Network, %") == _pct(net["retreated_pct"])
        # the clinic's dots: one per quarter whose rate is released (suppressed: not drawn)
        drawn = (mine["complication_rate_pct"] != SUPPRESSED).sum()
        assert section.charts[0].count("<circle") == drawn
        assert "Network" in section.charts[0] and 'stroke-dasharray="6,4"' in section.charts[0]
        assert "less time to return" in section.text
    assert suppressed  # the synthetic cohort's small clinic quarters


def test_the_network_page_says_where_the_clinic_quarters_are(released, quarters):
    _per, network = quarters
    section = next(s for s in build_page(released, None).sections if s.section_id == "trends")
    assert section.tables[0].keys == list(network.index)
    assert "each clinic's page shows its own quarters" in section.text
    assert "not split by clinic" not in section.text
