"""Every kind of bad input gives one error naming file, row, column and rule, and writes nothing.

Each case mutates the hand-written export (tests/data/handmade.py), runs the real stage
(``bonta prepare``) and checks the message, that no identifier leaked into it, and that no
output, metrics or private file was created.
"""

from __future__ import annotations

import handmade
import pytest
import yaml

from analysis.cli import main
from analysis.config import with_overrides
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.errors import InputValidationError

SECRETS = ["PAT-", "EPI-", "Clinic Nord", "Clinic Sued", "Dr. Alpha", "Dr. Beta", "Dr. Gamma"]


def _set(table, row, column, value):
    def mutate(t):
        t[table][column] = t[table][column].astype(object)
        t[table].loc[row - 1, column] = value

    return mutate


def _drop_column(table, column):
    def mutate(t):
        t[table] = t[table].drop(columns=[column])

    return mutate


def _drop_table(table):
    def mutate(t):
        del t[table]

    return mutate


# id -> (mutation, expected message fragment "file, row N, column 'c'" or file-level, rule fragment)
CASES = {
    "sex_code": (
        _set("patients", 2, "sex", "X"),
        "patients.csv, row 2, column 'sex'",
        "sex must be one of: F, M",
    ),
    "birth_year_range": (
        _set("patients", 1, "birth_year", 1850),
        "patients.csv, row 1, column 'birth_year'",
        "between 1900",
    ),
    "birth_year_text": (
        _set("patients", 1, "birth_year", "19x0"),
        "patients.csv, row 1, column 'birth_year'",
        "not a number",
    ),
    "patient_id_duplicate": (
        _set("patients", 4, "patient_id", "PAT-100001"),
        "patients.csv, row 4, column 'patient_id'",
        "duplicate",
    ),
    "patient_id_missing": (
        _set("patients", 3, "patient_id", None),
        "patients.csv, row 3, column 'patient_id'",
        "required value is missing",
    ),
    "muscle_bulk_range": (
        _set("treatments", 3, "muscle_bulk", 5),
        "treatments.csv, row 3, column 'muscle_bulk'",
        "between 1 and 4",
    ),
    "units_zero": (
        _set("treatments", 1, "units", 0),
        "treatments.csv, row 1, column 'units'",
        "greater than 0",
    ),
    "units_text": (
        _set("treatments", 1, "units", "twenty"),
        "treatments.csv, row 1, column 'units'",
        "not a number",
    ),
    "units_implausible": (
        _set("treatments", 1, "units", 1000),
        "treatments.csv, row 1, column 'units'",
        "plausible maximum",
    ),
    "met_negative": (
        _set("treatments", 2, "exercise_met_h_week", -1),
        "treatments.csv, row 2, column 'exercise_met_h_week'",
        "between 0 and 2016",
    ),
    "met_implausible": (
        _set("treatments", 2, "exercise_met_h_week", 5000),
        "treatments.csv, row 2, column 'exercise_met_h_week'",
        "between 0 and 2016",
    ),
    "baseline_fraction": (
        _set("treatments", 4, "baseline_severity", 2.5),
        "treatments.csv, row 4, column 'baseline_severity'",
        "whole number",
    ),
    "baseline_range": (
        _set("treatments", 4, "baseline_severity", 4),
        "treatments.csv, row 4, column 'baseline_severity'",
        "between 0 and 3",
    ),
    "region_code": (
        _set("treatments", 5, "region", "nose"),
        "treatments.csv, row 5, column 'region'",
        "region must be one of",
    ),
    "product_code": (
        _set("treatments", 6, "product", "botox"),
        "treatments.csv, row 6, column 'product'",
        "product must be one of",
    ),
    "episode_id_duplicate": (
        _set("treatments", 2, "episode_id", "EPI-9000001"),
        "treatments.csv, row 2, column 'episode_id'",
        "duplicate",
    ),
    "patient_unknown": (
        _set("treatments", 3, "patient_id", "PAT-999999"),
        "treatments.csv, row 3, column 'patient_id'",
        "not found in patients",
    ),
    "treatment_date_text": (
        _set("treatments", 7, "treatment_date", "2024-13-01"),
        "treatments.csv, row 7, column 'treatment_date'",
        "not a date",
    ),
    "treatment_date_missing": (
        _set("treatments", 7, "treatment_date", None),
        "treatments.csv, row 7, column 'treatment_date'",
        "required value is missing",
    ),
    "assessment_before_treatment": (
        _set("assessments", 2, "assessment_date", "2024-01-01"),
        "assessments.csv, row 2, column 'assessment_date'",
        "before its treatment",
    ),
    "assessment_severity_range": (
        _set("assessments", 3, "severity", 7),
        "assessments.csv, row 3, column 'severity'",
        "between 0 and 3",
    ),
    "assessment_severity_empty": (
        _set("assessments", 4, "severity", None),
        "assessments.csv, row 4, column 'severity'",
        "may be empty only when",
    ),
    "assessment_episode_unknown": (
        _set("assessments", 5, "episode_id", "EPI-0000000"),
        "assessments.csv, row 5, column 'episode_id'",
        "not found in treatments",
    ),
    "reported_before_treatment": (
        _set("assessments", 1, "reported_wearoff_date", "2023-12-01"),
        "assessments.csv, row 1, column 'reported_wearoff_date'",
        "not after its treatment",
    ),
    "onset_before_treatment": (
        _set("complications", 1, "onset_date", "2024-01-15"),
        "complications.csv, row 1, column 'onset_date'",
        "onset before its treatment",
    ),
    "resolution_before_onset": (
        _set("complications", 1, "resolution_date", "2024-02-01"),
        "complications.csv, row 1, column 'resolution_date'",
        "resolution before onset",
    ),
    "complication_wrong_region": (
        _set("complications", 4, "complication_type", "chewing_fatigue"),
        "complications.csv, row 4, column 'complication_type'",
        "cannot occur in the episode's region 'glabella'",
    ),
    "complication_type_code": (
        _set("complications", 2, "complication_type", "itching"),
        "complications.csv, row 2, column 'complication_type'",
        "complication_type must be one of",
    ),
    "complication_severity_code": (
        _set("complications", 2, "severity", "awful"),
        "complications.csv, row 2, column 'severity'",
        "severity must be one of: mild",
    ),
    "complication_episode_unknown": (
        _set("complications", 3, "episode_id", "EPI-0000000"),
        "complications.csv, row 3, column 'episode_id'",
        "not found in treatments",
    ),
    "missing_column": (
        _drop_column("treatments", "units"),
        "treatments.csv, column 'units'",
        "required column is missing",
    ),
    "missing_file": (
        _drop_table("complications"),
        "complications.{csv|parquet|xlsx}",
        "required file is missing",
    ),
}


@pytest.fixture()
def run_stage(tmp_path, monkeypatch, params):
    """Run `bonta prepare` on mutated handmade tables; return (rc, stderr, output paths)."""
    monkeypatch.setenv("BONTA_PSEUDONYM_KEY", "test-key")

    def run(mutate, capsys, cutoff=handmade.CUTOFF):
        tables = handmade.tables()
        mutate(tables)
        raw = handmade.write(tables, tmp_path / "raw")
        par = tmp_path / "params.yaml"
        par.write_text(yaml.safe_dump(with_overrides(params, {"data.cutoff_date": cutoff})))
        outs = [tmp_path / "processed", tmp_path / "dq.json", tmp_path / "private"]
        rc = main(
            [
                "prepare",
                "--params",
                str(par),
                "--input",
                str(raw),
                "--out",
                str(outs[0]),
                "--metrics",
                str(outs[1]),
                "--private",
                str(outs[2]),
            ]
        )
        return rc, capsys.readouterr().err, outs

    return run


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_reported_with_row_and_column_and_nothing_written(case, run_stage, capsys):
    mutate, where, rule = CASES[case]
    rc, err, outs = run_stage(mutate, capsys)
    assert rc == 1
    lines = [line for line in err.splitlines() if where in line]
    assert lines, f"no problem names {where!r}:\n{err}"
    assert any(rule in line for line in lines), err
    assert "nothing was written" in err
    for secret in SECRETS:
        assert secret not in err
    assert not any(p.exists() for p in outs)


def test_records_after_cutoff(run_stage, capsys):
    rc, err, outs = run_stage(lambda t: None, capsys, cutoff="2024-05-01")
    assert rc == 1
    assert (
        "treatments.csv, row 2, column 'treatment_date', value '2024-06-01': "
        "treatment after the data cut-off 2024-05-01" in err
    )
    assert (
        "assessments.csv, row 4, column 'assessment_date', value '2024-06-15': "
        "date after the data cut-off" in err
    )
    assert (
        "assessments.csv, row 11, column 'assessment_date', value '2024-07-01': "
        "date after the data cut-off" in err
    )
    assert "complications.csv" not in err  # onsets are all before 2024-05-01
    assert not any(p.exists() for p in outs)


def test_all_problems_are_collected_in_one_error(tmp_path, params):
    tables = handmade.tables()
    for mutate in (
        CASES["sex_code"][0],
        CASES["region_code"][0],
        CASES["units_text"][0],
        CASES["resolution_before_onset"][0],
        CASES["patient_unknown"][0],
    ):
        mutate(tables)
    raw = handmade.write(tables, tmp_path / "raw")
    with pytest.raises(InputValidationError) as info:
        prepare(raw, PrepareConfig.from_params(params), key=b"k")
    got = {(p.file, p.row, p.column) for p in info.value.problems}
    assert got == {
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
    rc, _, _ = run_stage(CASES["sex_code"][0], capsys)
    assert rc == 1
    assert (out / "episodes.parquet").read_bytes() == b"previous run"
