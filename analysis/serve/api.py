"""``POST /api/advise``: interval advice for booking systems (JSON in, JSON out).

The body is one request object or a list of them (at most ``serve.max_batch``), with the batch
CSV's column names of `bonta advise` (``region, product, units, muscle_bulk,
exercise_met_h_week, sex, age_years``, optional ``baseline_severity, cycle, treatment_date``)
and optionally ``history``: past episodes with the history CSV's columns (``region, product,
units``, ``treatment_date``, and ``wearoff_day`` or ``lower_days``/``upper_days``). The answer
is one advice object, or a list in the same order.

Validation is `bonta advise`'s: the rows go through :mod:`analysis.advice.requests` (the batch
reader) and :mod:`analysis.advice.advise`; types are checked first by the schema. Every error
is HTTP 422 with one entry per bad field: ``loc`` (path to the field), ``field``, ``value`` and
``rule``. Fields outside the schema are refused without echoing their value (a patient id
sent by mistake never comes back).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from analysis.advice.advise import Advice
from analysis.advice.requests import advise_quietly, history_from_frame, requests_from_frame
from analysis.errors import AdviceInputError
from analysis.serve.desk import dose_limit_error
from analysis.serve.sources import ServeSources

router = APIRouter()


class PastEpisodeIn(BaseModel):
    """A past episode of the patient (the history CSV's columns of `bonta advise`)."""

    model_config = ConfigDict(extra="forbid")

    region: str = Field(description="region code, e.g. glabella")
    product: str = Field(description="product code, e.g. ona")
    units: float = Field(description="units of that product")
    treatment_date: dt.date | None = None
    wearoff_day: float | None = Field(None, description="exact wear-off day (patient-reported)")
    lower_days: float | None = Field(None, description="last day the effect was still seen")
    upper_days: float | None = Field(
        None, description="first day back at baseline (omit: still effective when last seen)"
    )


class AdviceIn(BaseModel):
    """One planned treatment (the batch CSV's columns of `bonta advise`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "region": "glabella",
                    "product": "ona",
                    "units": 20,
                    "muscle_bulk": 2,
                    "exercise_met_h_week": 12,
                    "sex": "F",
                    "age_years": 45,
                    "treatment_date": "2026-12-01",
                    "history": [
                        {
                            "region": "glabella",
                            "product": "ona",
                            "units": 20,
                            "lower_days": 98,
                            "upper_days": 126,
                            "treatment_date": "2026-06-01",
                        }
                    ],
                }
            ]
        },
    )

    region: str = Field(description="region code (params.yaml regions)")
    product: str = Field(description="product code (params.yaml products)")
    units: float = Field(description="units of the product (> 0)")
    muscle_bulk: float = Field(description="1 slight, 2 average, 3 strong, 4 hypertrophic")
    exercise_met_h_week: float = Field(description="exercise load, MET-hours per week (>= 0)")
    sex: Literal["F", "M"]
    age_years: float
    baseline_severity: float | None = Field(None, description="1-3 (default 2)")
    cycle: int | None = Field(None, description="treatment cycle in the region (default: 1 + past)")
    treatment_date: dt.date | None = Field(None, description="gives the booking window as dates")
    history: list[PastEpisodeIn] = Field(default_factory=list)


class WeekProbability(BaseModel):
    week: int
    day: float
    prob_effect_holds: float
    prob_lower: float = Field(description="10% point of the probability's posterior")
    prob_upper: float = Field(description="90% point of the probability's posterior")


class AdviceOut(BaseModel):
    """Advice for one planned treatment (days since the treatment)."""

    region: str
    product: str
    median_days: float
    lower_days: float = Field(description="lower end of the central interval (interval_mass)")
    upper_days: float
    interval_mass: float
    prob_effect_holds: list[WeekProbability]
    booking_start_days: float
    booking_end_days: float
    booking_start_date: dt.date | None
    booking_end_date: dt.date | None
    floor_days: float
    floor_binds: bool
    personalised: bool
    n_history: int
    warnings: list[str]
    scope_note: str


AdviceBody = AdviceIn | list[AdviceIn]
AdviceAnswer = AdviceOut | list[AdviceOut]


@router.post(
    "/api/advise",
    response_model=None,  # answers are built as AdviceOut already: no second validation
    summary="Interval advice for one planned treatment or a list of them",
    responses={
        200: {"model": AdviceAnswer, "description": "one advice, or a list in request order"},
        422: {"description": "a field is missing, of the wrong type or out of range"},
    },
)
async def api_advise(body: AdviceBody, request: Request) -> Any:
    """Predicted duration, P(effect holds) at the configured weeks and a booking window.

    ``async`` on purpose: the work is CPU-bound NumPy of a few milliseconds, so each worker
    runs it on its event loop, one request after another, instead of handing it to a thread
    pool where requests contend for the GIL (bench_serve: p95 with a 3-episode history fell
    from 295 to 109 ms and
    throughput rose from 79 to 201 requests/s, 2 workers, 100 draws x 17 nodes)."""
    sources: ServeSources = request.app.state.sources
    items = body if isinstance(body, list) else [body]
    if len(items) > sources.settings.serve.max_batch:
        return _errors(
            [_error(["body"], "body", None, f"at most {sources.settings.serve.max_batch} items")]
        )
    answers = []
    for pos, item in enumerate(items):
        loc: list[str | int] = ["body", pos] if isinstance(body, list) else ["body"]
        try:
            answers.append(_advise_one(item, sources))
        except AdviceInputError as exc:
            return _errors([_error_from_advice(exc, loc, item)])
    content = [a.model_dump(mode="json") for a in answers]
    return JSONResponse(content if isinstance(body, list) else content[0])


def _advise_one(item: AdviceIn, sources: ServeSources) -> AdviceOut:
    rule = dose_limit_error(
        item.region, item.product, item.units, sources.settings, sources.draws.spec
    )
    if rule:
        raise AdviceInputError(f"request, column 'units', value {item.units!r}: {rule}")
    row = item.model_dump(exclude={"history"})
    history = {}
    if item.history:
        hist = pd.DataFrame([{"patient_ref": "0", **h.model_dump()} for h in item.history])
        history = history_from_frame(hist, "history")
    frame = pd.DataFrame([{**row, "patient_ref": "0"}])
    (req,) = requests_from_frame(frame, history, "request")
    return _out(advise_quietly(req, sources.draws, sources.settings.advice))


def _out(advice: Advice) -> AdviceOut:
    return AdviceOut(
        region=advice.region,
        product=advice.product,
        median_days=advice.median_days,
        lower_days=advice.interval_lower_days,
        upper_days=advice.interval_upper_days,
        interval_mass=advice.interval_mass,
        prob_effect_holds=[
            WeekProbability(**{k: v for k, v in r.items()})
            for r in advice.survival.to_dict(orient="records")
        ],
        booking_start_days=advice.booking_start_days,
        booking_end_days=advice.booking_end_days,
        booking_start_date=advice.booking_start_date,
        booking_end_date=advice.booking_end_date,
        floor_days=advice.floor_days,
        floor_binds=advice.floor_binds,
        personalised=advice.personalised,
        n_history=advice.n_history,
        warnings=list(advice.warnings),
        scope_note=advice.scope_note,
    )


# ------------------------------------------------------------------------------------ errors
_COLUMN = re.compile(r"column '([a-z_]+)'")
_VALUE = re.compile(r"value (.+?): ")
_EPISODE = re.compile(r"history, (?:episode|row) (\d+)")


def _error(loc: list, field: str, value: Any, rule: str) -> dict:
    return {"loc": loc, "field": field, "value": value, "rule": rule, "msg": rule}


def _errors(errors: list[dict]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _error_from_advice(exc: AdviceInputError, loc: list, item: AdviceIn) -> dict:
    """An advice input error as a field entry (the message names column, value and rule)."""
    text = str(exc)
    column = _COLUMN.search(text)
    field = column.group(1) if column else "body"
    value = getattr(item, field, None) if column else None
    episode = _EPISODE.search(text)
    if text.startswith("history"):
        loc = [*loc, "history"] + ([int(episode.group(1)) - 1] if episode else [])
    rule = text.split(": ", 1)[1] if ": " in text else text
    if text.startswith("history"):
        rule = text  # names the episode (numbered by date, as the CLI does)
        value = None
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    return _error([*loc, field] if column else loc, field, value, rule)


def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Schema errors as field entries; values of fields outside the schema are never echoed."""
    errors = []
    is_list = isinstance(getattr(exc, "body", None), list)
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if len(loc) > 1 and isinstance(loc[1], str) and loc[1].startswith(("AdviceIn", "list[")):
            if loc[1].startswith("list[") != is_list:
                continue  # the other branch of "object or list"
            loc = [loc[0], *loc[2:]]
        field = next((str(p) for p in reversed(loc) if isinstance(p, str)), "body")
        kind = err.get("type", "")
        value = err.get("input")
        if kind == "extra_forbidden":
            rule, value = "not a field of this API (value not shown)", None
        elif kind == "missing":
            rule, value = "required", None
        else:
            rule = str(err.get("msg", "invalid"))
            if not isinstance(value, (str, int, float, bool)) or (
                isinstance(value, str) and len(value) > 60
            ):
                value = None
        errors.append(_error(loc, field, value, rule))
    if not errors:  # e.g. a body that is neither an object nor a list
        errors.append(_error(["body"], "body", None, "must be a JSON object or a list of them"))
    return _errors(errors)
