"""Reading and checking the stage manifests the report assembles (docs/ARCHITECTURE.md).

A manifest is ``reports/<stage>/manifest.json``; paths in it are relative to that directory.
The report never recomputes a number: it shows the manifest's headlines and the tables and
figures the manifest names, so every one of them must exist and be well formed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from analysis.errors import BontaError

VIEWS: tuple[str, ...] = ("clinic", "research", "advice")
VIEW_TITLES: dict[str, str] = {
    "clinic": "Clinic outcomes",
    "research": "Research results",
    "advice": "Interval advice",
}
VIEW_READERS: dict[str, str] = {
    "clinic": "for clinic directors",
    "research": "for researchers",
    "advice": "for injectors",
}


class ReportInputError(BontaError):
    """A stage manifest, or a file it names, is missing or does not follow the contract."""


@dataclass(frozen=True)
class Manifest:
    """One stage's manifest with the directory its paths are relative to."""

    directory: Path
    data: dict[str, Any]

    @property
    def stage(self) -> str:
        return str(self.data["stage"])

    @property
    def name(self) -> str:
        """Short name used to prefix exported files: the stage directory's name."""
        return self.directory.name

    def path(self, relative: str) -> Path:
        return self.directory / relative


def _fail(file: Path, where: str, rule: str) -> ReportInputError:
    return ReportInputError(f"{file}: {where}: {rule}")


def _check_relative(file: Path, where: str, rel: Any, directory: Path) -> None:
    if not isinstance(rel, str) or not rel:
        raise _fail(file, where, f"'path' must be a non-empty string, got {rel!r}")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise _fail(file, where, f"path {rel!r} must stay inside the stage directory")
    if not (directory / rel).is_file():
        raise _fail(file, where, f"names {rel!r}, which does not exist in {directory}")


def _check_table(file: Path, where: str, spec: dict, directory: Path) -> None:
    _check_relative(file, where, spec.get("path"), directory)
    if Path(spec["path"]).suffix not in {".csv", ".parquet"}:
        raise _fail(file, where, f"table {spec['path']!r} must be .csv or .parquet")
    table = read_table(directory / spec["path"])
    for key in ("count_columns", "derived_columns"):
        cols = spec.get(key, []) or []
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise _fail(
                file,
                where,
                f"{key} {missing} are not columns of {spec['path']} "
                f"(columns: {list(table.columns)})",
            )


def check_manifest(data: Any, file: Path) -> None:
    """Raise :class:`ReportInputError` naming the first place ``data`` breaks the contract."""
    if not isinstance(data, dict):
        raise _fail(file, "top level", "must be a JSON object")
    for key, kind in (
        ("stage", str),
        ("title", str),
        ("methods", str),
        ("sections", list),
        ("headlines", list),
    ):
        if not isinstance(data.get(key), kind):
            raise _fail(file, f"key '{key}'", f"is required and must be a {kind.__name__}")
    directory = file.parent
    for i, sec in enumerate(data["sections"]):
        where = f"sections[{i}]"
        if not isinstance(sec, dict) or sec.get("view") not in VIEWS:
            raise _fail(file, where, f"'view' must be one of {VIEWS}")
        if not isinstance(sec.get("title"), str):
            raise _fail(file, where, "'title' is required")
        for j, tab in enumerate(sec.get("tables", []) or []):
            _check_table(file, f"{where}.tables[{j}]", tab, directory)
        for j, fig in enumerate(sec.get("figures", []) or []):
            _check_relative(file, f"{where}.figures[{j}]", fig.get("path"), directory)
            if not fig.get("alt"):
                raise _fail(file, f"{where}.figures[{j}]", "'alt' text is required")
    for i, head in enumerate(data["headlines"]):
        where = f"headlines[{i}]"
        if not isinstance(head, dict) or not head.get("key") or not head.get("label"):
            raise _fail(file, where, "'key' and 'label' are required")
        if head.get("view") not in VIEWS:
            raise _fail(file, where, f"'view' must be one of {VIEWS}")
        if head.get("value") is None:
            raise _fail(file, where, f"headline {head['key']!r} has no value")


def load_manifest(directory: str | Path) -> Manifest:
    """Load and check ``<directory>/manifest.json``.

    Raises
    ------
    ReportInputError
        If the manifest is missing, is not JSON, breaks the contract, or names a missing file.
    """
    directory = Path(directory)
    file = directory / "manifest.json"
    if not file.is_file():
        raise ReportInputError(
            f"{file} is missing: run the stage that writes it first (dvc repro runs every stage "
            "in order)"
        )
    try:
        with file.open() as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise _fail(file, f"line {exc.lineno}", f"not valid JSON ({exc.msg})") from None
    check_manifest(data, file)
    return Manifest(directory=directory, data=data)


def load_manifests(reports_dir: str | Path, stages: list[str]) -> list[Manifest]:
    """Load ``reports/<stage>/manifest.json`` for every stage, in order; keys must be unique."""
    manifests = [load_manifest(Path(reports_dir) / s) for s in stages]
    seen: dict[str, str] = {}
    for man in manifests:
        for head in man.data["headlines"]:
            if head["key"] in seen:
                raise ReportInputError(
                    f"headline key {head['key']!r} appears in both {seen[head['key']]} and "
                    f"{man.directory / 'manifest.json'}: keys must be unique across stages"
                )
            seen[head["key"]] = str(man.directory / "manifest.json")
    return manifests


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a stage table (CSV or Parquet) exactly as written."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=True)
