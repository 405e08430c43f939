"""`bonta serve` as a real server: start-up, the posterior loaded once, and logs without ids.

The log scan starts the command in a subprocess (two uvicorn workers, as params.yaml does), sends
a session of requests carrying raw patient ids in every place a careless client might put them
(form body, query string, JSON field), and searches everything the server printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from analysis.serve import sources as sources_module
from analysis.serve.app import create_app
from analysis.serve.sources import load_sources

API_ITEM = {
    "region": "glabella",
    "product": "ona",
    "units": 20,
    "muscle_bulk": 2,
    "exercise_met_h_week": 12,
    "sex": "F",
    "age_years": 45,
}
DESK = {
    "region": "glabella",
    "product": "ona",
    "units": "20",
    "muscle_bulk": "2",
    "exercise_met_h_week": "12",
}


def test_the_posterior_is_loaded_once_and_nothing_is_refitted(
    serve_settings, pseudonym_key, monkeypatch, known_patient
):
    calls = []
    real = sources_module.load_draws

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    def no_fit(*args, **kwargs):
        raise AssertionError("the app must not fit anything")

    monkeypatch.setattr(sources_module, "load_draws", counting)
    monkeypatch.setattr("analysis.advice.fit.fit_duration_models", no_fit)
    monkeypatch.setattr("analysis.advice.fit.fit_family", no_fit)
    from fastapi.testclient import TestClient

    app = create_app(load_sources(serve_settings, key=pseudonym_key))
    with TestClient(app) as client:
        for units in (10, 20, 30):
            assert client.post("/api/advise", json={**API_ITEM, "units": units}).status_code == 200
        res = client.post("/desk", data={**DESK, "patient_id": known_patient["raw_id"]})
        assert res.status_code == 200
    assert len(calls) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_log(serve_params, tmp_path_factory, pseudonym_key, raw_patients, known_patient):
    """Run `bonta serve` (2 workers), send requests with raw ids, stop it; its whole output."""
    port = _free_port()
    params = dict(serve_params)
    params["serve"] = {**params["serve"], "port": port, "workers": 2}
    path = tmp_path_factory.mktemp("served") / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "BONTA_PSEUDONYM_KEY": pseudonym_key.decode()}
    env.pop("BONTA_SERVE_TOKEN", None)
    log = path.parent / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analysis.cli", "serve", "--params", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url, proc, log)
        ids = [known_patient["raw_id"], *raw_patients["patient_id"].astype(str).iloc[:4]]
        with httpx.Client(base_url=url, timeout=60) as client:
            for raw in ids:
                assert client.post("/desk", data={**DESK, "patient_id": raw}).status_code == 200
                bad = client.post("/desk", data={**DESK, "units": "x", "patient_id": raw})
                assert bad.status_code == 422
                assert client.get("/desk", params={"patient_id": raw}).status_code == 200
                res = client.post("/api/advise", json={**API_ITEM, "patient_id": raw})
                assert res.status_code == 422
                res = client.post(
                    "/api/advise", content=raw.encode(), headers={"Content-Type": "text/plain"}
                )
                assert res.status_code == 422
            assert client.get("/my-patients", params={"injector": "I-000000"}).status_code == 404
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return log.read_text(), ids


def _wait(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bonta serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"bonta serve did not answer in 120 s: {log.read_text()}")


def test_the_log_holds_no_raw_id(server_log):
    text, ids = server_log
    assert [raw for raw in ids if raw in text] == []


def test_the_log_records_each_request_without_query_or_body(server_log):
    text, ids = server_log
    assert text.count("POST /desk 200") == len(ids)
    assert text.count("POST /desk 422") == len(ids)
    assert text.count("GET /desk 200") == len(ids)  # the query string is not logged
    assert "patient_id" not in text
    assert "loopback only" in text and "2 worker(s)" in text


def test_two_workers_each_load_the_model_once(server_log):
    text, _ = server_log
    assert text.count("Started server process") == 2
