"""Turning command-line flags and CSV rows into advice requests, and advice into CSV rows.

Batch input (one row per upcoming treatment): ``region, product, units, muscle_bulk,
exercise_met_h_week, sex, age_years`` and optionally ``baseline_severity, cycle,
treatment_date, patient_ref``. ``patient_ref`` is the clinic's own reference, used only to
join the history file and echoed to the output; it never appears in an error message.

History input (one row per past episode): ``patient_ref, region, product, units`` and either
``wearoff_day`` (exact), or ``lower_days`` / ``upper_days`` (upper empty = effect still present
when last seen), plus optionally ``treatment_date``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.advice.advise import (
    Advice,
    AdviceExtrapolationWarning,
    AdviceRequest,
    PastEpisode,
    advise,
)
from analysis.advice.config import AdviceConfig
from analysis.advice.predict import PosteriorDraws
from analysis.errors import AdviceInputError

#: single-patient flags of `bonta advise` (argparse dest -> flag) that must be given
REQUIRED_FLAGS = {
    "region": "--region",
    "product": "--product",
    "units": "--units",
    "muscle_bulk": "--muscle-bulk",
    "exercise": "--exercise",
    "sex": "--sex",
    "age": "--age",
}
REQUIRED = ("region", "product", "units", "muscle_bulk", "exercise_met_h_week", "sex", "age_years")
HISTORY_REQUIRED = ("patient_ref", "region", "product", "units")


def parse_date(value, where: str) -> dt.date | None:
    """ISO date or ``None`` for empty; :class:`AdviceInputError` naming ``where`` otherwise."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise AdviceInputError(f"{where}, value {value!r}: not a date (use YYYY-MM-DD)") from None


def _num(value, where: str, default=None):
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        if default is not None:
            return default
        raise AdviceInputError(f"{where}: value missing")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AdviceInputError(f"{where}, value {value!r}: not a number") from None


def parse_past(text: str, index: int = 1) -> PastEpisode:
    """Parse ``--past`` text: comma-separated ``key=value`` pairs.

    Keys: ``region, product, units`` (required), ``date``, and one outcome: ``wearoff=DAY``
    (exact), ``lower=DAY,upper=DAY`` (interval), ``still_effect=DAY`` (censored: effect still
    present at that day), or ``visits=DAY:SEV;DAY:SEV`` with ``baseline=SEV``.

    Example: ``region=glabella,product=ona,units=20,date=2025-03-01,lower=90,upper=120``.
    """
    where = f"--past #{index}"
    fields = {}
    for part in text.split(","):
        if "=" not in part:
            raise AdviceInputError(f"{where}, value {part!r}: expected key=value")
        key, value = part.split("=", 1)
        fields[key.strip()] = value.strip()
    for key in ("region", "product", "units"):
        if key not in fields:
            raise AdviceInputError(f"{where}: missing '{key}=' (need region, product, units)")
    common = dict(
        region=fields["region"],
        product=fields["product"],
        units=_num(fields["units"], f"{where}, units"),
        treatment_date=parse_date(fields.get("date"), f"{where}, date"),
    )
    if "visits" in fields:
        visits = []
        for item in fields["visits"].split(";"):
            day, sev = item.split(":")
            visits.append((_num(day, f"{where}, visits"), _num(sev, f"{where}, visits")))
        baseline = _num(fields.get("baseline"), f"{where}, baseline")
        return PastEpisode.from_assessments(
            common.pop("region"),
            common.pop("product"),
            common.pop("units"),
            visits,
            baseline,
            **common,
        )
    lower, upper = _outcome(fields, where)
    return PastEpisode(lower_days=lower, upper_days=upper, **common)


def _outcome(fields: dict, where: str) -> tuple[float, float]:
    if fields.get("wearoff") not in (None, ""):
        day = _num(fields["wearoff"], f"{where}, wearoff")
        return day, day
    if fields.get("still_effect") not in (None, ""):
        return _num(fields["still_effect"], f"{where}, still_effect"), np.inf
    if fields.get("lower") not in (None, "") or fields.get("upper") not in (None, ""):
        lower = _num(fields.get("lower"), f"{where}, lower", default=0.0)
        upper = _num(fields.get("upper"), f"{where}, upper", default=np.inf)
        return lower, upper
    raise AdviceInputError(
        f"{where}: no outcome; give wearoff=DAY, lower=/upper=, still_effect=DAY or visits="
    )


def history_from_frame(hist: pd.DataFrame, source: str) -> dict[str, list[PastEpisode]]:
    """Past episodes grouped by ``patient_ref`` (rows numbered from 1 in errors)."""
    missing = [c for c in HISTORY_REQUIRED if c not in hist.columns]
    if missing:
        raise AdviceInputError(f"{source}: missing column(s) {', '.join(missing)}")
    out: dict[str, list[PastEpisode]] = {}
    for pos, row in enumerate(hist.to_dict(orient="records"), start=1):
        where = f"{source}, row {pos}"
        fields = {k: ("" if pd.isna(v) else v) for k, v in row.items()}
        lower, upper = _outcome(
            {
                "wearoff": fields.get("wearoff_day"),
                "lower": fields.get("lower_days"),
                "upper": fields.get("upper_days"),
            },
            where,
        )
        out.setdefault(str(row["patient_ref"]), []).append(
            PastEpisode(
                region=str(row["region"]),
                product=str(row["product"]),
                units=_num(row["units"], f"{where}, column 'units'"),
                lower_days=lower,
                upper_days=upper,
                treatment_date=parse_date(
                    fields.get("treatment_date"), f"{where}, column 'treatment_date'"
                ),
            )
        )
    return out


def requests_from_frame(
    df: pd.DataFrame, history: dict[str, list[PastEpisode]], source: str
) -> list[AdviceRequest]:
    """One request per row of a batch file."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise AdviceInputError(f"{source}: missing column(s) {', '.join(missing)}")
    requests = []
    for pos, row in enumerate(df.to_dict(orient="records"), start=1):
        where = f"{source}, row {pos}"
        ref = row.get("patient_ref")
        past = history.get(str(ref), []) if ref is not None and not pd.isna(ref) else []
        cycle = row.get("cycle")
        requests.append(
            AdviceRequest(
                region=str(row["region"]),
                product=str(row["product"]),
                units=_num(row["units"], f"{where}, column 'units'"),
                muscle_bulk=_num(row["muscle_bulk"], f"{where}, column 'muscle_bulk'"),
                exercise_met_h_week=_num(
                    row["exercise_met_h_week"], f"{where}, column 'exercise_met_h_week'"
                ),
                sex=str(row["sex"]),
                age_years=_num(row["age_years"], f"{where}, column 'age_years'"),
                baseline_severity=_num(
                    row.get("baseline_severity"),
                    f"{where}, column 'baseline_severity'",
                    default=2.0,
                ),
                cycle=None if cycle is None or pd.isna(cycle) else int(cycle),
                treatment_date=parse_date(
                    row.get("treatment_date"), f"{where}, column 'treatment_date'"
                ),
                history=tuple(past),
            )
        )
    return requests


def request_from_flags(flags: Mapping[str, Any]) -> AdviceRequest:
    """The request given by `bonta advise`'s single-patient flags (``vars(args)``).

    ``past`` holds ``--past`` texts (:func:`parse_past`); ``history`` an optional history file.
    """
    missing = [flag for dest, flag in REQUIRED_FLAGS.items() if flags.get(dest) is None]
    if missing:
        raise AdviceInputError(f"missing {', '.join(missing)} (or use --batch FILE)")
    past = [parse_past(text, i) for i, text in enumerate(flags.get("past") or [], start=1)]
    if flags.get("history"):
        path = Path(flags["history"])
        for episodes in history_from_frame(read_table_file(path), str(path)).values():
            past += episodes
    return AdviceRequest(
        region=flags["region"],
        product=flags["product"],
        units=flags["units"],
        muscle_bulk=flags["muscle_bulk"],
        exercise_met_h_week=flags["exercise"],
        sex=flags["sex"],
        age_years=flags["age"],
        baseline_severity=flags["severity"],
        cycle=flags.get("cycle"),
        treatment_date=parse_date(flags.get("date"), "--date"),
        history=tuple(past),
    )


def advise_quietly(request: AdviceRequest, draws: PosteriorDraws, config: AdviceConfig) -> Advice:
    """:func:`~analysis.advice.advise.advise` with extrapolation notes kept in ``warnings``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AdviceExtrapolationWarning)  # shown in the output
        return advise(request, draws, config, n_nodes=config.quadrature_nodes)


def advise_batch(
    requests: list[AdviceRequest],
    draws: PosteriorDraws,
    config: AdviceConfig,
    source: str,
    progress: Callable[[Iterable[AdviceRequest]], Iterable[AdviceRequest]] = iter,
) -> pd.DataFrame:
    """One :func:`advice_record` row per request; an input error names the file and row."""
    records = []
    for pos, request in enumerate(progress(requests), start=1):
        try:
            records.append(advice_record(advise_quietly(request, draws, config)))
        except AdviceInputError as exc:
            raise AdviceInputError(f"{source}, row {pos}: {exc}") from None
    return pd.DataFrame(records)


def advice_record(advice: Advice) -> dict:
    """Flat CSV columns of one advice."""
    rec: dict[str, object] = {
        "median_days": advice.median_days,
        "lower_days": advice.interval_lower_days,
        "upper_days": advice.interval_upper_days,
    }
    for r in advice.survival.itertuples():
        rec[f"prob_holds_wk{r.week}"] = r.prob_effect_holds
    rec.update(
        booking_start_days=advice.booking_start_days,
        booking_end_days=advice.booking_end_days,
        booking_start_date=advice.booking_start_date.isoformat()
        if advice.booking_start_date
        else "",
        booking_end_date=advice.booking_end_date.isoformat() if advice.booking_end_date else "",
        floor_binds=advice.floor_binds,
        personalised=advice.personalised,
        n_history=advice.n_history,
        touchup_time_ratio=advice.touchup_time_ratio[0],
        touchup_time_ratio_lower=advice.touchup_time_ratio[1],
        touchup_time_ratio_upper=advice.touchup_time_ratio[2],
        warnings=" | ".join(advice.warnings),
    )
    return rec


def read_table_file(path: Path) -> pd.DataFrame:
    """CSV, Parquet or XLSX by extension; a clear error if the file is missing."""
    if not path.exists():
        raise AdviceInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".xlsx":
        return pd.read_excel(path)
    return pd.read_csv(path, keep_default_na=True)
