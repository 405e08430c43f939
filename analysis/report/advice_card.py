"""The injector's advice card: booking windows at a glance, what the label's floor means,
uncertainty in words, the patient's own history, unit conversions, and why two medians differ.

Built from the released ``advice/advice_table.csv`` (population advice for a reference
patient by region, dose, muscle bulk and exercise tier), the released
``survival/median_duration_by_region.csv`` (the cohort's Turnbull median, the clinic view's
number) and the vocabulary and ``advice`` settings of params.yaml (the label's floor, the
booking probabilities, the products' unit conversions). Nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.errors import ConfigError
from analysis.report.readers import Column, ReaderTable, Released, format_value, reader_table
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class CardSettings:
    """The ``advice`` settings the card explains (params.yaml ``advice``)."""

    floor_days: float
    booking_probs: tuple[float, float]
    interval_mass: float
    reference: str

    @classmethod
    def from_params(cls, params: Mapping) -> CardSettings:
        """Read ``advice.label_min_interval_days``, ``booking_probs``, ``interval_mass`` and
        ``table.reference`` (a missing key stops with its path)."""
        try:
            advice = params["advice"]
            ref = advice["table"]["reference"]
            return cls(
                floor_days=float(advice["label_min_interval_days"]),
                booking_probs=(
                    float(advice["booking_probs"][0]),
                    float(advice["booking_probs"][1]),
                ),
                interval_mass=float(advice["interval_mass"]),
                reference=", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ref.items()),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ConfigError(f"params.yaml advice: missing or malformed key {exc}") from exc


@dataclass(frozen=True)
class Grid:
    """One exercise tier of a region: rows are doses, columns muscle bulk, cells windows."""

    tier: str
    met_h_week: str
    columns: list[str]
    rows: list[tuple[str, list[tuple[str, bool, str]]]]  # (dose label, [(text, floor, title)])


@dataclass(frozen=True)
class RegionCard:
    region: str
    label: str
    summary: str
    grids: list[Grid]
    n_floor: int
    n_cells: int


@dataclass(frozen=True)
class AdviceCard:
    settings: CardSettings
    regions: list[RegionCard]
    conversions: ReaderTable
    medians: ReaderTable | None
    n_floor: int
    n_cells: int
    example_short: str


def _window(row: pd.Series) -> str:
    start, end = (format_value(row[c], "days") for c in ("booking_start_days", "booking_end_days"))
    return start if start == end else f"{start}–{end}"


def _grid(rows: pd.DataFrame, tier: str, floor: float) -> Grid:
    bulks = sorted(rows["muscle_bulk"].unique())
    out = []
    for dose, by_dose in rows.groupby("dose_multiple", sort=True):
        units = format_value(by_dose["units_ona"].iloc[0], "number")
        cells = []
        for bulk in bulks:
            sel = by_dose.loc[by_dose["muscle_bulk"] == bulk]
            if sel.empty:
                cells.append(("–", False, ""))
                continue
            r = sel.iloc[0]
            binds = str(r["floor_binds"]) == "True"
            title = (
                f"median {format_value(r['median_days'], 'days')} days "
                f"({format_value(r['lower_days'], 'days')}–"
                f"{format_value(r['upper_days'], 'days')}); "
                f"P(still working at 12 weeks) {format_value(r['prob_holds_12wk'], 'prob')}"
            )
            cells.append((_window(r) + (" †" if binds else ""), binds, title))
        out.append((f"{float(dose):g}× ({units} U)", cells))
    met = format_value(rows["exercise_met_h_week"].iloc[0], "days")
    return Grid(tier, met, [f"Bulk {b}" for b in bulks], out)


def region_cards(table: pd.DataFrame, floor: float) -> list[RegionCard]:
    """One card per region (in the table's order): a grid per exercise tier."""
    cards = []
    tiers = list(dict.fromkeys(table["exercise_tier"].astype(str)))
    for region in dict.fromkeys(table["region"].astype(str)):
        rows = table.loc[table["region"].astype(str) == region]
        ref = rows.loc[
            (rows["dose_multiple"] == 1.0)
            & (rows["muscle_bulk"] == 2)
            & (rows["exercise_tier"].astype(str) == "moderate")
        ]
        summary = ""
        if not ref.empty:
            r = ref.iloc[0]
            summary = (
                f"reference dose, bulk 2, moderate exercise: median "
                f"{format_value(r['median_days'], 'days')} days; book {_window(r)} days"
            )
        binds = rows["floor_binds"].astype(str) == "True"
        cards.append(
            RegionCard(
                region=region,
                label=region.replace("_", " ").capitalize(),
                summary=summary,
                grids=[
                    _grid(rows.loc[rows["exercise_tier"].astype(str) == t], t, floor) for t in tiers
                ],
                n_floor=int(binds.sum()),
                n_cells=len(rows),
            )
        )
    return cards


def conversion_table(vocabulary: Vocabulary, regions: Sequence[str]) -> ReaderTable:
    """Each region's reference dose in every product's own units (params.yaml vocabulary)."""
    products = list(vocabulary.products)
    rows = []
    for region in regions:
        ona = vocabulary.reference_dose_units[region]
        rows.append(
            {
                "region": region,
                **{p: ona * vocabulary.products[p].units_per_ona_unit for p in products},
            }
        )
    frame = pd.DataFrame(rows)
    cols = [Column("Region", "region")] + [Column(f"{p}, U", p, "number") for p in products]
    note = "; ".join(
        f"{p} = {prod.name}: {prod.units_per_ona_unit:g} U per ona unit ({prod.source})"
        for p, prod in vocabulary.products.items()
    )
    return reader_table(
        "unit-conversions",
        frame,
        cols,
        caption="Reference dose per region in each product's own units",
        source="params.yaml (regions, products)",
        key=["region"],
        note=f"Conversions: {note}",
    )


def medians_table(advice: pd.DataFrame, cohort: pd.DataFrame | None) -> ReaderTable | None:
    """The reference patient's predicted median beside the cohort's observed median."""
    if cohort is None:
        return None
    ref = advice.loc[
        (advice["dose_multiple"] == 1.0)
        & (advice["muscle_bulk"] == 2)
        & (advice["exercise_tier"].astype(str) == "moderate")
    ]
    frame = ref.merge(cohort, on="region", how="left")
    cols = [
        Column("Region", "region"),
        Column("Reference patient, median days (advice)", "median_days_x", "days"),
        Column(
            "Cohort, median days (clinic view)", "median_days_y", "days", missing="not estimated"
        ),
    ]
    return reader_table(
        "two-medians",
        frame,
        cols,
        caption="Two medians that answer different questions",
        source="advice/advice_table.csv, survival/median_duration_by_region.csv",
        key=["region"],
    )


def build_advice_card(
    released: Released, settings: CardSettings, vocabulary: Vocabulary
) -> AdviceCard | None:
    """The card, or None if the advice stage released no advice table."""
    table = released.get("advice/advice_table")
    if table is None:
        return None
    cards = region_cards(table, settings.floor_days)
    cohort = released.get("survival/median_duration_by_region", ("n_episodes", "n_patients"))
    short = table.loc[table["floor_binds"].astype(str) == "True"]
    example = ""
    if not short.empty:
        r = short.sort_values("median_days").iloc[0]
        example = (
            f"{str(r['region']).replace('_', ' ')} at {float(r['dose_multiple']):g}× the reference "
            f"dose, muscle bulk {r['muscle_bulk']}, {r['exercise_tier']} exercise: median "
            f"{format_value(r['median_days'], 'days')} days, P(still working at 12 weeks) "
            f"{format_value(r['prob_holds_12wk'], 'prob')}"
        )
    return AdviceCard(
        settings=settings,
        regions=cards,
        conversions=conversion_table(vocabulary, [c.region for c in cards]),
        medians=medians_table(table, cohort),
        n_floor=sum(c.n_floor for c in cards),
        n_cells=sum(c.n_cells for c in cards),
        example_short=example,
    )
