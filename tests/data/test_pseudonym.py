"""Keyed pseudonyms: stable under one key, unrelated across keys and kinds, never reversible."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import pandas as pd
import pytest

from analysis.data import pseudonym
from analysis.data.pseudonym import load_key, pseudonymise
from analysis.errors import BontaError

IDS = pd.Series(["PAT-1", "PAT-2", None, "PAT-1"], index=[10, 11, 12, 13])


def test_same_key_same_pseudonyms_and_missing_stays_missing():
    a = pseudonymise(IDS, b"key-1", "patient")
    b = pseudonymise(IDS.copy(), b"key-1", "patient")
    assert a.equals(b)
    assert list(a.index) == [10, 11, 12, 13]
    assert a[10] == a[13] != a[11]
    assert a[12] is None
    assert a.dropna().str.fullmatch(r"[0-9a-f]{16}").all()


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"long key " * 20])
def test_value_is_hmac_sha256_of_kind_and_identifier(key):
    expected = hmac.new(key, b"patient\x1fPAT-1", hashlib.sha256).hexdigest()[:16]
    assert pseudonymise(pd.Series(["PAT-1"]), key, "patient")[0] == expected


def test_different_key_or_kind_gives_unrelated_pseudonyms():
    a = pseudonymise(IDS, b"key-1", "patient")
    assert not (a.dropna() == pseudonymise(IDS, b"key-2", "patient").dropna()).any()
    assert not (a.dropna() == pseudonymise(IDS, b"key-1", "episode").dropna()).any()


def test_staff_codes_are_short_prefixed_codes():
    clinics = pseudonymise(pd.Series(["Clinic Nord", "Clinic Sued"]), b"k", "clinic")
    injectors = pseudonymise(pd.Series(["Dr. Alpha"]), b"k", "injector")
    assert clinics.str.fullmatch(r"C-[0-9a-f]{6}").all() and clinics.nunique() == 2
    assert injectors.str.fullmatch(r"I-[0-9a-f]{6}").all()


def test_collision_raises(monkeypatch):
    monkeypatch.setitem(pseudonym.KINDS, "clinic", ("C-", 1))  # 16 possible codes, 40 clinics
    with pytest.raises(BontaError, match="same pseudonym"):
        pseudonymise(pd.Series([f"clinic {i}" for i in range(40)]), b"k", "clinic")


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        pseudonymise(IDS, b"k", "doctor")


def test_load_key_prefers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BONTA_TEST_KEY", "from-env")
    (tmp_path / "k").write_bytes(b"from-file\n")
    assert load_key("BONTA_TEST_KEY", tmp_path / "k") == b"from-env"
    monkeypatch.delenv("BONTA_TEST_KEY")
    assert load_key("BONTA_TEST_KEY", tmp_path / "k") == b"from-file"


def test_load_key_creates_private_random_key_once(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BONTA_TEST_KEY", raising=False)
    path = tmp_path / ".secrets" / "pseudonym.key"
    first = load_key("BONTA_TEST_KEY", path)
    assert "created a new pseudonymisation key" in capsys.readouterr().err
    assert len(first) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key("BONTA_TEST_KEY", path) == first
    assert capsys.readouterr().err == ""
