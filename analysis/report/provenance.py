"""Provenance of a report: code, input data, parameters, software, and the run date.

Everything here is a function of files, never of the wall clock, so that rebuilding the report
from the same inputs gives the same bytes. The run date is the data cut-off (the ``data_cutoff``
of the describe stage's manifest).
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from analysis.data.processed import read_simulated

NOT_A_CHECKOUT = "not a git checkout"
#: Tracked paths whose uncommitted edits change what the pipeline computes.
SOURCE_PATHS = ("analysis", "params.yaml", "dvc.yaml", "pyproject.toml", "requirements.lock")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(root: str | Path, suffixes: tuple[str, ...] | None = None) -> pd.DataFrame:
    """SHA-256 of every file under ``root`` (sorted by relative path).

    Returns
    -------
    pandas.DataFrame
        ``path`` (relative, POSIX), ``bytes``, ``sha256``; empty if ``root`` does not exist.
    """
    root = Path(root)
    rows = []
    if root.is_file():
        return pd.DataFrame(
            [{"path": root.name, "bytes": root.stat().st_size, "sha256": sha256_file(root)}]
        )
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or (suffixes and path.suffix not in suffixes):
            continue
        rows.append(
            {
                "path": path.relative_to(root).as_posix(),
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
            }
        )
    return pd.DataFrame(rows, columns=["path", "bytes", "sha256"])


def tree_digest(hashes: pd.DataFrame) -> str:
    """One SHA-256 over the ``path  sha256`` lines of :func:`hash_tree` (like ``sha256sum``)."""
    lines = "".join(f"{h}  {p}\n" for p, h in zip(hashes["path"], hashes["sha256"], strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def _git(directory: str | Path, *args: str) -> str | None:
    """Standard output of ``git args`` in ``directory``; None outside a checkout or without git."""
    try:
        res = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, check=False, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def git_commit(directory: str | Path) -> str:
    """The checked-out commit of ``directory``, or :data:`NOT_A_CHECKOUT`."""
    commit = (_git(directory, "rev-parse", "--verify", "-q", "HEAD") or "").strip()
    return commit or NOT_A_CHECKOUT


def uncommitted_changes(
    directory: str | Path, paths: tuple[str, ...] = SOURCE_PATHS
) -> tuple[str, ...]:
    """Files under ``paths`` that differ from the checked-out commit (edited, added, deleted).

    A report built before its code was committed says so, because the commit alone would then
    name code that did not run (the code SHA-256 always names the code that did).
    Empty outside a checkout.
    """
    status = (
        _git(directory, "status", "--porcelain=v1", "--untracked-files=all", "--", *paths) or ""
    )
    return tuple(sorted(line[3:].split(" -> ")[-1] for line in status.splitlines() if line.strip()))


def package_versions(packages: list[str]) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` if absent), plus Python's."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def params_sections(params_file: str | Path, names: list[str]) -> dict[str, str]:
    """YAML text of each named top-level section of the parameter file (only those present).

    For display in the provenance footer only: the file is read here as text to show, never
    used to compute anything.
    """
    with Path(params_file).open(encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    return {
        name: yaml.safe_dump({name: params[name]}, sort_keys=True, allow_unicode=True)
        for name in names
        if name in params
    }


def parameter_lines(params: dict[str, str], include_simulate: bool = True) -> list[tuple[str, str]]:
    """The parameter sections compactly: (section, ``key = value; ...``), each value of the
    section's keys in YAML flow style (nested mappings inline), citation strings (``source``
    keys) left out (they are in the priors table). ``params`` maps a section to its YAML text
    (:attr:`Provenance.params`); the ``simulate`` section is left out unless
    ``include_simulate`` (the data are simulated).

    Examples
    --------
    >>> parameter_lines({"a": "a:\\n  x: 1\\n  y: {z: [1, 2], source: cite}\\n"})
    [('a', 'x = 1; y = {z: [1, 2]}')]
    """
    out = []
    for name, text in params.items():
        if name == "simulate" and not include_simulate:
            continue
        values = _without_sources((yaml.safe_load(text) or {}).get(name))
        if isinstance(values, dict):
            line = "; ".join(f"{key} = {_flow(value)}" for key, value in values.items())
        else:
            line = _flow(values)
        out.append((name, line))
    return out


def _without_sources(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_sources(v) for k, v in value.items() if k != "source"}
    return value


def _flow(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to reproduce the report.

    Attributes
    ----------
    git_commit : commit of the working directory, or "not a git checkout".
    uncommitted : source files that differed from that commit when the report was built.
    code_sha256 : digest of the ``analysis`` package source that actually ran.
    data_sha256 : digest over the input data files; ``data_files`` lists each file's hash.
    params_sha256 : SHA-256 of params.yaml; ``params`` holds the YAML of the sections used.
    run_date : ISO date taken from the data (cut-off), never the wall clock.
    simulated : the data are the simulator's (recorded by ``prepare`` in
        ``study_period.json`` of the data directory): every reader-facing product says so.
    """

    git_commit: str
    uncommitted: tuple[str, ...]
    code_sha256: str
    data_dir: str
    data_sha256: str
    data_files: pd.DataFrame
    params_file: str
    params_sha256: str
    params: dict[str, str]
    versions: dict[str, str]
    run_date: str
    simulated: bool = False

    @property
    def working_tree(self) -> str:
        """``none`` or the uncommitted source files, for the footer."""
        return ", ".join(self.uncommitted) if self.uncommitted else "none"

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy ``item, value`` table of the provenance (one row an item)."""
        rows = [
            ("Run date (data cut-off)", self.run_date),
            ("Data", "simulated (bonta simulate)" if self.simulated else "clinic export"),
            ("Git commit", self.git_commit),
            ("Uncommitted source changes", self.working_tree),
            ("Analysis code SHA-256", self.code_sha256),
            (f"Input data SHA-256 ({self.data_dir})", self.data_sha256),
            (f"Parameters SHA-256 ({self.params_file})", self.params_sha256),
            ("Parameter sections", ", ".join(self.params)),
        ]
        rows += [(f"Version: {k}", v) for k, v in self.versions.items()]
        return pd.DataFrame(rows, columns=["item", "value"])


def collect_provenance(
    *,
    repo_dir: Path,
    code_dir: Path,
    data_dir: Path,
    params_file: Path,
    sections: list[str],
    packages: list[str],
    run_date: str,
) -> Provenance:
    """Gather the provenance of a report from files (see :class:`Provenance`)."""
    files = hash_tree(data_dir)
    return Provenance(
        git_commit=git_commit(repo_dir),
        uncommitted=uncommitted_changes(repo_dir),
        code_sha256=tree_digest(hash_tree(code_dir, suffixes=(".py", ".j2", ".css"))),
        data_dir=Path(data_dir).as_posix(),
        data_sha256=tree_digest(files),
        data_files=files,
        params_file=Path(params_file).name,
        params_sha256=sha256_file(params_file),
        params=params_sections(params_file, sections),
        versions=package_versions(packages),
        run_date=run_date,
        simulated=read_simulated(data_dir),
    )
