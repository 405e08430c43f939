"""Deterministic writers; every CSV the project writes is safe to open in a spreadsheet."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.io import neutralise_cell, neutralise_formulas, write_csv


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example","Open")', '\'=HYPERLINK("http://evil.example","Open")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tdata", "'\tdata"),
        ("\rdata", "'\rdata"),
        ("-1.5", "-1.5"),  # a negative number is not a formula
        ("+2e3", "+2e3"),
        ("Dr. Alpha", "Dr. Alpha"),
        ("a=b", "a=b"),
    ],
)
def test_cells_a_spreadsheet_would_execute_are_neutralised(value, written):
    assert neutralise_cell(value) == written


def test_write_csv_neutralises_text_and_keeps_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "label": ["=1+1", "ok", None],
            "rate": [-0.25, 1.0, -3.0],
            "kind": pd.Categorical(["@x", "y", "y"]),
            "=header": [1, 2, 3],
        }
    )
    path = write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(path)
    assert back["label"].tolist()[:2] == ["'=1+1", "ok"]
    assert back["rate"].tolist() == [-0.25, 1.0, -3.0]  # numbers stay numbers
    assert back["kind"].tolist() == ["'@x", "y", "y"]
    assert list(back.columns) == ["label", "rate", "kind", "'=header"]
    assert df["label"][0] == "=1+1"  # the caller's frame is not modified


def test_neutralising_a_frame_without_text_returns_equal_values():
    df = pd.DataFrame({"a": [-1, 2], "b": [-0.5, 0.5]})
    pd.testing.assert_frame_equal(neutralise_formulas(df), df)


def test_object_columns_without_text_are_written_as_they_are(tmp_path):
    df = pd.DataFrame(
        {
            "none": pd.Series([None, None], dtype=object),
            "numbers": pd.Series([1.5, -2.0], dtype=object),
            "mixed": pd.Series(["=SUM(A1)", None], dtype=object),
        }
    )
    out = neutralise_formulas(df)
    assert out["none"].isna().all()
    assert out["numbers"].tolist() == [1.5, -2.0]
    assert out["mixed"].tolist()[0] == "'=SUM(A1)"
    write_csv(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1].startswith(",1.5,")
