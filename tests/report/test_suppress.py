"""Small-count suppression (analysis/report/suppress.py)."""

import pandas as pd
import pytest

from analysis.disclosure import format_count_percent
from analysis.errors import ConfigError
from analysis.report.suppress import SUPPRESSED_DERIVED, suppress_small_counts


def _table():
    return pd.DataFrame(
        {
            "region": ["a", "b", "c", "d"],
            "n": [12, 3, 0, 5],
            "events": [4, 1, 0, 5],
            "rate": [0.33, 0.33, float("nan"), 1.0],
        }
    )


def test_counts_one_to_four_are_replaced_zero_and_five_are_kept():
    out = suppress_small_counts(_table(), ["n"], threshold=5)
    assert out["n"].tolist() == [12, "<5", 0, 5]


def test_derived_cells_are_withheld_in_rows_with_any_suppressed_count():
    out = suppress_small_counts(_table(), ["n", "events"], threshold=5, derived_columns=["rate"])
    assert out["events"].tolist() == ["<5", "<5", 0, 5]
    # row a has n = 12 but events = 4: its rate would give the 4 back
    assert out["rate"].tolist()[:2] == [SUPPRESSED_DERIVED, SUPPRESSED_DERIVED]
    assert out["rate"].tolist()[3] == 1.0


def test_input_is_not_modified_and_threshold_is_a_parameter():
    table = _table()
    out = suppress_small_counts(table, ["n"], threshold=13)
    assert table["n"].tolist() == [12, 3, 0, 5]
    assert out["n"].tolist() == ["<13", "<13", 0, "<13"]


def test_unknown_column_names_the_column():
    with pytest.raises(ConfigError, match="n_patients"):
        suppress_small_counts(_table(), ["n_patients"])


def test_count_percent_withholds_percentage_of_small_counts():
    assert format_count_percent(3, 200, 5) == "<5"
    assert format_count_percent(50, 200, 5) == "50 (25.0%)"
    assert format_count_percent(0, 200, 5) == "0 (0.0%)"


def test_observed_columns_are_withheld_when_a_manifest_declares_no_derived_columns(tmp_path):
    from analysis.manifest import Manifest, TableRef
    from analysis.report.assemble import render_table

    pd.DataFrame(
        {
            "injector": ["I-1", "I-2"],
            "n_events": [3, 9],
            "observed_rate": [0.03, 0.09],
            "posterior_rate": [0.04, 0.08],
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    man = Manifest("fit_demo", "Demo", "", sections=(), headlines=(), directory=tmp_path)
    shown = render_table(man, TableRef("t.csv", "", count_columns=("n_events",)), 5, False)
    assert shown.rows[0] == ["I-1", "<5", SUPPRESSED_DERIVED, "0.04"]
    assert shown.rows[1] == ["I-2", "9", "0.09", "0.08"]
