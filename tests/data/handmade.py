"""A hand-written export whose every derived value is worked out by hand (see EXPECTED).

Cut-off 2024-12-31 (set with ``data.cutoff_date``). Patient ids look like real ones so that
the tests can search output bytes for them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CUTOFF = "2024-12-31"

PATIENTS = pd.DataFrame(
    {
        "patient_id": ["PAT-100001", "PAT-100002", "PAT-100003", "PAT-100004"],
        "sex": ["F", "M", "F", "F"],
        "birth_year": [1980, 1975, 2010, 1990],
        "body_fat_pct": [28.0, 18.5, None, 31.0],
    }
)

_T = [
    # episode, patient, clinic, injector, date, region, product, units, bulk, MET, baseline
    (
        "EPI-9000001",
        "PAT-100001",
        "Clinic Nord",
        "Dr. Alpha",
        "2024-01-10",
        "glabella",
        "ona",
        20,
        2,
        5.0,
        2,
    ),
    (
        "EPI-9000002",
        "PAT-100001",
        "Clinic Nord",
        "Dr. Alpha",
        "2024-06-01",
        "glabella",
        "ona",
        24,
        2,
        12.0,
        2,
    ),
    (
        "EPI-9000003",
        "PAT-100002",
        "Clinic Sued",
        "Dr. Beta",
        "2022-03-01",
        "forehead",
        "abo",
        50,
        3,
        30.0,
        3,
    ),
    (
        "EPI-9000004",
        "PAT-100002",
        "Clinic Sued",
        "Dr. Beta",
        "2023-01-10",
        "crows_feet",
        "ona",
        24,
        2,
        45.0,
        2,
    ),
    (
        "EPI-9000005",
        "PAT-100002",
        "Clinic Sued",
        "Dr. Beta",
        "2023-04-20",
        "crows_feet",
        "ona",
        24,
        2,
        40.0,
        2,
    ),
    (
        "EPI-9000006",
        "PAT-100004",
        "Clinic Nord",
        "Dr. Gamma",
        "2024-02-01",
        "masseter",
        "prabo",
        60,
        4,
        9.99,
        2,
    ),
    (
        "EPI-9000007",
        "PAT-100004",
        "Clinic Nord",
        "Dr. Gamma",
        "2024-02-01",
        "lip_flip",
        "inco",
        4,
        1,
        9.99,
        0,
    ),
    (
        "EPI-9000008",
        "PAT-100003",
        "Clinic Nord",
        "Dr. Alpha",
        "2024-03-01",
        "glabella",
        "ona",
        20,
        1,
        0.0,
        1,
    ),
    (
        "EPI-9000009",
        "PAT-100004",
        "Clinic Nord",
        "Dr. Gamma",
        "2024-02-01",
        "glabella",
        "daxi",
        40,
        2,
        9.99,
        3,
    ),
]
TREATMENTS = pd.DataFrame(
    _T,
    columns=[
        "episode_id",
        "patient_id",
        "clinic_id",
        "injector_id",
        "treatment_date",
        "region",
        "product",
        "units",
        "muscle_bulk",
        "exercise_met_h_week",
        "baseline_severity",
    ],
)

_A = [
    ("EPI-9000001", "2024-01-24", 0, "2024-02-01"),  # reported d22: contradicted by the d91 visit
    ("EPI-9000001", "2024-04-10", 1, None),  # d91 still effect (baseline 2)
    ("EPI-9000001", "2024-05-20", 2, None),  # d131 back at baseline -> (91, 131]
    ("EPI-9000002", "2024-06-15", 0, None),  # d14 only; cut-off 213 d later -> right_cutoff at 14
    ("EPI-9000003", "2022-03-15", 1, None),  # d14 only; > 365 d before cut-off -> right_no_return
    ("EPI-9000004", "2023-01-24", 0, None),  # d14
    ("EPI-9000004", "2023-04-20", 1, None),  # d100, re-treatment day, still effect -> retreated
    ("EPI-9000005", "2023-05-04", 0, None),  # d14
    ("EPI-9000005", None, None, None),  # placeholder replaced below (reported-only row)
    (
        "EPI-9000005",
        "2023-09-01",
        2,
        None,
    ),  # d134 back at baseline; reported d103 -> (89, 117] with the 14-day window
    ("EPI-9000006", "2024-07-01", 2, None),  # d151 first visit already at baseline -> (0, 151]
    ("EPI-9000007", "2024-02-15", 0, None),  # baseline 0 -> not in duration analysis
    ("EPI-9000008", "2024-03-15", 0, None),  # minor: excluded with its episode
]
ASSESSMENTS = pd.DataFrame(
    _A, columns=["episode_id", "assessment_date", "severity", "reported_wearoff_date"]
)
# a phone call: no severity, only the patient-reported wear-off date
ASSESSMENTS.loc[8, ["assessment_date", "reported_wearoff_date"]] = ["2023-08-01", "2023-08-01"]
ASSESSMENTS["severity"] = ASSESSMENTS["severity"].astype("Int64")

COMPLICATIONS = pd.DataFrame(
    [
        ("EPI-9000009", "eyelid_ptosis", "2024-02-10", "moderate", "2024-03-20"),  # d9 -> c30
        ("EPI-9000009", "headache", "2024-03-15", "mild", None),  # d43 -> not c30
        ("EPI-9000008", "headache", "2024-03-02", "mild", "2024-03-03"),  # excluded episode
        ("EPI-9000001", "injection_site_reaction", "2024-01-10", "mild", "2024-01-17"),  # d0 -> c30
    ],
    columns=["episode_id", "complication_type", "onset_date", "severity", "resolution_date"],
)

#: episode -> expected (lower, upper, status, in_duration_analysis, cycle, retreat_days,
#: retreat_event)
INF = float("inf")
EXPECTED = {
    "EPI-9000001": (91.0, 131.0, "interval", True, 1, 143.0, True),
    "EPI-9000002": (14.0, INF, "right_cutoff", True, 2, 213.0, False),
    "EPI-9000003": (14.0, INF, "right_no_return", True, 1, 1036.0, False),
    "EPI-9000004": (100.0, INF, "right_retreated_responding", True, 1, 100.0, True),
    "EPI-9000005": (
        89.0,
        117.0,
        "interval_reported",
        True,
        2,
        621.0,
        False,
    ),  # (103 -/+ 14) within (14, 134]
    "EPI-9000006": (0.0, 151.0, "interval", True, 1, 334.0, False),
    "EPI-9000007": (0.0, 14.0, "interval", False, 1, 334.0, False),
    "EPI-9000009": (0.0, INF, "right_cutoff", False, 1, 334.0, False),
}


def tables() -> dict[str, pd.DataFrame]:
    """Fresh copies of the four raw tables (canonical column names, text dates)."""
    return {
        "patients": PATIENTS.copy(),
        "treatments": TREATMENTS.copy(),
        "assessments": ASSESSMENTS.copy(),
        "complications": COMPLICATIONS.copy(),
    }


def write(tabs: dict[str, pd.DataFrame], directory: Path, ext: str = ".csv") -> Path:
    """Write the tables as ``<table><ext>`` into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, df in tabs.items():
        path = directory / f"{name}{ext}"
        if ext == ".csv":
            df.to_csv(path, index=False)
        elif ext == ".parquet":
            df.to_parquet(path, index=False)
        elif ext == ".xlsx":
            df.to_excel(path, index=False)
        else:
            raise ValueError(ext)
    return directory
