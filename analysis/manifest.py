"""The manifest contract between the stages that compute and the report that assembles.

Every stage that produces tables or figures for readers writes ``<out>/manifest.json`` through
:class:`analysis.outputs.StageOutput`; the report reads it back with :func:`load_manifest`. Both
sides use the frozen types below, so a field is spelled in one place. Paths are relative to
the stage's output directory (docs/ARCHITECTURE.md, "manifest contract").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from analysis.disclosure.spec import Below, Count, CubeRef, FigureDraw, Mix, TableSum
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
MANIFEST_FILE = "manifest.json"


class ManifestError(BontaError):
    """A stage manifest, or a file it names, is missing or does not follow the contract."""


@dataclass(frozen=True)
class TableRef:
    """A table shown to readers.

    ``count_columns`` hold counts of people or episodes (suppressed by the disclosure layer);
    ``derived_columns`` are computed from the row's counts (rates and their intervals) and
    withheld where a count is suppressed (``None``: ``observed_*``, ``*_crude_*``, ``raw_*``).
    ``latex``: also exported as a LaTeX table. In an analyst manifest (``data/results``) a
    table also says how its counts add up (``counts``, ``sums``: :mod:`analysis.disclosure.
    spec`) and which columns never leave ``data/`` (``withheld_columns``).
    """

    path: str
    caption: str
    count_columns: tuple[str, ...] = ()
    derived_columns: tuple[str, ...] | None = None
    latex: bool = False
    counts: tuple[Count, ...] = ()
    sums: tuple[TableSum, ...] = ()
    withheld_columns: tuple[str, ...] = ()
    below: tuple[Below, ...] = ()
    mixes: tuple[Mix, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "caption": self.caption,
            "count_columns": list(self.count_columns),
            "latex": self.latex,
        }
        if self.derived_columns is not None:
            out["derived_columns"] = list(self.derived_columns)
        if self.counts:
            out["counts"] = [c.to_json() for c in self.counts]
        if self.sums:
            out["sums"] = [s.to_json() for s in self.sums]
        if self.withheld_columns:
            out["withheld_columns"] = list(self.withheld_columns)
        if self.below:
            out["below"] = [b.to_json() for b in self.below]
        if self.mixes:
            out["mixes"] = [m.to_json() for m in self.mixes]
        return out


@dataclass(frozen=True)
class FigureRef:
    """A figure shown to readers; ``alt`` is its text alternative.

    ``draw`` (analyst manifests): the figure plots counts, so the disclosure layer redraws it
    from the released tables; the analyst copy was drawn from the full ones.
    """

    path: str
    caption: str
    alt: str
    draw: FigureDraw | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "caption": self.caption, "alt": self.alt}
        if self.draw is not None:
            out["draw"] = self.draw.to_json()
        return out


@dataclass(frozen=True)
class Section:
    """A titled part of one reader's view: a sentence or two, tables and figures."""

    view: str
    title: str
    text: str
    tables: tuple[TableRef, ...] = ()
    figures: tuple[FigureRef, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "title": self.title,
            "text": self.text,
            "tables": [t.to_json() for t in self.tables],
            "figures": [f.to_json() for f in self.figures],
        }


@dataclass(frozen=True)
class Headline:
    """A headline number; the browser test checks it against its ``source`` table.

    ``value`` is a number, or text for dates; ``digits`` sets the decimals shown;
    ``interval_label`` names the interval (default "interval").
    """

    key: str
    label: str
    value: Any
    unit: str
    view: str
    source: str
    lower: float | None = None
    upper: float | None = None
    digits: int | None = None
    interval_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "view": self.view,
            "source": self.source,
        }
        for name in ("lower", "upper", "digits", "interval_label"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class Manifest:
    """One stage's manifest; ``directory`` is where its relative paths point."""

    stage: str
    title: str
    methods: str
    sections: tuple[Section, ...]
    headlines: tuple[Headline, ...]
    directory: Path = Path(".")
    #: ISO date of the data cut-off (the describe stage gives it; the report's date)
    data_cutoff: str | None = None
    #: the data-quality table (the describe stage gives it)
    data_quality: TableRef | None = None
    #: the disclosure audit (added to the describe stage's manifest by the disclosure layer)
    disclosure_audit: TableRef | None = None
    #: analyst manifests: every table and figure written (shown or for download) and the cubes
    tables: tuple[TableRef, ...] = ()
    figures: tuple[FigureRef, ...] = ()
    cubes: tuple[CubeRef, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Short name used to prefix exported files: the stage directory's name."""
        return self.directory.name

    def path(self, relative: str) -> Path:
        return self.directory / relative

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "title": self.title,
            "methods": self.methods,
            "sections": [s.to_json() for s in self.sections],
            "headlines": [h.to_json() for h in self.headlines],
        }
        if self.data_cutoff is not None:
            out["data_cutoff"] = self.data_cutoff
        if self.data_quality is not None:
            out["data_quality"] = self.data_quality.to_json()
        if self.disclosure_audit is not None:
            out["disclosure_audit"] = self.disclosure_audit.to_json()
        for name in ("tables", "figures", "cubes"):
            if getattr(self, name):
                out[name] = [item.to_json() for item in getattr(self, name)]
        out.update(self.extra)
        return out


# ------------------------------------------------------------------------------------------
# Reading and checking
# ------------------------------------------------------------------------------------------
def _fail(file: Path, where: str, rule: str) -> ManifestError:
    return ManifestError(f"{file}: {where}: {rule}")


def _relative(file: Path, where: str, rel: Any) -> str:
    if not isinstance(rel, str) or not rel:
        raise _fail(file, where, f"'path' must be a non-empty string, got {rel!r}")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise _fail(file, where, f"path {rel!r} must stay inside the stage directory")
    if not (file.parent / rel).is_file():
        raise _fail(file, where, f"names {rel!r}, which does not exist in {file.parent}")
    return rel


def _table(file: Path, where: str, spec: Any) -> TableRef:
    if not isinstance(spec, dict):
        raise _fail(file, where, "a table must be a JSON object")
    path = _relative(file, where, spec.get("path"))
    if Path(path).suffix not in {".csv", ".parquet"}:
        raise _fail(file, where, f"table {path!r} must be .csv or .parquet")
    derived = spec.get("derived_columns")
    try:
        counts = tuple(Count.from_json(c) for c in spec.get("counts") or ())
        sums = tuple(TableSum.from_json(s) for s in spec.get("sums") or ())
        below = tuple(Below.from_json(b) for b in spec.get("below") or ())
        mixes = tuple(Mix.from_json(m) for m in spec.get("mixes") or ())
    except (TypeError, ValueError, KeyError) as exc:
        raise _fail(file, where, f"bad count declaration: {exc}") from None
    ref = TableRef(
        path=path,
        caption=str(spec.get("caption", "")),
        count_columns=tuple(spec.get("count_columns") or ()),
        derived_columns=None if derived is None else tuple(derived),
        latex=bool(spec.get("latex", False)),
        counts=counts,
        sums=sums,
        withheld_columns=tuple(spec.get("withheld_columns") or ()),
        below=below,
        mixes=mixes,
    )
    columns = set(_columns(file.parent / path))
    for name in ("count_columns", "derived_columns", "withheld_columns"):
        missing = [c for c in getattr(ref, name) or () if c not in columns]
        if missing:
            raise _fail(
                file,
                where,
                f"{name} {missing} are not columns of {path} (columns: {sorted(columns)})",
            )
    return ref


def _columns(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(encoding="utf-8") as fh:
        header = fh.readline()
    import csv

    return next(csv.reader([header]), [])


def _figure(file: Path, where: str, spec: Any) -> FigureRef:
    if not isinstance(spec, dict):
        raise _fail(file, where, "a figure must be a JSON object")
    path = _relative(file, where, spec.get("path"))
    if not spec.get("alt"):
        raise _fail(file, where, "'alt' text is required")
    draw = spec.get("draw")
    return FigureRef(
        path=path,
        caption=str(spec.get("caption", "")),
        alt=str(spec["alt"]),
        draw=None if draw is None else FigureDraw.from_json(draw),
    )


def _registered_figure(file: Path, where: str, spec: Any) -> FigureRef:
    """A figure of the analyst registry (downloads have no alt text of their own)."""
    if isinstance(spec, dict) and not spec.get("alt"):
        spec = {**spec, "alt": spec.get("caption") or spec.get("path")}
    return _figure(file, where, spec)


def _cube(file: Path, where: str, spec: Any) -> CubeRef:
    if not isinstance(spec, dict):
        raise _fail(file, where, "a cube must be a JSON object")
    _relative(file, where, spec.get("path"))
    try:
        return CubeRef.from_json(spec)
    except TypeError as exc:
        raise _fail(file, where, f"bad cube declaration: {exc}") from None


def _section(file: Path, where: str, sec: Any) -> Section:
    if not isinstance(sec, dict) or sec.get("view") not in VIEWS:
        raise _fail(file, where, f"'view' must be one of {VIEWS}")
    if not isinstance(sec.get("title"), str):
        raise _fail(file, where, "'title' is required")
    return Section(
        view=sec["view"],
        title=sec["title"],
        text=str(sec.get("text", "")),
        tables=tuple(
            _table(file, f"{where}.tables[{j}]", t) for j, t in enumerate(sec.get("tables") or [])
        ),
        figures=tuple(
            _figure(file, f"{where}.figures[{j}]", f)
            for j, f in enumerate(sec.get("figures") or [])
        ),
    )


def _headline(file: Path, where: str, head: Any) -> Headline:
    if not isinstance(head, dict) or not head.get("key") or not head.get("label"):
        raise _fail(file, where, "'key' and 'label' are required")
    if head.get("view") not in VIEWS:
        raise _fail(file, where, f"'view' must be one of {VIEWS}")
    if head.get("value") is None:
        raise _fail(file, where, f"headline {head['key']!r} has no value")
    known = {
        "key",
        "label",
        "value",
        "unit",
        "view",
        "source",
        "lower",
        "upper",
        "digits",
        "interval_label",
    }
    unknown = set(head) - known
    if unknown:
        raise _fail(file, where, f"unknown keys {sorted(unknown)}")
    return Headline(**{"unit": "", "source": "", **head})


def manifest_from_json(data: Any, file: Path) -> Manifest:
    """Check ``data`` against the contract and build the typed :class:`Manifest`.

    Raises
    ------
    ManifestError
        Naming the first place ``data`` breaks the contract, or a file it names that is missing.
    """
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
    core = {"stage", "title", "methods", "sections", "headlines", "data_cutoff", "data_quality"}
    core |= {"disclosure_audit", "tables", "figures", "cubes"}
    dq, audit = data.get("data_quality"), data.get("disclosure_audit")
    return Manifest(
        stage=data["stage"],
        title=data["title"],
        methods=data["methods"],
        sections=tuple(_section(file, f"sections[{i}]", s) for i, s in enumerate(data["sections"])),
        headlines=tuple(
            _headline(file, f"headlines[{i}]", h) for i, h in enumerate(data["headlines"])
        ),
        directory=file.parent,
        data_cutoff=data.get("data_cutoff"),
        data_quality=None if dq is None else _table(file, "data_quality", dq),
        disclosure_audit=None if audit is None else _table(file, "disclosure_audit", audit),
        tables=tuple(
            _table(file, f"tables[{i}]", t) for i, t in enumerate(data.get("tables") or [])
        ),
        figures=tuple(
            _registered_figure(file, f"figures[{i}]", f)
            for i, f in enumerate(data.get("figures") or [])
        ),
        cubes=tuple(_cube(file, f"cubes[{i}]", c) for i, c in enumerate(data.get("cubes") or [])),
        extra={k: v for k, v in data.items() if k not in core},
    )


def load_manifest(directory: str | Path) -> Manifest:
    """Load and check ``<directory>/manifest.json``."""
    file = Path(directory) / MANIFEST_FILE
    if not file.is_file():
        raise ManifestError(
            f"{file} is missing: run the stage that writes it first (dvc repro runs every stage "
            "in order)"
        )
    try:
        with file.open() as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise _fail(file, f"line {exc.lineno}", f"not valid JSON ({exc.msg})") from None
    return manifest_from_json(data, file)


def load_manifests(reports_dir: str | Path, stages: list[str]) -> list[Manifest]:
    """Load ``reports/<stage>/manifest.json`` for every stage, in order; keys must be unique."""
    manifests = [load_manifest(Path(reports_dir) / s) for s in stages]
    seen: dict[str, Path] = {}
    for man in manifests:
        for head in man.headlines:
            if head.key in seen:
                raise ManifestError(
                    f"headline key {head.key!r} appears in both {seen[head.key]} and "
                    f"{man.directory / MANIFEST_FILE}: keys must be unique across stages"
                )
            seen[head.key] = man.directory / MANIFEST_FILE
    return manifests
