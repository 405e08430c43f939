"""The injector desk over HTTP (FastAPI's TestClient): lookup by raw id, advice, errors, events."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import numpy as np
import pandas as pd
import pytest

from analysis.advice.advise import AdviceRequest, predictive_law
from analysis.advice.requests import advise_quietly
from analysis.errors import AdviceInputError
from analysis.serve.forms import FieldError, field_error_from_advice, parse_urlencoded

PLAN = {
    "region": "glabella",
    "product": "ona",
    "units": "20",
    "muscle_bulk": "2",
    "exercise_met_h_week": "12",
    "baseline_severity": "2",
}  # treatment date left blank: the app's today


class Page:
    """A desk answer: status and the page's text with HTML entities decoded."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.text = html_lib.unescape(response.text)


def post(client, **fields) -> Page:
    return Page(client.post("/desk", data=fields))


def text_of(html: str, element_id: str) -> str:
    """Visible text of the element with ``element_id`` (tags stripped, spaces collapsed)."""
    start = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', html)
    assert start, f"no element #{element_id}"
    tag, pos, depth = start.group(1), start.end(), 1
    for m in re.finditer(rf"<(/?){tag}\b[^>]*>", html[pos:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            inner = html[pos : pos + m.start()]
            return " ".join(re.sub(r"<[^>]+>", " ", inner).split())
    raise AssertionError(f"#{element_id} is not closed")


def test_known_patient_gets_their_episodes_and_a_personalised_window(client, known_patient):
    res = post(client, patient_id=known_patient["raw_id"], **PLAN)
    assert res.status_code == 200, res.text
    html = res.text
    assert known_patient["raw_id"] not in html
    assert known_patient["key"] not in html  # not even the pseudonym
    n = len(known_patient["glabella"])
    assert f"Personalised on {n} past episode(s) from the clinic's records" in html
    for date in known_patient["glabella"]["treatment_date"]:
        assert f"{pd.Timestamp(date):%Y-%m-%d}" in html
    personal = text_of(html, "personal-window")
    population = text_of(html, "population-window")
    assert personal != population
    assert "This patient's past episodes lasted" in html


def test_personalised_numbers_are_the_cli_advice_with_that_history(
    client, known_patient, sources, today
):
    """The page's median equals `bonta advise`'s function given the same past episodes."""
    from analysis.advice.advise import PastEpisode

    rows = known_patient["glabella"].sort_values("treatment_date")
    last = known_patient["episodes"].sort_values("treatment_date").iloc[-1]
    history = tuple(
        PastEpisode(
            "glabella",
            r.product,
            r.units,
            r.dur_lower_days,
            r.dur_upper_days,
            pd.Timestamp(r.treatment_date).date(),
            r.muscle_bulk,
            r.exercise_met_h_week,
            r.baseline_severity,
        )
        for r in rows.itertuples()
    )
    age = last["age_years"] + (pd.Timestamp(today) - last["treatment_date"]).days / 365.25
    request = AdviceRequest(
        "glabella", "ona", 20, 2, 12, last["sex"], age, 2, len(rows) + 1, today, history
    )
    expected = advise_quietly(request, sources.draws, sources.settings.advice)
    html = post(client, patient_id=known_patient["raw_id"], **PLAN).text
    assert f"{expected.median_days:.0f} days" in text_of(html, "median")
    assert f"{expected.booking_start_date:%a %d %b %Y}" in text_of(html, "booking")


def test_unknown_patient_gets_population_advice_with_a_note(client):
    res = post(client, patient_id="NOT-A-PATIENT-9", sex="F", age_years="40", **PLAN)
    assert res.status_code == 200
    assert "not in the clinic's processed records" in res.text
    assert "Population advice" in res.text
    assert "NOT-A-PATIENT-9" not in res.text
    assert 'id="compare"' not in res.text  # nothing to compare without history


def test_unknown_patient_needs_sex_and_age(client):
    res = post(client, patient_id="NOT-A-PATIENT-9", **PLAN)
    assert res.status_code == 422
    assert "Sex: required (the patient is not in the records)" in res.text
    assert "Age (years): required (the patient is not in the records)" in res.text


def test_every_bad_field_is_named_with_value_and_rule(client):
    bad = {**PLAN, "units": "lots", "treatment_date": "31/12/2026", "exercise_met_h_week": ""}
    res = post(client, sex="F", age_years="40", **bad)
    assert res.status_code == 422
    assert "Units (value 'lots'): not a number" in res.text
    assert "Treatment date (value '31/12/2026'): not a date (use YYYY-MM-DD)" in res.text
    assert "Exercise (MET-h/week): required" in res.text
    assert "Please correct 3 fields" in res.text


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("units", "-5", "must be > 0"),
        ("muscle_bulk", "7", "must be 1-4"),
        ("region", "nose", "must be one of glabella"),
        ("product", "botox", "must be one of ona"),
    ],
)
def test_clinical_rules_are_the_cli_rules(client, field, value, rule):
    res = post(client, sex="F", age_years="40", **{**PLAN, field: value})
    assert res.status_code == 422
    assert f"(value '{value}'): {rule}" in res.text


def test_a_dose_far_above_the_trained_range_is_refused_and_explained(client):
    res = post(client, sex="F", age_years="40", **{**PLAN, "units": "200"})
    assert res.status_code == 422
    assert "10.0x the glabella reference dose of 20 U" in res.text
    assert "serve.max_relative_dose" in res.text


def test_a_raw_id_is_not_echoed_when_the_form_has_errors(client, known_patient):
    res = post(client, patient_id=known_patient["raw_id"], **{**PLAN, "units": "x"})
    assert res.status_code == 422
    assert known_patient["raw_id"] not in res.text
    assert 'name="patient_id" value=""' in res.text


def test_manual_episodes_personalise_a_new_patient(client):
    typed = {
        "past1_date": "2026-05-01",
        "past1_product": "ona",
        "past1_units": "20",
        "past1_lower": "150",
        "past1_upper": "180",
        "past2_product": "ona",
        "past2_units": "20",
        "past2_lower": "160",
    }
    res = post(client, sex="F", age_years="40", **PLAN, **typed)
    assert res.status_code == 200, res.text
    assert "Personalised on 2 typed by hand" in res.text
    pop = text_of(res.text, "population-window")
    per = text_of(res.text, "personal-window")
    assert pop != per
    assert "longer than the model expects" in res.text  # 150-180 d is long for glabella 20 U


def test_event_plan_is_the_range_where_every_condition_holds(client, known_patient, sources, today):
    event = today + dt.timedelta(days=120)
    res = post(client, patient_id=known_patient["raw_id"], event_date=event.isoformat(), **PLAN)
    assert res.status_code == 200
    plan = text_of(res.text, "plan")
    dates = re.findall(r"Treat between (\w{3} \d\d \w{3} \d{4}) and (\w{3} \d\d \w{3} \d{4})", plan)
    assert dates, plan
    earliest, latest = (dt.datetime.strptime(d, "%a %d %b %Y").date() for d in dates[0])
    lead = sources.settings.serve.event.lead_days
    assert latest == event - dt.timedelta(days=lead)
    assert earliest >= today
    # the stated probability on the day, recomputed from the same predictive law
    probs = re.search(r"(\d+)% if treated on the earliest date, (\d+)% on the latest", plan)
    assert probs
    assert int(probs.group(1)) >= 90 - 1  # rounding


def test_an_event_too_soon_gets_no_date_and_the_reason(client, today):
    event = today + dt.timedelta(days=10)
    res = post(client, sex="F", age_years="40", event_date=event.isoformat(), **PLAN)
    assert res.status_code == 200
    plan = text_of(res.text, "plan")
    assert "No treatment date qualifies." in plan
    assert "The event is 10 days away" in plan


def test_the_floor_is_explained_when_it_binds(client, sources, today):
    """A lip flip at half the reference dose for a very active man wears off before 90 days."""
    fields = {
        **PLAN,
        "region": "lip_flip",
        "units": "4",
        "muscle_bulk": "4",
        "exercise_met_h_week": "60",
    }
    request = AdviceRequest("lip_flip", "ona", 4, 4, 60, "M", 30, 2, 1, today)
    advice = advise_quietly(request, sources.draws, sources.settings.advice)
    res = post(client, sex="M", age_years="30", **fields)
    assert res.status_code == 200
    assert advice.floor_binds == ('id="floor"' in res.text)
    if advice.floor_binds:
        assert "no sooner than 90 days" in text_of(res.text, "floor")


def test_the_predictive_law_is_the_one_behind_the_advice(sources, today):
    """predictive_law (new public function) gives advise()'s median and 80% interval."""
    request = AdviceRequest("forehead", "abo", 50, 3, 20, "F", 50, 2, 2, today)
    advice = advise_quietly(request, sources.draws, sources.settings.advice)
    law = predictive_law(request, sources.draws, sources.settings.advice)
    q = law.quantile([0.5, 0.1, 0.9])
    np.testing.assert_allclose(
        q, [advice.median_days, advice.interval_lower_days, advice.interval_upper_days]
    )


def test_form_parsing_and_error_mapping():
    assert parse_urlencoded(b"a=1&b=+x+&patient_id=P%2001") == {
        "a": "1",
        "b": "x",
        "patient_id": "P 01",
    }
    err = field_error_from_advice(
        AdviceInputError("request, column 'muscle_bulk', value 7.0: must be 1-4")
    )
    assert err == FieldError("muscle_bulk", "7.0", "must be 1-4")
