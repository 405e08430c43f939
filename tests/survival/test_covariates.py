"""Input checks and covariate coding."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputValidationError
from analysis.survival.covariates import design_matrix, duration_frame, make_spec


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
