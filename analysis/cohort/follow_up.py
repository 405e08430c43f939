"""Follow-up of the cohort (STROBE item 14c): episodes per patient and time under follow-up.

A patient is followed from their first treatment. Two ends are summarised:

- **last recorded contact**: the latest treatment or assessment of any of the patient's kept
  episodes (capped at the data cut-off): the follow-up the records actually hold;
- **data cut-off**: the potential follow-up, had every patient stayed in the records.

Per patient the stage computes the number of kept episodes and both follow-up times (days);
the released table (:func:`follow_up_summary`) gives their mean, median and quartiles over the
patients and the totals (episodes; person-years of follow-up). It shows no count but the
cohort's totals of patients and episodes, declared to the disclosure layer as the totals of
the cohort's patient and episode cubes (:func:`follow_up_counts`), so a total withheld
elsewhere is withheld here too, with the statistics of its row.

Assessments of episodes that were not kept (excluded by ``prepare``) do not extend a patient's
follow-up: they are not part of the cohort. Their number is returned by
:func:`patient_follow_up` so that nothing is dropped unannounced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cohort.counts import EPISODES, PATIENTS
from analysis.data.processed import TABLE_FILES, read_processed
from analysis.disclosure.spec import Count
from analysis.outputs import StageOutput

DAYS_PER_YEAR = 365.25
#: Columns of the released follow-up table, in order.
FOLLOW_UP_COLUMNS = (
    "measure",
    "label",
    "unit",
    "n_patients",
    "mean",
    "median",
    "q1",
    "q3",
    "total",
    "total_unit",
)
#: The per-patient statistics: computed from the row's counts, withheld with them.
STATISTICS = ("mean", "median", "q1", "q3")


def read_assessments(processed: Path) -> pd.DataFrame | None:
    """The processed assessments of ``processed`` (schema-checked), or None if the directory
    has none (written without the prepare stage, e.g. by tests): follow-up then ends at the
    last treatment, and the table's label says so."""
    if not (Path(processed) / TABLE_FILES["assessments"]).exists():
        return None
    return read_processed(Path(processed), "assessments")


def patient_follow_up(
    episodes: pd.DataFrame, assessments: pd.DataFrame | None, cutoff: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """Per patient: kept episodes, first treatment and follow-up in days.

    Parameters
    ----------
    episodes
        Processed episodes (``patient_key``, ``episode_key``, ``treatment_date``).
    assessments
        Processed assessments (``episode_key``, ``assessment_date``), or None.
    cutoff
        The data cut-off: no follow-up extends beyond it.

    Returns
    -------
    (pandas.DataFrame, int)
        One row per patient (``n_episodes``, ``first_treatment``, ``last_contact``,
        ``follow_up_days``, ``potential_follow_up_days``; patient keys stay in this analyst
        frame, never in a written table) and the number of assessments of episodes that are
        not in ``episodes`` (left out).

    Examples
    --------
    >>> ep = pd.DataFrame({"patient_key": ["p", "p", "q"], "episode_key": ["a", "b", "c"],
    ...     "treatment_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"])})
    >>> per, _ = patient_follow_up(ep, None, pd.Timestamp("2024-12-31"))
    >>> per["follow_up_days"].tolist(), per["potential_follow_up_days"].tolist()
    ([60, 0], [365, 334])
    """
    dates = episodes[["patient_key", "episode_key"]].assign(
        contact=pd.to_datetime(episodes["treatment_date"])
    )
    contacts = [dates[["patient_key", "contact"]]]
    n_unmatched = 0
    if assessments is not None and len(assessments):
        seen = assessments[["episode_key", "assessment_date"]].merge(
            dates[["episode_key", "patient_key"]], on="episode_key", how="left", validate="m:1"
        )
        matched = seen["patient_key"].notna()
        n_unmatched = int((~matched).sum())
        contacts.append(
            seen.loc[matched, ["patient_key", "assessment_date"]].rename(
                columns={"assessment_date": "contact"}
            )
        )
    last = pd.concat(contacts, ignore_index=True).groupby("patient_key")["contact"].max()
    grouped = dates.groupby("patient_key")
    out = pd.DataFrame(
        {
            "n_episodes": grouped.size(),
            "first_treatment": grouped["contact"].min(),
        }
    )
    out["last_contact"] = last.reindex(out.index).clip(upper=cutoff)
    out["follow_up_days"] = (out["last_contact"] - out["first_treatment"]).dt.days
    out["potential_follow_up_days"] = (cutoff - out["first_treatment"]).dt.days
    return out.reset_index(), n_unmatched


def _row(measure: str, label: str, unit: str, values: pd.Series, total: float, total_unit: str):
    q1, median, q3 = np.quantile(values.to_numpy(float), [0.25, 0.5, 0.75])
    return {
        "measure": measure,
        "label": label,
        "unit": unit,
        "n_patients": int(len(values)),
        "mean": float(values.mean()),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "total": total,
        "total_unit": total_unit,
    }


def follow_up_summary(per_patient: pd.DataFrame, with_assessments: bool) -> pd.DataFrame:
    """Episodes per patient and follow-up (mean, median, quartiles over patients; totals).

    ``with_assessments`` False: follow-up ends at the last treatment (no assessments table),
    which the label says.
    """
    contact = "treatment or assessment" if with_assessments else "treatment; no assessments read"
    rows = [
        _row(
            "episodes_per_patient",
            "Treatment episodes per patient",
            "episodes",
            per_patient["n_episodes"],
            int(per_patient["n_episodes"].sum()),
            "episodes",
        ),
        _row(
            "follow_up_days",
            f"Follow-up: first treatment to last recorded contact ({contact})",
            "days",
            per_patient["follow_up_days"],
            round(float(per_patient["follow_up_days"].sum()) / DAYS_PER_YEAR, 1),
            "person-years",
        ),
        _row(
            "potential_follow_up_days",
            "Potential follow-up: first treatment to the data cut-off",
            "days",
            per_patient["potential_follow_up_days"],
            round(float(per_patient["potential_follow_up_days"].sum()) / DAYS_PER_YEAR, 1),
            "person-years",
        ),
    ]
    return pd.DataFrame(rows, columns=list(FOLLOW_UP_COLUMNS))


def follow_up_counts() -> tuple[Count, ...]:
    """``follow_up_summary``: ``n_patients`` is the patients cube's total on every row, the
    episodes row's ``total`` the episodes cube's total; person-years are not counts."""
    return (
        Count("n_patients", cube=PATIENTS),
        Count("total", cube=EPISODES, where={"measure": "episodes_per_patient"}),
        Count("total", exempt=True),
    )


def record_follow_up(
    episodes: pd.DataFrame,
    assessments: pd.DataFrame | None,
    cutoff: pd.Timestamp,
    out: StageOutput,
) -> int:
    """Write ``follow_up_summary`` in a research section of its own; returns the number of
    assessments left out (their episode was not kept)."""
    per_patient, n_unmatched = patient_follow_up(episodes, assessments, cutoff)
    table = follow_up_summary(per_patient, assessments is not None)
    sec = out.section(
        "research",
        "Follow-up",
        "Per patient, from the first treatment: the number of treatment episodes and the days "
        "to the last recorded contact and to the data cut-off (mean, median and quartiles over "
        "patients; totals in episodes and person-years).",
    )
    sec.table(
        table,
        "follow_up_summary",
        "Episodes per patient and follow-up time",
        counts=follow_up_counts(),
        derived_columns=STATISTICS,
    )
    return n_unmatched
