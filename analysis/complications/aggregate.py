"""Binomial cells: episodes with the same covariate pattern collapsed to (events, treatments).

A Bernoulli likelihood over episodes and a binomial likelihood over cells of identical
covariates differ only by a constant (the log binomial coefficients), so the posterior is the
same while the cost grows with the number of distinct patterns, not of episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Covariates that define a cell (dose is the rounded log2 relative dose).
CELL_KEYS: tuple[str, ...] = ("region", "dose", "product", "clinic", "injector", "year_c")


@dataclass(frozen=True)
class Levels:
    """Category orders shared by every complication model of one data set.

    Models of all types use the same levels so that one compiled model serves them all.
    ``reference_year`` is the year at which the calendar term is zero (the mean treatment
    year, so that the calendar slope is not correlated with the region intercepts).
    """

    regions: tuple[str, ...]
    products: tuple[str, ...]
    clinics: tuple[str, ...]
    injectors: tuple[str, ...]
    reference_year: float
    #: index into ``clinics`` of each injector's main clinic (where most of its treatments are)
    injector_clinic: tuple[int, ...] = ()


@dataclass(frozen=True)
class Cells:
    """Aggregated data of one complication type.

    ``table`` has one row per cell: the keys of :data:`CELL_KEYS`, ``n`` treatments, ``y``
    episodes with the complication within 30 days, and integer codes ``region_idx``,
    ``product_idx``, ``clinic_idx``, ``injector_idx`` into :attr:`levels`; ``year_c`` is the
    year minus the reference year (0 everywhere without a calendar trend).
    """

    complication: str
    regions: tuple[str, ...]
    table: pd.DataFrame
    levels: Levels

    @property
    def n_treatments(self) -> int:
        return int(self.table["n"].sum())

    @property
    def n_events(self) -> int:
        return int(self.table["y"].sum())

    def arrays(self) -> dict[str, np.ndarray]:
        """The model's data containers (names match the ``pm.Data`` of the model)."""
        t = self.table
        return {
            "y": t["y"].to_numpy(np.int64),
            "n": t["n"].to_numpy(np.int64),
            "region_idx": t["region_idx"].to_numpy(np.int64),
            "product_idx": t["product_idx"].to_numpy(np.int64),
            "clinic_idx": t["clinic_idx"].to_numpy(np.int64),
            "injector_idx": t["injector_idx"].to_numpy(np.int64),
            "dose": t["dose"].to_numpy(np.float64),
            "year_c": t["year_c"].to_numpy(np.float64),
        }


def region_totals(cells: Cells) -> Cells:
    """The cells summed within region: all the region-only model needs.

    With clinic, injector, dose, product and year effects switched off, every cell of a region
    has the same risk, so the kernel ``sum(y * eta - n * softplus(eta))`` over these totals
    equals the one over the full cells exactly (same posterior, far fewer terms). The other
    keys are set to the reference level (their terms are multiplied by 0 in that model).
    """
    t = (
        cells.table.groupby(["region", "region_idx"], sort=True, observed=True)[["n", "y"]]
        .sum()
        .reset_index()
    )
    levels = cells.levels
    table = t.assign(
        dose=0.0,
        product=levels.products[0],
        clinic=levels.clinics[0],
        injector=levels.injectors[0],
        year_c=0.0,
        product_idx=np.int64(0),
        clinic_idx=np.int64(0),
        injector_idx=np.int64(0),
    )
    return Cells(cells.complication, cells.regions, table, levels)


def outcome_column(complication: str) -> str:
    return f"c30_{complication}"


def levels_from_episodes(
    episodes: pd.DataFrame, regions: Sequence[str], products: Sequence[str]
) -> Levels:
    """Levels of one data set: vocabularies from params, clinics/injectors as observed.

    Clinics and injectors are ordered by first appearance in ``episodes`` (whose row order
    comes from the data, not from the pseudonym key), so that the model's coordinates and its
    sampler's random stream do not depend on the key.
    """
    clinics = tuple(episodes["clinic"].astype(str).unique())
    injectors = tuple(episodes["injector"].astype(str).unique())
    pairs = episodes[["injector", "clinic"]].astype(str).value_counts().reset_index()
    pairs["clinic_order"] = pairs["clinic"].map({c: k for k, c in enumerate(clinics)})
    main = pairs.sort_values(  # an injector's main clinic: most treatments, then first seen
        ["injector", "count", "clinic_order"], ascending=[True, False, True]
    ).drop_duplicates("injector")
    main_clinic = dict(zip(main["injector"], main["clinic"], strict=True))
    return Levels(
        regions=tuple(regions),
        products=tuple(products),
        clinics=clinics,
        injectors=injectors,
        reference_year=round(float(episodes["year"].astype(float).mean()), 1),
        injector_clinic=tuple(clinics.index(main_clinic[i]) for i in injectors),
    )


def round_dose(log2_rel_dose: pd.Series | np.ndarray, step: float) -> np.ndarray:
    """Round log2(relative dose) to a grid of ``step`` doublings (``step <= 0``: no rounding)."""
    x = np.asarray(log2_rel_dose, dtype=float)
    if step <= 0:
        return x
    return np.round(x / step) * step


def _coded(frame: pd.DataFrame, levels: Levels) -> pd.DataFrame:
    out = frame.copy()
    for col, order in (
        ("region", levels.regions),
        ("product", levels.products),
        ("clinic", levels.clinics),
        ("injector", levels.injectors),
    ):
        out[f"{col}_idx"] = pd.Categorical(out[col].astype(str), categories=order).codes.astype(
            np.int64
        )
    return out


def _type_rows(
    episodes: pd.DataFrame,
    complication: str,
    regions: Sequence[str],
    levels: Levels,
    step: float,
    calendar_trend: bool,
    outcome: str | None = None,
    dose_column: str = "log2_rel_dose",
) -> pd.DataFrame:
    rows = episodes.loc[episodes["region"].isin(regions)]
    year_c = rows["year"].astype(float).to_numpy() - levels.reference_year
    if not calendar_trend:
        year_c = np.zeros(len(rows))
    return pd.DataFrame(
        {
            "region": rows["region"].astype(str).to_numpy(),
            "dose": round_dose(rows[dose_column], step),
            "product": rows["product"].astype(str).to_numpy(),
            "clinic": rows["clinic"].astype(str).to_numpy(),
            "injector": rows["injector"].astype(str).to_numpy(),
            "year_c": year_c,
            "event": rows[outcome or outcome_column(complication)].astype(bool).to_numpy(),
        }
    )


def aggregate_cells(
    episodes: pd.DataFrame,
    complication: str,
    regions: Sequence[str],
    levels: Levels,
    dose_step_log2: float = 0.125,
    calendar_trend: bool = True,
    outcome: str | None = None,
    dose_column: str = "log2_rel_dose",
) -> Cells:
    """Collapse the episodes of ``regions`` into binomial cells for one complication type.

    Parameters
    ----------
    episodes
        Processed episode table (docs/ARCHITECTURE.md), already validated.
    complication
        Type code; the outcome column is ``c30_<complication>``.
    regions
        Regions where the type can occur (``complication_types.<type>.regions``).
    levels
        Shared category orders (:func:`levels_from_episodes`).
    dose_step_log2
        Grid of the rounded dose covariate, in doublings.
    calendar_trend
        Keep the calendar year (centred, ``year_c``) as a cell key; ``False`` sets it to 0.
    outcome, dose_column
        The outcome column (default ``c30_<complication>``) and the dose column; the touch-up
        rate model (:mod:`analysis.complications.touchups`) uses ``touchup`` and
        ``log2_rel_dose_initial``.
    """
    rows = _type_rows(
        episodes,
        complication,
        regions,
        levels,
        dose_step_log2,
        calendar_trend,
        outcome,
        dose_column,
    )
    grouped = (
        rows.groupby(list(CELL_KEYS), sort=True, observed=True)["event"]
        .agg(n="size", y="sum")
        .reset_index()
    )
    grouped["n"] = grouped["n"].astype(np.int64)
    grouped["y"] = grouped["y"].astype(np.int64)
    return Cells(complication, tuple(regions), _coded(grouped, levels), levels)


def episode_cells(
    episodes: pd.DataFrame,
    complication: str,
    regions: Sequence[str],
    levels: Levels,
    dose_step_log2: float = 0.125,
    calendar_trend: bool = True,
) -> Cells:
    """One 'cell' per episode (``n = 1``): the data of the per-episode Bernoulli model."""
    rows = _type_rows(episodes, complication, regions, levels, dose_step_log2, calendar_trend)
    rows["n"] = np.int64(1)
    rows["y"] = rows.pop("event").astype(np.int64)
    return Cells(complication, tuple(regions), _coded(rows, levels), levels)
