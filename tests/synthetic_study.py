"""A synthetic processed cohort with a known truth and fake model-stage outputs (tests only).

The cohort follows the processed-table contract of docs/ARCHITECTURE.md with a known
complication probability and re-treatment distribution, so the cohort description can be
checked against the truth. The fake stage outputs (tables, PNGs, manifests written as plain
JSON) stand in for fit_survival, fit_complications and fit_advice in tests of the manifest
reader and of the report's assembly (the real stages have their own tests). Importable from
every test directory: ``tests/`` is on ``sys.path`` through the root conftest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.data.processed import write_study_period
from analysis.figures.theme import save_figure, theme
from analysis.io import write_csv, write_json

REGIONS = ["glabella", "forehead", "crows_feet", "masseter", "lip_flip"]
#: Raw labels that must never reach the reports (the synthetic "raw" identifiers).
RAW_CLINICS = ["Rosewood Aesthetics Ltd", "Harbourside Skin Clinic", "Juniper Facial Studio"]
RAW_INJECTORS = [f"Dr Quillon Marbury {i}" for i in range(8)]
TRUE_COMPLICATION_P = 0.06
TRUE_RETREAT_MEDIAN_DAYS = 140.0


def _key(prefix: str, raw: str, n: int = 16) -> str:
    return prefix + hashlib.sha256(b"test|" + raw.encode()).hexdigest()[:n]


def make_episodes(n_patients: int = 600, seed: int = 7) -> tuple[pd.DataFrame, dict]:
    """Synthetic processed episodes with known truth; returns (episodes, raw identifiers)."""
    rng = np.random.default_rng(seed)
    patient_ids = [f"PX{100000 + i}" for i in range(n_patients)]
    rows, episode_ids = [], []
    start = pd.Timestamp("2022-01-03")
    cutoff = pd.Timestamp("2024-12-31")
    for pid in patient_ids:
        sex = rng.choice(["F", "M"], p=[0.85, 0.15])
        age = float(rng.integers(22, 70))
        fat = float(rng.normal(28, 6)) if rng.random() < 0.6 else np.nan
        clinic = RAW_CLINICS[rng.integers(len(RAW_CLINICS))]
        injector = RAW_INJECTORS[rng.integers(len(RAW_INJECTORS))]
        for region in rng.choice(REGIONS, size=rng.integers(1, 3), replace=False):
            date = start + pd.Timedelta(days=int(rng.integers(0, 1000)))
            retreat = float(rng.weibull(3.0) * TRUE_RETREAT_MEDIAN_DAYS / np.log(2) ** (1 / 3))
            follow = float((cutoff - date).days)
            eid = f"EP{len(episode_ids) + 1:07d}"
            episode_ids.append(eid)
            units = float(rng.choice([16, 20, 24, 40, 60]))
            rows.append(
                {
                    "episode_key": _key("", eid),
                    "patient_key": _key("", pid),
                    "clinic": "C-" + _key("", clinic, 6),
                    "injector": "I-" + _key("", injector, 6),
                    "treatment_date": date,
                    "year": date.year,
                    "quarter": f"{date.year}Q{date.quarter}",
                    "region": str(region),
                    "product": str(rng.choice(["ona", "abo", "inco"])),
                    "units": units,
                    "units_ona_eq": units,
                    "reference_dose_units": 20.0,
                    "rel_dose": units / 20.0,
                    "log2_rel_dose": np.log2(units / 20.0),
                    "muscle_bulk": int(rng.integers(1, 5)),
                    "exercise_met_h_week": float(rng.gamma(2, 8)),
                    "baseline_severity": int(rng.integers(1, 4)),
                    "sex": sex,
                    "age_years": age,
                    "body_fat_pct": fat,
                    "cycle": int(rng.integers(1, 4)),
                    "retreat_days": min(retreat, follow),
                    "retreat_event": retreat <= follow,
                    "c30_any": bool(rng.random() < TRUE_COMPLICATION_P),
                    "dur_lower_days": 100.0,
                    "dur_upper_days": 130.0,
                    "dur_status": "interval",
                    "in_duration_analysis": True,
                    "dur_exclusion_reason": "",
                    # no touch-ups in these cohorts (columns of the processed contract)
                    "touchup": False,
                    "n_touchups": 0,
                    "touchup_units_ona_eq": 0.0,
                    "touchup_day": np.nan,
                }
            )
    ep = pd.DataFrame(rows)
    ep["log2_rel_dose_initial"] = ep["log2_rel_dose"]
    ep["exercise_tier"] = pd.cut(
        ep["exercise_met_h_week"],
        [-np.inf, 10, 30, np.inf],
        right=False,
        labels=["low", "moderate", "high"],
    ).astype(str)
    ep["treatment_date"] = pd.to_datetime(ep["treatment_date"])
    raw = {
        "patient_id": patient_ids,
        "episode_id": episode_ids,
        "clinic_id": RAW_CLINICS,
        "injector_id": RAW_INJECTORS,
    }
    return ep, raw


def make_data_quality(n_episodes: int, n_patients: int = 600) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "table": "treatments",
                "rows_in": n_episodes + 13,
                "rows_kept": n_episodes,
                "rows_excluded": 10,
                "reason": "units outside 0.2-5 x reference dose",
            },
            {
                "table": "treatments",
                "rows_in": n_episodes + 13,
                "rows_kept": n_episodes,
                "rows_excluded": 3,
                "reason": "unknown region code",
            },
            {
                "table": "patients",
                "rows_in": n_patients,
                "rows_kept": n_patients,
                "rows_excluded": 0,
                "reason": "none",
            },
        ]
    )


#: complication types and severities of the synthetic complication records (with weights)
COMPLICATION_TYPES = ["headache", "eyelid_ptosis", "injection_site_reaction"]
SEVERITIES = {"mild": 0.6, "moderate": 0.3, "severe": 0.1}


def make_complications(episodes: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """One processed complication record per episode with ``c30_any`` (onset within 30 days;
    about one in five without a resolution date)."""
    rng = np.random.default_rng(seed)
    rows = episodes.loc[episodes["c30_any"].astype(bool)]
    n = len(rows)
    onset_day = rng.integers(1, 30, size=n)
    resolution_day = onset_day + rng.integers(3, 60, size=n)
    resolved = rng.random(n) > 0.2
    start = pd.to_datetime(rows["treatment_date"]).to_numpy()
    onset = pd.to_datetime(start) + pd.to_timedelta(onset_day, unit="D")
    resolution = pd.to_datetime(start) + pd.to_timedelta(resolution_day, unit="D")
    return pd.DataFrame(
        {
            "episode_key": rows["episode_key"].to_numpy(),
            "complication_type": rng.choice(COMPLICATION_TYPES, size=n),
            "onset_date": onset,
            "onset_day": onset_day.astype(np.int64),
            "severity": rng.choice(list(SEVERITIES), size=n, p=list(SEVERITIES.values())),
            "resolution_date": pd.Series(resolution).where(resolved),
            "resolution_day": pd.array(np.where(resolved, resolution_day, 0), dtype="Int64"),
        }
    ).assign(resolution_day=lambda f: f["resolution_day"].where(resolved))


def write_processed(episodes: pd.DataFrame, dq: pd.DataFrame, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    episodes.to_parquet(out / "episodes.parquet", index=False)
    make_complications(episodes).to_parquet(out / "complications.parquet", index=False)
    write_csv(dq, out / "data_quality.csv")
    write_study_period(pd.Timestamp("2024-12-31"), "params", out, simulated=True)
    return out


def _figure(path: Path, title: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with theme():
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(np.arange(20), rng.normal(size=20).cumsum(), marker="o")
        ax.set_xlabel("Days since treatment (days)")
        ax.set_ylabel("Estimate (units)")
        ax.set_title(title)
        save_figure(fig, path)


def fake_advice_table() -> pd.DataFrame:
    """An advice table with the fit_advice stage's columns (two regions; the 90-day floor
    binds for short predicted durations), and a count column with one small count."""
    rows = []
    for region, ref_units, base in (("glabella", 20.0, 112.0), ("lip_flip", 4.0, 60.0)):
        for mult in (0.5, 1.0, 2.0):
            for bulk in (1, 2, 3, 4):
                for tier, met in (("low", 5.0), ("moderate", 20.0), ("high", 40.0)):
                    median = (
                        base * mult**0.3 * (1 - 0.04 * (bulk - 2)) * (1.1 if tier == "low" else 1)
                    )
                    if region == "glabella" and mult == 1.0 and bulk == 2 and tier == "moderate":
                        median = base  # the fake advice headline's value
                    start = max(90.0, median)
                    rows.append(
                        {
                            "region": region,
                            "dose_multiple": mult,
                            "units_ona": ref_units * mult,
                            "muscle_bulk": bulk,
                            "exercise_tier": tier,
                            "exercise_met_h_week": met,
                            "median_days": median,
                            "lower_days": median * 0.7,
                            "upper_days": median * 1.4,
                            "prob_holds_12wk": min(0.99, median / 180),
                            "booking_start_days": start,
                            "booking_end_days": max(90.0, median * 1.2),
                            "floor_binds": median < 90.0,
                            "extrapolation": False,
                        }
                    )
    table = pd.DataFrame(rows)
    # a count column as the fake advice table had: 120 episodes, then a small count
    table.insert(4, "n_episodes", [120, 4] + [120] * (len(table) - 2))
    return table


def write_fake_stage_outputs(reports: Path) -> dict[str, dict]:
    """Fake survival, complications and advice outputs (tables, PNGs, manifests)."""
    out = {}
    surv = reports / "survival"
    med = pd.DataFrame(
        {
            "region": ["glabella", "forehead", "lip_flip"],
            "n_episodes": [412, 233, 3],
            "median_days": [128.43, 141.2, 77.0],
            "median_lower": [121.04, 133.9, 50.2],
            "median_upper": [135.22, 150.3, 101.0],
        }
    )
    write_csv(med, surv / "median_duration_by_region.csv")
    tr = pd.DataFrame(
        {
            "term": ["log2_rel_dose", "muscle_bulk", "sex=M"],
            "time_ratio": [1.19, 0.93, 0.88],
            "lower": [1.12, 0.9, 0.81],
            "upper": [1.26, 0.96, 0.95],
        }
    )
    write_csv(tr, surv / "time_ratios.csv")
    unadjusted = pd.DataFrame(
        {
            "predictor": ["dose", "muscle_bulk_per_grade", "sex_male"],
            "term": ["log2_rel_dose", "muscle_bulk", "sex=M"],
            "label": ["Dose doubling", "Muscle bulk, per grade", "Men vs women"],
            "time_ratio": [1.22, 0.91, 0.86],
            "time_ratio_lower": [1.14, 0.87, 0.78],
            "time_ratio_upper": [1.31, 0.95, 0.94],
            "p": [2e-6, 0.0004, 0.002],
            "adjusted_time_ratio": [1.19, 0.93, 0.88],
            "adjusted_time_ratio_lower": [1.12, 0.9, 0.81],
            "adjusted_time_ratio_upper": [1.26, 0.96, 0.95],
            "family": "lognormal",
            "note": "",
        }
    )
    write_csv(unadjusted, surv / "aft_unadjusted_time_ratios.csv")
    _figure(surv / "survival_by_region.png", "Survival by region", 1)
    _figure(surv / "time_ratio_forest.png", "Time ratios", 3)
    out["survival"] = {
        "stage": "fit_survival",
        "title": "Duration of effect",
        "methods": "Interval-censored Weibull AFT (fake manifest for report tests).",
        "sections": [
            {
                "view": "clinic",
                "title": "Median duration by region",
                "text": "Fake.",
                "tables": [
                    {
                        "path": "median_duration_by_region.csv",
                        "caption": "Medians",
                        "count_columns": ["n_episodes"],
                        "derived_columns": ["median_days", "median_lower", "median_upper"],
                    }
                ],
                "figures": [
                    {
                        "path": "survival_by_region.png",
                        "caption": "KM",
                        "alt": "Survival curves by region",
                    }
                ],
            },
            {
                "view": "research",
                "title": "Time ratios",
                "text": "Fake AFT.",
                "tables": [
                    {"path": "time_ratios.csv", "caption": "Time ratios", "latex": True},
                    {"path": "aft_unadjusted_time_ratios.csv", "caption": "Unadjusted"},
                ],
                "figures": [
                    {
                        "path": "time_ratio_forest.png",
                        "caption": "Forest plot",
                        "alt": "Forest plot of time ratios with intervals",
                    }
                ],
            },
        ],
        "headlines": [
            {
                "key": "median_days_glabella",
                "label": "Glabella median duration",
                "value": 128.43,
                "lower": 121.04,
                "upper": 135.22,
                "unit": "days",
                "view": "clinic",
                "source": "median_duration_by_region.csv",
            },
            {
                "key": "time_ratio_dose_doubling",
                "label": "Time ratio per dose doubling",
                "value": 1.19,
                "lower": 1.12,
                "upper": 1.26,
                "unit": "ratio",
                "digits": 2,
                "view": "research",
                "source": "time_ratios.csv",
            },
        ],
    }
    comp = reports / "complications"
    rates = pd.DataFrame(
        {
            "region": ["glabella", "forehead"],
            "n_episodes": [412, 233],
            "n_events": [9, 2],
            "rate_pct": [2.18, 0.86],
            "lower": [1.1, 0.2],
            "upper": [3.9, 2.9],
        }
    )
    write_csv(rates, comp / "rates_by_region.csv")
    _figure(comp / "funnel.png", "Injector funnel", 2)
    out["complications"] = {
        "stage": "fit_complications",
        "title": "Complications",
        "methods": "Hierarchical logistic model (fake).",
        "sections": [
            {
                "view": "clinic",
                "title": "Rates by region",
                "text": "",
                "tables": [
                    {
                        "path": "rates_by_region.csv",
                        "caption": "Rates",
                        "count_columns": ["n_episodes", "n_events"],
                        "derived_columns": ["rate_pct", "lower", "upper"],
                    }
                ],
                "figures": [
                    {
                        "path": "funnel.png",
                        "caption": "Funnel",
                        "alt": "Funnel plot of injector complication rates",
                    }
                ],
            }
        ],
        "headlines": [
            {
                "key": "ptosis_rate_glabella_pct",
                "label": "Ptosis rate glabella",
                "value": 2.18,
                "lower": 1.1,
                "upper": 3.9,
                "unit": "%",
                "view": "clinic",
                "source": "rates_by_region.csv",
            }
        ],
    }
    adv = reports / "advice"
    write_csv(fake_advice_table(), adv / "advice_table.csv")
    out["advice"] = {
        "stage": "fit_advice",
        "title": "Interval advice",
        "methods": "Bayesian AFT with frailty (fake).",
        "sections": [
            {
                "view": "advice",
                "title": "When to book",
                "text": "",
                "tables": [
                    {
                        "path": "advice_table.csv",
                        "caption": "Advice",
                        "count_columns": ["n_episodes"],
                    }
                ],
                "figures": [],
            }
        ],
        "headlines": [
            {
                "key": "book_after_days_glabella",
                "label": "Book glabella after",
                "value": 112.0,
                "unit": "days",
                "view": "advice",
                "source": "advice_table.csv",
            }
        ],
    }
    for name, man in out.items():
        write_json(man, reports / name / "manifest.json")
    return out


def build_reports(params: Path, processed: Path, results: Path, reports: Path) -> None:
    """describe -> results/cohort, disclose results -> reports, report -> reports."""
    from analysis.cli import main

    common = ["--params", str(params)]
    describe = ["describe", *common, "--processed", str(processed), "--out"]
    assert main([*describe, str(results / "cohort")]) == 0
    assert main(["disclose", *common, "--results", str(results), "--out", str(reports)]) == 0
    report = ["report", *common, "--processed", str(processed), "--out", str(reports)]
    assert main(report) == 0
