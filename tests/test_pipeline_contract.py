"""dvc.yaml declares what each stage really reads: its import closure inside ``analysis/``.

A stage runs ``bonta <command>``, which imports ``analysis.cli`` and that job's module
(``analysis/stages/<module>.py``); everything they import inside the package, at module level or
inside a function, can change the stage's outputs. If ``dvc.yaml`` does not list a file of that
closure (itself or a folder holding it) as a dependency, a change to the file re-runs nothing.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
import yaml

from analysis.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "analysis"


def _module_file(name: str) -> Path | None:
    """The file of module ``analysis.x.y`` (module or package), or None if it is not one."""
    parts = name.split(".")
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Every ``analysis...`` module ``path`` imports (``from a import b`` may name a module b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "analysis"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "analysis":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def import_closure(module: str) -> set[Path]:
    """Files inside ``analysis/`` that importing ``module`` (and its parents) can execute."""
    seen: set[Path] = set()
    stack = [module, "analysis.cli"]
    while stack:
        name = stack.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__
            file = _module_file(".".join(parts[:k]))
            if file is not None and file not in seen:
                seen.add(file)
                stack.extend(_imports(file))
    return seen


def _stages() -> dict[str, dict]:
    with (REPO / "dvc.yaml").open() as fh:
        return yaml.safe_load(fh)["stages"]


def _command_module(cmd: str) -> str:
    words = shlex.split(cmd)
    assert words[0] == "bonta", f"stage command {cmd!r} must run bonta"
    return f"analysis.stages.{COMMANDS[words[1]]}"


def _covered(file: Path, deps: list[str]) -> bool:
    rel = file.relative_to(REPO)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_file_a_stage_imports_is_a_declared_dependency(stage):
    spec = _stages()[stage]
    deps = [str(d) for d in spec.get("deps", [])]
    closure = import_closure(_command_module(spec["cmd"]))
    missing = sorted(str(f.relative_to(REPO)) for f in closure if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} does not declare the files it imports: {missing}"


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_declared_code_dependency_is_really_imported(stage):
    """A code dependency nobody imports re-runs the stage for nothing (or hides a typo)."""
    spec = _stages()[stage]
    closure = import_closure(_command_module(spec["cmd"]))
    code_deps = [d for d in spec.get("deps", []) if str(d).startswith("analysis")]
    unused = [
        d for d in code_deps if not any(f == REPO / d or REPO / d in f.parents for f in closure)
    ]
    assert not unused, f"dvc.yaml stage {stage!r} declares code it never imports: {unused}"


def test_the_closure_follows_imports_inside_functions():
    """A lazy import (inside a function) is part of the closure too: it runs when called."""
    closure = import_closure("analysis.stages.describe")
    assert PACKAGE / "cli.py" in closure and PACKAGE / "__init__.py" in closure
    assert PACKAGE / "figures" / "theme.py" in closure  # imported lazily by analysis.outputs
    assert PACKAGE / "stages" / "report.py" not in closure  # another job's module is not
