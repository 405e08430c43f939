"""Writing a stage's outputs: each table or figure is named once, where it is written.

:class:`StageOutput` writes a table (Parquet + CSV) or a figure (PNG) into the stage's output
directory and, when the output is shown to readers, records it in the stage's manifest in the
same call. The manifest is written last by :meth:`StageOutput.write_manifest`, so a manifest
never names a file that was not written.

Example
-------
>>> out = StageOutput(Path("reports/survival"), stage="fit_survival", title="Duration of effect")
>>> sec = out.section("clinic", "Median duration by region", "Median days until ...")
>>> sec.table(by_region, "median_duration_by_region", "Median duration (days) by region",
...           count_columns=("n_episodes",), latex=True)
>>> out.table(curves, "turnbull_curves")        # written for download, not shown
>>> out.write_manifest(methods="...")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.io import write_json, write_table
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
        count_columns: Sequence[str] = (),
        derived_columns: Sequence[str] | None = None,
        latex: bool = False,
    ) -> TableRef:
        """Write ``stem.parquet`` and ``stem.csv`` and show the CSV in this section."""
        path = self.output.table(df, stem)
        ref = TableRef(
            path=path,
            caption=caption,
            count_columns=tuple(count_columns),
            derived_columns=None if derived_columns is None else tuple(derived_columns),
            latex=latex,
        )
        self.tables.append(ref)
        return ref

    def figure(self, fig: Figure, stem: str, caption: str, alt: str) -> FigureRef:
        """Save ``fig`` as ``stem.png`` (closing it) and show it in this section."""
        ref = FigureRef(path=self.output.figure(fig, stem), caption=caption, alt=alt)
        self.figures.append(ref)
        return ref

    def frozen(self) -> Section:
        return Section(self.view, self.title, self.text, tuple(self.tables), tuple(self.figures))


class StageOutput:
    """The output directory of one stage and the manifest that describes it to the report."""

    def __init__(self, directory: str | Path, *, stage: str, title: str):
        self.directory = Path(directory)
        self.stage = stage
        self.title = title
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sections: list[SectionBuilder] = []
        self._headlines: list[Headline] = []
        self._written: set[str] = set()

    def _claim(self, name: str) -> None:
        if name in self._written:
            raise ValueError(f"{self.stage}: output {name!r} is written twice")
        self._written.add(name)

    def table(self, df: pd.DataFrame, stem: str) -> str:
        """Write ``stem.parquet`` and ``stem.csv``; returns the CSV's relative path."""
        self._claim(stem)
        write_table(df, self.directory / stem)
        return f"{stem}.csv"

    def figure(self, fig: Figure, stem: str) -> str:
        """Save ``fig`` as ``stem.png`` without metadata and close it; returns its path."""
        from analysis.figures.theme import save_figure

        self._claim(f"{stem}.png")
        save_figure(fig, self.directory / f"{stem}.png")
        return f"{stem}.png"

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
            extra=extra,
            **known,
        )

    def write_manifest(self, methods: str, **extra: Any) -> Manifest:
        """Write ``manifest.json`` (sorted keys, deterministic) and return it."""
        manifest = self.manifest(methods, **extra)
        write_json(manifest.to_json(), self.directory / MANIFEST_FILE)
        return manifest
