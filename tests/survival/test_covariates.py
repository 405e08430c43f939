"""The one covariate specification: input checks, names, centring and the dose spline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import InputValidationError
from analysis.survival.covariates import (
    CANONICAL_TERMS,
    PATIENT_TERMS,
    design_matrix,
    duration_frame,
    make_spec,
    term_label,
    term_unit,
)


def test_bad_interval_names_file_row_column_and_rule(lognormal_episodes):
    df = lognormal_episodes.drop(columns="latent_days").copy()
    df.loc[4, "dur_upper_days"] = df.loc[4, "dur_lower_days"] - 5
    with pytest.raises(InputValidationError) as err:
        duration_frame(df, "episodes.parquet")
    msg = str(err.value)
    assert (
        "episodes.parquet, row 5" in msg and "dur_upper_days" in msg and ">= dur_lower_days" in msg
    )
    assert "p0000" not in msg  # no patient key in messages


def test_missing_column_is_reported(lognormal_episodes):
    with pytest.raises(InputValidationError, match="muscle_bulk"):
        duration_frame(lognormal_episodes.drop(columns="muscle_bulk"))


def test_dose_spline_has_knot_at_twice_the_reference(lognormal_episodes):
    spec = make_spec(lognormal_episodes, "glabella", "ona", 1.0)
    x = design_matrix(lognormal_episodes, spec)
    d = lognormal_episodes["log2_rel_dose"].to_numpy()
    np.testing.assert_allclose(x["dose_slope_below_knot"] + x["dose_slope_above_knot"], d)
    assert x.loc[d > 1, "dose_slope_below_knot"].eq(1.0).all()
    assert spec.regions[0] == "glabella" and spec.products[0] == "ona"


def test_canonical_names_are_the_simulators_truth_keys(params):
    truth_keys = set(params["simulate"]["duration"])
    assert set(CANONICAL_TERMS) <= truth_keys, set(CANONICAL_TERMS) - truth_keys


def test_the_reference_profile_codes_to_zero():
    reference = pd.DataFrame(
        {
            "region": ["glabella"],
            "product": ["ona"],
            "log2_rel_dose": [0.0],
            "muscle_bulk": [2],
            "exercise_met_h_week": [0.0],
            "sex": ["F"],
            "age_years": [45.0],
            "cycle": [1],
            "baseline_severity": [2],
        }
    )
    spec = make_spec(reference, "glabella", "ona", 1.0)
    x = design_matrix(reference, spec)
    assert list(x.columns) == [*PATIENT_TERMS, "dose_slope_below_knot", "dose_slope_above_knot"]
    assert (x.to_numpy() == 0).all()
    older = reference.assign(age_years=65.0, muscle_bulk=4, exercise_met_h_week=25.0, cycle=4)
    row = design_matrix(older, spec).iloc[0]
    assert row["age_per_10_years"] == 2.0 and row["muscle_bulk_per_grade"] == 2.0
    assert row["exercise_per_10_met_h"] == 2.5 and row["log2_cycle"] == 2.0


def test_labels_and_units_name_the_reference_and_the_knot():
    assert term_label("region_chin", "glabella", "ona", 1.0) == "Region: chin vs glabella"
    assert term_label("product_abo", "glabella", "ona", 1.0) == "Product: abo vs ona"
    assert term_label("dose_slope_below_knot", "glabella", "ona", 1.0) == (
        "Dose doubling (below 2x reference)"
    )
    assert term_label("sex_male", "glabella", "ona", 1.0) == "Men vs women"
    assert term_unit("dose_slope_above_knot", 1.0).endswith("above twice the reference")
    assert term_unit("region_chin", 1.0) == "vs reference level"


def test_touchup_term_only_when_the_data_hold_both_kinds_of_episode(lognormal_episodes):
    ep = lognormal_episodes
    assert "touchup" not in make_spec(ep, "glabella", "ona", 1.0).columns  # no column: none
    all_touched = ep.assign(touchup=True)
    assert "touchup" not in make_spec(all_touched, "glabella", "ona", 1.0).columns  # constant
    mixed = ep.assign(touchup=np.arange(len(ep)) % 5 == 0)
    spec = make_spec(mixed, "glabella", "ona", 1.0)
    x = design_matrix(mixed, spec)
    assert spec.columns[len(spec.columns) - 3] == "touchup"  # after the patient terms
    assert x["touchup"].sum() == (np.arange(len(ep)) % 5 == 0).sum()
    assert set(x["touchup"]) == {0.0, 1.0}
    # a planned treatment without the column is coded as no touch-up
    assert (design_matrix(ep.head(3), spec)["touchup"] == 0.0).all()
