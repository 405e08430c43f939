"""The director's outcome pages: one per clinic and one for the network (stage ``report``).

Each page is assembled from released tables only (``reports/<stage>/*.csv``, written by
``bonta disclose``): a "needs review" box listing every flagged clinic or injector with the
rate, its interval, the peers' rate and the benchmark, the number of treatments and why it was
flagged, or an explicit "nothing needs review"; headline tiles that repeat cells of the page's
tables; complication rates by type and region with severity and time to resolution; return
rate and time to re-treatment; duration per region (the clinic's Turnbull medians beside the
network's; the network page: the network's); touch-up rates; quarterly trends (the clinic's
quarters beside the network's: complication rate with its patient-clustered interval and the
re-treated share); and caterpillar plots against the reference the flag uses (the provider's
peers; the published benchmark where the benchmark is fully published). Clinic and injector
codes stay pseudonymous (names are resolved only in ``bonta serve``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis.disclosure.rules import SUPPRESSED
from analysis.report.charts import GREY, Interval, Series, caterpillar_svg, trend_svg
from analysis.report.readers import (
    Column,
    ReaderTable,
    Released,
    format_value,
    is_suppressed,
    reader_table,
)

NETWORK = "network"
PROVIDER_COUNTS = ("n_treatments", "n_events", "n_touchups")
OUTCOME_COUNTS = ("n_episodes", "n_complications", "n_retreated", "n_resolved")
SEVERITY_COUNTS = ("n_complications", "n_resolved")


@dataclass(frozen=True)
class ReviewItem:
    """One flagged provider-outcome pair, in words."""

    level: str
    code: str
    clinic: str
    outcome: str
    rate: str
    peers: str
    benchmark: str
    n_treatments: str
    why: str


@dataclass(frozen=True)
class Tile:
    """A headline tile: the text of one cell of a table on the same page."""

    label: str
    text: str
    table_id: str
    row_key: str
    column: str

    @property
    def value(self) -> str:
        return self.text.split(" (")[0]

    @property
    def interval(self) -> str:
        return self.text[len(self.value) :].strip()


@dataclass(frozen=True)
class PageSection:
    section_id: str
    title: str
    text: str
    tables: list[ReaderTable] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutcomePage:
    """One page: ``code`` is a clinic code or :data:`NETWORK`."""

    code: str
    title: str
    filename: str
    review: list[ReviewItem]
    tiles: list[Tile]
    sections: list[PageSection]

    @property
    def is_network(self) -> bool:
        return self.code == NETWORK


def page_filename(code: str) -> str:
    """File of a page, relative to the reports directory."""
    return f"clinics/{code}.html"


# ------------------------------------------------------------------------------------------
# Needs review
# ------------------------------------------------------------------------------------------
def multiplier_of(table: pd.DataFrame) -> float:
    """The flag multiplier ``m`` from the ``p_above_<m>x_peers`` column of a provider table."""
    for col in table.columns:
        match = re.fullmatch(r"p_above_([0-9.]+)x_peers", str(col))
        if match:
            return float(match.group(1))
    raise ValueError("provider table has no p_above_<m>x_peers column")


def _pct(value, lower=None, upper=None) -> str:
    text = format_value(value, "prop")
    if lower is None or text == "suppressed":
        return f"{text}%"
    return f"{text}% (95% CrI {format_value(lower, 'prop')}–{format_value(upper, 'prop')}%)"


def _flag_rows(table: pd.DataFrame | None, clinic: str | None, level: str) -> pd.DataFrame:
    if table is None or table.empty:
        return pd.DataFrame()
    rows = table.loc[table["flagged"].astype(str) == "True"]
    if clinic is not None:
        rows = rows.loc[rows[level if level == "clinic" else "clinic"].astype(str) == clinic]
    return rows


def _probability(value) -> str:
    """A posterior probability in words-friendly form ("above 0.99" rather than "1.00")."""
    text = format_value(value, "prob")
    return "above 0.99" if text == "1.00" else text


def _why(row: pd.Series, m: float, outcome: str, level: str) -> str:
    reason = str(row.get("flag_reason") or "")
    parts = []
    if "peers" in reason:
        parts.append(
            f"its {outcome} rate is more than {m:g} times that of its peers (the network's "
            f"average {level} on the same treatments) with probability "
            f"{_probability(row[f'p_above_{m:g}x_peers'])}"
        )
    if "benchmark" in reason:
        parts.append(
            f"more than {m:g} times the published benchmark with probability "
            f"{_probability(row[f'p_above_{m:g}x_benchmark'])}"
        )
    return "Flagged because " + " and ".join(parts) + "." if parts else reason


def review_items(released: Released, clinic: str | None) -> list[ReviewItem]:
    """Every flagged clinic and injector (of ``clinic``, or of the network if None), for
    complications and touch-ups, ordered by outcome then provider."""
    items = []
    for stage, kind in (
        ("complications/complication", "complication"),
        ("complications/touchup", "touchup"),
    ):
        for level in ("clinic", "injector"):
            table = released.get(f"{stage}_rates_by_{level}", PROVIDER_COUNTS)
            if table is None or (level == "injector" and "clinic" not in table.columns):
                continue
            m = multiplier_of(table)
            for _, row in _flag_rows(table, clinic, level).iterrows():
                outcome = (
                    "touch-up" if kind == "touchup" else str(row["complication"]).replace("_", " ")
                )
                published = row.get("benchmark_published_share")
                if kind == "touchup" or "benchmark_rate" not in row.index:
                    benchmark = "no published rate (compared with peers only)"
                else:
                    share = "published" if published == 1 else "partly a practice assumption"
                    benchmark = f"{_pct(row['benchmark_rate'])} for its region mix ({share})"
                ratio = (
                    f"{format_value(row['rate_ratio_vs_peers_mean'], 'ratio')} times peers "
                    f"(95% CrI {format_value(row['rate_ratio_vs_peers_lower'], 'ratio')}–"
                    f"{format_value(row['rate_ratio_vs_peers_upper'], 'ratio')})"
                )
                items.append(
                    ReviewItem(
                        level=level,
                        code=str(row[level]),
                        clinic=str(row["clinic"]),
                        outcome=outcome,
                        rate=_pct(row["rate_mean"], row["rate_lower"], row["rate_upper"]),
                        peers=f"{_pct(row['peer_rate_mean'])}; {ratio}",
                        benchmark=benchmark,
                        n_treatments=format_value(row["n_treatments"], "count"),
                        why=_why(row, m, outcome, level),
                    )
                )
    return items


# ------------------------------------------------------------------------------------------
# Columns of the reader tables
# ------------------------------------------------------------------------------------------
TREATMENTS = Column("Treatments", "n_episodes", "count")
COMPLICATION_PCT = Column(
    "30-day complication, % (95% CI)",
    "complication_rate_pct",
    "pct",
    "complication_rate_pct_lower",
    "complication_rate_pct_upper",
)
RETREATED_PCT = Column("Re-treated before cut-off, %", "retreated_pct", "pct")
RETREAT_DAYS = Column(
    "Median days to re-treatment (95% CI)",
    "median_retreat_days",
    "days",
    "median_retreat_lower",
    "median_retreat_upper",
    missing="not reached",
)
RATE = Column("Rate, % (95% CrI)", "rate_mean", "prop", "rate_lower", "rate_upper")
PEERS = Column("Peers, %", "peer_rate_mean", "prop")
VS_PEERS = Column(
    "Ratio to peers (95% CrI)",
    "rate_ratio_vs_peers_mean",
    "ratio",
    "rate_ratio_vs_peers_lower",
    "rate_ratio_vs_peers_upper",
)


def _status(frame: pd.DataFrame) -> pd.DataFrame:
    def one(row: pd.Series) -> str:
        if str(row.get("flagged")) == "True":
            return f"needs review ({row.get('flag_reason')})"
        if str(row.get("too_few_to_judge")) == "True":
            return "too few to judge"
        return "not flagged"

    return frame.assign(status=frame.apply(one, axis=1) if len(frame) else [])


STATUS = Column("Status", "status", "code")


def _network_join(
    local: pd.DataFrame, network: pd.DataFrame, on: Sequence[str], columns: Sequence[str]
) -> pd.DataFrame:
    renamed = network[[*on, *columns]].rename(columns={c: f"network_{c}" for c in columns})
    return local.merge(renamed, on=list(on), how="left")


# ------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------
def _summary(released: Released, clinic: str | None) -> tuple[PageSection, list[Tile]]:
    network = released.require("cohort/network_outcomes", OUTCOME_COUNTS).assign(who="Network")
    frames = [network]
    if clinic is not None:
        per = released.require("cohort/clinic_outcomes", OUTCOME_COUNTS)
        frames.insert(0, per.loc[per["clinic"].astype(str) == clinic].assign(who="This clinic"))
    frame = pd.concat(frames, ignore_index=True)
    cols = [Column("", "who", "code"), TREATMENTS, COMPLICATION_PCT, RETREATED_PCT, RETREAT_DAYS]
    table = reader_table(
        "summary",
        frame,
        cols,
        caption="Treatments, 30-day complications and re-treatment",
        source="cohort/clinic_outcomes.csv, cohort/network_outcomes.csv",
        key=["who"],
    )
    who = "This clinic" if clinic is not None else "Network"
    tiles = [
        Tile(c.label, table.cell(who, c.label), "summary", who, c.label)
        for c in (TREATMENTS, COMPLICATION_PCT, RETREATED_PCT, RETREAT_DAYS)
    ]
    text = (
        "A treatment is one region treated at one visit. Complications: any type within 30 "
        "days (Wilson interval widened for patients treated more than once). Re-treatment: "
        "the same region treated again before the data cut-off; the median is a Kaplan-Meier "
        "estimate, censored at the cut-off, its interval from resampling patients."
    )
    return PageSection("summary", "At a glance", text, [table]), tiles


def _complications_by_type(released: Released, clinic: str | None) -> PageSection | None:
    if clinic is None:
        rates = released.get("complications/complication_rates_by_region", PROVIDER_COUNTS)
        if rates is None:
            return None
        cols = [
            Column("Complication", "complication"),
            Column("Region", "region"),
            Column("Treatments", "n_treatments", "count"),
            Column("Events", "n_events", "count"),
            RATE,
            Column("Benchmark, %", "benchmark_rate", "prop"),
            Column("P(rate > benchmark)", "p_above_benchmark", "prob"),
        ]
        table = reader_table(
            "complications-by-type",
            rates,
            cols,
            caption="Complication rates by type and region (posterior mean, 95% credible interval)",
            source="complications/complication_rates_by_region.csv",
            key=["complication", "region"],
        )
        text = "Model-based 30-day rates per treatment against published benchmarks."
        return PageSection("complications", "Complications by type and region", text, [table])
    rates = released.get("complications/complication_rates_by_clinic", PROVIDER_COUNTS)
    if rates is None:
        return None
    mine = _status(rates.loc[rates["clinic"].astype(str) == clinic])
    cols = [
        Column("Complication", "complication"),
        Column("Treatments", "n_treatments", "count"),
        Column("Events", "n_events", "count"),
        RATE,
        PEERS,
        VS_PEERS,
        Column("Benchmark, %", "benchmark_rate", "prop"),
        STATUS,
    ]
    table = reader_table(
        "complications-by-type",
        mine,
        cols,
        caption="This clinic's complication rates by type, against peers and benchmark",
        source="complications/complication_rates_by_clinic.csv",
        key=["complication"],
    )
    text = (
        "Model-based 30-day rates of this clinic's own treatments. Peers: the rate the "
        "network's average clinic and injector would have on the same treatments. Benchmark: "
        "published rates (or labelled practice assumptions) for this clinic's region mix."
    )
    return PageSection("complications", "Complications by type", text, [table])


def _by_region(released: Released, clinic: str | None) -> PageSection:
    network = released.require("cohort/network_outcomes_by_region", OUTCOME_COUNTS)
    if clinic is None:
        frame = network
        cols = [Column("Region", "region"), TREATMENTS, COMPLICATION_PCT]
        cols_retreat = [Column("Region", "region"), TREATMENTS, RETREATED_PCT, RETREAT_DAYS]
    else:
        per = released.require("cohort/clinic_outcomes_by_region", OUTCOME_COUNTS)
        frame = _network_join(
            per.loc[per["clinic"].astype(str) == clinic],
            network,
            ["region"],
            ["complication_rate_pct", "retreated_pct", "median_retreat_days"],
        )
        cols = [
            Column("Region", "region"),
            TREATMENTS,
            COMPLICATION_PCT,
            Column("Network, %", "network_complication_rate_pct", "pct"),
        ]
        cols_retreat = [
            Column("Region", "region"),
            TREATMENTS,
            RETREATED_PCT,
            Column("Network, %", "network_retreated_pct", "pct"),
            RETREAT_DAYS,
            Column("Network, days", "network_median_retreat_days", "days", missing="not reached"),
        ]
    source = "cohort/clinic_outcomes_by_region.csv, cohort/network_outcomes_by_region.csv"
    tables = [
        reader_table(
            "complications-by-region",
            frame,
            cols,
            caption="Any complication within 30 days, by region",
            source=source,
            key=["region"],
        ),
        reader_table(
            "retreatment-by-region",
            frame,
            cols_retreat,
            caption="Return for re-treatment, by region",
            source=source,
            key=["region"],
        ),
    ]
    text = (
        "Crude shares of this clinic's treatments per region with the network's beside them. "
        "Return: the same region treated again before the data cut-off."
        if clinic is not None
        else "Crude shares of the network's treatments per region."
    )
    return PageSection("regions", "By region: complications and return", text, tables)


def _severity(released: Released, clinic: str | None) -> PageSection | None:
    network = released.get("cohort/network_complication_severity", SEVERITY_COUNTS)
    if network is None:
        return None
    counts = [
        Column("Recorded", "n_complications", "count"),
        Column("Resolved", "n_resolved", "count"),
        Column("Median days to resolution", "median_resolution_days", "days"),
    ]
    tables = []
    if clinic is not None:
        per = released.require("cohort/complication_severity", SEVERITY_COUNTS)
        tables.append(
            reader_table(
                "severity",
                per.loc[per["clinic"].astype(str) == clinic],
                [Column("Severity", "severity"), *counts],
                caption="This clinic's recorded complications by severity",
                source="cohort/complication_severity.csv",
                key=["severity"],
            )
        )
    tables.append(
        reader_table(
            "severity-by-type",
            network,
            [Column("Complication", "complication"), Column("Severity", "severity"), *counts],
            caption="Network: recorded complications by type and severity",
            source="cohort/network_complication_severity.csv",
            key=["complication", "severity"],
        )
    )
    text = (
        "Every recorded complication (not only those within 30 days). The median counts days "
        "from onset to the recorded resolution among resolved complications. By type for the "
        "network only: per clinic most type-severity counts are too small to release."
    )
    return PageSection("severity", "Severity and time to resolution", text, tables)


DURATION_COUNTS = ("n_episodes", "n_patients")
TOO_FEW = "too few to estimate"
NETWORK_MEDIAN = Column(
    "Network: median days (95% CI)",
    "network_median_days",
    "days",
    "network_median_lower",
    "network_median_upper",
    missing="not estimated",
)


def _median_column(label: str, missing: str = "not estimated") -> Column:
    return Column(label, "median_days", "days", "median_lower", "median_upper", missing=missing)


def _duration(released: Released, clinic: str | None) -> PageSection | None:
    network = released.get("survival/median_duration_by_region", DURATION_COUNTS)
    if network is None:
        return None
    counts = [
        Column("Treatments assessed", "n_episodes", "count"),
        Column("Patients", "n_patients", "count"),
    ]
    by_clinic = released.get("survival/median_duration_by_clinic_region", DURATION_COUNTS)
    if clinic is None or by_clinic is None:
        shown = reader_table(
            "duration",
            network,
            [Column("Region", "region"), *counts, _median_column("Median days of effect (95% CI)")],
            caption="How long treatments last: median days until the region is back at baseline",
            source="survival/median_duration_by_region.csv",
            key=["region"],
        )
        text = (
            "Network estimate (Turnbull, patient-bootstrap interval) for every clinic together."
            + (" Per clinic: on each clinic's page." if by_clinic is not None else "")
        )
        return PageSection("duration", "How long treatments last (network)", text, [shown])
    mine = by_clinic.loc[by_clinic["clinic"].astype(str) == clinic]
    frame = _network_join(
        mine, network, ["region"], ["median_days", "median_lower", "median_upper"]
    )
    shown = reader_table(
        "duration",
        frame,
        [
            Column("Region", "region"),
            *counts,
            _median_column("This clinic: median days (95% CI)", missing="not reached"),
            NETWORK_MEDIAN,
        ],
        caption="How long this clinic's treatments last, against the network: median days "
        "until the region is back at baseline",
        source="survival/median_duration_by_clinic_region.csv, "
        "survival/median_duration_by_region.csv",
        key=["region"],
    )
    _mark_too_few(shown, frame, "This clinic: median days (95% CI)")
    text = (
        "Turnbull estimates of the median days until the treated region is back at its "
        "baseline, with 95% patient-bootstrap intervals (patients resampled with all their "
        "treatments), for this clinic's treatments in each region and for the network's. A "
        "region with too few assessed treatments in this clinic is listed without an estimate."
    )
    return PageSection(
        "duration", "How long treatments last: this clinic and the network", text, [shown]
    )


def _mark_too_few(table: ReaderTable, frame: pd.DataFrame, column: str) -> None:
    """Say "too few to estimate" in ``column`` of the rows the release flags
    ``too_few_to_estimate`` (a median missing otherwise was not reached); a suppressed cell
    stays suppressed."""
    if "too_few_to_estimate" not in frame.columns:
        return
    k = table.columns.index(column)
    for row, flag in zip(table.rows, frame["too_few_to_estimate"], strict=True):
        if str(flag) == "True" and row[k] != SUPPRESSED:
            row[k] = TOO_FEW


def _touchups(released: Released, clinic: str | None) -> PageSection | None:
    by_clinic = released.get("complications/touchup_rates_by_clinic", PROVIDER_COUNTS)
    if by_clinic is None:
        return None
    cols = [
        Column("Treatments", "n_treatments", "count"),
        Column("Touch-ups", "n_touchups", "count"),
        RATE,
        PEERS,
        VS_PEERS,
        STATUS,
    ]
    tables = []
    if clinic is None:
        regions = released.get("complications/touchup_rates_by_region", PROVIDER_COUNTS)
        if regions is not None:
            tables.append(
                reader_table(
                    "touchups-by-region",
                    regions,
                    [
                        Column("Region", "region"),
                        Column("Treatments", "n_treatments", "count"),
                        Column("Touch-ups", "n_touchups", "count"),
                        RATE,
                    ],
                    caption="Touch-up rate by region",
                    source="complications/touchup_rates_by_region.csv",
                    key=["region"],
                )
            )
        tables.append(
            reader_table(
                "touchups-by-clinic",
                _status(by_clinic),
                [Column("Clinic", "clinic", "code"), *cols],
                caption="Touch-up rate by clinic, against peers",
                source="complications/touchup_rates_by_clinic.csv",
                key=["clinic"],
            )
        )
    else:
        mine = _status(by_clinic.loc[by_clinic["clinic"].astype(str) == clinic])
        tables.append(
            reader_table(
                "touchups",
                mine.assign(who="This clinic"),
                [Column("", "who", "code"), *cols],
                caption="This clinic's touch-up rate, against peers",
                source="complications/touchup_rates_by_clinic.csv",
                key=["who"],
            )
        )
        injectors = released.get("complications/touchup_rates_by_injector", PROVIDER_COUNTS)
        if injectors is not None and "clinic" in injectors.columns:
            tables.append(
                reader_table(
                    "touchups-by-injector",
                    _status(injectors.loc[injectors["clinic"].astype(str) == clinic]),
                    [Column("Injector", "injector", "code"), *cols],
                    caption="Touch-up rate by injector of this clinic, against peers",
                    source="complications/touchup_rates_by_injector.csv",
                    key=["injector"],
                )
            )
    text = (
        "Share of treatments adjusted by a touch-up within the touch-up window (model-based, "
        "95% credible interval). No touch-up rate has been published: providers are compared "
        "with their peers only."
    )
    return PageSection("touchups", "Touch-ups", text, tables)


#: complication types charted per page: every flagged one, then the most frequent
MAX_CHARTED_OUTCOMES = 4


def _chart_outcomes(rows: pd.DataFrame, at_most: int) -> list[tuple[str, pd.DataFrame]]:
    """(type, rows) for every type with a flagged provider, then the types with the most
    events, up to ``at_most`` types in all (the table lists every type)."""
    events = pd.to_numeric(rows["n_events"], errors="coerce").fillna(0)
    total = events.groupby(rows["complication"]).sum().sort_values(ascending=False, kind="stable")
    flagged = set(rows.loc[rows["flagged"].astype(str) == "True", "complication"])
    order = [c for c in total.index if c in flagged]
    order += [c for c in total.index if c not in flagged][: max(0, at_most - len(order))]
    return [(c, rows.loc[rows["complication"] == c]) for c in order]


def _caterpillars(table: pd.DataFrame, level: str, kind: str, m: float) -> list[str]:
    """One chart per outcome: ratio to peers (the flag's reference) and, where the benchmark
    is fully published, ratio to the benchmark."""
    charts = []
    usable = table.loc[
        table.get("model_structure", pd.Series("hierarchical", index=table.index)).astype(str)
        == "hierarchical"
    ]
    groups = (
        [("touch-ups", usable)]
        if kind == "touchup"
        else _chart_outcomes(usable, MAX_CHARTED_OUTCOMES)
    )
    for outcome, rows in groups:
        name = str(outcome).replace("_", " ")
        peers = [
            Interval(
                str(r[level]),
                _num(r["rate_ratio_vs_peers_mean"]),
                _num(r["rate_ratio_vs_peers_lower"]),
                _num(r["rate_ratio_vs_peers_upper"]),
                "peers" in str(r.get("flag_reason") or ""),
            )
            for _, r in rows.iterrows()
        ]
        charts.append(
            caterpillar_svg(
                peers,
                title=f"{level.capitalize()}s: {name}, against peers",
                reference_label="peers",
                multiplier=m,
            )
        )
        if kind == "touchup" or "benchmark_published_share" not in rows.columns:
            continue
        published = rows.loc[rows["benchmark_published_share"].astype(str).isin(["1", "1.0"])]
        bench = [
            Interval(
                str(r[level]),
                _num(r["rate_ratio_mean"]),
                _num(r["rate_ratio_lower"]),
                _num(r["rate_ratio_upper"]),
                "benchmark" in str(r.get("flag_reason") or ""),
            )
            for _, r in published.iterrows()
        ]
        charts.append(
            caterpillar_svg(
                bench,
                title=f"{level.capitalize()}s: {name}, against the published benchmark",
                reference_label="benchmark",
                multiplier=m,
            )
        )
    return [c for c in charts if c]


def _num(value) -> float:
    if is_suppressed(value) or value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _providers(released: Released, clinic: str | None) -> PageSection | None:
    level = "clinic" if clinic is None else "injector"
    table = released.get(f"complications/complication_rates_by_{level}", PROVIDER_COUNTS)
    if table is None or (level == "injector" and "clinic" not in table.columns):
        return None
    m = multiplier_of(table)
    rows = table if clinic is None else table.loc[table["clinic"].astype(str) == clinic]
    rows = _status(rows)
    cols = [
        Column(level.capitalize(), level, "code"),
        Column("Complication", "complication"),
        Column("Treatments", "n_treatments", "count"),
        RATE,
        PEERS,
        VS_PEERS,
        STATUS,
    ]
    shown = reader_table(
        f"{level}s",
        rows,
        cols,
        caption=f"{level.capitalize()} complication rates against peers",
        source=f"complications/complication_rates_by_{level}.csv",
        key=[level, "complication"],
    )
    charts = _caterpillars(rows, level, "complication", m)
    touch = released.get(f"complications/touchup_rates_by_{level}", PROVIDER_COUNTS)
    if touch is not None and (clinic is None or "clinic" in touch.columns):
        touch_rows = touch if clinic is None else touch.loc[touch["clinic"].astype(str) == clinic]
        charts += _caterpillars(touch_rows, level, "touchup", m)
    who = "clinics of the network" if clinic is None else "injectors of this clinic"
    text = (
        f"Every {who}: shrunken rates (small volumes are pulled towards the average). The "
        f"plots draw the reference each flag uses: peers (1) and {m:g} times peers (dashed); "
        "where a benchmark is fully published, also the benchmark. Flagged providers are "
        f"vermillion diamonds. Plotted: every flagged complication, then the most frequent "
        f"ones (up to {MAX_CHARTED_OUTCOMES}), and touch-ups; the table lists every type."
    )
    title = "Clinics compared" if clinic is None else "Injectors of this clinic"
    return PageSection("providers", title, text, [shown], charts)


QUARTER = Column("Quarter", "quarter", "code")
RECENT_QUARTERS = (
    "Recent quarters have had less time to return: fewer of their treatments were re-treated "
    "before the data cut-off, in every clinic and the network alike, and their median time to "
    "re-treatment is censored (wide intervals or not reached)."
)
#: width of the trend charts' drawing (px before scaling): legible when a phone shrinks it
TREND_WIDTH = 420


def _values(frame: pd.DataFrame, column: str, scale: float = 1.0) -> list[float | None]:
    """A released column as chart values (suppressed or missing: None, not drawn)."""
    if column not in frame.columns:
        return [None] * len(frame)
    out = [scale * _num(v) for v in frame[column]]
    return [v if math.isfinite(v) else None for v in out]


def _network_line(values: list[float | None]) -> Series:
    """The network as the reference line of a clinic's trend chart (grey, dashed)."""
    return Series("Network", values, dashed=True, colour=GREY)


def _network_trends(network: pd.DataFrame, per_clinic: bool) -> PageSection:
    cols = [
        QUARTER,
        TREATMENTS,
        Column(
            "30-day complication, % (95% CI)",
            "complication_rate",
            "prop",
            "complication_rate_lower",
            "complication_rate_upper",
        ),
        RETREATED_PCT,
        RETREAT_DAYS,
    ]
    table = reader_table(
        "trends",
        network,
        cols,
        caption="By quarter of treatment, every clinic together",
        source="cohort/quarterly_trends.csv",
        key=["quarter"],
    )
    chart = trend_svg(
        [str(q) for q in network["quarter"]],
        [
            Series(
                "Network (band: 95% CI)",
                _values(network, "complication_rate", 100.0),
                lower=_values(network, "complication_rate_lower", 100.0),
                upper=_values(network, "complication_rate_upper", 100.0),
                marked=True,
            )
        ],
        title="Any complication within 30 days, by quarter (network)",
        y_label="% of treatments",
        width=TREND_WIDTH,
    )
    text = (
        "Every clinic together"
        + ("; each clinic's page shows its own quarters beside these. " if per_clinic else ". ")
        + RECENT_QUARTERS
    )
    return PageSection(
        "trends", "Quarterly trends (network)", text, [table], [chart] if chart else []
    )


def _clinic_trends(mine: pd.DataFrame, network: pd.DataFrame) -> PageSection:
    """This clinic's quarters beside the network's: two tables (complications, re-treatment)
    and two charts with the network as a dashed reference line."""
    net = network.rename(
        columns={"complication_rate": "network_complication_rate", "retreated_pct": "network_pct"}
    )
    frame = mine.merge(
        net[[c for c in ("quarter", "network_complication_rate", "network_pct") if c in net]],
        on="quarter",
        how="left",
    )
    source = "cohort/clinic_outcomes_by_quarter.csv, cohort/quarterly_trends.csv"
    tables = [
        reader_table(
            "complications-by-quarter",
            frame,
            [
                QUARTER,
                TREATMENTS,
                COMPLICATION_PCT,
                Column("Network, %", "network_complication_rate", "prop"),
            ],
            caption="Any complication within 30 days, by quarter of treatment",
            source=source,
            key=["quarter"],
        ),
        reader_table(
            "retreatment-by-quarter",
            frame,
            [QUARTER, TREATMENTS, RETREATED_PCT, Column("Network, %", "network_pct", "pct")],
            caption="Re-treated before the data cut-off, by quarter of treatment",
            source=source,
            key=["quarter"],
        ),
    ]
    quarters = [str(q) for q in network["quarter"]]
    aligned = pd.DataFrame({"quarter": quarters}).merge(
        mine.assign(quarter=mine["quarter"].astype(str)), on="quarter", how="left"
    )
    charts = [
        trend_svg(
            quarters,
            [
                Series(
                    "This clinic (band: 95% CI)",
                    _values(aligned, "complication_rate_pct"),
                    lower=_values(aligned, "complication_rate_pct_lower"),
                    upper=_values(aligned, "complication_rate_pct_upper"),
                    marked=True,
                ),
                _network_line(_values(network, "complication_rate", 100.0)),
            ],
            title="Any complication within 30 days, by quarter",
            y_label="% of treatments",
            width=TREND_WIDTH,
        ),
        trend_svg(
            quarters,
            [
                Series("This clinic", _values(aligned, "retreated_pct"), marked=True),
                _network_line(_values(network, "retreated_pct")),
            ],
            title="Re-treated before the data cut-off, by quarter",
            y_label="% of treatments",
            width=TREND_WIDTH,
        ),
    ]
    text = (
        "This clinic by calendar quarter of treatment, beside the network (dashed grey line). "
        "Complications: any type within 30 days, with a 95% patient-clustered Wilson interval "
        "(the band; a patient's treatments are not independent); one quarter of a small clinic "
        "is noisy, so look for a run of quarters. Re-treated: the same region treated again "
        f"before the data cut-off. {RECENT_QUARTERS} Compare a recent quarter with the "
        "network's, not with earlier quarters. A quarter without treatments here has no row; "
        "a suppressed count withholds its row's percentages, which are not drawn."
    )
    return PageSection(
        "trends",
        "Quarterly trends: this clinic and the network",
        text,
        tables,
        [c for c in charts if c],
    )


def _trends(released: Released, clinic: str | None) -> PageSection | None:
    network = released.get("cohort/quarterly_trends", OUTCOME_COUNTS)
    if network is None:
        return None
    per = released.get("cohort/clinic_outcomes_by_quarter", OUTCOME_COUNTS)
    if clinic is None or per is None:
        return _network_trends(network, per_clinic=per is not None)
    return _clinic_trends(per.loc[per["clinic"].astype(str) == clinic], network)


# ------------------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------------------
def build_page(released: Released, clinic: str | None) -> OutcomePage:
    """The page of ``clinic`` (a pseudonymous code), or of the network if None."""
    summary, tiles = _summary(released, clinic)
    sections: list[PageSection | None] = [
        summary,
        _complications_by_type(released, clinic),
        _by_region(released, clinic),
        _severity(released, clinic),
        _duration(released, clinic),
        _touchups(released, clinic),
        _providers(released, clinic),
        _trends(released, clinic),
    ]
    code = clinic or NETWORK
    return OutcomePage(
        code=code,
        title="Network: all clinics" if clinic is None else f"Clinic {clinic}",
        filename=page_filename(code),
        review=review_items(released, clinic),
        tiles=tiles,
        sections=[s for s in sections if s is not None],
    )


def clinic_codes(released: Released) -> list[str]:
    """Clinics with a released outcome row, in code order."""
    table = released.require("cohort/clinic_outcomes", OUTCOME_COUNTS)
    return sorted(str(c) for c in table["clinic"])


def build_pages(released: Released) -> list[OutcomePage]:
    """The network page, then one page per clinic."""
    return [build_page(released, None), *(build_page(released, c) for c in clinic_codes(released))]
