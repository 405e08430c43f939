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
    assert (got.cutoff_date, got.cutoff_source) == (pd.Timestamp("2024-12-31"), "export date")
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


def test_declared_encoding_and_delimiter_are_honoured(from_csv, hand_cfg, tmp_path):
    """A Windows export: cp1252 text separated by semicolons, declared in mapping.yaml."""
    tables = handmade.tables()
    tables["treatments"]["injector_id"] = tables["treatments"]["injector_id"].replace(
        {"Dr. Beta": "Dr. Müller"}
    )
    for name, df in tables.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False, sep=";", encoding="cp1252")
    (tmp_path / "mapping.yaml").write_text("encoding: cp1252\ndelimiter: ';'\n")
    got = prepare(tmp_path, hand_cfg, key=b"k")
    pd.testing.assert_frame_equal(
        got.episodes.drop(columns="injector"), from_csv.episodes.drop(columns="injector")
    )
    assert "Dr. Müller" in set(got.staff_codes["label"])


def test_timestamps_with_an_offset_give_the_written_date_or_the_declared_zone(tmp_path):
    tables = handmade.tables()
    a = tables["assessments"]
    a.loc[1, "assessment_date"] = "2024-04-10T23:30:00+02:00"  # 21:30 UTC
    a.loc[2, "assessment_date"] = "2024-05-20 00:30-05:00"  # 05:30 UTC
    a.loc[3, "assessment_date"] = "2024-06-15T08:00:00Z"
    handmade.write(tables, tmp_path)
    written = read_export(tmp_path, Mapping()).tables["assessments"]["assessment_date"]
    assert list(written[1:4].dt.strftime("%Y-%m-%d")) == ["2024-04-10", "2024-05-20", "2024-06-15"]
    tokyo = read_export(tmp_path, Mapping(timezone="Asia/Tokyo")).tables["assessments"]
    assert list(tokyo["assessment_date"][1:4].dt.strftime("%Y-%m-%d")) == [
        "2024-04-11",
        "2024-05-20",
        "2024-06-15",
    ]
    assert read_export(tmp_path, Mapping()).problems == []


def test_declared_day_first_format_reads_07_02_as_7_february(hand_cfg, tmp_path):
    tables = handmade.tables()
    tables["treatments"].loc[2, "treatment_date"] = "07/02/2022"
    others = tables["treatments"].index != 2
    tables["treatments"].loc[others, "treatment_date"] = pd.to_datetime(
        tables["treatments"].loc[others, "treatment_date"]
    ).dt.strftime("%d/%m/%Y")
    handmade.write(tables, tmp_path)
    raw = read_export(tmp_path, Mapping(date_format="%d/%m/%Y"))
    assert raw.problems == []
    assert raw.tables["treatments"]["treatment_date"][2] == pd.Timestamp("2022-02-07")
    month_first = read_export(tmp_path, Mapping(date_format="%m/%d/%Y"))
    assert month_first.tables["treatments"]["treatment_date"][2] == pd.Timestamp("2022-07-02")


def _split_workbook(path, sheets: dict[str, tuple[int, int]]) -> None:
    df = handmade.tables()["treatments"]
    with pd.ExcelWriter(path) as writer:
        for name, (start, end) in sheets.items():
            df.iloc[start:end].to_excel(writer, sheet_name=name, index=False)


def test_a_table_split_over_sheets_is_read_whole_and_counted_per_sheet(
    from_csv, hand_cfg, tmp_path
):
    handmade.write(handmade.tables(), tmp_path)
    (tmp_path / "treatments.csv").unlink()
    _split_workbook(tmp_path / "treatments.xlsx", {"2022-2023": (0, 5), "2024": (5, 9)})
    got = prepare(tmp_path, hand_cfg, key=b"k")
    pd.testing.assert_frame_equal(got.episodes, from_csv.episodes)
    dq = got.data_quality.set_index("table")
    assert dq.loc["treatments sheet '2022-2023'", "rows_in"] == 5
    assert dq.loc["treatments sheet '2024'", "rows_in"] == 4
    assert dq.loc["treatments", "rows_in"] == 9


def test_sheets_not_listed_in_the_mapping_are_counted_as_not_read(hand_cfg, tmp_path):
    handmade.write(handmade.tables(), tmp_path)
    (tmp_path / "treatments.csv").unlink()
    _split_workbook(tmp_path / "treatments.xlsx", {"all": (0, 9), "old copy": (0, 3)})
    (tmp_path / "mapping.yaml").write_text("sheets:\n  treatments: [all]\n")
    got = prepare(tmp_path, hand_cfg, key=b"k")
    row = got.data_quality.set_index("table").loc["treatments sheet 'old copy'"]
    assert (row["rows_in"], row["rows_kept"], row["rows_excluded"]) == (3, 0, 3)
    assert row["reason"] == "sheet not read: not listed under sheets.treatments in mapping.yaml"
    assert got.data_quality.set_index("table").loc["treatments", "rows_in"] == 9
