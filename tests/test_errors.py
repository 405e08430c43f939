"""Problem reports: truncated values, root causes with knock-on counts, the full list."""

from __future__ import annotations

import pandas as pd

from analysis.errors import MAX_LINES_SHOWN, InputValidationError, Problem


def test_a_long_value_is_cut_and_its_length_stated():
    p = Problem("t.csv", 3, "units", "x" * 1_000_000, "not a number")
    assert p.value == "x" * 40 + "... (1,000,000 characters)"
    assert len(str(p)) < 200


def test_knock_on_problems_and_lines_are_stated():
    p = Problem("t.csv", None, "episode_id", None, "required column is missing", 39_419, ("a.csv",))
    assert str(p) == (
        "t.csv, column 'episode_id': required column is missing "
        "[explains 39,419 knock-on problems in a.csv, not listed]"
    )
    assert str(Problem("t.csv", 4, None, None, "bad row", line=9)).startswith(
        "t.csv, row 4 (line 9)"
    )
    assert str(Problem("t.csv", 4, None, None, "bad row", line=5)).startswith("t.csv, row 4:")


def test_many_rows_with_the_same_rule_are_shown_once_with_a_count(tmp_path):
    problems = [Problem("t.csv", i, "units", str(i), "not a number") for i in range(1, 1001)]
    problems.append(Problem("p.csv", 2, "sex", "X", "sex must be one of: F, M"))
    err = InputValidationError(problems)
    text = str(err)
    assert not err.complete
    assert text.count("not a number") == 3
    assert "... and 997 more row(s) of t.csv, column 'units' with the same rule" in text
    assert "p.csv, row 2, column 'sex'" in text  # another file's problem is not crowded out
    named = err.with_full_list(tmp_path / "problems" / "prepare.csv")
    assert f"The full list (1,001 problems) is in {tmp_path / 'problems' / 'prepare.csv'}." in str(
        named
    )
    listed = pd.read_csv(tmp_path / "problems" / "prepare.csv")
    assert len(listed) == 1001 and listed["row"].iloc[-1] == 2


def test_a_complete_message_writes_no_list(tmp_path):
    err = InputValidationError([Problem("t.csv", 1, "sex", "X", "bad")])
    assert err.complete
    assert err.with_full_list(tmp_path / "p.csv") is err
    assert not (tmp_path / "p.csv").exists()


def test_the_message_is_bounded_whatever_the_number_of_groups():
    problems = [Problem(f"f{i}.csv", 1, "c", "v", f"rule {i}") for i in range(500)]
    lines = str(InputValidationError(problems)).splitlines()
    assert len(lines) == 1 + MAX_LINES_SHOWN + 2
    assert lines[-2] == f"  ... and {500 - MAX_LINES_SHOWN} more problem(s)"
