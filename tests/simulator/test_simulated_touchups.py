"""Touch-ups of the demo cohort (params.yaml ``simulate.touchup``) against their stated truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.simulator.cohort import SimulatedCohort, simulate_cohort
from analysis.simulator.config import SimConfig


@pytest.fixture(scope="module")
def cohort(params) -> SimulatedCohort:
    """The default-size demo cohort (~5,000 patients, ~22,000 episodes; < 1 s)."""
    return simulate_cohort(SimConfig.from_params(params))


@pytest.fixture(scope="module")
def episodes(cohort) -> pd.DataFrame:
    """Truth episodes with their first treatment row (region, product, staff, date, units)."""
    return cohort.truth_tables["episodes"].merge(cohort.treatments, on="episode_id")


@pytest.fixture(scope="module")
def pairs(cohort, episodes) -> pd.DataFrame:
    """Each touch-up row next to its episode's first row."""
    touched = episodes[episodes["touchup"]]
    rows = cohort.treatments.set_index("episode_id").loc[touched["touchup_episode_id"]]
    return touched.reset_index(drop=True).join(rows.reset_index(drop=True), rsuffix="_tu")


def test_touchup_rows_repeat_their_episode_at_the_two_week_check(pairs, params):
    assert len(pairs) > 1000
    for col in ("patient_id", "clinic_id", "injector_id", "region", "product"):
        assert (pairs[col] == pairs[f"{col}_tu"]).all(), col
    day = (pairs["treatment_date_tu"] - pairs["treatment_date"]).dt.days
    lo, hi = params["simulate"]["observation"]["two_week_day_range"]
    assert day.between(lo, hi).all() and (day == pairs["touchup_day"]).all()


def test_touchup_units_are_a_fraction_of_the_reference_dose(pairs, params):
    ref = pairs["region"].map({r: v["reference_dose_units"] for r, v in params["regions"].items()})
    ratio = pairs["product"].map(
        {p: v["units_per_ona_unit"] for p, v in params["products"].items()}
    )
    step = pairs["product"].map(params["simulate"]["treatment"]["units_rounding"])
    fraction = pairs["units_tu"] / ratio / ref
    slack = step / ratio / ref  # recorded to the product's precision, at least one step
    lo, hi = params["simulate"]["touchup"]["units_fraction"]
    assert (fraction >= lo - slack).all() and (fraction <= np.maximum(hi + slack, slack)).all()
    assert (pairs["units_tu"] == pairs["touchup_units"]).all()
    # the latent duration model sees the total dose
    total = np.log2((pairs["units"] + pairs["units_tu"]) / ratio / ref)
    assert np.allclose(total, pairs["log2_rel_dose"])
    assert (pairs["log2_rel_dose"] > pairs["log2_rel_dose_first"]).all()


def test_touchup_shares_by_region_match_the_true_probabilities(episodes):
    by = episodes.groupby("region").agg(
        n=("touchup", "size"),
        observed=("touchup", "mean"),
        expected=("touchup_prob", "mean"),
        var=("touchup_prob", lambda p: float((p * (1 - p)).sum())),
    )
    z = (by["observed"] - by["expected"]) * by["n"] / np.sqrt(by["var"])
    assert (z.abs() < 4).all(), z
    # practice: masseter and lip adjustments common, standardised glabella dosing rarely adjusted
    assert by.loc["masseter", "observed"] > 0.2 and by.loc["lip_flip", "observed"] > 0.15
    big = by[by["n"] > 1000]
    assert big["observed"].idxmin() == "glabella"


def test_low_first_doses_are_touched_up_more_often(episodes, params):
    """Logistic regression of the touch-up on region and first dose recovers the dose slope
    (attenuated slightly by the omitted clinic and injector effects)."""
    x = pd.get_dummies(episodes["region"], drop_first=True, dtype=float)
    x["log2_first_dose"] = episodes["log2_rel_dose_first"]
    fit = sm.Logit(episodes["touchup"].astype(float), sm.add_constant(x)).fit(disp=0)
    true = params["simulate"]["touchup"]["dose_logit_per_doubling"]
    assert abs(fit.params["log2_first_dose"] - true) < 0.25, fit.params["log2_first_dose"]


def test_injectors_differ_in_their_touchup_rates(cohort, episodes):
    inj = cohort.truth_tables["injectors"].set_index("injector_id")["touchup_logit_effect"]
    assert inj.std() > 0.3
    top, bottom = inj.nlargest(8).index, inj.nsmallest(8).index
    rate = episodes.groupby("injector_id")["touchup"].mean()
    assert rate[top].mean() > 1.5 * rate[bottom].mean()


def test_only_marking_clinics_export_is_touchup(cohort, params):
    tr = cohort.treatments
    marking = {f"clinic_{c:02d}" for c in params["simulate"]["touchup"]["flag_clinics"]}
    marked = tr["is_touchup"].notna()
    assert set(tr.loc[marked, "clinic_id"]) == marking
    assert (marked == tr["clinic_id"].isin(marking)).all()
    touchup_ids = set(cohort.truth_tables["episodes"]["touchup_episode_id"].dropna())
    says = tr.loc[marked, "is_touchup"] == "true"
    assert (says == tr.loc[marked, "episode_id"].isin(touchup_ids)).all()
    assert says.sum() > 20


def test_rows_filed_under_a_touchup_come_after_it(cohort):
    tr = cohort.treatments.set_index("episode_id")["treatment_date"]
    truth = cohort.truth_tables["episodes"]
    touchup_ids = truth["touchup_episode_id"].dropna()
    a = cohort.assessments[cohort.assessments["episode_id"].isin(touchup_ids)]
    assert len(a) > 100
    assert (a["assessment_date"] > a["episode_id"].map(tr)).all()
    filing = truth.loc[truth["followup_on_touchup"], "touchup_episode_id"]
    assert set(a["episode_id"]) <= set(filing)
