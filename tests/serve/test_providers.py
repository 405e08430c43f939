"""Director desk: the needs-review list and drill-down, names from the private lookup only here."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from analysis.disclosure.rules import SUPPRESSED
from analysis.serve.providers import needs_review, provider_detail


@pytest.fixture(scope="module")
def staff(serve_settings) -> pd.DataFrame:
    return pd.read_csv(serve_settings.serve.paths.staff_codes, dtype=str)


@pytest.fixture(scope="module")
def flagged(sources) -> pd.DataFrame:
    table = sources.provider_rates["injector"]
    return table[table["flagged"]]


def test_the_review_list_is_the_flagged_providers_with_their_names(sources, staff, flagged):
    items = needs_review(sources)
    injectors = {i.code: i for i in items if i.kind == "injector"}
    assert set(injectors) == set(flagged["code"])
    names = dict(zip(staff["code"], staff["label"], strict=True))
    for code, item in injectors.items():
        assert item.name == names[code]
        assert len(item.reasons) == int((flagged["code"] == code).sum())
        assert all("times its peers'" in r for r in item.reasons)


def test_the_reason_states_the_probability_and_ratio(sources, flagged):
    row = flagged.iloc[0]
    (item,) = [i for i in needs_review(sources) if i.code == row["code"]][:1]
    reason = item.reasons[list(item.complications).index(row["complication"])]
    assert f"probability {100 * row['p_above_1.5x_peers']:.0f}%" in reason
    assert f"estimated {row['rate_ratio_vs_peers_mean']:.1f} times" in reason


def test_drill_down_shows_name_rates_and_suppresses_small_counts(client, sources, staff, flagged):
    code = flagged["code"].iloc[0]
    res = client.get(f"/director/injector/{code}")
    assert res.status_code == 200
    page = html.unescape(re.sub(r"<[^>]+>", " ", res.text))
    name = staff.loc[staff["code"] == code, "label"].iloc[0]
    assert f"{name} (injector {code})" in " ".join(page.split())
    detail = provider_detail(sources, "injector", code)
    table = sources.provider_rates["injector"]
    rows = table[table["code"] == code]
    assert len(detail.rows) == len(rows)
    for shown in detail.rows:
        source = rows[rows["complication"].str.replace("_", " ") == shown.complication].iloc[0]
        if 0 < source["n_events"] < sources.settings.min_count:
            assert shown.events == SUPPRESSED
            assert shown.observed_rate == "withheld"
        else:
            assert shown.events == str(source["n_events"])
        assert shown.rate.startswith(f"{100 * source['rate_mean']:.1f}%")


def test_a_small_event_count_is_shown_as_below_the_threshold(client, sources):
    table = sources.provider_rates["injector"]
    small = table[(table["n_events"] > 0) & (table["n_events"] < sources.settings.min_count)]
    assert len(small), "the fixture cohort has providers with 1-4 events"
    row = small.iloc[0]
    page = html.unescape(client.get(f"/director/injector/{row['code']}").text)
    assert f"<td>{SUPPRESSED}</td>" in page
    assert "withheld" in page


def test_unknown_provider_or_kind_is_404(client):
    assert client.get("/director/injector/I-000000").status_code == 404
    assert client.get("/director/patient/I-000000").status_code == 404


def test_names_appear_on_the_director_desk_and_nowhere_else(client, staff, flagged, known_patient):
    names = set(staff["label"])
    director = client.get("/director").text
    assert any(n in director for n in names)
    injector = flagged["code"].iloc[0]
    others = [
        client.get("/").text,
        client.get("/desk").text,
        client.post(
            "/desk",
            data={
                "patient_id": known_patient["raw_id"],
                "region": "glabella",
                "product": "ona",
                "units": "20",
                "muscle_bulk": "2",
                "exercise_met_h_week": "10",
            },
        ).text,
        client.get(f"/my-patients?injector={injector}").text,
        client.get("/openapi.json").text,
    ]
    for text in others:
        assert not [n for n in names if n in text]
