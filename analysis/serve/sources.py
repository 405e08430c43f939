"""What the app loads once, at start-up: the posterior, the processed episodes, the provider
tables, the private staff lookup and the pseudonymisation key.

Only the advice model is required (`bonta serve` stops with the advice store's message when it
is missing). Any other source may be absent, e.g. on a machine that serves only the booking
API: the page that needs it then says what is missing and which stage writes it. Nothing here
writes a file; in particular a missing pseudonymisation key is not created (a new key could
never match the processed data).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.advice.predict import PosteriorDraws
from analysis.advice.store import load_draws
from analysis.data.processed import read_data_cutoff, read_episodes
from analysis.data.pseudonym import DEFAULT_KEY_FILE, load_key
from analysis.serve.config import ServeSettings

#: Environment variable and file of the pseudonymisation key (those `prepare` uses).
KEY_ENV = "BONTA_PSEUDONYM_KEY"

#: Columns of a provider table the director desk shows (complications stage contract).
RATE_COLUMNS: tuple[str, ...] = (
    "complication",
    "n_treatments",
    "n_events",
    "benchmark_rate",
    "observed_rate",
    "rate_mean",
    "rate_lower",
    "rate_upper",
    "peer_rate_mean",
    "rate_ratio_vs_peers_mean",
    "rate_ratio_vs_peers_lower",
    "rate_ratio_vs_peers_upper",
    "p_above_1.5x_benchmark",
    "p_above_1.5x_peers",
    "benchmark_published_share",
    "too_few_to_judge",
    "flagged",
    "flag_reason",
)
PROVIDER_KINDS: tuple[str, ...] = ("injector", "clinic")


@dataclass(frozen=True)
class ServeSources:
    """Everything the app answers from, loaded once (no request reads a file).

    ``patient_rows`` maps a ``patient_key`` to the row positions of its episodes in
    ``episodes`` (sorted by treatment date). ``missing`` holds one sentence per source that
    could not be loaded, for the pages that need it.
    """

    settings: ServeSettings
    draws: PosteriorDraws
    episodes: pd.DataFrame | None
    data_cutoff: str | None
    patient_rows: dict[str, np.ndarray]
    key: bytes | None
    staff_names: dict[str, str]
    provider_rates: dict[str, pd.DataFrame]
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def injectors(self) -> list[str]:
        """Pseudonymous injector codes of the processed episodes, sorted."""
        if self.episodes is None:
            return []
        return sorted(self.episodes["injector"].dropna().astype(str).unique())


def load_sources(settings: ServeSettings, key: bytes | None = None) -> ServeSources:
    """Load every source named in ``settings.serve.paths`` (see the module docstring).

    Parameters
    ----------
    settings
        The app's configuration.
    key
        Pseudonymisation key; by default the one `prepare` uses (environment
        ``BONTA_PSEUDONYM_KEY`` or ``.secrets/pseudonym.key``), if it exists.
    """
    paths = settings.serve.paths
    missing: dict[str, str] = {}
    draws = load_draws(paths.models, settings.advice.advice_draws)
    episodes, cutoff, rows = _episodes(Path(paths.episodes), missing)
    if key is None:
        key = _existing_key(missing)
    return ServeSources(
        settings=settings,
        draws=draws,
        episodes=episodes,
        data_cutoff=cutoff,
        patient_rows=rows,
        key=key,
        staff_names=_staff_names(Path(paths.staff_codes), missing),
        provider_rates=_provider_rates(settings, missing),
        missing=missing,
    )


def _episodes(
    path: Path, missing: dict[str, str]
) -> tuple[pd.DataFrame | None, str | None, dict[str, np.ndarray]]:
    if not path.is_file():
        missing["episodes"] = (
            f"{path} does not exist (written by `bonta prepare`): patients cannot be looked up"
        )
        return None, None, {}
    episodes = read_episodes(path)
    episodes = episodes.sort_values(["treatment_date", "episode_key"], kind="stable")
    episodes = episodes.reset_index(drop=True)
    groups = episodes.groupby("patient_key", sort=False).indices
    rows = {str(k): np.asarray(v) for k, v in groups.items()}
    try:
        cutoff: str | None = f"{read_data_cutoff(path.parent):%Y-%m-%d}"
    except Exception:  # noqa: BLE001 (optional: older processed directories have no cut-off)
        cutoff = None
    return episodes, cutoff, rows


def _existing_key(missing: dict[str, str]) -> bytes | None:
    if os.environ.get(KEY_ENV) is None and not DEFAULT_KEY_FILE.is_file():
        missing["key"] = (
            f"no pseudonymisation key ({KEY_ENV} or {DEFAULT_KEY_FILE}): patient ids cannot be "
            "matched to the processed data"
        )
        return None
    return load_key(KEY_ENV, DEFAULT_KEY_FILE)


def _staff_names(path: Path, missing: dict[str, str]) -> dict[str, str]:
    if not path.is_file():
        missing["staff"] = f"{path} does not exist (written by `bonta prepare`): names unknown"
        return {}
    table = pd.read_csv(path, dtype=str)
    return dict(zip(table["code"], table["label"], strict=True))


def _provider_rates(settings: ServeSettings, missing: dict[str, str]) -> dict[str, pd.DataFrame]:
    out = {}
    for kind in PROVIDER_KINDS:
        path = settings.serve.paths.rates(kind)
        if not path.is_file():
            missing[f"rates_{kind}"] = (
                f"{path} does not exist (written by `bonta fit-complications`)"
            )
            continue
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        absent = [c for c in (kind, *RATE_COLUMNS) if c not in table.columns]
        if absent:
            missing[f"rates_{kind}"] = f"{path}: column(s) {', '.join(absent)} missing"
            continue
        out[kind] = table.rename(columns={kind: "code"})
    return out
