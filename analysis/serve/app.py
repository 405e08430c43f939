"""The web application: :func:`create_app` builds it around sources loaded once.

Pages (server-rendered Jinja2, no JavaScript): ``/`` (start), ``/desk`` (injector desk, POST
form), ``/my-patients`` (an injector's observed against predicted durations), ``/director``
and ``/director/{kind}/{code}`` (needs-review list and drill-down, with names), ``/healthz``;
the API ``POST /api/advise`` with its schema at ``/openapi.json`` (no interactive docs: they
would load scripts from the internet).

Privacy: the patient id travels only in the desk's POST body; it is pseudonymised and dropped
while the form is parsed (:mod:`analysis.serve.forms`). The app's own access log
(:class:`AccessLog`) records method, path (never the query string), status and
time; pages are sent with ``Cache-Control: no-store`` so a browser keeps no copy.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from analysis.serve import api
from analysis.serve.calibration import InjectorCalibration, injector_calibration
from analysis.serve.config import ServeSettings
from analysis.serve.desk import consult
from analysis.serve.forms import (
    ID_FIELD,
    LABELS,
    MANUAL_ROWS,
    FieldError,
    FormError,
    parse_desk_form,
    parse_urlencoded,
)
from analysis.serve.providers import needs_review, provider_detail
from analysis.serve.security import TokenGuard
from analysis.serve.sources import PROVIDER_KINDS, ServeSources

HERE = Path(__file__).parent
LOG = logging.getLogger("bonta.serve")

#: Headers of every answer (no caching of pages that may show health data; no framing).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def create_app(
    sources: ServeSources,
    token: str | None = None,
    today: Callable[[], dt.date] = dt.date.today,
) -> FastAPI:
    """The app over ``sources`` (loaded once by the caller; no request reads a file).

    Parameters
    ----------
    sources
        :func:`analysis.serve.sources.load_sources`.
    token
        Access token every request must carry (``None``: none needed, loopback binding).
    today
        Today's date (tests fix it).
    """
    app = FastAPI(
        title="bonta serve",
        version="1",
        description=(
            "Re-treatment interval advice from the study's stored duration model (intervals, "
            "not units). POST /api/advise takes `bonta advise`'s batch columns as JSON."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.sources = sources
    app.state.today = today
    app.state.calibrations = {}
    app.state.calibration_lock = threading.Lock()
    app.state.templates = _templates()
    app.include_router(api.router)
    app.add_exception_handler(RequestValidationError, api.validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _pages(app)
    if token is not None:
        app.add_middleware(TokenGuard, token=token)
    app.add_middleware(AccessLog)  # outermost: refused requests are logged too
    return app


class AccessLog:
    """ASGI middleware: security headers on every answer, and one log line per request
    (method, path without the query string, status, milliseconds). Never a body."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            LOG.info(
                "%s %s %d %.0f ms",
                scope["method"],
                scope["path"],
                status,
                1000 * (time.perf_counter() - start),
            )


def _internal_error(request: Request, exc: Exception) -> Response:
    # the exception's type only: a message could quote input
    LOG.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(status_code=500, content={"detail": "internal error (see the server log)"})


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["days"] = lambda v: "" if v is None else f"{v:.0f}"
    env.filters["weeks"] = lambda v: "" if v is None else f"{v / 7:.1f}"
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * v:.0f}%"
    env.filters["date"] = lambda v: "" if v is None else v.strftime("%a %d %b %Y")
    env.filters["zip_pairs"] = lambda codes: [(c, c.replace("_", " ")) for c in codes]
    env.globals["timedelta"] = dt.timedelta
    return env


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    sources: ServeSources = request.app.state.sources
    template = request.app.state.templates.get_template(name)
    html = template.render(
        sources=sources,
        settings=sources.settings,
        spec=sources.draws.spec,
        labels=LABELS,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return _render(request, "home.html.j2")

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> dict:
        sources: ServeSources = request.app.state.sources
        return {"status": "ok", "family": sources.draws.family, "draws": sources.draws.n_draws}

    @app.get("/desk", response_class=HTMLResponse, include_in_schema=False)
    def desk_form(request: Request) -> HTMLResponse:
        return _render(request, "desk.html.j2", **_desk_context(request, {}, []))

    @app.post("/desk", response_class=HTMLResponse, include_in_schema=False)
    async def desk_post(request: Request) -> HTMLResponse:
        body = await request.body()
        return _desk_answer(request, body)

    @app.get("/my-patients", response_class=HTMLResponse, include_in_schema=False)
    def my_patients(request: Request, injector: str | None = None) -> HTMLResponse:
        sources: ServeSources = request.app.state.sources
        result, status = None, 200
        if injector is not None:
            if injector in sources.injectors:
                result = _calibration(request, injector)
            else:
                status = 404
        return _render(request, "my_patients.html.j2", status, injector=injector, result=result)

    @app.get("/director", response_class=HTMLResponse, include_in_schema=False)
    def director(request: Request) -> HTMLResponse:
        items = needs_review(request.app.state.sources)
        return _render(request, "director.html.j2", items=items, kinds=PROVIDER_KINDS)

    @app.get("/director/{kind}/{code}", response_class=HTMLResponse, include_in_schema=False)
    def provider(request: Request, kind: str, code: str) -> HTMLResponse:
        detail = (
            provider_detail(request.app.state.sources, kind, code)
            if kind in PROVIDER_KINDS
            else None
        )
        return _render(
            request, "provider.html.j2", 200 if detail else 404, detail=detail, kind=kind
        )


def _desk_answer(request: Request, body: bytes) -> HTMLResponse:
    """Parse, consult, render; field errors re-render the form with status 422."""
    sources: ServeSources = request.app.state.sources
    today = request.app.state.today()
    values: dict[str, str] = {}
    try:
        fields = parse_urlencoded(body)
        values = {k: v for k, v in fields.items() if k != ID_FIELD}
        form = parse_desk_form(fields, sources.key, today)
        del fields
        result = consult(form, sources, today)
    except FormError as exc:
        return _render(request, "desk.html.j2", 422, **_desk_context(request, values, exc.errors))
    return _render(request, "desk.html.j2", **_desk_context(request, values, [], result))


def _desk_context(
    request: Request, values: dict[str, str], errors: list[FieldError], result=None
) -> dict[str, Any]:
    today = request.app.state.today()
    defaults = {"treatment_date": today.isoformat(), "baseline_severity": "2"}
    return {
        "values": {**defaults, **values},
        "errors": {e.field: e for e in errors},
        "error_list": errors,
        "result": result,
        "manual_rows": range(1, MANUAL_ROWS + 1),
        "chart": Markup(result.chart_svg) if result else None,
        "today": today,
    }


def _calibration(request: Request, injector: str) -> InjectorCalibration:
    """One injector's comparison, computed once per app (it predicts every episode)."""
    cache: dict[str, InjectorCalibration] = request.app.state.calibrations
    with request.app.state.calibration_lock:
        if injector not in cache:
            cache[injector] = injector_calibration(request.app.state.sources, injector)
        return cache[injector]


def settings_summary(settings: ServeSettings) -> str:
    """One line for the start-up message."""
    s = settings.serve
    return f"http://{s.host}:{s.port} (workers {s.workers}, models {s.paths.models})"
