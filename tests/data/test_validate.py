"""Validation through the stage: messages, the problem list, the cut-off, masking, outputs.

The defect corpus (tests/data/defects/, run by test_defects.py) holds one case per kind of bad
input with its exact problems; the tests here check what the command prints and writes.
"""

from __future__ import annotations

import handmade
import pandas as pd
import pytest
import yaml
from defects.cases import CASES

from analysis.cli import main
from analysis.config import with_overrides
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.data.validate import mask_identifiers
from analysis.errors import InputValidationError, Problem


@pytest.fixture()
def run_stage(tmp_path, monkeypatch, params):
    """Run `bonta prepare` on mutated handmade tables; return (rc, stderr, output paths)."""
    monkeypatch.setenv("BONTA_PSEUDONYM_KEY", "test-key")

    def run(mutate, capsys, cutoff=handmade.CUTOFF, mapping=None):
        tables = handmade.tables()
        mutate(tables)
        raw = handmade.write(tables, tmp_path / "raw")
        if mapping is not None:
            (raw / "mapping.yaml").write_text(yaml.safe_dump(mapping))
        par = tmp_path / "params.yaml"
        par.write_text(yaml.safe_dump(with_overrides(params, {"data.cutoff_date": cutoff})))
        outs = [tmp_path / "processed", tmp_path / "dq.json", tmp_path / "private"]
        args = ["prepare", "--params", str(par), "--input", str(raw), "--out", str(outs[0])]
        args += ["--metrics", str(outs[1]), "--private", str(outs[2])]
        args += ["--problems", str(tmp_path / "problems.csv")]
        rc = main(args)
        return rc, capsys.readouterr().err, outs

    return run


def test_stage_prints_the_problems_and_returns_1(run_stage, capsys):
    rc, err, outs = run_stage(CASES["sex_code"].tables, capsys)
    assert rc == 1
    assert "bonta prepare: error: 1 problem(s) in the input; nothing was written." in err
    assert "patients.csv, row 2, column 'sex', value 'X': sex must be one of: F, M" in err
    assert not any(p.exists() for p in outs)


def test_a_future_date_is_a_problem_not_a_new_cutoff(run_stage, capsys):
    """Without data.cutoff_date the export date is the cut-off; a later date is reported."""
    rc, err, outs = run_stage(
        CASES["assessment_five_years_ahead"].tables,
        capsys,
        cutoff=None,
        mapping={"export_date": "2024-12-31"},
    )
    assert rc == 1
    assert (
        "assessments.csv, row 3, column 'assessment_date', value '2029-05-20': "
        "date after the data cut-off 2024-12-31" in err
    )
    assert not any(p.exists() for p in outs)


def test_a_long_problem_list_is_written_outside_the_outputs_and_named(run_stage, capsys, tmp_path):
    def four_units_unreadable(t):  # 4 of 9 rows: row problems (most rows: a column problem)
        t["treatments"]["units"] = t["treatments"]["units"].astype(object)
        for i in range(4):
            t["treatments"].loc[i, "units"] = f"=cmd|' /C calc'!A{i}"

    rc, err, outs = run_stage(four_units_unreadable, capsys)
    assert rc == 1
    listed = tmp_path / "problems.csv"
    assert f"The full list (4 problems) is in {listed}." in err
    assert "... and 1 more row(s) of treatments.csv, column 'units' with the same rule" in err
    table = pd.read_csv(listed)
    assert list(table["row"]) == [1, 2, 3, 4]
    assert set(table["rule"]) == {"not a number"}
    assert table["value"].str.startswith("'=cmd|").all()  # neutralised for spreadsheets
    assert not any(p.exists() for p in outs)


def test_a_successful_run_removes_a_stale_problem_list(run_stage, capsys, tmp_path):
    stale = tmp_path / "problems.csv"
    stale.write_text("file,row\nold,1\n")
    rc, _, outs = run_stage(lambda t: None, capsys)
    assert rc == 0
    assert not stale.exists()
    assert all(p.exists() for p in outs)


def test_no_value_that_may_identify_is_shown():
    """Masking rule: identifier columns, rows whose identifier failed, known ids, id shapes."""
    raw = type("Raw", (), {})()
    raw.tables = {"patients": pd.DataFrame({"patient_id": ["X1", "AB"]})}
    problems = [
        Problem("p.csv", 1, "patient_id", "<identifier>", "duplicate"),
        Problem("p.csv", 1, "sex", "Q", "sex must be one of: F, M"),  # row's id failed
        Problem("p.csv", 2, "sex", "AB", "sex must be one of: F, M"),  # equals an id
        Problem("p.csv", 3, "sex", "PAT-100001", "sex must be one of: F, M"),  # id shape
        Problem("p.csv", 4, "sex", "0012345", "sex must be one of: F, M"),  # id shape
        Problem("p.csv", 5, "sex", "X", "sex must be one of: F, M"),  # a code: shown
        Problem("p.csv", 6, "birth_year", "1850", "must be between 1900 and 2024"),
    ]
    shown = [p.value for p in mask_identifiers(problems, raw)]
    assert shown == ["<identifier>"] * 5 + ["X", "1850"]


def test_all_problems_are_collected_in_one_error(tmp_path, params):
    tables = handmade.tables()
    for name in (
        "sex_code",
        "region_code",
        "units_text",
        "resolution_before_onset",
        "patient_unknown",
    ):
        CASES[name].tables(tables)
    raw = handmade.write(tables, tmp_path / "raw")
    with pytest.raises(InputValidationError) as info:
        prepare(raw, PrepareConfig.from_params(params), key=b"k")
    got = {(p.file, p.row, p.column) for p in info.value.problems}
    assert got == {
        ("mapping.yaml", None, "export_date"),  # no data.cutoff_date, no export date
        ("patients.csv", 2, "sex"),
        ("treatments.csv", 5, "region"),
        ("treatments.csv", 1, "units"),
        ("complications.csv", 1, "resolution_date"),
        ("treatments.csv", 3, "patient_id"),
    }
    shown = {p.value for p in info.value.problems if p.column == "patient_id"}
    assert shown == {"<identifier>"}


def test_existing_output_is_left_untouched_when_input_is_bad(run_stage, capsys, tmp_path):
    out = tmp_path / "processed"
    out.mkdir()
    (out / "episodes.parquet").write_bytes(b"previous run")
    rc, _, _ = run_stage(CASES["sex_code"].tables, capsys)
    assert not (tmp_path / "problems.csv").exists()  # every problem was in the message
    assert rc == 1
    assert (out / "episodes.parquet").read_bytes() == b"previous run"
