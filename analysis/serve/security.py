"""Who may talk to the app: loopback only, or anyone holding the access token.

Bound to a loopback address (127.0.0.0/8, ``::1``, ``localhost``) the app answers any request:
only this machine can reach it. Bound to any other address it needs an access token, from the
environment (``serve.token_env``, by default ``BONTA_SERVE_TOKEN``) or the first line of the
git-ignored ``serve.token_file``; without one it refuses to start. Every request must then
carry the token, either as ``Authorization: Bearer <token>`` (booking systems) or as the
password of HTTP Basic authentication (browsers ask for it; any user name); other requests get
401. Tokens are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from analysis.errors import ConfigError

#: The realm browsers show when they ask for the token.
REALM = "bonta serve"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_token(env_var: str, token_file: str | Path) -> str | None:
    """The access token from ``env_var`` or the first line of ``token_file``; ``None`` if neither.

    Raises
    ------
    ConfigError
        If the token found is shorter than 16 characters (too easy to guess).
    """
    value = os.environ.get(env_var)
    source = f"environment variable {env_var}"
    if value is None and Path(token_file).is_file():
        with Path(token_file).open() as fh:
            value = fh.readline()
        source = f"file {token_file}"
    if value is None:
        return None
    token = value.strip()
    if len(token) < 16:
        raise ConfigError(f"the access token in {source} must be at least 16 characters long")
    return token


def required_token(host: str, env_var: str, token_file: str | Path) -> str | None:
    """The token the app must demand when bound to ``host`` (``None`` on loopback).

    Raises
    ------
    ConfigError
        If ``host`` is not a loopback address and no token is configured.
    """
    if is_loopback(host):
        return None
    token = load_token(env_var, token_file)
    if token is None:
        raise ConfigError(
            f"binding to {host} (not loopback) needs an access token: set {env_var} or write "
            f"one (at least 16 characters, e.g. from `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(32))'`) to {token_file}, or bind to 127.0.0.1"
        )
    return token


def presented_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization`` header (Bearer, or Basic's password); else ``None``."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_matches(authorization: str | None, token: str) -> bool:
    """Constant-time check of the header's token against ``token``."""
    given = presented_token(authorization)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware: 401 for any HTTP request without the access token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1") or None
        if token_matches(auth, self.token):
            await self.app(scope, receive, send)
            return
        body = b'{"detail":"access token required (Authorization: Bearer <token>)"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
