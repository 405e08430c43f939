"""POST /api/advise: schema, single and batch requests, the CLI's validation, field-level 422."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis.advice.requests import advise_batch, history_from_frame, requests_from_frame

ONE = {
    "region": "glabella",
    "product": "ona",
    "units": 20,
    "muscle_bulk": 2,
    "exercise_met_h_week": 12,
    "sex": "F",
    "age_years": 45,
    "treatment_date": "2026-12-01",
}
HISTORY = [
    {"region": "glabella", "product": "ona", "units": 20, "lower_days": 150, "upper_days": 175},
    {"region": "glabella", "product": "ona", "units": 20, "lower_days": 160, "upper_days": 190},
    {"region": "glabella", "product": "ona", "units": 20, "wearoff_day": 170},
]


def test_the_schema_is_published_with_the_batch_csv_columns(client):
    res = client.get("/openapi.json")
    assert res.status_code == 200
    schema = res.json()
    assert "post" in schema["paths"]["/api/advise"]
    fields = schema["components"]["schemas"]["AdviceIn"]["properties"]
    for column in ("region", "product", "units", "muscle_bulk", "exercise_met_h_week", "sex"):
        assert column in fields
    assert {"age_years", "baseline_severity", "cycle", "history"} <= set(fields)
    required = set(schema["components"]["schemas"]["AdviceIn"]["required"])
    assert required == {
        "region",
        "product",
        "units",
        "muscle_bulk",
        "exercise_met_h_week",
        "sex",
        "age_years",
    }
    assert client.get("/docs").status_code == 404  # no page that loads scripts from the internet


def test_one_request_gives_the_cli_batch_answer(client, sources):
    res = client.post("/api/advise", json=ONE)
    assert res.status_code == 200, res.text
    got = res.json()
    frame = pd.DataFrame([ONE])
    expected = advise_batch(
        requests_from_frame(frame, {}, "x"), sources.draws, sources.settings.advice, "x"
    ).iloc[0]
    assert got["median_days"] == pytest.approx(expected["median_days"])
    assert got["lower_days"] == pytest.approx(expected["lower_days"])
    assert got["booking_start_date"] == expected["booking_start_date"]
    assert got["booking_end_date"] == expected["booking_end_date"]
    weeks = [p["week"] for p in got["prob_effect_holds"]]
    assert weeks == list(sources.settings.advice.survival_weeks)
    assert got["personalised"] is False
    assert dt.date.fromisoformat(got["booking_start_date"]) >= dt.date(2026, 12, 1) + dt.timedelta(
        days=90
    )


def test_a_history_personalises_like_the_cli_history_file(client, sources):
    res = client.post("/api/advise", json={**ONE, "history": HISTORY})
    assert res.status_code == 200, res.text
    got = res.json()
    hist = history_from_frame(pd.DataFrame([{"patient_ref": "a", **h} for h in HISTORY]), "h")
    frame = pd.DataFrame([{**ONE, "patient_ref": "a"}])
    expected = advise_batch(
        requests_from_frame(frame, hist, "x"), sources.draws, sources.settings.advice, "x"
    ).iloc[0]
    assert got["personalised"] is True and got["n_history"] == 3
    assert got["median_days"] == pytest.approx(expected["median_days"])
    population = client.post("/api/advise", json=ONE).json()
    assert got["median_days"] > population["median_days"] + 5  # long past episodes lengthen it


def test_a_batch_answers_in_order_and_equals_single_requests(client):
    items = [ONE, {**ONE, "region": "lip_flip", "units": 8}, {**ONE, "history": HISTORY}]
    res = client.post("/api/advise", json=items)
    assert res.status_code == 200, res.text
    answers = res.json()
    assert [a["region"] for a in answers] == ["glabella", "lip_flip", "glabella"]
    for item, answer in zip(items, answers, strict=True):
        single = client.post("/api/advise", json=item).json()
        assert answer["median_days"] == pytest.approx(single["median_days"])


@pytest.mark.parametrize(
    ("change", "field", "value", "rule"),
    [
        ({"units": -5}, "units", -5.0, "must be > 0"),
        ({"muscle_bulk": 6}, "muscle_bulk", 6.0, "must be 1-4"),
        ({"age_years": 130}, "age_years", 130.0, "must be in (0, 120)"),
        ({"region": "nose"}, "region", "nose", "must be one of glabella, forehead"),
        ({"product": "botox"}, "product", "botox", "must be one of ona, inco"),
    ],
)
def test_clinical_rules_give_field_level_422(client, change, field, value, rule):
    res = client.post("/api/advise", json={**ONE, **change})
    assert res.status_code == 422
    (err,) = res.json()["detail"]
    assert err["loc"] == ["body", field]
    assert err["field"] == field and err["value"] == value
    assert err["rule"].startswith(rule)


def test_an_out_of_range_dose_is_explained(client):
    res = client.post("/api/advise", json={**ONE, "units": 400})
    assert res.status_code == 422
    (err,) = res.json()["detail"]
    assert err["field"] == "units" and err["value"] == 400
    assert "20.0x the glabella reference dose of 20 U" in err["rule"]


def test_type_and_presence_errors_name_every_field(client):
    body = {k: v for k, v in ONE.items() if k != "sex"} | {"units": "twenty", "cycle": "x"}
    res = client.post("/api/advise", json=body)
    assert res.status_code == 422
    errors = {e["field"]: e for e in res.json()["detail"]}
    assert set(errors) == {"sex", "units", "cycle"}
    assert errors["sex"]["rule"] == "required"
    assert errors["units"]["value"] == "twenty"
    assert errors["units"]["loc"] == ["body", "units"]


def test_a_bad_item_of_a_batch_is_located(client):
    res = client.post("/api/advise", json=[ONE, {**ONE, "units": 0}])
    assert res.status_code == 422
    (err,) = res.json()["detail"]
    assert err["loc"] == ["body", 1, "units"]
    res = client.post("/api/advise", json=[ONE, {**ONE, "sex": "X"}])
    assert res.status_code == 422
    assert res.json()["detail"][0]["loc"] == ["body", 1, "sex"]


def test_a_bad_past_episode_is_located(client):
    bad = [
        *HISTORY[:2],
        {"region": "glabella", "product": "ona", "units": 20, "lower_days": 90, "upper_days": 30},
    ]
    res = client.post("/api/advise", json={**ONE, "history": bad})
    assert res.status_code == 422
    (err,) = res.json()["detail"]
    assert err["loc"][:2] == ["body", "history"]
    assert "0 <= lower <= upper" in err["rule"]


def test_an_unknown_field_is_refused_without_echoing_its_value(client, known_patient):
    raw = known_patient["raw_id"]
    res = client.post("/api/advise", json={**ONE, "patient_id": raw})
    assert res.status_code == 422
    assert raw not in res.text
    (err,) = res.json()["detail"]
    assert err["field"] == "patient_id" and err["value"] is None
    assert "not a field" in err["rule"]


def test_a_batch_larger_than_the_limit_is_refused(client, sources):
    n = sources.settings.serve.max_batch + 1
    res = client.post("/api/advise", json=[ONE] * n)
    assert res.status_code == 422
    assert f"at most {n - 1} items" in res.json()["detail"][0]["rule"]


def test_a_body_that_is_not_json_is_a_422(client):
    res = client.post(
        "/api/advise", content=b"region=glabella", headers={"Content-Type": "application/json"}
    )
    assert res.status_code == 422
