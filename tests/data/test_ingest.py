"""Reading CSV / Parquet / Excel exports and a clinic's mapping file."""

from __future__ import annotations

import shutil
from pathlib import Path

import handmade
import pandas as pd
import pytest
import yaml

from analysis.data.ingest import Mapping, load_mapping, read_export
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.errors import InputValidationError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "data" / "example"


@pytest.fixture(scope="module")
def from_csv(hand_cfg, tmp_path_factory):
    raw = handmade.write(handmade.tables(), tmp_path_factory.mktemp("csv"))
    return prepare(raw, hand_cfg, key=b"k")


@pytest.mark.parametrize("ext", [".parquet", ".xlsx"])
def test_parquet_and_excel_give_the_same_result_as_csv(ext, from_csv, hand_cfg, tmp_path):
    tables = handmade.tables()
    # typed date columns (Excel date cells, Parquet timestamps), as real exports carry them
    for name, cols in {
        "treatments": ["treatment_date"],
        "assessments": ["assessment_date", "reported_wearoff_date"],
        "complications": ["onset_date", "resolution_date"],
    }.items():
        for c in cols:
            tables[name][c] = pd.to_datetime(tables[name][c])
    got = prepare(handmade.write(tables, tmp_path, ext), hand_cfg, key=b"k")
    pd.testing.assert_frame_equal(got.episodes, from_csv.episodes)
    pd.testing.assert_frame_equal(got.assessments, from_csv.assessments)
    pd.testing.assert_frame_equal(got.data_quality, from_csv.data_quality)


def test_identifiers_keep_leading_zeros(tmp_path):
    tables = handmade.tables()
    tables["patients"].loc[0, "patient_id"] = "007"
    tables["patients"].loc[1, "patient_id"] = "7"
    handmade.write(tables, tmp_path)
    raw = read_export(tmp_path, Mapping())
    assert list(raw.tables["patients"]["patient_id"][:2]) == ["007", "7"]


def test_clinic_mapping_renames_columns_labels_and_dates(from_csv, hand_cfg, tmp_path):
    tables = handmade.tables()
    t = tables["treatments"].rename(columns={"patient_id": "Pat-Nr", "region": "Zone"})
    t["Zone"] = t["Zone"].replace({"glabella": "Glabella (11s)"})
    t["product"] = t["product"].replace({"ona": "Botox"})
    t["treatment_date"] = pd.to_datetime(t["treatment_date"]).dt.strftime("%d.%m.%Y")
    tables["treatments"] = t.assign(notes="free text with a name in it")
    tables["patients"]["sex"] = tables["patients"]["sex"].replace({"F": "w"})
    for name, cols in {
        "assessments": ["assessment_date", "reported_wearoff_date"],
        "complications": ["onset_date", "resolution_date"],
    }.items():
        for c in cols:
            tables[name][c] = pd.to_datetime(tables[name][c]).dt.strftime("%d.%m.%Y")
    handmade.write(tables, tmp_path)
    mapping = {
        "columns": {"treatments": {"Pat-Nr": "patient_id", "Zone": "region"}},
        "values": {
            "region": {"Glabella (11s)": "glabella"},
            "product": {"Botox": "ona"},
            "sex": {"w": "F"},
        },
        "date_format": "%d.%m.%Y",
    }
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    got = prepare(tmp_path, hand_cfg, key=b"k")  # mapping.yaml found by default
    pd.testing.assert_frame_equal(got.episodes, from_csv.episodes)
    assert "notes" not in got.treatments.columns


def test_unmapped_clinic_label_is_reported(hand_cfg, tmp_path):
    tables = handmade.tables()
    tables["treatments"]["region"] = tables["treatments"]["region"].replace({"masseter": "Jaw"})
    handmade.write(tables, tmp_path)
    with pytest.raises(
        InputValidationError, match=r"treatments.csv, row 6, column 'region', value 'Jaw'"
    ):
        prepare(tmp_path, hand_cfg, key=b"k")


def test_bad_mapping_file_is_reported(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(
        yaml.safe_dump({"columns": {"treatments": {"Pat": "patient_no"}}, "colours": {}})
    )
    with pytest.raises(InputValidationError) as info:
        load_mapping(path)
    text = str(info.value)
    assert "mapping.yaml, column" not in text
    assert "'patient_no'" in text and "not a canonical column" in text
    assert "'colours'" in text and "unknown section" in text


def test_two_files_for_one_table_are_ambiguous(hand_cfg, tmp_path):
    handmade.write(handmade.tables(), tmp_path)
    handmade.tables()["patients"].to_parquet(tmp_path / "patients.parquet")
    with pytest.raises(InputValidationError, match="ambiguous: several files"):
        prepare(tmp_path, hand_cfg, key=b"k")


def test_shipped_example_export_ingests(params, tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "example")
    got = prepare(tmp_path / "example", PrepareConfig.from_params(params), key=b"k")
    dq = got.data_quality.set_index("table")
    assert dq.loc["treatments", "rows_in"] == len(pd.read_csv(EXAMPLE / "treatment_log.csv"))
    assert len(got.episodes) == dq.loc["episodes", "rows_kept"] > 20
    assert set(got.episodes["region"]) <= set(params["regions"])
    assert got.episodes["units_ona_eq"].gt(0).all()


def test_missing_input_directory_is_reported(params, tmp_path):
    with pytest.raises(InputValidationError, match="input directory does not exist"):
        prepare(tmp_path / "nowhere", PrepareConfig.from_params(params), key=b"k")


def test_missing_optional_columns_are_allowed(hand_cfg, tmp_path):
    tables = handmade.tables()
    tables["patients"] = tables["patients"].drop(columns="body_fat_pct")
    tables["complications"] = tables["complications"].drop(columns="resolution_date")
    tables["assessments"] = tables["assessments"][tables["assessments"]["severity"].notna()]
    tables["assessments"] = tables["assessments"].drop(columns="reported_wearoff_date")
    got = prepare(handmade.write(tables, tmp_path), hand_cfg, key=b"k")
    assert got.episodes["body_fat_pct"].isna().all()
    assert (got.episodes["dur_status"] != "exact_reported").all()
    assert got.complications["resolution_day"].isna().all()


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"patient_id,sex,birth_year\nPAT-\xfc1,F,1980\n", "not UTF-8 text"),
        (b"patient_id,sex,birth_year\nPAT-1,F,1980,extra\n", "a row has more or fewer cells"),
    ],
)
def test_unreadable_csv_is_reported_without_its_content(content, rule, hand_cfg, tmp_path):
    handmade.write(handmade.tables(), tmp_path)
    (tmp_path / "patients.csv").write_bytes(content)
    with pytest.raises(InputValidationError) as info:
        prepare(tmp_path, hand_cfg, key=b"k")
    text = str(info.value)
    assert f"patients.csv: cannot read file: {rule}" in text
    assert "PAT-" not in text
