"""Fake provider, touch-up and advice tables with the real stages' columns, for the reader views.

:func:`write_reader_fakes` adds to the fake stage outputs of ``tests/synthetic_study.py`` what
the clinic outcome pages read: complication and touch-up rates by clinic and injector
(injectors with their clinic). Which providers are
flagged is fixed here (:data:`FLAGGED`), so that a test can check the needs-review box against
it. Counts are the synthetic cohort's, so some are small and come back suppressed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io import write_csv, write_json

TYPES = ("eyelid_ptosis", "headache")
M = 1.5


def _provider_rows(episodes: pd.DataFrame, level: str, kind: str) -> pd.DataFrame:
    """One row per provider (x type), flag columns as in analysis/complications/summaries."""
    rng = np.random.default_rng(3 if level == "clinic" else 4)
    main = episodes.groupby(["injector", "clinic"]).size().reset_index(name="n")
    main = main.sort_values(["injector", "n"], ascending=[True, False]).drop_duplicates("injector")
    clinic_of = dict(zip(main["injector"], main["clinic"], strict=True))
    counts = episodes.groupby(level).size()
    rows = []
    for outcome in TYPES if kind == "complication" else ("touchup",):
        for code, n in counts.items():
            rate = float(rng.uniform(0.01, 0.05))
            ratio = float(rng.uniform(0.6, 1.3))
            rows.append(
                {
                    "complication": outcome,
                    level: code,
                    **({"clinic": clinic_of[code]} if level == "injector" else {}),
                    "n_treatments": int(n),
                    "n_events": int(round(rate * n)),
                    "benchmark_rate": 0.02,
                    "rate_mean": rate,
                    "rate_lower": rate * 0.6,
                    "rate_upper": rate * 1.5,
                    "rate_ratio_mean": rate / 0.02,
                    "rate_ratio_lower": rate / 0.02 * 0.6,
                    "rate_ratio_upper": rate / 0.02 * 1.5,
                    f"p_above_{M:g}x_benchmark": 0.05,
                    "benchmark_published_share": 1.0 if outcome == "headache" else 0.5,
                    "peer_rate_mean": rate / ratio,
                    "rate_ratio_vs_peers_mean": ratio,
                    "rate_ratio_vs_peers_lower": ratio * 0.7,
                    "rate_ratio_vs_peers_upper": ratio * 1.4,
                    f"p_above_{M:g}x_peers": 0.02,
                    "too_few_to_judge": bool(n < 30),
                    "flagged": False,
                    "flag_reason": "",
                    "model_structure": "hierarchical",
                }
            )
    frame = pd.DataFrame(rows)
    if kind == "touchup":
        frame = frame.drop(columns=["complication"]).rename(columns={"n_events": "n_touchups"})
        frame = frame.drop(columns=[c for c in frame.columns if "benchmark" in c])
    return frame


def _flag(
    frame: pd.DataFrame, level: str, index: int, reason: str, outcome: str | None = None
) -> tuple[str, str]:
    """Flag the ``index``-th judged row (of ``outcome``, if given) in place."""
    keep = ~frame["too_few_to_judge"]
    if outcome is not None:
        keep &= frame["complication"] == outcome
    judged = frame.index[keep]
    k = judged[index % len(judged)]
    frame.loc[k, "flagged"] = True
    frame.loc[k, "flag_reason"] = reason
    frame.loc[k, f"p_above_{M:g}x_peers"] = 0.97
    frame.loc[k, "rate_ratio_vs_peers_mean"] = 2.4
    frame.loc[k, "rate_ratio_vs_peers_lower"] = 1.6
    frame.loc[k, "rate_ratio_vs_peers_upper"] = 3.5
    frame.loc[k, "peer_rate_mean"] = frame.loc[k, "rate_mean"] / 2.4
    if "benchmark" in reason:
        frame.loc[k, f"p_above_{M:g}x_benchmark"] = 0.95
    outcome = frame.loc[k, "complication"] if "complication" in frame.columns else "touch-up"
    return str(frame.loc[k, level]), str(outcome).replace("_", " ")


#: params ``survival.turnbull_min_episodes`` of the fake clinic duration table
MIN_EPISODES = 20


def clinic_durations(episodes: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``median_duration_by_clinic_region``: every clinic x region cell of the
    synthetic cohort with a share of its episodes in the duration analysis (all, a quarter or
    a twentieth, in turn: so that some cells are too few to estimate and some are small
    counts), cells under :data:`MIN_EPISODES` without an estimate (fake medians)."""
    cells = episodes.groupby(["clinic", "region"], sort=True)
    share = np.resize([1.0, 0.25, 0.05], cells.ngroups)
    n = np.maximum(1, np.floor(cells.size().to_numpy() * share)).astype(int)
    frame = pd.DataFrame(
        {
            "n_episodes": n,
            "n_patients": np.minimum(n, cells["patient_key"].nunique().to_numpy()),
        },
        index=cells.size().index,
    ).reset_index()
    frame["too_few_to_estimate"] = frame["n_episodes"] < MIN_EPISODES
    rng = np.random.default_rng(5)
    median = rng.uniform(90, 170, len(frame)).round(2)
    estimated = ~frame["too_few_to_estimate"]
    frame["median_days"] = np.where(estimated, median, np.nan)
    frame["median_lower"] = np.where(estimated, median - 11.5, np.nan)
    frame["median_upper"] = np.where(estimated, median + 12.25, np.nan)
    return frame


def write_reader_fakes(results: Path, episodes: pd.DataFrame, fakes: dict[str, dict]) -> dict:
    """Write the tables and add them to the fake manifests (written again); returns the
    flagged (level, provider, outcome) triples."""
    comp = results / "complications"
    flagged = set()
    for kind in ("complication", "touchup"):
        for level in ("clinic", "injector"):
            frame = _provider_rows(episodes, level, kind)
            if kind == "complication" and level == "injector":
                flagged.add((level, *_flag(frame, level, 0, f"> {M:g}x peers")))
            if kind == "complication" and level == "clinic":
                reason = f"> {M:g}x peers and published benchmark"
                flagged.add((level, *_flag(frame, level, 1, reason, "headache")))
            if kind == "touchup" and level == "injector":
                flagged.add((level, *_flag(frame, level, 2, f"> {M:g}x peers")))
            stem = f"{kind}_rates_by_{level}"
            write_csv(frame, comp / f"{stem}.csv")
            fakes["complications"]["sections"].append(
                {
                    "view": "clinic",
                    "title": f"Fake {stem}",
                    "text": "",
                    "tables": [
                        {
                            "path": f"{stem}.csv",
                            "caption": stem,
                            "count_columns": [
                                c for c in ("n_treatments", "n_events", "n_touchups") if c in frame
                            ],
                        }
                    ],
                    "figures": [],
                }
            )
    write_csv(
        clinic_durations(episodes), results / "survival" / "median_duration_by_clinic_region.csv"
    )
    fakes["survival"].setdefault("tables", []).append(
        {
            "path": "median_duration_by_clinic_region.csv",
            "caption": "Median duration by clinic and region",
            "count_columns": ["n_episodes", "n_patients"],
            "derived_columns": ["median_days", "median_lower", "median_upper"],
        }
    )
    for name, man in fakes.items():
        write_json(man, results / name / "manifest.json")
    return {"flagged": flagged}
