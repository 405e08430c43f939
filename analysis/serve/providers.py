"""Director desk: the needs-review list and one provider's complication rates, with names.

The complications stage flags a clinic or injector for a complication type when, with enough
treatments to judge, the model puts more than ``complications.flag_probability`` on its rate
exceeding ``complications.benchmark_multiplier`` times its peers' (or a published benchmark).
This module reads its provider tables (paths in ``serve.paths``) and resolves the pseudonymous
codes to names from the private lookup ``staff_codes.csv``: the one place in the project where
names appear. Counts follow the report's small-count rule (``disclosure.min_count``): an event
count of 1-4 is shown as ``<5`` and the observed rate computed from it is withheld.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from analysis.disclosure import format_count, is_small_count
from analysis.serve.sources import PROVIDER_KINDS, ServeSources

_P_PEERS = re.compile(r"^p_above_(.+)x_peers$")
_P_BENCH = re.compile(r"^p_above_(.+)x_benchmark$")


@dataclass(frozen=True)
class ReviewItem:
    """One flagged provider of the needs-review list."""

    kind: str
    code: str
    name: str
    complications: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RateRow:
    """One complication type of a provider, ready to show."""

    complication: str
    treatments: str
    events: str
    observed_rate: str
    rate: str
    benchmark: str
    peers: str
    ratio_vs_peers: str
    p_above_peers: str
    p_above_benchmark: str
    flagged: bool
    status: str


@dataclass(frozen=True)
class ProviderDetail:
    """A provider's drill-down page."""

    kind: str
    code: str
    name: str
    rows: tuple[RateRow, ...]
    total_treatments: int
    multiplier: str


def staff_name(sources: ServeSources, code: str) -> str:
    """The provider's name from the private lookup, or a plain note when it is not there."""
    return sources.staff_names.get(code, "name not in the private lookup")


def needs_review(sources: ServeSources) -> list[ReviewItem]:
    """Flagged providers (injectors first, then clinics), with names and the reasons in words."""
    items = []
    for kind in PROVIDER_KINDS:
        table = sources.provider_rates.get(kind)
        if table is None:
            continue
        flagged = table[table["flagged"].astype(bool)]
        for code, rows in flagged.groupby("code", sort=True):
            items.append(
                ReviewItem(
                    kind=kind,
                    code=str(code),
                    name=staff_name(sources, str(code)),
                    complications=tuple(rows["complication"].astype(str)),
                    reasons=tuple(_reason_words(r, rows.columns) for _, r in rows.iterrows()),
                )
            )
    return items


def provider_detail(sources: ServeSources, kind: str, code: str) -> ProviderDetail | None:
    """Every complication row of one provider; ``None`` if the code is not in the table."""
    table = sources.provider_rates.get(kind)
    if table is None:
        return None
    rows = table[table["code"] == code]
    if rows.empty:
        return None
    min_count = sources.settings.min_count
    peers_col, bench_col = _p_columns(rows.columns)
    multiplier = _P_PEERS.match(peers_col).group(1) if peers_col else "?"  # type: ignore[union-attr]
    shown = []
    for _, r in rows.sort_values(["flagged", "rate_mean"], ascending=False).iterrows():
        small = is_small_count(r["n_events"], min_count)
        shown.append(
            RateRow(
                complication=str(r["complication"]).replace("_", " "),
                treatments=format_count(int(r["n_treatments"]), min_count),
                events=format_count(int(r["n_events"]), min_count),
                observed_rate="withheld" if small else _pct(r["observed_rate"]),
                rate=f"{_pct(r['rate_mean'])} ({_pct(r['rate_lower'])}-{_pct(r['rate_upper'])})",
                benchmark=_pct(r["benchmark_rate"]),
                peers=_pct(r["peer_rate_mean"]),
                ratio_vs_peers=(
                    f"{r['rate_ratio_vs_peers_mean']:.2f} ({r['rate_ratio_vs_peers_lower']:.2f}-"
                    f"{r['rate_ratio_vs_peers_upper']:.2f})"
                ),
                p_above_peers=_prob(r[peers_col]) if peers_col else "",
                p_above_benchmark=_prob(r[bench_col]) if bench_col else "",
                flagged=bool(r["flagged"]),
                status=_status(r, rows.columns),
            )
        )
    per_type = rows.groupby("complication")["n_treatments"].max()
    return ProviderDetail(
        kind=kind,
        code=code,
        name=staff_name(sources, code),
        rows=tuple(shown),
        total_treatments=int(per_type.max()),
        multiplier=multiplier,
    )


def _p_columns(columns) -> tuple[str | None, str | None]:
    peers = next((c for c in columns if _P_PEERS.match(str(c))), None)
    bench = next((c for c in columns if _P_BENCH.match(str(c))), None)
    return peers, bench


def _status(row: pd.Series, columns) -> str:
    if bool(row["flagged"]):
        return "needs review: " + _reason_words(row, columns)
    if bool(row["too_few_to_judge"]):
        return "too few treatments to judge"
    return "not flagged"


def _reason_words(row: pd.Series, columns) -> str:
    """``flag_reason`` in words, with the probabilities and ratio behind it."""
    peers_col, bench_col = _p_columns(columns)
    reason = str(row.get("flag_reason") or "")
    kind = str(row["complication"]).replace("_", " ")
    parts = []
    if "peers" in reason and peers_col:
        m = _P_PEERS.match(peers_col).group(1)  # type: ignore[union-attr]
        parts.append(
            f"its {kind} rate is probably more than {m} times its peers' "
            f"(probability {_prob(row[peers_col])}; estimated {row['rate_ratio_vs_peers_mean']:.1f}"
            f" times, 95% interval {row['rate_ratio_vs_peers_lower']:.1f}-"
            f"{row['rate_ratio_vs_peers_upper']:.1f})"
        )
    if "benchmark" in reason and bench_col:
        m = _P_BENCH.match(bench_col).group(1)  # type: ignore[union-attr]
        parts.append(
            f"its {kind} rate is probably more than {m} times the published benchmark of "
            f"{_pct(row['benchmark_rate'])} (probability {_prob(row[bench_col])})"
        )
    return "; and ".join(parts) if parts else reason


def _pct(value) -> str:
    return "" if pd.isna(value) else f"{100 * float(value):.1f}%"


def _prob(value) -> str:
    return "" if pd.isna(value) else f"{100 * float(value):.0f}%"
