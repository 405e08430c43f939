"""The defect corpus: one defect per case and the exact problems it gives.

Rows are 1-based data rows (the header is not counted) of the hand-written export
(``tests/data/handmade.py``): treatments row ``i`` is episode ``EPI-900000i``; patients rows
1-4 are ``PAT-100001`` ... ``PAT-100004``. Identifier values are shown as ``<identifier>``.
"""

from __future__ import annotations

from .builder import (
    Case,
    add_notes,
    both,
    drop_column,
    drop_table,
    lines_of,
    reformat_dates,
    remove,
    rename_columns,
    replace_bytes,
    set_cell,
    workbook,
    write_bytes,
)

ID = "<identifier>"
NOT_UTF8 = (
    "not UTF-8 text: save the file as 'CSV UTF-8' or declare its encoding in mapping.yaml "
    "(e.g. encoding: cp1252 for Windows Western European, latin-1)"
)
REQUIRED = "required value is missing"
MISSING_COLUMN = "required column is missing"
AFTER_CUTOFF = "date after the data cut-off 2024-12-31"
LATE = "date after the data cut-off 2024-05-01"
EARLY = "date after the data cut-off 2021-12-31"
PATIENT_NOT_FOUND = "patient_id not found in patients (patients.csv)"
EPISODE_NOT_FOUND = "episode_id not found in treatments (treatments.csv)"
DAY_MONTH = (
    'declare the format in mapping.yaml, date_format: "%d/%m/%Y" (day first) or "%m/%d/%Y" '
    "(month first); ISO dates (YYYY-MM-DD) need no declaration"
)
REGION_RULE = (
    "region must be one of: brow_lift, bunny_lines, chin, crows_feet, dao, forehead, glabella, "
    "lip_flip, masseter, platysma"
)
MOST_ROWS = (
    "most rows break this rule: check the column (its header, mapping.yaml) or the setting the "
    "rule names"
)
WIDER_ROW = (
    "a delimiter inside an unquoted value (a decimal comma such as 12,5?): quote the value or "
    "use '.' as the decimal separator"
)


def _far_name(row: int) -> str:
    """A long note (about 200 kB per row) so that row 9 lies past Arrow's first 1 MB block."""
    return f"seen by Dr. M{'u' if row < 9 else chr(0xFC)}ller; " + "x" * 200_000


CASES: dict[str, Case] = {
    # -- values out of range, codes, types (one cell each) -------------------------------------
    "sex_code": Case(
        (("patients.csv", 2, "sex", "X", "sex must be one of: F, M"),),
        set_cell("patients", 2, "sex", "X"),
    ),
    "sex_lowercase": Case(
        (("patients.csv", 1, "sex", "f", "sex must be one of: F, M"),),
        set_cell("patients", 1, "sex", "f"),
    ),
    "birth_year_range": (
        Case(
            (("patients.csv", 1, "birth_year", "1850", "must be between 1900 and 2024"),),
            set_cell("patients", 1, "birth_year", 1850),
        )
    ),
    "birth_year_after_cutoff": Case(
        (("patients.csv", 2, "birth_year", "2025", "must be between 1900 and 2024"),),
        set_cell("patients", 2, "birth_year", 2025),
    ),
    "birth_year_text": Case(
        (("patients.csv", 1, "birth_year", "19x0", "not a number"),),
        set_cell("patients", 1, "birth_year", "19x0"),
    ),
    "birth_year_fraction": Case(
        (("patients.csv", 4, "birth_year", "1990.5", "must be a whole number"),),
        set_cell("patients", 4, "birth_year", 1990.5),
    ),
    "body_fat_range": Case(
        (("patients.csv", 2, "body_fat_pct", "85", "must be between 2 and 75"),),
        set_cell("patients", 2, "body_fat_pct", 85),
    ),
    "muscle_bulk_range": Case(
        (("treatments.csv", 3, "muscle_bulk", "5", "must be between 1 and 4"),),
        set_cell("treatments", 3, "muscle_bulk", 5),
    ),
    "units_zero": Case(
        (("treatments.csv", 1, "units", "0", "units must be greater than 0"),),
        set_cell("treatments", 1, "units", 0),
    ),
    "units_negative": Case(
        (("treatments.csv", 2, "units", "-5", "units must be greater than 0"),),
        set_cell("treatments", 2, "units", -5),
    ),
    "units_text": Case(  # reported once: not also "required value is missing"
        (("treatments.csv", 1, "units", "twenty", "not a number"),),
        set_cell("treatments", 1, "units", "twenty"),
    ),
    "units_quoted_decimal_comma": Case(
        (
            (
                "treatments.csv",
                4,
                "units",
                "24,5",
                "not a number: a decimal comma; use '.' as the decimal separator",
            ),
        ),
        set_cell("treatments", 4, "units", "24,5"),
    ),
    "units_implausible": Case(
        (
            (
                "treatments.csv",
                1,
                "units",
                "1000",
                "dose above the plausible maximum of 400 onabotulinumtoxinA-equivalent units "
                "(prepare.max_units_ona_eq)",
            ),
        ),
        set_cell("treatments", 1, "units", 1000),
    ),
    "units_one_megabyte": Case(  # the value is cut, its length stated
        (
            (
                "treatments.csv",
                3,
                "units",
                "x" * 40 + "... (1,000,000 characters)",
                "not a number",
            ),
        ),
        set_cell("treatments", 3, "units", "x" * 1_000_000),
    ),
    "met_negative": Case(
        (
            (
                "treatments.csv",
                2,
                "exercise_met_h_week",
                "-1",
                "must be between 0 and 2016 MET-hours per week",
            ),
        ),
        set_cell("treatments", 2, "exercise_met_h_week", -1),
    ),
    "met_implausible": Case(
        (
            (
                "treatments.csv",
                2,
                "exercise_met_h_week",
                "5000",
                "must be between 0 and 2016 MET-hours per week",
            ),
        ),
        set_cell("treatments", 2, "exercise_met_h_week", 5000),
    ),
    "baseline_fraction": Case(
        (("treatments.csv", 4, "baseline_severity", "2.5", "must be a whole number"),),
        set_cell("treatments", 4, "baseline_severity", 2.5),
    ),
    "baseline_range": Case(
        (("treatments.csv", 4, "baseline_severity", "4", "must be between 0 and 3"),),
        set_cell("treatments", 4, "baseline_severity", 4),
    ),
    "region_code": Case(
        (
            (
                "treatments.csv",
                5,
                "region",
                "nose",
                REGION_RULE,
            ),
        ),
        set_cell("treatments", 5, "region", "nose"),
    ),
    "product_code": Case(
        (
            (
                "treatments.csv",
                6,
                "product",
                "botox",
                "product must be one of: abo, daxi, inco, ona, prabo",
            ),
        ),
        set_cell("treatments", 6, "product", "botox"),
    ),
    "severity_text": Case(
        (("assessments.csv", 2, "severity", "mild", "not a number"),),
        set_cell("assessments", 2, "severity", "mild"),
    ),
    "assessment_severity_range": Case(
        (("assessments.csv", 3, "severity", "7", "must be between 0 and 3"),),
        set_cell("assessments", 3, "severity", 7),
    ),
    "assessment_severity_empty": Case(
        (
            (
                "assessments.csv",
                4,
                "severity",
                "",
                "severity may be empty only when reported_wearoff_date is given",
            ),
        ),
        set_cell("assessments", 4, "severity", None),
    ),
    "complication_type_code": Case(
        (
            (
                "complications.csv",
                2,
                "complication_type",
                "itching",
                "complication_type must be one of: brow_overarch, brow_ptosis, chewing_fatigue, "
                "dysphagia, eyelid_edema, eyelid_ptosis, headache, hypersensitivity, "
                "injection_site_reaction, neck_weakness, oral_incompetence, paradoxical_bulging, "
                "smile_asymmetry",
            ),
        ),
        set_cell("complications", 2, "complication_type", "itching"),
    ),
    "complication_severity_code": Case(
        (
            (
                "complications.csv",
                2,
                "severity",
                "awful",
                "severity must be one of: mild, moderate, severe",
            ),
        ),
        set_cell("complications", 2, "severity", "awful"),
    ),
    "complication_wrong_region": Case(
        (
            (
                "complications.csv",
                4,
                "complication_type",
                "chewing_fatigue",
                "'chewing_fatigue' cannot occur in the episode's region 'glabella' "
                "(complication_types.chewing_fatigue.regions)",
            ),
        ),
        set_cell("complications", 4, "complication_type", "chewing_fatigue"),
    ),
    # -- identifiers ---------------------------------------------------------------------------
    "patient_id_duplicate": Case(  # treatments of the lost PAT-100004 are its knock-on
        (
            (
                "patients.csv",
                1,
                "patient_id",
                ID,
                "duplicate: this identifier appears in more than one row",
                3,
            ),
            (
                "patients.csv",
                4,
                "patient_id",
                ID,
                "duplicate: this identifier appears in more than one row",
            ),
        ),
        set_cell("patients", 4, "patient_id", "PAT-100001"),
    ),
    "patient_id_missing": Case(
        (("patients.csv", 3, "patient_id", ID, REQUIRED, 1),),
        set_cell("patients", 3, "patient_id", None),
    ),
    "patient_id_blank": Case(  # a cell of spaces is empty
        (("patients.csv", 2, "patient_id", ID, REQUIRED, 3),),
        set_cell("patients", 2, "patient_id", "   "),
    ),
    "episode_id_duplicate": Case(
        (
            (
                "treatments.csv",
                1,
                "episode_id",
                ID,
                "duplicate: this identifier appears in more than one row",
                1,
            ),
            (
                "treatments.csv",
                2,
                "episode_id",
                ID,
                "duplicate: this identifier appears in more than one row",
            ),
        ),
        set_cell("treatments", 2, "episode_id", "EPI-9000001"),
    ),
    "injector_id_missing": Case(
        (("treatments.csv", 5, "injector_id", ID, REQUIRED),),
        set_cell("treatments", 5, "injector_id", None),
    ),
    "patient_unknown": Case(
        (("treatments.csv", 3, "patient_id", ID, PATIENT_NOT_FOUND),),
        set_cell("treatments", 3, "patient_id", "PAT-999999"),
    ),
    "assessment_episode_unknown": Case(
        (("assessments.csv", 5, "episode_id", ID, EPISODE_NOT_FOUND),),
        set_cell("assessments", 5, "episode_id", "EPI-0000000"),
    ),
    "assessment_episode_missing": Case(
        (("assessments.csv", 6, "episode_id", ID, REQUIRED),),
        set_cell("assessments", 6, "episode_id", None),
    ),
    "complication_episode_unknown": Case(
        (("complications.csv", 3, "episode_id", ID, EPISODE_NOT_FOUND),),
        set_cell("complications", 3, "episode_id", "EPI-0000000"),
    ),
    "swapped_sex_and_patient_id_headers": Case(
        # the raw ids now in 'sex' are masked; the ids' column is one root cause
        (
            (
                "patients.csv",
                None,
                "patient_id",
                None,
                "9 of 9 rows of treatments.csv refer to a patient_id that is not in this file: "
                "is the right column named (or mapped) 'patient_id' here and in treatments.csv?",
                12,
            ),
            ("patients.csv", 1, "sex", ID, "sex must be one of: F, M"),
            ("patients.csv", 2, "sex", ID, "sex must be one of: F, M"),
            ("patients.csv", 3, "sex", ID, "sex must be one of: F, M"),
            ("patients.csv", 4, "sex", ID, "sex must be one of: F, M"),
        ),
        files=replace_bytes("patients.csv", b"patient_id,sex,", b"sex,patient_id,", 1),
    ),
    "swapped_region_and_patient_id_headers": Case(  # a rule broken in most rows: one problem
        (
            (
                "patients.csv",
                None,
                "patient_id",
                None,
                "9 of 9 rows of treatments.csv refer to a patient_id that is not in this file: "
                "is the right column named (or mapped) 'patient_id' here and in treatments.csv?",
                9,
            ),
            (
                "treatments.csv",
                None,
                "region",
                ID,
                "9 of 9 rows (the first: row 1): " + REGION_RULE + "; " + MOST_ROWS,
                8,
            ),
        ),
        tables=rename_columns("treatments", {"patient_id": "region", "region": "patient_id"}),
    ),
    "product_label_in_every_row": Case(
        (
            (
                "treatments.csv",
                None,
                "product",
                "Botox",
                "9 of 9 rows (the first: row 1): product must be one of: abo, daxi, inco, ona, "
                "prabo; " + MOST_ROWS,
                8,
            ),
        ),
        set_cell("treatments", slice(1, 10), "product", "Botox"),
    ),
    # -- dates ---------------------------------------------------------------------------------
    "treatment_date_text": Case(
        (
            (
                "treatments.csv",
                7,
                "treatment_date",
                "2024-13-01",
                "not a date (expected YYYY-MM-DD)",
            ),
        ),
        set_cell("treatments", 7, "treatment_date", "2024-13-01"),
    ),
    "treatment_date_missing": Case(
        (("treatments.csv", 7, "treatment_date", "", REQUIRED),),
        set_cell("treatments", 7, "treatment_date", None),
    ),
    "treatment_after_cutoff": Case(
        (
            (
                "treatments.csv",
                2,
                "treatment_date",
                "2024-06-01",
                "treatment after the data cut-off 2024-05-01",
            ),
            ("assessments.csv", 3, "assessment_date", "2024-05-20", LATE),
            ("assessments.csv", 4, "assessment_date", "2024-06-15", LATE),
            ("assessments.csv", 11, "assessment_date", "2024-07-01", LATE),
        ),
        cutoff="2024-05-01",
    ),
    "assessment_five_years_ahead": Case(  # a typing error: a problem, not a new cut-off
        (("assessments.csv", 3, "assessment_date", "2029-05-20", AFTER_CUTOFF),),
        set_cell("assessments", 3, "assessment_date", "2029-05-20"),
    ),
    "assessment_five_years_ahead_with_export_date": Case(
        (("assessments.csv", 3, "assessment_date", "2029-05-20", AFTER_CUTOFF),),
        set_cell("assessments", 3, "assessment_date", "2029-05-20"),
        mapping={"export_date": "2024-12-31"},
        cutoff=None,
    ),
    "reported_wearoff_after_cutoff": Case(
        (("assessments.csv", 9, "reported_wearoff_date", "2025-08-01", AFTER_CUTOFF),),
        set_cell("assessments", 9, "reported_wearoff_date", "2025-08-01"),
    ),
    "onset_after_cutoff": Case(
        (("complications.csv", 2, "onset_date", "2025-03-15", AFTER_CUTOFF),),
        set_cell("complications", 2, "onset_date", "2025-03-15"),
    ),
    "assessment_before_treatment": Case(
        (
            (
                "assessments.csv",
                2,
                "assessment_date",
                "2024-01-01",
                "assessment before its treatment date",
            ),
        ),
        set_cell("assessments", 2, "assessment_date", "2024-01-01"),
    ),
    "reported_before_treatment": Case(
        (
            (
                "assessments.csv",
                1,
                "reported_wearoff_date",
                "2023-12-01",
                "reported wear-off not after its treatment date",
            ),
        ),
        set_cell("assessments", 1, "reported_wearoff_date", "2023-12-01"),
    ),
    "onset_before_treatment": Case(
        (
            (
                "complications.csv",
                1,
                "onset_date",
                "2024-01-15",
                "complication onset before its treatment date",
            ),
        ),
        set_cell("complications", 1, "onset_date", "2024-01-15"),
    ),
    "resolution_before_onset": Case(
        (("complications.csv", 1, "resolution_date", "2024-02-01", "resolution before onset"),),
        set_cell("complications", 1, "resolution_date", "2024-02-01"),
    ),
    "resolution_text": Case(
        (
            (
                "complications.csv",
                4,
                "resolution_date",
                "next week",
                "not a date (expected YYYY-MM-DD)",
            ),
        ),
        set_cell("complications", 4, "resolution_date", "next week"),
    ),
    "timestamp_with_bad_offset": Case(  # no traceback: a clear problem
        (
            (
                "assessments.csv",
                2,
                "assessment_date",
                "2024-04-10T10:00:00+2",
                "not a date (expected YYYY-MM-DD)",
            ),
        ),
        set_cell("assessments", 2, "assessment_date", "2024-04-10T10:00:00+2"),
    ),
    "timestamp_impossible_hour_with_offset": Case(
        (
            (
                "assessments.csv",
                2,
                "assessment_date",
                "2024-04-10T25:00:00+02:00",
                "not a date (expected YYYY-MM-DD)",
            ),
        ),
        set_cell("assessments", 2, "assessment_date", "2024-04-10T25:00:00+02:00"),
        mapping={"timezone": "Europe/Berlin"},
    ),
    "day_month_column_undeclared": Case(
        (
            (
                "assessments.csv",
                None,
                "assessment_date",
                "10/04/2024",
                "13 dates are written day/month style without a declared order (both readings "
                "are valid in 5 rows; 8 row(s) only make sense day-first): " + DAY_MONTH,
            ),
        ),
        reformat_dates("assessments", "assessment_date", "%d/%m/%Y"),
    ),
    "day_month_ambiguous_only": Case(  # 07/02/2022: 7 February or 2 July
        (
            (
                "treatments.csv",
                None,
                "treatment_date",
                "01/10/2024",
                "9 dates are written day/month style without a declared order (both readings "
                "are valid in 8 rows; 1 row(s) only make sense month-first): " + DAY_MONTH,
            ),
        ),
        reformat_dates("treatments", "treatment_date", "%m/%d/%Y"),
    ),
    "day_month_single_cell": Case(
        (
            (
                "treatments.csv",
                3,
                "treatment_date",
                "07/02/2022",
                "not a date (expected YYYY-MM-DD); for dates like 07/02/2022 declare date_format "
                "in mapping.yaml",
            ),
        ),
        set_cell("treatments", 3, "treatment_date", "07/02/2022"),
    ),
    "declared_format_other_order": Case(
        (
            (
                "treatments.csv",
                1,
                "treatment_date",
                "01/31/2024",
                "not a date (expected %d/%m/%Y); it may be month-first or day-first: check "
                "date_format in mapping.yaml",
            ),
        ),
        both(
            reformat_dates("treatments", "treatment_date", "%d/%m/%Y"),
            set_cell("treatments", 1, "treatment_date", "01/31/2024"),
        ),
        mapping={"date_format": "%d/%m/%Y"},
    ),
    # -- the data cut-off ----------------------------------------------------------------------
    "cutoff_unknown": Case(
        (
            (
                "mapping.yaml",
                None,
                "export_date",
                None,
                "the data cut-off is unknown: give the day the data were exported as "
                "export_date: YYYY-MM-DD in the export's mapping.yaml, or set data.cutoff_date "
                "in params.yaml (the latest date in the data is never used: one mistyped date "
                "would move it)",
            ),
        ),
        cutoff=None,
    ),
    "cutoff_too_early": Case(  # one problem per column, not one per row
        (
            (
                "treatments.csv",
                None,
                "treatment_date",
                "2024-01-10",
                "9 of 9 rows (the first: row 1): treatment after the data cut-off 2021-12-31; "
                + MOST_ROWS,
                8,
            ),
            (
                "assessments.csv",
                None,
                "assessment_date",
                "2024-01-24",
                "13 of 13 rows (the first: row 1): date after the data cut-off 2021-12-31; "
                + MOST_ROWS,
                12,
            ),
            ("assessments.csv", 1, "reported_wearoff_date", "2024-02-01", EARLY),
            ("assessments.csv", 9, "reported_wearoff_date", "2023-08-01", EARLY),
            ("complications.csv", 1, "onset_date", "2024-02-10", EARLY),
            ("complications.csv", 2, "onset_date", "2024-03-15", EARLY),
            ("complications.csv", 3, "onset_date", "2024-03-02", EARLY),
            ("complications.csv", 4, "onset_date", "2024-01-10", EARLY),
        ),
        set_cell("patients", 3, "birth_year", 2000),  # born before the early cut-off
        cutoff="2021-12-31",
    ),
    "cutoff_after_export_date": Case(
        (
            (
                "params.yaml",
                None,
                "data.cutoff_date",
                "2024-12-31",
                "the data cut-off is after the export date 2024-11-30 (mapping.yaml "
                "export_date): no episode can be followed beyond the day the data were exported",
            ),
        ),
        mapping={"export_date": "2024-11-30"},
    ),
    # -- files, columns, rows ------------------------------------------------------------------
    "missing_file": Case(
        (("complications.{csv|parquet|xlsx}", None, None, None, "required file is missing"),),
        drop_table("complications"),
    ),
    "missing_parent_file": Case(
        (("patients.{csv|parquet|xlsx}", None, None, None, "required file is missing", 9),),
        drop_table("patients"),
    ),
    "two_files_for_one_table": Case(
        (
            (
                "patients",
                None,
                None,
                None,
                "ambiguous: several files (patients.csv, patients.parquet); keep one",
                9,
            ),
        ),
        files=lambda d: (
            __import__("handmade").tables()["patients"].to_parquet(d / "patients.parquet")
        ),
    ),
    "missing_column": Case(
        (("treatments.csv", None, "units", None, MISSING_COLUMN),),
        drop_column("treatments", "units"),
    ),
    "missing_key_column": Case(  # one root cause, not one problem per assessment
        (("treatments.csv", None, "episode_id", None, MISSING_COLUMN, 17),),
        drop_column("treatments", "episode_id"),
    ),
    "duplicate_column": Case(
        (
            (
                "treatments.csv",
                None,
                "units",
                None,
                "column appears more than once (after mapping)",
            ),
        ),
        tables=lambda t: t["treatments"].insert(
            8, "units", t["treatments"]["units"], allow_duplicates=True
        ),
    ),
    "empty_file": Case(
        (
            (
                "complications.csv",
                None,
                None,
                None,
                "the file is empty (0 bytes): export the table again, with its header row",
            ),
        ),
        files=write_bytes("complications.csv", b""),
    ),
    "blank_first_line": Case(
        (
            (
                "complications.csv",
                None,
                None,
                None,
                "the first line is empty: it must be the header row",
            ),
        ),
        files=lambda d: (d / "complications.csv").write_bytes(
            b"\n" + (d / "complications.csv").read_bytes()
        ),
    ),
    "semicolon_delimiter": Case(  # 9 knock-on "patient not found" counted, not listed
        (
            (
                "patients.csv",
                None,
                None,
                None,
                "the header is one column that contains semicolons: the file is separated by "
                "semicolons, not commas; save it as CSV (comma-separated) or declare "
                "delimiter: ';' in mapping.yaml",
                9,
            ),
        ),
        files=replace_bytes("patients.csv", b",", b";"),
    ),
    "tab_delimiter": Case(
        (
            (
                "complications.csv",
                None,
                None,
                None,
                "the header is one column that contains tabs: the file is separated by tabs, "
                "not commas; save it as CSV (comma-separated) or declare delimiter: '\\t' in "
                "mapping.yaml",
            ),
        ),
        files=replace_bytes("complications.csv", b",", b"\t"),
    ),
    "decimal_comma_unquoted": Case(
        (
            (
                "treatments.csv",
                4,
                None,
                None,
                "the row has 12 cells but the header has 11: " + WIDER_ROW,
            ),
        ),
        files=lines_of(
            "treatments.csv", lambda ls: ls.__setitem__(4, ls[4].replace(b",24,", b",24,5,"))
        ),
    ),
    "row_with_too_few_cells": Case(
        (
            (
                "assessments.csv",
                9,
                None,
                None,
                "the row has 3 cells but the header has 4: a missing cell or an unclosed quote",
            ),
        ),
        files=lines_of(
            "assessments.csv", lambda ls: ls.__setitem__(9, ls[9].replace(b",,", b",", 1))
        ),
    ),
    "most_rows_wider_than_header": Case(
        (
            (
                "assessments.csv",
                None,
                None,
                None,
                "13 of 13 rows have a different number of cells from the header (4 columns; most "
                "of these rows have 5): check the delimiter, the header row and the quoting",
                12,
            ),
        ),
        files=lines_of(
            "assessments.csv",
            lambda ls: ls.__setitem__(
                slice(1, None), [line.replace(b"\n", b",\n") for line in ls[1:]]
            ),
        ),
    ),
    # -- encodings -----------------------------------------------------------------------------
    "latin1_in_staff_label": Case(  # an identifier column: the value is masked
        (
            (
                "treatments.csv",
                3,
                "injector_id",
                ID,
                NOT_UTF8 + " [byte 0xe9; 3 line(s) in all]",
                17,
            ),
        ),
        files=replace_bytes("treatments.csv", b"Dr. Beta", b"Dr. B\xe9ta"),
    ),
    "cp1252_in_code": Case(
        (
            (
                "treatments.csv",
                4,
                "region",
                "cr\\xf6ws_feet",
                NOT_UTF8 + " [byte 0xf6; 2 line(s) in all]",
                17,
            ),
        ),
        files=replace_bytes("treatments.csv", b"crows_feet", b"cr\xf6ws_feet"),
    ),
    "latin1_far_into_the_file": Case(  # past Arrow's first block; free text is never shown
        (
            (
                "treatments.csv",
                9,
                "notes",
                None,
                NOT_UTF8 + " [byte 0xfc; 1 line(s) in all]",
                17,
            ),
        ),
        tables=add_notes("treatments", _far_name),
        files=replace_bytes("treatments.csv", "M\u00fcller".encode(), b"M\xfcller"),
    ),
    "latin1_in_header": Case(
        (
            (
                "treatments.csv",
                None,
                None,
                None,
                NOT_UTF8 + " [byte 0xe9; 1 line(s) in all] (in the header row)",
                17,
            ),
        ),
        files=replace_bytes("treatments.csv", b"region", b"r\xe9gion", 1),
    ),
    "declared_encoding_wrong": Case(
        (
            (
                "patients.csv",
                None,
                None,
                None,
                "not valid ascii text (the encoding declared in mapping.yaml): check it "
                "[byte 0xfc; 1 line(s) in all] (in the header row)",
                9,
            ),
        ),
        files=replace_bytes("patients.csv", b"sex", b"s\xfcx", 1),
        mapping={"encoding": "ascii"},
    ),
    # -- workbooks -----------------------------------------------------------------------------
    "sheet_with_another_header": Case(
        (
            (
                "treatments.xlsx",
                None,
                None,
                None,
                "sheet '2024' (3 rows) has another header than sheet '2022-2023' (11 of 11 "
                "column names differ), so its rows were not read: a table split over sheets must "
                "repeat the same header in each sheet; or list the sheets to read under "
                "sheets.treatments in mapping.yaml",
                6,
            ),
        ),
        files=workbook("treatments", {"2022-2023": (0, 5, True), "2024": (5, 9, False)}),
    ),
    "listed_sheet_not_in_workbook": Case(
        (
            (
                "treatments.xlsx",
                None,
                None,
                "2025",
                "sheet listed under sheets.treatments in mapping.yaml not found in the workbook "
                "(sheets: '2022-2023', '2024')",
            ),
        ),
        files=workbook("treatments", {"2022-2023": (0, 5, True), "2024": (5, 9, True)}),
        mapping={"sheets": {"treatments": ["2022-2023", "2024", "2025"]}},
    ),
    "row_problem_in_second_sheet": Case(  # named by sheet and row within the sheet
        (
            (
                "treatments.xlsx, sheet '2024'",
                2,
                "units",
                "twenty",
                "not a number",
            ),
        ),
        files=lambda d: _sheets_with_bad_units(d),
    ),
    "corrupt_workbook": Case(
        (
            (
                "patients.xlsx",
                None,
                None,
                None,
                "cannot read the file as Excel workbook (BadZipFile); save it again as Excel "
                "workbook (.xlsx)",
                9,
            ),
        ),
        files=both(remove("patients.csv"), write_bytes("patients.xlsx", b"not a zip file")),
    ),
    "corrupt_parquet": Case(
        (
            (
                "complications.parquet",
                None,
                None,
                None,
                "cannot read the file as Parquet (ArrowInvalid); save it again as Parquet "
                "(.parquet)",
            ),
        ),
        files=both(
            remove("complications.csv"), write_bytes("complications.parquet", b"PAR1 broken")
        ),
    ),
    # -- the mapping file ----------------------------------------------------------------------
    "mapping_unknown_section": Case(
        (
            (
                "mapping.yaml",
                None,
                None,
                "colours",
                "unknown section; allowed: columns, date_format, delimiter, encoding, "
                "export_date, files, sheets, timezone, values",
            ),
        ),
        mapping={"colours": {}},
    ),
    "mapping_not_canonical_column": Case(
        (
            (
                "mapping.yaml",
                None,
                None,
                "patient_no",
                "columns.treatments: not a canonical column (baseline_severity, clinic_id, "
                "episode_id, exercise_met_h_week, injector_id, is_touchup, muscle_bulk, "
                "patient_id, product, region, treatment_date, units)",
            ),
        ),
        mapping={"columns": {"treatments": {"Pat": "patient_no"}}},
    ),
    "mapping_unknown_encoding": Case(
        (
            (
                "mapping.yaml",
                None,
                "encoding",
                "windows-latin",
                "unknown text encoding (e.g. utf-8, cp1252, latin-1)",
            ),
        ),
        mapping={"encoding": "windows-latin"},
    ),
    "mapping_bad_delimiter": Case(
        (
            (
                "mapping.yaml",
                None,
                "delimiter",
                ";;",
                "must be one character other than a quote or a line break, e.g. ';'",
            ),
        ),
        mapping={"delimiter": ";;"},
    ),
    "mapping_unknown_timezone": Case(
        (
            (
                "mapping.yaml",
                None,
                "timezone",
                "Mars/Olympus",
                "unknown time zone; give an IANA name such as Europe/Berlin",
            ),
        ),
        mapping={"timezone": "Mars/Olympus"},
    ),
    "mapping_bad_export_date": Case(
        (("mapping.yaml", None, "export_date", "31.12.2024", "must be a date YYYY-MM-DD"),),
        mapping={"export_date": "31.12.2024"},
    ),
    "mapping_unmapped_label": Case(
        (
            (
                "treatments.csv",
                6,
                "region",
                "Jaw",
                REGION_RULE,
            ),
        ),
        tables=lambda t: t.__setitem__(
            "treatments",
            t["treatments"].assign(
                region=t["treatments"]["region"].replace({"masseter": "Jaw", "glabella": "Glab"})
            ),
        ),
        mapping={"values": {"region": {"Glab": "glabella"}}},
    ),
}


def _sheets_with_bad_units(directory) -> None:
    import handmade
    import pandas as pd

    df = handmade.tables()["treatments"]
    df["units"] = df["units"].astype(object)
    df.loc[6, "units"] = "twenty"  # row 2 of sheet '2024' (rows 6-9)
    with pd.ExcelWriter(directory / "treatments.xlsx") as writer:
        df.iloc[:5].to_excel(writer, sheet_name="2022-2023", index=False)
        df.iloc[5:].to_excel(writer, sheet_name="2024", index=False)
    (directory / "treatments.csv").unlink()
