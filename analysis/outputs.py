"""Writing a stage's outputs: each table or figure is named once, where it is written.

:class:`StageOutput` writes the stage's **analyst copy** (``data/results/<stage>/``, never
released): every table (Parquet + CSV) with what the disclosure layer needs to protect it (its
count columns and how they add up, :mod:`analysis.disclosure.spec`), every figure, and the
cubes of fine counts behind the counts. When an output is shown to readers it is recorded in a
manifest section in the same call. The manifest is written last by
:meth:`StageOutput.write_manifest`, so a manifest never names a file that was not written.

Nothing a stage writes reaches ``reports/`` directly: the ``disclose`` stage
(:mod:`analysis.disclosure.release`) reads every analyst manifest, suppresses, audits and
writes the released copies. A figure that plots counts is declared with
:meth:`SectionBuilder.figure_from` (a function of written tables), so that the release redraws
it from the suppressed tables; :meth:`SectionBuilder.figure` takes a finished figure that
shows no count (posterior curves, forest plots).

Example
-------
>>> out = StageOutput(Path("data/results/survival"), stage="fit_survival", title="Duration")
>>> out.cube("survival.duration_episodes", "duration_episodes", cube_frame, ("region",))
>>> sec = out.section("clinic", "Median duration by region", "Median days until ...")
>>> sec.table(by_region, "median_duration_by_region", "Median duration (days) by region",
...           counts=(Count("n_episodes", cube="survival.duration_episodes",
...                         by={"region": "region"}),), latex=True)
>>> out.table(curves, "turnbull_curves")        # written for download, not shown
>>> out.write_manifest(methods="...")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.disclosure.spec import Below, Count, CubeRef, FigureDraw, Mix, TableSum
from analysis.io import write_json, write_parquet, write_table
from analysis.manifest import (
    MANIFEST_FILE,
    VIEWS,
    FigureRef,
    Headline,
    Manifest,
    Section,
    TableRef,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CUBES_DIR = "cubes"


def function_name(function: Callable[..., Any] | str) -> str:
    """``"package.module:function"`` of a module-level function (or the name itself)."""
    if isinstance(function, str):
        return function
    name = f"{function.__module__}:{function.__qualname__}"
    if "<" in name or "." in function.__qualname__:
        raise ValueError(f"figure function {name!r} must be a module-level function")
    return name


def resolve_function(dotted: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module, _, name = dotted.partition(":")
    if not module or not name:
        raise ValueError(f"figure function {dotted!r} must be 'module:function'")
    return getattr(importlib.import_module(module), name)


@dataclass
class SectionBuilder:
    """A manifest section being filled by the stage (see :meth:`StageOutput.section`)."""

    output: StageOutput
    view: str
    title: str
    text: str
    tables: list[TableRef] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)

    def table(
        self,
        df: pd.DataFrame,
        stem: str,
        caption: str,
        *,
        counts: Sequence[Count] = (),
        count_columns: Sequence[str] = (),
        derived_columns: Sequence[str] | None = None,
        withheld_columns: Sequence[str] = (),
        sums: Sequence[TableSum] = (),
        below: Sequence[Below] = (),
        mixes: Sequence[Mix] = (),
        latex: bool = False,
    ) -> TableRef:
        """Write ``stem.parquet`` and ``stem.csv`` and show the table in this section.

        ``counts`` declare how each count column adds up; a name in ``count_columns`` without
        a declaration is an own count (one unknown per row).
        """
        ref = self.output.register_table(
            df,
            stem,
            caption,
            counts=counts,
            count_columns=count_columns,
            derived_columns=derived_columns,
            withheld_columns=withheld_columns,
            sums=sums,
            below=below,
            mixes=mixes,
            latex=latex,
        )
        self.tables.append(ref)
        return ref

    def figure(self, fig: Figure, stem: str, caption: str, alt: str) -> FigureRef:
        """Save ``fig`` (which shows no count) as ``stem.png``, closing it, and show it here."""
        ref = FigureRef(path=self.output.figure(fig, stem), caption=caption, alt=alt)
        self.output.figures[ref.path] = ref
        self.figures.append(ref)
        return ref

    def figure_from(
        self,
        stem: str,
        caption: str,
        alt: str,
        function: Callable[..., Any] | str,
        tables: Mapping[str, str],
        **kwargs: Any,
    ) -> FigureRef:
        """Show a figure of counts drawn by ``function`` from written tables (see
        :meth:`StageOutput.figure_from`)."""
        ref = self.output.figure_from(stem, function, tables, caption=caption, alt=alt, **kwargs)
        self.figures.append(ref)
        return ref

    def frozen(self) -> Section:
        return Section(self.view, self.title, self.text, tuple(self.tables), tuple(self.figures))


class StageOutput:
    """The analyst output directory of one stage and the manifest that describes it."""

    def __init__(self, directory: str | Path, *, stage: str, title: str):
        self.directory = Path(directory)
        self.stage = stage
        self.title = title
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sections: list[SectionBuilder] = []
        self._headlines: list[Headline] = []
        self._written: set[str] = set()
        self.tables: dict[str, TableRef] = {}
        self.figures: dict[str, FigureRef] = {}
        self.cubes: list[CubeRef] = []
        self._frames: dict[str, pd.DataFrame] = {}

    def _claim(self, name: str) -> None:
        if name in self._written:
            raise ValueError(f"{self.stage}: output {name!r} is written twice")
        self._written.add(name)

    def register_table(
        self,
        df: pd.DataFrame,
        stem: str,
        caption: str = "",
        *,
        counts: Sequence[Count] = (),
        count_columns: Sequence[str] = (),
        derived_columns: Sequence[str] | None = None,
        withheld_columns: Sequence[str] = (),
        sums: Sequence[TableSum] = (),
        below: Sequence[Below] = (),
        mixes: Sequence[Mix] = (),
        latex: bool = False,
    ) -> TableRef:
        """Write ``stem.parquet`` and ``stem.csv`` with their count declarations."""
        self._claim(stem)
        declared = {c.column for c in counts}
        own = tuple(Count(c) for c in count_columns if c not in declared)
        counts = (*counts, *own)
        columns = tuple(dict.fromkeys(c.column for c in counts))
        missing = [c for c in (*columns, *withheld_columns) if c not in df.columns]
        if missing:
            raise ValueError(f"{self.stage}/{stem}: no column(s) {missing} to declare")
        write_table(df, self.directory / stem)
        ref = TableRef(
            path=f"{stem}.csv",
            caption=caption,
            count_columns=columns,
            derived_columns=None if derived_columns is None else tuple(derived_columns),
            latex=latex,
            counts=counts,
            sums=tuple(sums),
            withheld_columns=tuple(withheld_columns),
            below=tuple(below),
            mixes=tuple(mixes),
        )
        self.tables[stem] = ref
        self._frames[stem] = df
        return ref

    def table(self, df: pd.DataFrame, stem: str, **declarations: Any) -> str:
        """Write ``stem.parquet`` and ``stem.csv`` for download (not shown in a section);
        ``declarations`` as in :meth:`SectionBuilder.table`. Returns the CSV's relative path."""
        return self.register_table(df, stem, **declarations).path

    def figure(self, fig: Figure, stem: str) -> str:
        """Save ``fig`` as ``stem.png`` without metadata and close it; returns its path.

        The figure must show no count: a figure of counts goes through :meth:`figure_from`.
        """
        from analysis.figures.theme import save_figure

        self._claim(f"{stem}.png")
        save_figure(fig, self.directory / f"{stem}.png")
        path = f"{stem}.png"
        self.figures.setdefault(path, FigureRef(path=path, caption=stem, alt=stem))
        return path

    def figure_from(
        self,
        stem: str,
        function: Callable[..., Any] | str,
        tables: Mapping[str, str],
        *,
        caption: str = "",
        alt: str = "",
        **kwargs: Any,
    ) -> FigureRef:
        """Draw ``function(**{arg: table}, **kwargs)`` from tables this stage wrote.

        The analyst copy is drawn here from the full tables; the disclosure layer draws the
        released one from the suppressed tables (a suppressed count is NaN there, so the
        function must leave such points out). ``function`` is a module-level function (or its
        ``"module:name"``); ``kwargs``
        must be JSON values. Call inside :func:`analysis.figures.theme.theme`.
        """
        unknown = [s for s in tables.values() if s not in self._frames]
        if unknown:
            raise ValueError(f"{self.stage}: figure {stem!r} needs unwritten table(s) {unknown}")
        draw = FigureDraw(function_name(function), tuple(tables.items()), dict(kwargs))
        fig = resolve_function(draw.function)(
            **{arg: self._frames[s] for arg, s in tables.items()}, **kwargs
        )
        path = self.figure(fig, stem)
        ref = FigureRef(path=path, caption=caption, alt=alt or caption or stem, draw=draw)
        self.figures[path] = ref
        return ref

    def cube(
        self,
        name: str,
        measure: str,
        frame: pd.DataFrame,
        dims: Sequence[str],
        ordered_by: str | None = None,
    ) -> CubeRef:
        """Write the cube of fine counts ``frame`` (dims, attributes, ``value``) for the layer."""
        self._claim(f"{CUBES_DIR}/{name}")
        path = f"{CUBES_DIR}/{name}.parquet"
        write_parquet(frame, self.directory / path)
        ref = CubeRef(name, measure, tuple(dims), path, ordered_by)
        self.cubes.append(ref)
        return ref

    def section(self, view: str, title: str, text: str) -> SectionBuilder:
        """Open a section of reader view ``view`` (sections keep the order they are opened)."""
        if view not in VIEWS:
            raise ValueError(f"view {view!r} must be one of {VIEWS}")
        builder = SectionBuilder(self, view, title, text)
        self._sections.append(builder)
        return builder

    def headline(self, headline: Headline) -> None:
        """Add a headline number (its ``source`` must be a table this stage wrote)."""
        if headline.source and Path(headline.source).stem not in self._written:
            raise ValueError(f"headline {headline.key!r} names {headline.source!r}, not written")
        self._headlines.append(headline)

    def manifest(self, methods: str, **extra: Any) -> Manifest:
        """The typed manifest of everything recorded so far."""
        known = {k: extra.pop(k) for k in ("data_cutoff", "data_quality") if k in extra}
        return Manifest(
            stage=self.stage,
            title=self.title,
            methods=methods,
            sections=tuple(s.frozen() for s in self._sections),
            headlines=tuple(self._headlines),
            directory=self.directory,
            tables=tuple(self.tables.values()),
            figures=tuple(self.figures.values()),
            cubes=tuple(self.cubes),
            extra=extra,
            **known,
        )

    def write_manifest(self, methods: str, **extra: Any) -> Manifest:
        """Write ``manifest.json`` (sorted keys, deterministic) and return it."""
        manifest = self.manifest(methods, **extra)
        write_json(manifest.to_json(), self.directory / MANIFEST_FILE)
        return manifest
