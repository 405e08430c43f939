"""Latency and throughput of `bonta serve`'s POST /api/advise under a bounded load on loopback.

Starts the server (`python -m analysis.cli serve`, a temporary copy of params.yaml pointing at
``--models``), waits for /healthz, then for each worker count and each scenario sends
``--requests`` requests with ``--concurrency`` in flight (asyncio + httpx, one client process on
the same machine) and prints p50, p95, p99 latency, throughput and errors. Scenarios: no history
(population advice) and a ``--history``-episode history (personalised). Every request differs
(seeded random region, dose, bulk, exercise, sex, age, past durations), so nothing is served
from a cache. Goal (issue 17): p95 under 200 ms with a 3-episode history on 2 cores, no errors.

Baselines printed in the same run: `bonta advise` as a command (loads the posterior on every
call; the way to get advice before the app), and the advice function called in-process without
HTTP (the compute floor per request) at `bonta advise`'s precision (``advice.advice_draws`` x
``advice.quadrature_nodes``) and at the app's (``serve.advice_draws`` x
``serve.quadrature_nodes``), with the largest differences between the two answers.

Traffic goes to 127.0.0.1 only; the run is bounded by ``--requests`` and ``--max-seconds``.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_serve.py \
        [--models data/models/advice] [--requests 2000] [--concurrency 16] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--params", type=Path, default=REPO / "params.yaml")
    p.add_argument("--models", type=Path, default=None, help="default: serve.paths.models")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--history", type=int, default=3, help="past episodes per request")
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--max-seconds", type=float, default=600.0, help="stop a scenario after this")
    p.add_argument("--seed", type=int, default=20261124)
    return p.parse_args()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bodies(params: dict, n: int, n_history: int, seed: int) -> list[dict]:
    """``n`` different requests (the batch CSV's columns), each with ``n_history`` past episodes."""
    rng = np.random.default_rng(seed)
    regions = {r: float(v["reference_dose_units"]) for r, v in params["regions"].items()}
    names = sorted(regions)
    out = []
    for _ in range(n):
        region = names[rng.integers(len(names))]
        ref = regions[region]
        body = {
            "region": region,
            "product": "ona",
            "units": round(ref * float(rng.uniform(0.75, 1.5)), 1),
            "muscle_bulk": int(rng.integers(1, 5)),
            "exercise_met_h_week": round(float(rng.uniform(0, 40)), 1),
            "sex": "F" if rng.random() < 0.8 else "M",
            "age_years": round(float(rng.uniform(25, 70)), 1),
            "treatment_date": "2026-12-01",
        }
        history = []
        for j in range(n_history):
            lower = float(rng.uniform(60, 150))
            upper = lower + float(rng.uniform(14, 45)) if rng.random() < 0.8 else None
            history.append(
                {
                    "region": region,
                    "product": "ona",
                    "units": body["units"],
                    "treatment_date": f"{2023 + j}-03-01",
                    "lower_days": round(lower),
                    "upper_days": None if upper is None else round(upper),
                }
            )
        if history:
            body["history"] = history
        out.append(body)
    return out


async def _load(url: str, bodies: list[dict], concurrency: int, max_seconds: float):
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = list(reversed(bodies))
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue and time.perf_counter() < deadline:
            body = queue.pop()
            start = time.perf_counter()
            try:
                res = await client.post("/api/advise", json=body)
                if res.status_code != 200:
                    errors[f"HTTP {res.status_code}"] = errors.get(f"HTTP {res.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, errors, wall


def _start(params: dict, models: Path | None, workers: int, tmp: Path) -> tuple:
    port = _free_port()
    served = dict(params)
    served["serve"] = {**params["serve"], "port": port, "workers": workers}
    if models is not None:
        served["serve"]["paths"] = {**params["serve"]["paths"], "models": str(models)}
    path = tmp / f"params-{workers}.yaml"
    path.write_text(yaml.safe_dump(served, sort_keys=False))
    log = (tmp / f"server-{workers}.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "analysis.cli", "serve", "--params", str(path)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 180:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(tmp / f'server-{workers}.log').read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("server did not start within 180 s")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _row(name: str, latencies: list[float], errors: dict, wall: float, n: int) -> str:
    ms = np.asarray(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if ms.size else (np.nan,) * 3
    err = sum(errors.values())
    detail = f" {errors}" if errors else ""
    return (
        f"{name:<34} {len(latencies):>6}/{n:<6} {p50:8.1f} {p95:8.1f} {p99:8.1f} "
        f"{len(latencies) / wall:9.1f} {err:>6}{detail}"
    )


def _baselines(params_path: Path, models: Path | None, bodies: dict[str, list[dict]]) -> None:
    """`bonta advise` per call (posterior loaded each time) and the in-process advice function."""
    from analysis.advice.config import AdviceConfig
    from analysis.advice.requests import advise_quietly
    from analysis.advice.store import load_draws
    from analysis.config import load_params
    from analysis.serve.config import ServeSettings

    params = load_params(params_path)
    models = models or Path(params["serve"]["paths"]["models"])
    body = bodies["no history"][0]
    cmd = [sys.executable, "-m", "analysis.cli", "advise", "--params", str(params_path),
           "--models", str(models), "--region", body["region"], "--product", body["product"],
           "--units", str(body["units"]), "--muscle-bulk", str(body["muscle_bulk"]),
           "--exercise", str(body["exercise_met_h_week"]), "--sex", body["sex"],
           "--age", str(body["age_years"]), "--json"]  # fmt: skip
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(
        "baseline `bonta advise` command, one advice: median of 3 calls "
        f"{statistics.median(times):.2f} s"
    )
    cli = AdviceConfig.from_params(params)
    app = ServeSettings.from_params(params).advice
    configs = {"cli": cli, "app": app}
    draws = {k: load_draws(models, c.advice_draws) for k, c in configs.items()}
    for name, items in bodies.items():
        requests = [_request(item) for item in items[:100]]
        results = {}
        for key, config in configs.items():
            t0 = time.perf_counter()
            results[key] = [advise_quietly(r, draws[key], config) for r in requests]
            per = (time.perf_counter() - t0) / len(requests) * 1000
            print(
                f"baseline in-process advice, {name}, {config.advice_draws} draws x "
                f"{config.quadrature_nodes} nodes: {per:.1f} ms per request (no HTTP, 1 process)"
            )
        a, b = results["cli"], results["app"]
        d_med = max(abs(x.median_days - y.median_days) for x, y in zip(a, b, strict=True))
        d_book = max(
            abs(x.booking_start_days - y.booking_start_days) for x, y in zip(a, b, strict=True)
        )
        d_prob = max(
            float(np.abs(x.survival.prob_effect_holds - y.survival.prob_effect_holds).max())
            for x, y in zip(a, b, strict=True)
        )
        print(
            f"  app precision vs `bonta advise` precision ({name}, {len(requests)} requests): "
            f"max |d median| {d_med:.2f} d, max |d booking start| {d_book:.2f} d, "
            f"max |d P(holds)| {d_prob:.4f}"
        )


def _request(item: dict):
    """The API body as `bonta advise`'s batch reader turns it into a request."""
    from analysis.advice.requests import history_from_frame, requests_from_frame

    hist = {}
    if item.get("history"):
        frame = pd.DataFrame([{"patient_ref": "0", **h} for h in item["history"]])
        hist = history_from_frame(frame, "h")
    row = {k: v for k, v in item.items() if k != "history"} | {"patient_ref": "0"}
    (request,) = requests_from_frame(pd.DataFrame([row]), hist, "r")
    return request


def main() -> int:
    args = _args()
    params = yaml.safe_load(args.params.read_text())
    bodies = {
        "no history": _bodies(params, args.requests, 0, args.seed),
        f"{args.history}-episode history": _bodies(
            params, args.requests, args.history, args.seed + 1
        ),
    }
    print(
        f"bench_serve: {args.requests} requests per scenario, {args.concurrency} in flight, "
        f"loopback; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
    )
    _baselines(args.params, args.models, bodies)
    header = (
        f"{'server / scenario':<34} {'done/sent':>13} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>9} {'errors':>6}  {'server CPU ms/req':>17} {'client CPU ms/req':>17}"
    )
    cpu: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            proc, url, startup = _start(params, args.models, workers, Path(tmp))
            print(
                f"\nserver with {workers} worker(s): answered /healthz {startup:.1f} s after start"
            )
            print(header)
            try:
                for name, items in bodies.items():
                    asyncio.run(_load(url, items[:50], args.concurrency, 60))  # warm-up
                    server0, client0 = _cpu_seconds(proc.pid), _own_cpu_seconds()
                    lat, err, wall = asyncio.run(
                        _load(url, items, args.concurrency, args.max_seconds)
                    )
                    server_ms = 1000 * (_cpu_seconds(proc.pid) - server0) / max(len(lat), 1)
                    client_ms = 1000 * (_own_cpu_seconds() - client0) / max(len(lat), 1)
                    row = _row(f"{workers} worker(s), {name}", lat, err, wall, len(items))
                    print(f"{row}  {server_ms:17.1f} {client_ms:17.1f}")
                    cpu[(workers, name)] = server_ms
            finally:
                _stop(proc)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    print("server CPU time per request -> what 2 otherwise idle cores could sustain (2 / CPU):")
    for (workers, name), ms in cpu.items():
        print(f"  {workers} worker(s), {name}: {ms:.1f} ms CPU -> at most {2000 / ms:.0f} req/s")
    print(
        "goal: p95 < 200 ms with a 3-episode history, no errors "
        "(2 cores, the client on the same machine)"
    )
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the server process and its workers so far."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
