"""Loading ``params.yaml``: the single source of every choice a reader could question."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from analysis.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole parameter file as a plain nested dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"parameter file {path} does not exist")
    with path.open() as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise ConfigError(f"parameter file {path} must hold a mapping at top level")
    return params


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """Return one top-level section, failing with the file's vocabulary if it is missing."""
    try:
        return params[name]
    except KeyError:
        raise ConfigError(f"params.yaml has no section '{name}'") from None


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of ``params`` with dotted-key overrides, e.g. ``{"simulate.n_patients": 300}``.

    Used by tests and validation scripts to run the real pipeline code on smaller settings.
    """
    out = copy.deepcopy(params)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            if key not in node or not isinstance(node[key], dict):
                raise ConfigError(f"override '{dotted}': no section '{key}'")
            node = node[key]
        node[leaf] = value
    return out
