"""Cohort summaries: the cohort at a glance, Table 1, quarterly trends, data quality.

Pure functions from the processed tables (``data/processed/``, docs/ARCHITECTURE.md) to tidy
DataFrames; the ``describe`` stage writes them and their manifest. Every rate carries a Wilson
interval and every median re-treatment interval a Kaplan-Meier interval (re-treatment is
right-censored at the data cut-off, so a plain median of observed intervals would be biased
towards short intervals in recent quarters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from statsmodels.stats.proportion import proportion_confint

from analysis.errors import ConfigError, InputValidationError, Problem
from analysis.report.suppress import format_count_percent, suppressed_label

#: Columns of ``episodes.parquet`` the describe stage reads.
EPISODE_COLUMNS: tuple[str, ...] = (
    "episode_key",
    "patient_key",
    "clinic",
    "injector",
    "treatment_date",
    "region",
    "product",
    "units_ona_eq",
    "rel_dose",
    "muscle_bulk",
    "exercise_met_h_week",
    "exercise_tier",
    "baseline_severity",
    "sex",
    "age_years",
    "body_fat_pct",
    "cycle",
    "retreat_days",
    "retreat_event",
    "c30_any",
)
DATA_QUALITY_COLUMNS: tuple[str, ...] = ("table", "rows_in", "rows_kept", "rows_excluded", "reason")
TABLE1_BY_CHOICES = ("sex", "region")
EXERCISE_TIERS = ("low", "moderate", "high")


@dataclass(frozen=True)
class DescribeConfig:
    """The ``report`` section of params.yaml as far as the describe stage uses it.

    Attributes
    ----------
    min_count : smallest count shown; 1 .. min_count-1 become ``"<min_count"``.
    table1_by : column that splits Table 1 (``sex`` or ``region``).
    ci_level : level of every interval (Wilson for rates, Kaplan-Meier for medians).
    cutoff_date : data cut-off from ``data.cutoff_date``; None = latest treatment date.
    """

    min_count: int = 5
    table1_by: str = "sex"
    ci_level: float = 0.95
    cutoff_date: str | None = None
    region_order: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.table1_by not in TABLE1_BY_CHOICES:
            raise ConfigError(
                f"report.table1_by must be one of {TABLE1_BY_CHOICES}, got {self.table1_by!r}"
            )
        if not 0.5 < self.ci_level < 1:
            raise ConfigError(f"report.ci_level must lie in (0.5, 1), got {self.ci_level}")
        if int(self.min_count) < 1:
            raise ConfigError(f"report.min_count must be >= 1, got {self.min_count}")

    @classmethod
    def from_params(cls, params: dict) -> DescribeConfig:
        rep = params.get("report") or {}
        data = params.get("data") or {}
        return cls(
            min_count=int(rep.get("min_count", 5)),
            table1_by=str(rep.get("table1_by", "sex")),
            ci_level=float(rep.get("ci_level", 0.95)),
            cutoff_date=data.get("cutoff_date"),
            region_order=tuple((params.get("regions") or {}).keys()),
        )


# ------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------
def check_columns(table: pd.DataFrame, required: Sequence[str], file: str) -> None:
    """Raise :class:`InputValidationError` naming every required column ``file`` lacks."""
    problems = [
        Problem(file=file, row=None, column=col, value=None, rule="required column is missing")
        for col in required
        if col not in table.columns
    ]
    if problems:
        raise InputValidationError(problems)


def check_data_quality(dq: pd.DataFrame, file: str = "data_quality.csv") -> pd.DataFrame:
    """Validate the data-quality table: ``rows_in = rows_kept + sum(rows_excluded)`` per table."""
    check_columns(dq, DATA_QUALITY_COLUMNS, file)
    problems = []
    for table, rows in dq.groupby("table", sort=True):
        rows_in = rows["rows_in"].iloc[0]
        rows_kept = rows["rows_kept"].iloc[0]
        excluded = int(rows["rows_excluded"].fillna(0).sum())
        if rows_in != rows_kept + excluded:
            row = int(rows.index[0]) + 1
            problems.append(
                Problem(
                    file=file,
                    row=row,
                    column="rows_excluded",
                    value=str(excluded),
                    rule=f"table '{table}': rows_in ({rows_in}) must equal rows_kept ({rows_kept}) "
                    "plus the rows excluded over all reasons",
                )
            )
    if problems:
        raise InputValidationError(problems)
    return dq.reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# Cohort at a glance
# ------------------------------------------------------------------------------------------
def data_cutoff(episodes: pd.DataFrame, cutoff_date: str | None = None) -> pd.Timestamp:
    """The data cut-off: ``data.cutoff_date`` if set, else the one the prepare stage used.

    ``prepare`` censors re-treatment at its cut-off, so for a censored episode
    ``treatment_date + retreat_days`` is that cut-off; the latest such date recovers it (the
    latest treatment date if no episode is censored). This date, not the wall clock, is the
    report's run date, so reruns give the same bytes.
    """
    if cutoff_date:
        return pd.Timestamp(cutoff_date).normalize()
    dates = pd.to_datetime(episodes["treatment_date"])
    censored = ~episodes["retreat_event"].astype(bool) & episodes["retreat_days"].notna()
    latest = dates.max()
    if censored.any():
        ends = dates[censored] + pd.to_timedelta(episodes.loc[censored, "retreat_days"], unit="D")
        latest = max(latest, ends.max())
    return pd.Timestamp(latest).normalize()


def cohort_at_glance(episodes: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per headline fact of the cohort.

    Returns
    -------
    pandas.DataFrame
        Columns ``measure`` (key), ``label``, ``value`` (number or ISO date as text), ``unit``.
    """
    dates = pd.to_datetime(episodes["treatment_date"])
    rows = [
        ("n_patients", "Patients", episodes["patient_key"].nunique(), "patients"),
        ("n_episodes", "Treatment episodes (region treatments)", len(episodes), "episodes"),
        ("n_clinics", "Clinics", episodes["clinic"].nunique(), "clinics"),
        ("n_injectors", "Injectors", episodes["injector"].nunique(), "injectors"),
        ("n_regions", "Regions treated", episodes["region"].nunique(), "regions"),
        ("first_treatment", "First treatment", dates.min().date().isoformat(), "date"),
        ("last_treatment", "Last treatment", dates.max().date().isoformat(), "date"),
        ("data_cutoff", "Data cut-off", cutoff.date().isoformat(), "date"),
    ]
    out = pd.DataFrame(rows, columns=["measure", "label", "value", "unit"])
    out["value"] = out["value"].astype(str)
    return out


def episodes_by_region(episodes: pd.DataFrame, region_order: Sequence[str] = ()) -> pd.DataFrame:
    """Episodes, patients and 30-day complications per region (raw counts, Wilson interval)."""
    grouped = episodes.groupby("region", sort=True)
    out = pd.DataFrame(
        {
            "n_episodes": grouped.size(),
            "n_patients": grouped["patient_key"].nunique(),
            "n_complications": grouped["c30_any"].sum().astype(int),
        }
    ).reset_index()
    order = [r for r in region_order if r in set(out["region"])]
    order += sorted(set(out["region"]) - set(order))
    out = out.set_index("region").loc[order].reset_index()
    return out


# ------------------------------------------------------------------------------------------
# Table 1
# ------------------------------------------------------------------------------------------
def _median_iqr(values: pd.Series, digits: int = 1) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "–"
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.{digits}f} ({q1:.{digits}f}–{q3:.{digits}f})"


def _first_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the earliest episode (ties broken by episode key, for stability)."""
    ordered = episodes.sort_values(["patient_key", "treatment_date", "episode_key"])
    return ordered.drop_duplicates("patient_key", keep="first")


def _table1_rows(ep: pd.DataFrame, min_count: int, levels: dict[str, list]) -> list[tuple]:
    """Rows (characteristic, level, statistic, cell) of Table 1 for one group of episodes."""
    pts = _first_episodes(ep)
    n_pat, n_ep = len(pts), len(ep)
    rows = [
        (
            "Patients",
            "",
            "n",
            str(n_pat) if n_pat >= min_count or n_pat == 0 else suppressed_label(min_count),
        ),
        (
            "Episodes",
            "",
            "n",
            str(n_ep) if n_ep >= min_count or n_ep == 0 else suppressed_label(min_count),
        ),
        ("Age at first treatment (years)", "", "median (IQR)", _median_iqr(pts["age_years"])),
        ("Body fat (%)", "", "median (IQR)", _median_iqr(pts["body_fat_pct"])),
        (
            "Body fat recorded (patients)",
            "",
            "n (%)",
            format_count_percent(int(pts["body_fat_pct"].notna().sum()), n_pat, min_count),
        ),
        (
            "Episodes per patient",
            "",
            "median (IQR)",
            _median_iqr(ep.groupby("patient_key").size(), digits=0),
        ),
        (
            "Dose (onabotulinumtoxinA-equivalent units)",
            "",
            "median (IQR)",
            _median_iqr(ep["units_ona_eq"]),
        ),
        ("Dose relative to region reference", "", "median (IQR)", _median_iqr(ep["rel_dose"], 2)),
        ("Exercise (MET-h/week)", "", "median (IQR)", _median_iqr(ep["exercise_met_h_week"])),
        ("Treatment cycle in region", "", "median (IQR)", _median_iqr(ep["cycle"], 0)),
    ]
    labels = {
        "sex": "Sex (patients)",
        "region": "Region (episodes)",
        "product": "Product (episodes)",
        "muscle_bulk": "Muscle bulk grade 1-4 (episodes)",
        "exercise_tier": "Exercise tier (episodes)",
        "baseline_severity": "Baseline severity FWS 0-3 (episodes)",
    }
    for col, lvls in levels.items():
        source, total = (pts, n_pat) if col == "sex" else (ep, n_ep)
        counts = source[col].astype(str).value_counts()
        for lvl in lvls:
            rows.append(
                (
                    labels[col],
                    lvl,
                    "n (%)",
                    format_count_percent(int(counts.get(lvl, 0)), total, min_count),
                )
            )
    return rows


def table_one(
    episodes: pd.DataFrame, by: str = "sex", min_count: int = 5, region_order: Sequence[str] = ()
) -> pd.DataFrame:
    """Table 1 of baseline characteristics, split by ``by`` with an Overall column.

    Patient-level rows (age, sex, body fat) use each patient's first episode; episode-level
    rows count treatments. Counts 1 .. min_count-1 are shown as ``"<min_count"`` and their
    percentage is withheld.

    Returns
    -------
    pandas.DataFrame
        ``characteristic, level, statistic`` then one text column per group and ``Overall``.
    """
    if by not in TABLE1_BY_CHOICES:
        raise ConfigError(f"Table 1 can be split by {TABLE1_BY_CHOICES}, not {by!r}")
    level_cols = ["sex", "region", "product", "muscle_bulk", "exercise_tier", "baseline_severity"]
    levels = {}
    for col in level_cols:
        if col == by:
            continue
        present = sorted(episodes[col].dropna().astype(str).unique())
        if col == "exercise_tier":
            present = [t for t in EXERCISE_TIERS if t in present] + [
                t for t in present if t not in EXERCISE_TIERS
            ]
        if col == "region" and region_order:
            present = [r for r in region_order if r in present] + [
                r for r in present if r not in region_order
            ]
        levels[col] = present
    groups = sorted(episodes[by].dropna().astype(str).unique())
    if by == "region" and region_order:
        groups = [r for r in region_order if r in groups] + [
            r for r in groups if r not in region_order
        ]
    columns = {}
    for grp in groups:
        columns[f"{by}={grp}"] = _table1_rows(
            episodes[episodes[by].astype(str) == grp], min_count, levels
        )
    columns["Overall"] = _table1_rows(episodes, min_count, levels)
    first = next(iter(columns.values()))
    out = pd.DataFrame([r[:3] for r in first], columns=["characteristic", "level", "statistic"])
    for name, rows in columns.items():
        out[name] = [r[3] for r in rows]
    return out


# ------------------------------------------------------------------------------------------
# Quarterly trends
# ------------------------------------------------------------------------------------------
def wilson_interval(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` events in ``n`` trials (NaN where ``n == 0``)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(k[ok], n[ok], alpha=1 - level, method="wilson")
    return lo, hi


def km_median(days: pd.Series, event: pd.Series, level: float) -> tuple[float, float, float]:
    """Kaplan-Meier median with its interval (NaN/inf when not reached)."""
    if len(days) == 0:
        return (np.nan, np.nan, np.nan)
    kmf = KaplanMeierFitter(alpha=1 - level)
    kmf.fit(days.to_numpy(float), event.to_numpy(bool))
    ci = median_survival_times(kmf.confidence_interval_)
    return float(kmf.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])


def quarterly_trends(episodes: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Episodes, 30-day complication rate and median re-treatment interval per quarter.

    The quarter is that of the treatment date (e.g. ``2024Q3``). Re-treatment is
    right-censored at the data cut-off, so recent quarters have wide or open intervals and a
    median that may not be reached yet (NaN, shown as "not reached").
    """
    ep = episodes.copy()
    ep["quarter"] = pd.PeriodIndex(pd.to_datetime(ep["treatment_date"]), freq="Q").astype(str)
    rows = []
    for quarter, grp in ep.groupby("quarter", sort=True):
        valid = grp["retreat_days"].notna()
        med, med_lo, med_hi = km_median(
            grp.loc[valid, "retreat_days"], grp.loc[valid, "retreat_event"].astype(bool), ci_level
        )
        rows.append(
            {
                "quarter": quarter,
                "n_episodes": len(grp),
                "n_patients": grp["patient_key"].nunique(),
                "n_complications": int(grp["c30_any"].astype(bool).sum()),
                "n_retreated": int(grp.loc[valid, "retreat_event"].astype(bool).sum()),
                "median_retreat_days": med,
                "median_retreat_lower": med_lo,
                "median_retreat_upper": med_hi,
            }
        )
    out = pd.DataFrame(rows)
    lo, hi = wilson_interval(out["n_complications"], out["n_episodes"], ci_level)
    out.insert(4, "complication_rate", out["n_complications"] / out["n_episodes"])
    out.insert(5, "complication_rate_lower", lo)
    out.insert(6, "complication_rate_upper", hi)
    inf_cols = ["median_retreat_days", "median_retreat_lower", "median_retreat_upper"]
    out[inf_cols] = out[inf_cols].replace([np.inf, -np.inf], np.nan)
    return out


def overall_outcomes(episodes: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """One row: overall 30-day complication rate (Wilson) and KM median re-treatment interval."""
    n = len(episodes)
    k = int(episodes["c30_any"].astype(bool).sum())
    lo, hi = wilson_interval(np.array([k]), np.array([n]), ci_level)
    valid = episodes["retreat_days"].notna()
    med, med_lo, med_hi = km_median(
        episodes.loc[valid, "retreat_days"],
        episodes.loc[valid, "retreat_event"].astype(bool),
        ci_level,
    )
    out = pd.DataFrame(
        [
            {
                "n_episodes": n,
                "n_complications": k,
                "complication_rate_pct": 100.0 * k / n if n else np.nan,
                "complication_rate_pct_lower": 100.0 * lo[0],
                "complication_rate_pct_upper": 100.0 * hi[0],
                "n_retreated": int(episodes.loc[valid, "retreat_event"].astype(bool).sum()),
                "median_retreat_days": med,
                "median_retreat_lower": med_lo,
                "median_retreat_upper": med_hi,
            }
        ]
    )
    return out.replace([np.inf, -np.inf], np.nan)


def exclusion_sentence(dq: pd.DataFrame, min_count: int) -> str:
    """Plain-language summary of the data-quality table (small counts suppressed)."""

    def count(n) -> str:
        return suppressed_label(min_count) if 0 < n < min_count else f"{int(n):,}"

    parts = []
    for table, rows in dq.groupby("table", sort=True):
        first = rows.iloc[0]
        excl = rows[rows["rows_excluded"].fillna(0) > 0]
        reasons = "; ".join(f"{r.reason}: {count(r.rows_excluded)}" for r in excl.itertuples())
        parts.append(
            f"{table}: {count(first.rows_in)} rows read, {count(first.rows_kept)} kept"
            + (f" (excluded: {reasons})" if reasons else "")
        )
    return ". ".join(parts) + "."


@dataclass(frozen=True)
class CohortDescription:
    """Every table of the cohort description; ``summary`` is the cohort at a glance."""

    cutoff: pd.Timestamp
    glance: pd.DataFrame
    outcomes: pd.DataFrame
    by_region: pd.DataFrame
    trends: pd.DataFrame
    table1: pd.DataFrame
    data_quality: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        return self.glance

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tables by the file stem the describe stage writes them under."""
        return {
            "cohort_at_glance": self.glance,
            "cohort_outcomes": self.outcomes,
            "episodes_by_region": self.by_region,
            "quarterly_trends": self.trends,
            "table1": self.table1,
            "data_quality": self.data_quality,
        }


def describe_cohort(
    episodes: pd.DataFrame, data_quality: pd.DataFrame, config: DescribeConfig
) -> CohortDescription:
    """All cohort summaries of the processed episodes (see the module docstring)."""
    cutoff = data_cutoff(episodes, config.cutoff_date)
    return CohortDescription(
        cutoff=cutoff,
        glance=cohort_at_glance(episodes, cutoff),
        outcomes=overall_outcomes(episodes, config.ci_level),
        by_region=episodes_by_region(episodes, config.region_order),
        trends=quarterly_trends(episodes, config.ci_level),
        table1=table_one(episodes, config.table1_by, config.min_count, config.region_order),
        data_quality=check_data_quality(data_quality),
    )
