"""Session fixtures of the app's tests: the small cohort, prepared and written to disk with its
private staff lookup, a small fitted advice model saved as `fit-advice` saves it, provider
tables in the complications stage's format, and the app built over them.

The advice model is the session's one small fit (tests/conftest.py `advice_fit`, shared with
tests/advice: the real code path with short chains; the app's tests check what it does with a
model, not the model). The
provider tables are computed from the cohort's own 30-day complication flags (observed counts,
a beta-binomial smoothed rate, a flag for the providers whose rate clearly exceeds their
peers'), so that codes, counts and names are real; the complication model itself is tested in
tests/complications.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.config import with_overrides

#: Today's date in the app under test (fixed: booking dates are then reproducible).
TODAY = dt.date(2026, 12, 1)
FLAG_TYPES = ("eyelid_ptosis", "headache")


@pytest.fixture(scope="session")
def today() -> dt.date:
    return TODAY


@pytest.fixture(scope="session")
def serve_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="session")
def processed_dir(small_prepared, small_params, serve_dir) -> Path:
    from analysis.data.prepare import write_prepared, write_staff_codes
    from analysis.vocabulary import Vocabulary

    out = serve_dir / "processed"
    write_prepared(small_prepared, out, Vocabulary.from_params(small_params))
    write_staff_codes(small_prepared, serve_dir / "private")
    return out


@pytest.fixture(scope="session")
def models_dir(advice_fit, serve_dir) -> Path:
    """The session's small advice fit (tests/conftest.py), saved as `fit-advice` saves it."""
    from analysis.advice.store import save_model

    out = serve_dir / "models"
    save_model(advice_fit, out)
    return out


def provider_rates(episodes: pd.DataFrame, level: str) -> pd.DataFrame:
    """Provider table with the complications stage's columns, from observed 30-day flags.

    ``rate_*``: Beta(1 + events, 1 + non-events) posterior (a stand-in for the model's);
    ``peer_rate_mean``: the rate of all other providers; flagged when P(rate > 1.5 x peers)
    > 0.9 with at least 30 treatments.
    """
    rows = []
    for ctype in FLAG_TYPES:
        flag = episodes[f"c30_{ctype}"].astype(bool)
        for code, grp in episodes.groupby(level):
            n, k = len(grp), int(flag[grp.index].sum())
            others = ~episodes.index.isin(grp.index)
            peer = float(flag[others].mean())
            post = stats.beta(1 + k, 1 + n - k)
            ratio_draws = post.rvs(4000, random_state=np.random.default_rng(len(rows))) / peer
            p_peers = float((ratio_draws > 1.5).mean())
            judged = n >= 30
            rows.append(
                {
                    "complication": ctype,
                    level: code,
                    "n_treatments": n,
                    "n_events": k,
                    "benchmark_rate": 0.03,
                    "observed_rate": k / n,
                    "rate_mean": post.mean(),
                    "rate_median": post.median(),
                    "rate_lower": post.ppf(0.025),
                    "rate_upper": post.ppf(0.975),
                    "rate_upper_one_sided_95": post.ppf(0.95),
                    "rate_ratio_mean": post.mean() / 0.03,
                    "rate_ratio_lower": post.ppf(0.025) / 0.03,
                    "rate_ratio_upper": post.ppf(0.975) / 0.03,
                    "p_above_benchmark": float(post.sf(0.03)),
                    "p_above_1.5x_benchmark": float(post.sf(0.045)),
                    "benchmark_published_share": 0.5,
                    "peer_rate_mean": peer,
                    "rate_ratio_vs_peers_mean": float(ratio_draws.mean()),
                    "rate_ratio_vs_peers_lower": float(np.quantile(ratio_draws, 0.025)),
                    "rate_ratio_vs_peers_upper": float(np.quantile(ratio_draws, 0.975)),
                    "p_above_1.5x_peers": p_peers,
                    "too_few_to_judge": not judged,
                    "rank_by_rate": 0,
                    "flagged": judged and p_peers > 0.9,
                    "flag_reason": "> 1.5x peers" if judged and p_peers > 0.9 else "",
                    "model_structure": "hierarchical",
                    "prior_set": "informative",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def rates_dir(small_episodes, serve_dir) -> Path:
    out = serve_dir / "complications"
    out.mkdir()
    episodes = small_episodes.reset_index(drop=True)
    injectors = provider_rates(episodes, "injector")
    # one injector certainly flagged: the busiest one's ptosis events tripled (known truth)
    busiest = episodes["injector"].value_counts().index[0]
    hit = (injectors["injector"] == busiest) & (injectors["complication"] == FLAG_TYPES[0])
    injectors.loc[hit, ["flagged", "flag_reason", "p_above_1.5x_peers"]] = [
        True,
        "> 1.5x peers",
        0.99,
    ]
    injectors.to_parquet(out / "complication_rates_by_injector.parquet")
    provider_rates(episodes, "clinic").to_parquet(out / "complication_rates_by_clinic.parquet")
    return out


@pytest.fixture(scope="session")
def serve_params(params, processed_dir, models_dir, rates_dir, serve_dir) -> dict:
    return with_overrides(
        params,
        {
            "serve.paths.models": str(models_dir),
            "serve.paths.episodes": str(processed_dir / "episodes.parquet"),
            "serve.paths.staff_codes": str(serve_dir / "private" / "staff_codes.csv"),
            "serve.paths.injector_rates": str(rates_dir / "complication_rates_by_injector.parquet"),
            "serve.paths.clinic_rates": str(rates_dir / "complication_rates_by_clinic.parquet"),
            "serve.my_patients.bootstrap_replicates": 50,
        },
    )


@pytest.fixture(scope="session")
def serve_settings(serve_params):
    from analysis.serve.config import ServeSettings

    return ServeSettings.from_params(serve_params)


@pytest.fixture(scope="session")
def sources(serve_settings, pseudonym_key):
    from analysis.serve.sources import load_sources

    return load_sources(serve_settings, key=pseudonym_key)


@pytest.fixture(scope="session")
def app(sources):
    from analysis.serve.app import create_app

    return create_app(sources, today=lambda: TODAY)


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def raw_patients(small_raw_dir) -> pd.DataFrame:
    """The simulator's raw patient export (clinic identifiers, before pseudonymisation)."""
    path = next(small_raw_dir.glob("patients.*"))
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)


@pytest.fixture(scope="session")
def known_patient(raw_patients, small_episodes, pseudonym_key) -> dict:
    """A raw id whose patient has >= 3 usable glabella episodes, with what the records hold."""
    from analysis.data.pseudonym import pseudonymise

    ids = raw_patients["patient_id"].astype(str)
    keys = pseudonymise(ids, pseudonym_key, "patient")
    glabella = small_episodes[
        (small_episodes["region"] == "glabella") & small_episodes["in_duration_analysis"]
    ]
    counts = glabella.groupby("patient_key").size()
    # most informative history: several episodes, all with a finite upper bound (wore off)
    finite = glabella.groupby("patient_key")["dur_upper_days"].apply(lambda s: np.isfinite(s).sum())
    candidates = counts[(counts >= 3) & (finite >= 3)].index
    key = sorted(candidates)[0]
    raw = ids[keys == key].iloc[0]
    episodes = small_episodes[small_episodes["patient_key"] == key]
    return {
        "raw_id": raw,
        "key": key,
        "episodes": episodes,
        "glabella": glabella.loc[glabella["patient_key"] == key],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_url(app):
    """The app served by uvicorn on a free loopback port, in a thread of the test process."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
