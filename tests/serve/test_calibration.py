"""My patients: observed (Turnbull) against predicted durations of one injector's patients."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.advice.advise import AdviceRequest, population_survival, predictive_law
from analysis.disclosure.rules import SUPPRESSED
from analysis.serve.calibration import REQUEST_COLUMNS, _verdict, injector_calibration
from analysis.survival.nonparametric import turnbull


@pytest.fixture(scope="module")
def busiest(small_episodes) -> str:
    return str(small_episodes["injector"].value_counts().index[0])


@pytest.fixture(scope="module")
def calibration(sources, busiest):
    return injector_calibration(sources, busiest)


def _request(row) -> AdviceRequest:
    return AdviceRequest(
        str(row["region"]),
        str(row["product"]),
        float(row["units"]),
        float(row["muscle_bulk"]),
        float(row["exercise_met_h_week"]),
        str(row["sex"]),
        float(row["age_years"]),
        float(row["baseline_severity"]),
        int(row["cycle"]),
    )


def test_population_survival_is_the_advice_law_of_each_episode(sources, small_episodes):
    rows = small_episodes[list(REQUEST_COLUMNS)].iloc[:5]
    days = np.array([0.0, 30.0, 90.0, 120.0, 200.0])
    many = population_survival(rows, sources.draws, days, max_draws=sources.draws.n_draws)
    for k, (_, row) in enumerate(rows.iterrows()):
        law = predictive_law(_request(row), sources.draws, sources.settings.advice)
        np.testing.assert_allclose(many[k], law.survival(days), atol=1e-6)


def test_predicted_median_halves_the_episodes_mean_survival(
    sources, small_episodes, busiest, calibration
):
    """At the predicted median, the episodes' own predictive laws average P(holds) = 1/2."""
    mine = small_episodes[
        (small_episodes["injector"] == busiest) & small_episodes["in_duration_analysis"]
    ]
    region = min((r for r in calibration.regions if r.estimated), key=lambda r: int(r.episodes))
    rows = mine[mine["region"] == region.region]
    probs = [
        predictive_law(_request(row), sources.draws, sources.settings.advice).survival(
            np.array([region.predicted_median, region.predicted_lower, region.predicted_upper])
        )
        for _, row in rows.iterrows()
    ]
    mean = np.mean(probs, axis=0)
    tail = (1 - sources.settings.advice.interval_mass) / 2
    # 100 of the draws are used for the group curve: Monte Carlo error ~0.01
    np.testing.assert_allclose(mean, [0.5, 1 - tail, tail], atol=0.02)


def test_observed_median_is_the_survival_stages_turnbull(
    small_episodes, busiest, calibration, sources
):
    mine = small_episodes[
        (small_episodes["injector"] == busiest) & small_episodes["in_duration_analysis"]
    ]
    region = max((r for r in calibration.regions if r.estimated), key=lambda r: int(r.episodes))
    rows = mine[mine["region"] == region.region]
    with np.errstate(all="ignore"):
        ref = turnbull(
            rows["dur_lower_days"].to_numpy(),
            rows["dur_upper_days"].to_numpy(),
            rows["patient_key"].to_numpy(),
            n_boot=200,
            seed=sources.settings.seed,
        )
    median = ref.summary.set_index("quantity").loc["median_duration"]
    assert region.observed_median == pytest.approx(median["estimate"], abs=0.01)
    # bootstrap intervals of 50 vs 200 replicates: same ballpark, not the same numbers
    assert region.observed_lower == pytest.approx(median["lower"], rel=0.1)
    assert region.observed_upper == pytest.approx(median["upper"], rel=0.1)
    assert int(region.episodes) == len(rows)


def test_small_regions_show_counts_only(sources, small_episodes):
    used = small_episodes[small_episodes["in_duration_analysis"]]
    counts = used.groupby(["injector", "region"]).size()
    injector, region = counts[(counts > 0) & (counts < sources.settings.min_count)].index[0]
    (entry,) = [r for r in injector_calibration(sources, injector).regions if r.region == region]
    assert entry.episodes == SUPPRESSED
    assert not entry.estimated and entry.observed_median is None and entry.chart_svg is None


@pytest.mark.parametrize(
    ("observed", "predicted", "verdict"),
    [
        ((100, 90, 110), 130, "shorter than predicted"),
        ((150, 140, 160), 130, "longer than predicted"),
        ((128, 110, 140), 130, "as predicted"),
        (
            (np.nan, np.nan, np.nan),
            130,
            "not estimable: more than half still effective at the last visit",
        ),
    ],
)
def test_verdict(observed, predicted, verdict):
    assert _verdict(*observed, predicted) == verdict


def test_the_page_shows_counts_and_no_patient_key(client, small_episodes, busiest, calibration):
    res = client.get(f"/my-patients?injector={busiest}")
    assert res.status_code == 200
    for r in calibration.regions:
        assert f"<td>{r.episodes}</td>".replace("<5", "&lt;5") in res.text
    keys = small_episodes.loc[small_episodes["injector"] == busiest, "patient_key"].unique()
    assert not [k for k in keys if k in res.text]
    assert client.get("/my-patients?injector=I-000000").status_code == 404
