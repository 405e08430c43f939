"""Running the app under uvicorn: settings from params.yaml, logging that never shows a body.

`bonta serve` (:mod:`analysis.stages.serve`) calls :func:`serve`. With one worker the app is
built in this process; with more, uvicorn imports :func:`app_from_environment` in each worker
process (the settings travel in environment variables), so every worker loads the posterior
once, at its start.

Logging: uvicorn's own access log is off (it would print the request line, query string
included); the app logs method, path, status and time per request (``bonta.serve``). No log
line contains a form body, a query string or a patient id.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from analysis.config import load_params
from analysis.serve.app import create_app
from analysis.serve.config import ServeSettings
from analysis.serve.security import is_loopback, required_token
from analysis.serve.sources import load_sources

ENV_PARAMS = "BONTA_SERVE_PARAMS"
ENV_HOST = "BONTA_SERVE_HOST"
ENV_PORT = "BONTA_SERVE_PORT"

LOG_CONFIG: dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "bonta.serve": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def settings_for(params_path: Path, host: str | None, port: int | None, workers: int | None):
    """Settings from ``params_path`` with the command line's host, port and workers."""
    settings = ServeSettings.from_params(load_params(params_path))
    serve = settings.serve
    serve = replace(
        serve,
        host=host or serve.host,
        port=port or serve.port,
        workers=workers or serve.workers,
    )
    return replace(settings, serve=serve)


def build_app(settings: ServeSettings) -> FastAPI:
    """Token check, sources loaded once, the app."""
    token = required_token(settings.serve.host, settings.serve.token_env, settings.serve.token_file)
    return create_app(load_sources(settings), token=token)


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each worker process (see the module docstring)."""
    settings = settings_for(
        Path(os.environ[ENV_PARAMS]),
        os.environ.get(ENV_HOST),
        int(os.environ[ENV_PORT]) if os.environ.get(ENV_PORT) else None,
        None,
    )
    return build_app(settings)


def serve(params_path: Path, host: str | None, port: int | None, workers: int | None) -> None:
    """Start the server (blocks until interrupted)."""
    import uvicorn

    settings = settings_for(params_path, host, port, workers)
    s = settings.serve
    start = time.perf_counter()
    app = build_app(settings)  # with several workers: checks every source before forking
    sources = app.state.sources
    where = "loopback only" if is_loopback(s.host) else "access token required"
    print(
        f"bonta serve: http://{s.host}:{s.port} ({where}); {sources.draws.family} model, "
        f"{sources.draws.n_draws} draws loaded in {time.perf_counter() - start:.1f} s; "
        f"{s.workers} worker(s)",
        file=sys.stderr,
    )
    for text in sources.missing.values():
        print(f"bonta serve: note: {text}", file=sys.stderr)
    common = dict(
        host=s.host,
        port=s.port,
        log_config=LOG_CONFIG,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    if s.workers == 1:
        uvicorn.run(app, **common)
        return
    del app, sources
    os.environ[ENV_PARAMS] = str(Path(params_path).resolve())
    os.environ[ENV_HOST] = s.host
    os.environ[ENV_PORT] = str(s.port)
    uvicorn.run(
        "analysis.serve.main:app_from_environment", factory=True, workers=s.workers, **common
    )
