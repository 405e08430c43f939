"""One strict way to read ``params.yaml``: every section becomes a frozen, validated object.

A stage reads the file once with :func:`load_params`, turns the sections it needs into typed
configuration objects with :func:`parse_section` (or a config class's ``from_params``), and
passes only those objects below itself: the raw dictionary never leaves the stage.

Parsing is driven by the dataclass's field annotations. An unknown key (a typo such as
``target_acept``) stops with the key's full path and the nearest valid name; a missing key
without a default stops with its path; a value of the wrong type names the key, the value and
the expected type. Defaults live in one place: ``params.yaml`` holds every value a reader could
question, and a dataclass default exists only for a key that params.yaml may leave out.

Example
-------
>>> @dataclass(frozen=True)
... class Gate:
...     max_rhat: float
...     max_divergences: int = 0
>>> parse({"max_rhat": 1.01}, Gate, "complications.gate")
Gate(max_rhat=1.01, max_divergences=0)
>>> parse({"max_rhat": 1.01, "max_divergence": 0}, Gate, "gate")
Traceback (most recent call last):
...
analysis.errors.ConfigError: params.yaml: unknown key 'gate.max_divergence' (did you mean...
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from analysis.errors import ConfigError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole parameter file as a nested dict (only stages and tests call this)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"parameter file {path} does not exist")
    with path.open() as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise ConfigError(f"parameter file {path} must hold a mapping at top level")
    return params


def with_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copy of ``params`` with dotted-key overrides, e.g. ``{"simulate.n_patients": 300}``.

    Used by tests and validation scripts to run the real pipeline code on smaller settings.
    Overriding a key that does not exist is an error (the same rule as the strict loader).
    """
    out = copy.deepcopy(dict(params))
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            if key not in node or not isinstance(node[key], dict):
                raise ConfigError(f"override '{dotted}': no section '{key}'")
            node = node[key]
        if leaf not in node:
            raise ConfigError(f"override '{dotted}': no key '{leaf}'{_suggest(leaf, node)}")
        node[leaf] = value
    return out


def parse_section(params: Mapping[str, Any], name: str, cls: type[T]) -> T:
    """Parse top-level section ``name`` of ``params`` into ``cls`` (strict)."""
    if name not in params:
        raise ConfigError(f"params.yaml has no section '{name}'{_suggest(name, params)}")
    return parse(params[name], cls, name)


def parse(data: Any, cls: type[T], where: str) -> T:
    """Build the frozen dataclass ``cls`` from ``data`` (a mapping), strictly.

    Parameters
    ----------
    data
        The mapping read from YAML.
    cls
        A dataclass whose field annotations say how each value is converted.
    where
        Dotted path of ``data`` in params.yaml, used in every message.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"params.yaml: '{where}' must be a mapping, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"params.yaml: unknown key '{where}.{key}'{_suggest(str(key), fields)}"
            )
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = convert(data[name], hints[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"params.yaml: '{where}.{name}' is required and missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a range check in __post_init__: add where it happened
        if str(exc).startswith("params.yaml:"):
            raise
        raise ConfigError(f"params.yaml: '{where}': {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params.yaml: '{where}': {exc}") from None


def convert(value: Any, hint: Any, where: str) -> Any:
    """Convert one YAML value to the annotated type ``hint`` (see :func:`parse`)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(
            errors[0]
            if len(errors) == 1
            else f"params.yaml: '{where}' = "
            f"{_show(value)} matches none of {[_name(o) for o in options]}"
        )
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"params.yaml: '{where}' = {_show(value)}: use one of {list(args)}"
                f"{_suggest(str(value), [str(a) for a in args])}"
            )
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return parse(value, hint, where)
    if origin is tuple:
        return _convert_tuple(value, args, where)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"params.yaml: '{where}' must be a mapping, got {_show(value)}")
        key_t, val_t = args if args else (Any, Any)
        return {
            convert(k, key_t, f"{where}"): convert(v, val_t, f"{where}.{k}")
            for k, v in value.items()
        }
    return _convert_scalar(value, hint, where)


def _convert_tuple(value: Any, args: tuple, where: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"params.yaml: '{where}' must be a list, got {_show(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(
            f"params.yaml: '{where}' must be a list of {len(args)} values, got {_show(value)}"
        )
    return tuple(
        convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
    )


def _convert_scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params.yaml: '{where}' must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"params.yaml: '{where}' must be a whole number, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"params.yaml: '{where}' must be a number, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"params.yaml: '{where}' must be text, got {_show(value)}")
        return value
    if hint is datetime.date:
        return _convert_date(value, where)
    raise TypeError(f"no conversion for annotation {hint!r} at {where}")


def _convert_date(value: Any, where: str) -> datetime.date:
    """A YAML date (``2024-12-31``, read as a date) or ISO text (``"2024-12-31"``)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"params.yaml: '{where}' must be a date YYYY-MM-DD, got {_show(value)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(key: str, valid: Any) -> str:
    names = [str(k) for k in valid]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid keys: {', '.join(sorted(names))})" if names else ""
