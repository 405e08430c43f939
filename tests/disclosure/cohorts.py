"""Small cohorts built to be easy to attack, released through the real disclosure layer.

:func:`make_cohort` draws processed episodes with injectors nested in clinics (as in the
simulator) and 30-day events of a few complication types, each possible in its own regions.
:func:`release_cohort` runs the real ``describe`` stage on them, writes the complication
tables of the ``fit_complications`` stage (counts by region, clinic and injector, predictive
checks; the posterior columns are stand-ins) with that stage's own count declarations and
cubes (:mod:`analysis.complications.report`), and releases both through the real
``disclose`` stage. Model fitting is not needed to attack what is released.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.complications import report as complications_report
from analysis.data.processed import write_study_period
from analysis.io import write_csv
from analysis.outputs import StageOutput

HIERARCHICAL = "hierarchical"
MIN_TREATMENTS_TO_JUDGE = 50


def _key(prefix: str, raw: str, n: int = 16) -> str:
    return prefix + hashlib.sha256(b"disclosure|" + raw.encode()).hexdigest()[:n]


@dataclass(frozen=True)
class CohortSpec:
    """How to draw a cohort: clinics -> number of injectors, regions with weights, and
    complication types -> (regions, 30-day probability). ``forced`` sets exact event counts:
    (type, region) -> number of episodes with the event (the rest have none)."""

    injectors_per_clinic: tuple[int, ...] = (1, 1, 1, 1)
    regions: dict[str, float] = field(
        default_factory=lambda: {"glabella": 0.5, "forehead": 0.3, "crows_feet": 0.2}
    )
    types: dict[str, tuple[tuple[str, ...], float]] = field(
        default_factory=lambda: {
            "headache": (("glabella", "forehead", "crows_feet"), 0.03),
            "eyelid_ptosis": (("glabella", "forehead"), 0.01),
        }
    )
    forced: dict[tuple[str, str], int] = field(default_factory=dict)
    n_patients: int = 150
    seed: int = 11
    #: excluded from the duration analysis (baseline severity 0) - a small exclusion count
    n_excluded_duration: int = 3


def make_cohort(spec: CohortSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(processed episodes, data-quality table) of a cohort drawn by ``spec``."""
    rng = np.random.default_rng(spec.seed)
    staff = [
        (f"C-{_key('', f'clinic{c}', 6)}", f"I-{_key('', f'inj{c}-{k}', 6)}")
        for c, n in enumerate(spec.injectors_per_clinic)
        for k in range(n)
    ]
    regions, weights = list(spec.regions), np.array(list(spec.regions.values()))
    rows = []
    start = pd.Timestamp("2022-01-03")
    for p in range(spec.n_patients):
        clinic, injector = staff[rng.integers(len(staff))]
        sex = rng.choice(["F", "M"], p=[0.8, 0.2])
        fat = float(rng.normal(28, 5)) if rng.random() < 0.6 else np.nan
        for region in rng.choice(
            regions, size=rng.integers(1, 3), replace=False, p=weights / weights.sum()
        ):
            date = start + pd.Timedelta(days=int(rng.integers(0, 900)))
            units = float(rng.choice([16, 20, 24, 40]))
            retreat = float(rng.weibull(3.0) * 150)
            follow = float((pd.Timestamp("2024-12-31") - date).days)
            eid = f"EP{len(rows):06d}"
            rows.append(
                {
                    "episode_key": _key("", eid),
                    "patient_key": _key("", f"P{p}"),
                    "clinic": clinic,
                    "injector": injector,
                    "treatment_date": date,
                    "year": date.year,
                    "quarter": f"{date.year}Q{date.quarter}",
                    "region": str(region),
                    "product": str(rng.choice(["ona", "abo"])),
                    "units": units,
                    "units_ona_eq": units,
                    "reference_dose_units": 20.0,
                    "rel_dose": units / 20.0,
                    "log2_rel_dose": float(np.log2(units / 20.0)),
                    "muscle_bulk": int(rng.integers(1, 5)),
                    "exercise_met_h_week": float(rng.gamma(2, 8)),
                    "baseline_severity": int(rng.integers(1, 4)),
                    "sex": sex,
                    "age_years": float(rng.integers(22, 70)),
                    "body_fat_pct": fat,
                    "cycle": int(rng.integers(1, 4)),
                    "retreat_days": min(retreat, follow),
                    "retreat_event": retreat <= follow,
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
    for ctype, (type_regions, prob) in spec.types.items():
        inside = ep["region"].isin(type_regions).to_numpy()
        ep[f"c30_{ctype}"] = inside & (rng.random(len(ep)) < prob)
    for (ctype, region), n in spec.forced.items():
        col = f"c30_{ctype}"
        ep.loc[ep["region"] == region, col] = False
        hit = ep.index[ep["region"] == region][:n]
        ep.loc[hit, col] = True
    types = [f"c30_{t}" for t in spec.types]
    ep["c30_any"] = ep[types].any(axis=1)
    excluded = ep.index[: spec.n_excluded_duration]
    ep.loc[excluded, "in_duration_analysis"] = False
    ep.loc[excluded, "dur_exclusion_reason"] = "baseline severity 0: no wrinkle to return to"
    n = len(ep)
    dq = pd.DataFrame(
        [
            ("patients", spec.n_patients, spec.n_patients, 0, "none"),
            ("treatments", n, n, 0, "none"),
            ("complications", int(ep[types].sum().sum()), int(ep[types].sum().sum()), 0, "none"),
            ("episodes", n, n, 0, "none"),
            (
                "duration_analysis",
                n,
                n - spec.n_excluded_duration,
                spec.n_excluded_duration,
                "baseline severity 0: no wrinkle to return to",
            ),
        ],
        columns=["table", "rows_in", "rows_kept", "rows_excluded", "reason"],
    )
    return ep, dq


def write_processed(episodes: pd.DataFrame, dq: pd.DataFrame, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    episodes.to_parquet(out / "episodes.parquet", index=False)
    write_csv(dq, out / "data_quality.csv")
    write_study_period(pd.Timestamp("2024-12-31"), "params", out)
    return out


def benchmarks(spec: CohortSpec) -> pd.DataFrame:
    """A stand-in benchmark per type and region (published for the first region only)."""
    rows = [
        (t, r, p * (1 + 0.37 * k), k == 0)
        for t, (regions, p) in spec.types.items()
        for k, r in enumerate(regions)
    ]
    return pd.DataFrame(
        rows, columns=["complication", "region", "benchmark_rate", "benchmark_published"]
    )


def _rates(episodes: pd.DataFrame, spec: CohortSpec, level: str) -> pd.DataFrame:
    """Counts of a complication table by type x ``level`` (only groups with treatments, as the
    stage writes them), the region-mix benchmark, and stand-in posterior columns."""
    frames = []
    prob_of = {t: p for t, (_, p) in spec.types.items()}
    bench = benchmarks(spec)
    for ctype, (regions, _) in spec.types.items():
        b = bench.loc[bench["complication"] == ctype].set_index("region")
        rows = episodes.loc[episodes["region"].isin(regions)]
        rows = rows.assign(
            _b=rows["region"].map(b["benchmark_rate"]),
            _p=rows["region"].map(b["benchmark_published"].astype(float)),
        )
        g = rows.groupby(level).agg(
            size=(f"c30_{ctype}", "size"),
            events=(f"c30_{ctype}", "sum"),
            bench=("_b", "mean"),
            share=("_p", "mean"),
        )
        frame = pd.DataFrame(
            {
                "complication": ctype,
                level: g.index.to_numpy(),
                "n_treatments": g["size"].astype(int).to_numpy(),
                "n_events": g["events"].astype(int).to_numpy(),
                "benchmark_rate": g["bench"].to_numpy(),
            }
        )
        frame["observed_rate"] = frame["n_events"] / frame["n_treatments"]
        frame["rate_mean"] = prob_of[ctype]  # stand-in: the fitted models are not needed here
        frame["model_structure"] = HIERARCHICAL
        if level != "region":
            frame["benchmark_published_share"] = g["share"].to_numpy()
            frame["too_few_to_judge"] = frame["n_treatments"] < MIN_TREATMENTS_TO_JUDGE
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _ppc(rates: pd.DataFrame, level: str) -> pd.DataFrame:
    out = rates[["complication", level, "n_treatments", "n_events"]].rename(
        columns={"n_events": "observed_events"}
    )
    out["replicated_lower"] = 0.0  # stand-ins that do not depend on the observed count
    out["replicated_upper"] = 0.1 * out["n_treatments"] + 3.0
    out["replicated_mean"] = 0.03 * out["n_treatments"]
    out["within_95"] = True
    out["ppc_p_value"] = 0.5
    return out


def write_complication_results(episodes: pd.DataFrame, spec: CohortSpec, out_dir: Path) -> None:
    """The counts of the fit_complications stage, declared by that stage's own code."""
    from analysis.disclosure.spec import Below
    from analysis.figures import complications as figures
    from analysis.figures.theme import theme

    out = StageOutput(out_dir, stage="fit_complications", title="Complication rates")
    complications_report.write_cubes(
        out, episodes, {t: r for t, (r, _) in spec.types.items()}, benchmarks(spec)
    )
    counts_by = complications_report.counts_by
    sec = out.section("clinic", "Rates", "Stand-in posterior columns.")
    region = _rates(episodes, spec, "region")
    sec.table(region, "complication_rates_by_region", "By region", counts=counts_by("region"))
    below = (Below("too_few_to_judge", "n_treatments", MIN_TREATMENTS_TO_JUDGE),)
    for level in ("injector", "clinic"):
        sec.table(
            _rates(episodes, spec, level),
            f"complication_rates_by_{level}",
            f"By {level}",
            counts=counts_by(level),
            below=below,
            mixes=complications_report.mixes_by(level),
        )
    derived = complications_report.PPC_DERIVED
    checks = out.section("research", "Checks", "Predictive checks.")
    checks.table(
        _ppc(region, "region"),
        "ppc_by_region",
        "PPC by region",
        counts=counts_by("region", "observed_events"),
        derived_columns=derived,
    )
    out.table(
        _ppc(_rates(episodes, spec, "injector"), "injector"),
        "ppc_by_injector",
        counts=counts_by("injector", "observed_events"),
        derived_columns=derived,
    )
    with theme():
        checks.figure_from(
            "ppc_injectors",
            "Observed vs replicated events per injector.",
            "Predictive intervals and observed counts",
            figures.fig_ppc,
            {"table": "ppc_by_injector"},
            key="injector",
        )
    out.write_manifest("Stand-in complication stage for the disclosure tests.")


def release_cohort(spec: CohortSpec, root: Path, params_file: Path) -> dict[str, Path]:
    """Describe, write the complication counts and release both; returns the directories."""
    from analysis.cli import main

    episodes, dq = make_cohort(spec)
    processed = write_processed(episodes, dq, root / "processed")
    results, reports = root / "results", root / "reports"
    assert (
        main(
            [
                "describe",
                "--params",
                str(params_file),
                "--processed",
                str(processed),
                "--out",
                str(results / "cohort"),
            ]
        )
        == 0
    )
    write_complication_results(episodes, spec, results / "complications")
    return {"processed": processed, "results": results, "reports": reports}


#: Cohorts an attacker would pick: every injector alone in a clinic (clinic = injector counts);
#: a type with one event in one region (its total is the data-quality complication rows minus
#: the others); a region with a handful of episodes (a small denominator in every table).
SPECS: dict[str, CohortSpec] = {
    "one_injector_per_clinic": CohortSpec(
        injectors_per_clinic=(1, 1, 1, 1), forced={("eyelid_ptosis", "forehead"): 2}, seed=3
    ),
    "one_event_in_a_region": CohortSpec(
        injectors_per_clinic=(2, 3, 1),
        types={
            "headache": (("glabella", "forehead", "crows_feet"), 0.04),
            "eyelid_ptosis": (("glabella", "forehead"), 0.02),
            "eyelid_edema": (("crows_feet",), 0.0),
        },
        forced={("eyelid_edema", "crows_feet"): 1},
        seed=5,
    ),
    "tiny_region": CohortSpec(
        injectors_per_clinic=(2, 2),
        regions={"glabella": 0.56, "forehead": 0.42, "platysma": 0.02},
        types={
            "headache": (("glabella", "forehead", "platysma"), 0.04),
            "dysphagia": (("platysma",), 0.5),
        },
        seed=8,
    ),
}
