"""The advice table for the report: region x dose band x muscle bulk x exercise tier.

Each row is the *population* advice (no patient history) for a reference patient
(``advice.table.reference`` in params.yaml: sex, age, product, cycle, baseline severity) at a
multiple of the region's reference dose.
"""

from __future__ import annotations

import warnings

import pandas as pd

from analysis.advice.advise import AdviceExtrapolationWarning, AdviceRequest, advise
from analysis.advice.config import AdviceConfig
from analysis.advice.predict import PosteriorDraws


def advice_table(draws: PosteriorDraws, config: AdviceConfig, n_nodes: int = 41) -> pd.DataFrame:
    """One row per region, dose multiple, muscle bulk and exercise tier.

    Columns: ``region, dose_multiple, units_ona, muscle_bulk, exercise_tier,
    exercise_met_h_week, median_days, lower_days, upper_days, prob_holds_12wk,
    booking_start_days, booking_end_days, floor_binds, extrapolation``.
    """
    spec, tab = draws.spec, config.table
    ref = tab.reference
    rows = []
    for region in spec.regions:
        for mult in tab.dose_multipliers:
            units_ona = spec.reference_dose_units[region] * mult
            units = units_ona * spec.units_per_ona_unit[ref.product]
            for bulk in tab.muscle_bulk:
                for tier, met in tab.exercise_tiers.items():
                    request = AdviceRequest(
                        region=region,
                        product=ref.product,
                        units=units,
                        muscle_bulk=bulk,
                        exercise_met_h_week=met,
                        sex=ref.sex,
                        age_years=ref.age_years,
                        baseline_severity=ref.baseline_severity,
                        cycle=ref.cycle,
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", AdviceExtrapolationWarning)
                        a = advise(request, draws, config, n_nodes=n_nodes)
                    holds = a.survival.set_index("week")["prob_effect_holds"]
                    rows.append(
                        {
                            "region": region,
                            "dose_multiple": mult,
                            "units_ona": units_ona,
                            "muscle_bulk": bulk,
                            "exercise_tier": tier,
                            "exercise_met_h_week": met,
                            "median_days": a.median_days,
                            "lower_days": a.interval_lower_days,
                            "upper_days": a.interval_upper_days,
                            "prob_holds_12wk": float(holds.get(12, float("nan"))),
                            "booking_start_days": a.booking_start_days,
                            "booking_end_days": a.booking_end_days,
                            "floor_binds": a.floor_binds,
                            "extrapolation": bool(a.warnings),
                        }
                    )
    return pd.DataFrame(rows)


def region_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The reference-dose, average-bulk, moderate-exercise row of each region (headlines)."""
    sel = table[
        (table["dose_multiple"] == 1.0)
        & (table["muscle_bulk"] == 2)
        & (table["exercise_tier"] == "moderate")
    ]
    return sel.reset_index(drop=True)
