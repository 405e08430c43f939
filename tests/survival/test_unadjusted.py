"""Unadjusted time ratios (analysis/survival/aft.py ``unadjusted_time_ratios``, TRIPOD 14b)."""

from __future__ import annotations

import numpy as np
import pytest
from survival_synth import TRUE_COEF

from analysis.survival.aft import fit_aft, predictor_groups, unadjusted_time_ratios
from analysis.survival.covariates import make_spec


@pytest.fixture(scope="module")
def unadjusted(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    return unadjusted_time_ratios(lognormal_episodes, spec, "lognormal").set_index("term")


def test_every_term_of_the_common_design_is_one_predictors(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    groups = predictor_groups(spec)
    terms = [t for cols in groups.values() for t in cols]
    assert sorted(terms) == sorted(spec.columns) and len(terms) == len(set(terms))
    assert groups["region"] == ["region_forehead", "region_lip_flip"]
    assert groups["dose"] == ["dose_slope_below_knot", "dose_slope_above_knot"]


def test_unadjusted_ratios_of_independent_covariates_cover_the_truth(unadjusted):
    # the synthetic covariates are drawn independently, so leaving the others out widens the
    # residual spread but does not move a term's time ratio
    for term in ("sex_male", "region_lip_flip", "product_daxi", "dose_slope_below_knot"):
        row = unadjusted.loc[term]
        truth = np.exp(TRUE_COEF[term])
        assert row["time_ratio_lower"] < truth < row["time_ratio_upper"], term
    assert (unadjusted["note"] == "").all()


def test_an_unadjusted_model_holds_its_predictor_alone_and_a_constant_one_says_why(
    lognormal_episodes,
):
    df = lognormal_episodes.assign(product="ona", region="glabella")  # only the other terms vary
    spec = make_spec(df, "glabella", "ona", 1.0)
    table = unadjusted_time_ratios(df, spec, "lognormal").set_index("term")
    assert "region" not in set(table["predictor"]) and "product" not in set(table["predictor"])
    # the sex model holds sex alone: blanking every other covariate changes nothing in it,
    # while their own models then have a constant column and say so
    only_sex = df.assign(
        log2_rel_dose=0.0,
        muscle_bulk=2,
        exercise_met_h_week=0.0,
        age_years=45.0,
        cycle=1,
        baseline_severity=2,
    )
    alone = unadjusted_time_ratios(only_sex, spec, "lognormal").set_index("term")
    assert alone.loc["sex_male", "note"] == ""
    assert alone.loc["muscle_bulk_per_grade", "note"].startswith("lognormal AFT: the design")
    assert np.isnan(alone.loc["muscle_bulk_per_grade", "time_ratio"])
    assert table.loc["sex_male", "time_ratio"] == pytest.approx(
        alone.loc["sex_male", "time_ratio"], rel=1e-6
    )


def test_clustered_intervals_are_wider_than_the_adjusted_model_for_a_strong_covariate(
    lognormal_episodes, unadjusted
):
    # region explains much of the spread: alone, the other terms' intervals widen
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    adjusted = fit_aft(lognormal_episodes, "lognormal", spec).summary.set_index("term")
    assert unadjusted.loc["sex_male", "se_robust"] > adjusted.loc["sex_male", "se_robust"]
