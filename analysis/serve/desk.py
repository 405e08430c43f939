"""The injector desk: a patient's past episodes, the planned treatment's advice, an event plan.

:func:`consult` takes a parsed form (:class:`~analysis.serve.forms.DeskForm`: the patient id
is already a pseudonym) and the sources loaded at start-up, and returns everything the page and
the printable summary show. The advice itself is `bonta advise`'s (:mod:`analysis.advice`):
population advice for the planned treatment, and the same advice personalised on the patient's
past episodes (from the processed data, plus any typed by hand). Both are computed for the same
treatment cycle, so the difference between them is what the history did.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.advice.advise import Advice, AdviceRequest, PastEpisode, predictive_law
from analysis.advice.requests import advise_quietly
from analysis.errors import AdviceInputError
from analysis.serve.config import ServeSettings
from analysis.serve.forms import DeskForm, FieldError, FormError, field_error_from_advice
from analysis.serve.planning import EventPlan, plan_event
from analysis.serve.sources import ServeSources
from analysis.serve.svg import Band, Curve, Marker, curves_svg

#: Duration status -> words (docs/data-dictionary.md).
STATUS_WORDS = {
    "interval": "wore off between day {lo:.0f} and day {up:.0f}",
    "interval_reported": "patient reported wear-off between day {lo:.0f} and day {up:.0f}",
    "exact_reported": "patient reported wear-off on day {lo:.0f}",
    "right_no_return": "still effective at day {lo:.0f}; not seen again",
    "right_retreated_responding": "still effective at day {lo:.0f}, when re-treated",
    "right_cutoff": "still effective at day {lo:.0f} (last visit before the data cut-off)",
}


@dataclass(frozen=True)
class PastRow:
    """One line of the past-episode table (no identifiers)."""

    date: str
    region: str
    product: str
    units: float
    outcome: str
    used: bool
    source: str  # "records" or "typed"


@dataclass(frozen=True)
class Consultation:
    """What the desk shows for one planned treatment."""

    request: AdviceRequest
    population: Advice
    personal: Advice | None
    basis: str
    past: tuple[PastRow, ...]
    moved: str | None
    floor_text: str | None
    chart_svg: str
    plan: EventPlan | None
    profile_note: str | None

    @property
    def advice(self) -> Advice:
        """The advice to act on: personalised if there was history, else the population's."""
        return self.personal or self.population


def consult(form: DeskForm, sources: ServeSources, today: dt.date) -> Consultation:
    """Advice, history and event plan for ``form`` (raises :class:`FormError` on bad input)."""
    settings = sources.settings
    records = _patient_records(form.patient_key, sources)
    past, rows = _history(records, form, settings)
    request = _request(form, records, past, sources)
    n_region = sum(1 for ep in past if ep.region == form.region) + _unused_in_region(records, form)
    cycle = n_region + 1
    population_request = replace(request, history=(), cycle=cycle)
    personal_request = replace(request, cycle=cycle)
    try:
        population = advise_quietly(population_request, sources.draws, settings.advice)
        personal = (
            advise_quietly(personal_request, sources.draws, settings.advice) if past else None
        )
        population_law = predictive_law(population_request, sources.draws, settings.advice)
        personal_law = (
            predictive_law(personal_request, sources.draws, settings.advice) if past else None
        )
    except AdviceInputError as exc:
        error = field_error_from_advice(exc)
        if error.field in form.values:  # show the value as typed
            error = replace(error, value=form.values[error.field])
        raise FormError([error]) from None
    law = personal_law or population_law
    advice = personal or population
    plan = None
    if form.event_date is not None:
        p = settings.serve.event.hold_probability
        last = max((ep.treatment_date for ep in past if ep.treatment_date), default=None)
        plan = plan_event(
            form.event_date,
            float(law.quantile([1.0 - p])[0]),
            law.survival,
            settings.serve.event,
            today=today,
            last_treatment=_last_region_treatment(records, form.region, last),
            floor_days=settings.advice.label_min_interval_days,
        )
    return Consultation(
        request=personal_request,
        population=population,
        personal=personal,
        basis=_basis(form, records, past, sources),
        past=tuple(rows),
        moved=_moved(population, personal, sources.draws.n_draws),
        floor_text=_floor_text(advice),
        chart_svg=_chart(population_law, personal_law, advice, settings),
        plan=plan,
        profile_note=_profile_note(form, records),
    )


def _patient_records(patient_key: str | None, sources: ServeSources) -> pd.DataFrame | None:
    """The patient's processed episodes (all regions, by date); ``None`` if unknown."""
    if patient_key is None or sources.episodes is None:
        return None
    rows = sources.patient_rows.get(patient_key)
    if rows is None:
        return None
    return sources.episodes.iloc[rows]


def _history(
    records: pd.DataFrame | None, form: DeskForm, settings: ServeSettings
) -> tuple[list[PastEpisode], list[PastRow]]:
    """Past episodes that personalise the advice, and the table rows shown."""
    past: list[PastEpisode] = []
    rows: list[PastRow] = []
    if records is not None:
        scope = records if settings.serve.history_scope == "all" else None
        if scope is None:
            scope = records[records["region"] == form.region]
        for r in scope.itertuples(index=False):
            used = bool(r.in_duration_analysis)
            lo, up = float(r.dur_lower_days), float(r.dur_upper_days)
            words = STATUS_WORDS.get(str(r.dur_status), "{lo:.0f}-{up:.0f} days")
            outcome = words.format(lo=lo, up=up)
            if not used:
                outcome += f" (not used: {r.dur_exclusion_reason or 'outside the analysis'})"
            rows.append(
                PastRow(
                    f"{pd.Timestamp(r.treatment_date):%Y-%m-%d}",
                    str(r.region),
                    str(r.product),
                    float(r.units),
                    outcome,
                    used,
                    "records",
                )
            )
            if used:
                past.append(
                    PastEpisode(
                        region=str(r.region),
                        product=str(r.product),
                        units=float(r.units),
                        lower_days=lo,
                        upper_days=up,
                        treatment_date=pd.Timestamp(r.treatment_date).date(),
                        muscle_bulk=float(r.muscle_bulk),
                        exercise_met_h_week=float(r.exercise_met_h_week),
                        baseline_severity=float(r.baseline_severity),
                    )
                )
    for ep in form.manual:
        outcome = (
            f"still effective at day {ep.lower_days:.0f}"
            if math.isinf(ep.upper_days)
            else f"wore off between day {ep.lower_days:.0f} and day {ep.upper_days:.0f}"
        )
        date = ep.treatment_date.isoformat() if ep.treatment_date else "date not given"
        rows.append(PastRow(date, ep.region, ep.product, ep.units, outcome, True, "typed"))
        past.append(ep)
    return past, rows


def _unused_in_region(records: pd.DataFrame | None, form: DeskForm) -> int:
    """Past treatments of the region that do not personalise (they still count as cycles)."""
    if records is None:
        return 0
    region = records[records["region"] == form.region]
    return int((~region["in_duration_analysis"].astype(bool)).sum())


def _last_region_treatment(
    records: pd.DataFrame | None, region: str, typed_last: dt.date | None
) -> dt.date | None:
    dates = [typed_last] if typed_last else []
    if records is not None:
        in_region = records.loc[records["region"] == region, "treatment_date"]
        if len(in_region):
            dates.append(pd.Timestamp(in_region.max()).date())
    return max(dates) if dates else None


def _request(
    form: DeskForm,
    records: pd.DataFrame | None,
    past: list[PastEpisode],
    sources: ServeSources,
) -> AdviceRequest:
    """The planned treatment; sex and age from the records when the form leaves them blank."""
    sex, age = form.sex, form.age_years
    errors = []
    if records is not None and len(records):
        last = records.iloc[-1]
        if sex is None:
            sex = str(last["sex"])
        if age is None:
            elapsed = (
                pd.Timestamp(form.treatment_date) - pd.Timestamp(last["treatment_date"])
            ).days
            age = float(last["age_years"]) + elapsed / 365.25
    if sex is None:
        errors.append(FieldError("sex", None, "required (the patient is not in the records)"))
    if age is None:
        errors.append(FieldError("age_years", None, "required (the patient is not in the records)"))
    rule = dose_limit_error(
        form.region, form.product, form.units, sources.settings, sources.draws.spec
    )
    if rule:
        errors.append(FieldError("units", f"{form.units:g}", rule))
    if errors:
        raise FormError(errors)
    assert sex is not None and age is not None
    return AdviceRequest(
        region=form.region,
        product=form.product,
        units=form.units,
        muscle_bulk=form.muscle_bulk,
        exercise_met_h_week=form.exercise_met_h_week,
        sex=sex,
        age_years=age,
        baseline_severity=form.baseline_severity,
        treatment_date=form.treatment_date,
        history=tuple(past),
    )


def dose_limit_error(
    region: str, product: str, units: float, settings: ServeSettings, spec
) -> str | None:
    """Why ``units`` of ``product`` in ``region`` is refused, or ``None`` (unknown codes pass:
    the advice's own check names them)."""
    if region not in spec.reference_dose_units or product not in spec.units_per_ona_unit:
        return None
    if not units > 0:
        return None  # the advice's rule "must be > 0" says it
    ona = units / spec.units_per_ona_unit[product]
    ref = spec.reference_dose_units[region]
    limit = settings.serve.max_relative_dose
    if ona <= limit * ref:
        return None
    return (
        f"{units:g} U of {product} is {ona:g} onabotulinumtoxinA-equivalent units, "
        f"{ona / ref:.1f}x the {region} reference dose of {ref:g} U; the app gives no advice "
        f"above {limit:g}x (serve.max_relative_dose): the model has not seen such doses"
    )


def _basis(
    form: DeskForm,
    records: pd.DataFrame | None,
    past: list[PastEpisode],
    sources: ServeSources,
) -> str:
    typed = len(form.manual)
    found = len(past) - typed
    if form.id_given and sources.key is None:
        lead = "Patient lookup is not available (no pseudonymisation key on this machine). "
    elif form.id_given and sources.episodes is None:
        lead = "Patient lookup is not available (no processed data loaded). "
    elif form.id_given and records is None:
        lead = (
            "This patient id is not in the clinic's processed records (a new patient, or one "
            "treated after the data cut-off"
            + (f" {sources.data_cutoff}" if sources.data_cutoff else "")
            + "). "
        )
    elif records is not None and not found:
        lead = f"The records hold no usable past {form.region} episode of this patient. "
    else:
        lead = ""
    if not past:
        return lead + (
            "Population advice: the prediction for patients with these characteristics and "
            "this treatment, not yet personalised."
        )
    parts = []
    if found:
        parts.append(f"{found} past episode(s) from the clinic's records")
    if typed:
        parts.append(f"{typed} typed by hand")
    return lead + "Personalised on " + " and ".join(parts) + "."


def _moved(population: Advice, personal: Advice | None, n_draws: int) -> str | None:
    """How the history moved the prediction, in plain words."""
    if personal is None:
        return None
    diff = personal.median_days - population.median_days
    ratio = personal.median_days / population.median_days
    if abs(diff) < 3:
        direction = "about as long as"
    elif diff > 0:
        direction = "longer than"
    else:
        direction = "shorter than"
    return (
        f"This patient's past episodes lasted {direction} the model expects for similar "
        f"patients: the personalised median is {personal.median_days:.0f} days against "
        f"{population.median_days:.0f} for the population ({diff:+.0f} days, x{ratio:.2f}); "
        f"the booking window moves from day {population.booking_start_days:.0f}-"
        f"{population.booking_end_days:.0f} to day {personal.booking_start_days:.0f}-"
        f"{personal.booking_end_days:.0f}. Weighted by how well they explain this history, "
        f"the {n_draws} posterior draws count as {personal.history_ess:.0f} (effective number)."
    )


def _floor_text(advice: Advice) -> str | None:
    if not advice.floor_binds:
        return None
    floor = advice.floor_days
    return (
        f"The label's minimum interval binds: half of similar patients are predicted to have "
        f"lost the effect by day {advice.wearoff_50_days:.0f}, but the product label allows "
        f"re-treatment no sooner than {floor:.0f} days after the last treatment, so the booking "
        f"window starts at day {floor:.0f}. Tell the patient that movement may return for a "
        "while before the next treatment can be given."
    )


def _profile_note(form: DeskForm, records: pd.DataFrame | None) -> str | None:
    if records is None or not len(records):
        return None
    taken = [n for n, v in (("sex", form.sex), ("age", form.age_years)) if v is None]
    if not taken:
        return None
    return f"{' and '.join(taken).capitalize()} taken from the clinic's records."


def _chart(population_law, personal_law, advice: Advice, settings: ServeSettings) -> str:
    max_days = float(settings.serve.curve_days)
    days = np.linspace(0.0, max_days, 121)
    curves = [Curve("Population (these characteristics)", days, population_law.survival(days))]
    if personal_law is not None:
        curves.append(Curve("This patient (with history)", days, personal_law.survival(days)))
    band = Band("Booking window", advice.booking_start_days, advice.booking_end_days)
    floor = Marker(f"Label minimum {advice.floor_days:.0f} days", advice.floor_days)
    description = (
        f"Population median {population_law.quantile([0.5])[0]:.0f} days"
        + (
            f"; this patient's median {personal_law.quantile([0.5])[0]:.0f} days"
            if personal_law is not None
            else ""
        )
        + f"; booking window day {advice.booking_start_days:.0f} to "
        f"{advice.booking_end_days:.0f}."
    )
    return curves_svg(
        curves,
        max_days,
        "Probability the effect still holds",
        description,
        bands=[band],
        markers=[floor],
        chart_id="desk-chart",
    )
