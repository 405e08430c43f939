"""The report's check that a table was released by the disclosure layer
(analysis/report/suppress.py) and its reading of released tables."""

import pandas as pd
import pytest

from analysis.disclosure import SUPPRESSED, format_count_percent
from analysis.errors import ConfigError
from analysis.manifest import Manifest, ManifestError, TableRef
from analysis.report.assemble import render_table
from analysis.report.suppress import check_released


def _released():
    return pd.DataFrame(
        {
            "region": ["a", "b", "c", "d"],
            "n": [12, SUPPRESSED, 0, 5],
            "rate": [0.33, SUPPRESSED, float("nan"), 1.0],
        }
    )


def test_a_released_table_passes_unchanged():
    table = _released()
    assert check_released(table, ["n"], 5, "x.csv") is table


def test_a_small_count_that_bypassed_the_layer_stops_the_report_without_its_value():
    table = pd.DataFrame({"region": ["a", "b"], "n_events": [12, 3]})
    with pytest.raises(ManifestError, match=r"x\.csv, row 2, column 'n_events'") as err:
        check_released(table, ["n_events"], 5, "x.csv")
    assert " 3" not in str(err.value).replace("row 2", "")


def test_text_counts_are_checked_too():
    table = pd.DataFrame({"Overall": ["120 (60.0%)", "2 (1.0%)"]})
    with pytest.raises(ManifestError, match="row 2"):
        check_released(table, ["Overall"], 5, "t1.csv")


def test_threshold_is_a_parameter_and_unknown_columns_are_named():
    check_released(pd.DataFrame({"n": [12]}), ["n"], 5, "x.csv")
    with pytest.raises(ManifestError, match="row 1"):
        check_released(pd.DataFrame({"n": [12]}), ["n"], 13, "x.csv")
    with pytest.raises(ManifestError, match="n_patients"):
        check_released(_released(), ["n_patients"], 5, "x.csv")
    with pytest.raises(ConfigError, match="min_count"):
        check_released(_released(), ["n"], 0, "x.csv")


def test_count_percent_withholds_percentage_of_small_counts():
    assert format_count_percent(3, 200, 5) == SUPPRESSED
    assert format_count_percent(50, 200, 5) == "50 (25.0%)"
    assert format_count_percent(0, 200, 5) == "0 (0.0%)"


def test_a_released_table_is_shown_with_numbers_formatted_and_labels_kept(tmp_path):
    pd.DataFrame(
        {
            "injector": ["I-1", "I-2"],
            "n_events": [SUPPRESSED, "9"],
            "observed_rate": [SUPPRESSED, "0.0912345"],
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    man = Manifest("fit_demo", "Demo", "", sections=(), headlines=(), directory=tmp_path)
    shown = render_table(man, TableRef("t.csv", "", count_columns=("n_events",)), 5, False)
    assert shown.rows[0] == ["I-1", SUPPRESSED, SUPPRESSED]
    assert shown.rows[1] == ["I-2", "9", "0.0912"]
