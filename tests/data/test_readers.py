"""Reading one file: quoted line breaks at any size, rows kept in place, file-level causes."""

from __future__ import annotations

import csv

import pandas as pd
import pyarrow.csv as pacsv
import pytest

from analysis.data import readers
from analysis.data.mapping import Mapping

NOTE = '"asked twice:\nabout ""touch-ups"", at two weeks"'


def _multiline_csv(path, size_bytes: int) -> int:
    """A treatments-like CSV of about ``size_bytes`` whose every row has a quoted line break."""
    rows, size, body = 0, 0, []
    while size < size_bytes:
        line = f"E{rows:07d},{NOTE},{rows % 40 + 1}\n"
        body.append(line)
        size += len(line)
        rows += 1
    path.write_text("episode_id,notes,units\n" + "".join(body))
    return rows


@pytest.mark.parametrize("megabytes", [1.5, 1.8, 2.25, 2.8])
def test_quoted_line_breaks_are_read_at_the_sizes_that_failed(megabytes, tmp_path):
    path = tmp_path / "treatments.csv"
    rows = _multiline_csv(path, int(megabytes * 1e6))
    got = readers.read_csv(path, "treatments", Mapping()).frame
    expected = pd.read_csv(path, dtype=str)
    assert len(got) == rows == len(expected)
    assert got["notes"].tolist() == expected["notes"].tolist()
    assert got["units"].tolist() == expected["units"].tolist()


def test_the_old_reader_setting_breaks_on_a_block_boundary(tmp_path):
    """Arrow without newlines_in_values fails on these files: what the reader used to do."""
    path = tmp_path / "treatments.csv"
    _multiline_csv(path, int(1.8e6))
    with pytest.raises(Exception, match="Expected 3 columns"):
        pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=False))


def test_every_block_boundary_position_is_read(tmp_path, monkeypatch):
    """4 kB blocks over 300 kB: line breaks in quotes fall on hundreds of block boundaries."""
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 4096)
    path = tmp_path / "treatments.csv"
    rows = _multiline_csv(path, 300_000)
    got = readers.read_csv(path, "treatments", Mapping())
    assert len(got.frame) == rows
    assert got.problems == [] and got.lines is None  # Arrow read it: no fallback needed


def test_a_row_of_the_wrong_width_keeps_later_rows_in_place(tmp_path):
    path = tmp_path / "assessments.csv"
    path.write_text(
        'episode_id,assessment_date,severity\nE1,2024-01-01,1\nE2,"2024-01-02\n",1,5\n'
        "\nE3,2024-01-03,2\n"
    )
    got = readers.read_csv(path, "assessments", Mapping())
    assert got.frame["episode_id"].tolist() == ["E1", "E2", "E3"]
    assert got.broken_rows.tolist() == [1]
    assert got.lines.tolist() == [2, 3, 6]  # a quoted line break and a blank line
    (problem,) = got.problems
    assert (problem.row, problem.line, problem.column) == (2, 3, None)
    assert problem.rule.startswith("the row has 4 cells but the header has 3")


@pytest.fixture
def default_csv_limit():
    """Python's csv module stops at 128 kB cells unless raised, and the limit is process-wide:
    CI failed when a worker had not yet run a reader that raised it. Each path that parses with
    Python (the fallback reader, the encoding locator) must raise it itself."""
    previous = csv.field_size_limit(131_072)  # Python's default, as in a fresh process
    yield
    csv.field_size_limit(previous)


def _long_notes_csv(path, last_note: bytes):
    body = "".join(f"E{i},{'x' * 200_000}\n" for i in range(3)).encode()
    path.write_bytes(b"episode_id,notes\n" + body + b"E3," + last_note + b"\n")


def test_the_fallback_reader_reads_cells_beyond_pythons_default_limit(default_csv_limit, tmp_path):
    path = tmp_path / "treatments.csv"
    _long_notes_csv(path, b"")
    got = readers._read_csv_python(path, "utf-8-sig", ",", "treatments", Mapping())
    assert got.frame["notes"].str.len().tolist()[:3] == [200_000] * 3


def test_an_encoding_error_after_long_cells_is_located(default_csv_limit, tmp_path):
    path = tmp_path / "treatments.csv"
    _long_notes_csv(path, b"M\xfcller")
    with pytest.raises(readers.ReadFailure) as failure:
        readers.read_csv(path, "treatments", Mapping())
    problem = failure.value.problem
    assert (problem.row, problem.column, problem.line) == (4, "notes", 5)
    assert problem.rule.startswith("not UTF-8 text")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PAT-100001", True),
        ("P000001", True),
        ("0012345", True),
        ("07/02/2022", False),
        ("2024-13-01", False),
        ("1850", False),
        ("Jaw", False),
    ],
)
def test_identifier_shape(value, expected):
    assert readers.looks_like_identifier(value) is expected
