"""`bonta serve`: the point-of-care desk, a local web app and API over the stored outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "start the point-of-care desk: injector and director pages and POST /api/advise"
DESCRIPTION = """\
Starts a local web application over the pipeline's stored outputs (params.yaml `serve`):
the injector desk (a patient's past episodes and personalised interval advice, booking dates,
planning for an event), "My patients" (observed against predicted durations by region), the
director desk (providers that need review, with names from the private lookup) and the API
POST /api/advise (schema at /openapi.json). The posterior is loaded once at start-up; nothing
is refitted or written.

  bonta serve                  # http://127.0.0.1:8017, this machine only
  bonta serve --host 0.0.0.0   # other machines too: needs the access token
                               # (BONTA_SERVE_TOKEN or .secrets/serve.token)

Stop it with Ctrl+C.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--host", default=None, help="bind address (default: serve.host)")
    parser.add_argument("--port", type=int, default=None, help="port (default: serve.port)")
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: serve.workers)"
    )


def run(args: argparse.Namespace) -> int:
    from analysis.serve.main import serve

    serve(args.params, args.host, args.port, args.workers)
    return 0
