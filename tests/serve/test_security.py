"""Loopback by default; any other binding needs the access token, and requests without it 401."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from analysis.errors import ConfigError
from analysis.serve.app import create_app
from analysis.serve.security import is_loopback, load_token, presented_token, required_token

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("clinic-desk.local", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_loopback_needs_no_token_and_other_addresses_refuse_to_start_without_one(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("BONTA_SERVE_TOKEN", raising=False)
    missing = tmp_path / "serve.token"
    assert required_token("127.0.0.1", "BONTA_SERVE_TOKEN", missing) is None
    with pytest.raises(ConfigError, match="binding to 0.0.0.0 .* needs an access token"):
        required_token("0.0.0.0", "BONTA_SERVE_TOKEN", missing)


def test_the_token_comes_from_the_environment_or_the_file(tmp_path, monkeypatch):
    path = tmp_path / "serve.token"
    path.write_text(TOKEN + "\n")
    monkeypatch.delenv("BONTA_SERVE_TOKEN", raising=False)
    assert load_token("BONTA_SERVE_TOKEN", path) == TOKEN
    monkeypatch.setenv("BONTA_SERVE_TOKEN", "another-token-0123456789")
    assert required_token("0.0.0.0", "BONTA_SERVE_TOKEN", path) == "another-token-0123456789"
    monkeypatch.setenv("BONTA_SERVE_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_token("BONTA_SERVE_TOKEN", path)


def test_bearer_and_basic_carry_the_token():
    basic = base64.b64encode(f"desk:{TOKEN}".encode()).decode()
    assert presented_token(f"Bearer {TOKEN}") == TOKEN
    assert presented_token(f"Basic {basic}") == TOKEN
    assert presented_token("Basic !!!") is None
    assert presented_token(None) is None


@pytest.fixture(scope="module")
def guarded(sources):
    """The app as `bonta serve --host 0.0.0.0` builds it: the token is required."""
    with TestClient(create_app(sources, token=TOKEN)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/desk"),
        ("post", "/desk"),
        ("post", "/api/advise"),
        ("get", "/openapi.json"),
        ("get", "/director"),
        ("get", "/static/style.css"),
    ],
)
def test_requests_without_the_token_get_401(guarded, method, path):
    res = getattr(guarded, method)(path)
    assert res.status_code == 401
    assert res.headers["www-authenticate"].startswith("Basic")
    wrong = getattr(guarded, method)(path, headers={"Authorization": "Bearer not-the-token-123"})
    assert wrong.status_code == 401


def test_requests_with_the_token_are_answered(guarded):
    ok = guarded.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    assert guarded.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_pages_are_not_cached_or_framed(client):
    res = client.get("/desk")
    assert res.headers["cache-control"] == "no-store"
    assert res.headers["x-frame-options"] == "DENY"
    assert "script-src" not in res.headers["content-security-policy"]  # no scripts at all
    assert "<script" not in res.text
