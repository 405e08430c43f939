"""Assembling typed stage manifests into a :class:`Report` (no file is written here).

The report only assembles (docs/ARCHITECTURE.md): numbers come from the stage manifests and the
tables they name, never from a template. It reads only what the disclosure layer released under
``reports/<stage>/`` (small counts and their complements already suppressed) and refuses a table
that still shows a small count (:func:`analysis.report.suppress.check_released`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.manifest import (
    MANIFEST_FILE,
    VIEWS,
    Headline,
    Manifest,
    ManifestError,
    Section,
    TableRef,
)
from analysis.report.config import ReportConfig
from analysis.report.formatting import format_number, format_table
from analysis.report.provenance import Provenance
from analysis.report.suppress import check_released

#: Figure types the report embeds, by suffix.
FIGURE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class RenderedHeadline:
    """A headline number from a manifest with its display text."""

    key: str
    label: str
    view: str
    stage: str
    value: Any
    lower: float | None
    upper: float | None
    unit: str
    text: str
    interval_text: str
    interval_label: str
    source: str


@dataclass(frozen=True)
class RenderedTable:
    """A table as shown: the released cells formatted, and where it is exported."""

    caption: str
    source: str
    columns: list[str]
    rows: list[list[str]]
    suppressed: pd.DataFrame
    export_stem: str | None


@dataclass(frozen=True)
class RenderedFigure:
    """An embedded figure; ``width_px`` is its display width at its physical size."""

    caption: str
    alt: str
    source: str
    data_uri: str
    width_px: int


@dataclass(frozen=True)
class RenderedSection:
    stage: str
    view: str
    title: str
    text: str
    tables: list[RenderedTable]
    figures: list[RenderedFigure]


@dataclass(frozen=True)
class Report:
    """Everything the templates need; ``summary`` lists the headlines."""

    title: str
    min_count: int
    sections: dict[str, list[RenderedSection]]
    headlines: dict[str, list[RenderedHeadline]]
    methods: list[tuple[str, str]]
    data_quality: RenderedTable
    provenance: Provenance
    stage_titles: list[str] = field(default_factory=list)
    disclosure_audit: RenderedTable | None = None

    @property
    def summary(self) -> pd.DataFrame:
        rows = [
            {
                "view": h.view,
                "key": h.key,
                "label": h.label,
                "value": h.value,
                "lower": h.lower,
                "upper": h.upper,
                "unit": h.unit,
                "stage": h.stage,
            }
            for view in VIEWS
            for h in self.headlines[view]
        ]
        return pd.DataFrame(
            rows, columns=["view", "key", "label", "value", "lower", "upper", "unit", "stage"]
        )

    @property
    def tables(self) -> list[RenderedTable]:
        """Every exported table (research tables, LaTeX-flagged tables, data quality)."""
        out = [t for v in VIEWS for s in self.sections[v] for t in s.tables if t.export_stem]
        audit = [self.disclosure_audit] if self.disclosure_audit is not None else []
        return [*out, self.data_quality, *audit]


# ------------------------------------------------------------------------------------------
# Reading what a manifest names
# ------------------------------------------------------------------------------------------
def read_table(path: str | Path) -> pd.DataFrame:
    """Read a released table (CSV or Parquet); numbers in a column that also holds the
    suppression label are read back as numbers."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, keep_default_na=True)
    for col in table.columns:
        if table[col].dtype == object:
            table[col] = [_number_or_text(v) for v in table[col]]
    return table


def _number_or_text(value):
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value else number


def data_uri(path: Path) -> str:
    """The file as a base64 ``data:`` URI (PNG, JPEG or SVG)."""
    mime = FIGURE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ManifestError(f"{path}: figures must be PNG, JPEG or SVG")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def png_display_width(path: Path, dpi: int = 200, css_dpi: int = 96) -> int | None:
    """CSS pixel width that shows a PNG saved at ``dpi`` at its physical size (None if not PNG).

    Reads the width from the PNG header (bytes 16-20 of the IHDR chunk).
    """
    with path.open("rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return round(int.from_bytes(head[16:20], "big") * css_dpi / dpi)


# ------------------------------------------------------------------------------------------
# Assembly
# ------------------------------------------------------------------------------------------
def render_headline(head: Headline, stage: str) -> RenderedHeadline:
    """A headline with its display text; the manifest's ``digits`` sets the precision."""
    interval = ""
    if head.lower is not None and head.upper is not None:
        interval = (
            f"{format_number(head.lower, head.digits)}–{format_number(head.upper, head.digits)}"
        )
    return RenderedHeadline(
        key=head.key,
        label=head.label,
        view=head.view,
        stage=stage,
        value=head.value,
        lower=head.lower,
        upper=head.upper,
        unit=head.unit or "",
        text=format_number(head.value, head.digits),
        interval_text=interval,
        interval_label=head.interval_label or "interval",
        source=head.source or "",
    )


def render_table(man: Manifest, spec: TableRef, min_count: int, export: bool) -> RenderedTable:
    """Read a released manifest table, check that it shows no small count, format it."""
    shown = read_table(man.path(spec.path))
    check_released(shown, spec.count_columns, min_count, f"{man.name}/{spec.path}")
    return RenderedTable(
        caption=spec.caption,
        source=f"{man.name}/{spec.path}",
        columns=[str(c) for c in shown.columns],
        rows=format_table(shown),
        suppressed=shown,
        export_stem=f"{man.name}-{Path(spec.path).stem}" if export else None,
    )


def render_section(man: Manifest, sec: Section, min_count: int) -> RenderedSection:
    """A section's tables (suppressed, formatted) and figures (embedded)."""
    tables = [
        render_table(man, t, min_count, export=sec.view == "research" or t.latex)
        for t in sec.tables
    ]
    figures = [
        RenderedFigure(
            caption=f.caption,
            alt=f.alt,
            source=f"{man.name}/{f.path}",
            data_uri=data_uri(man.path(f.path)),
            width_px=png_display_width(man.path(f.path)) or 800,
        )
        for f in sec.figures
    ]
    return RenderedSection(
        stage=man.stage,
        view=sec.view,
        title=sec.title,
        text=sec.text,
        tables=tables,
        figures=figures,
    )


def data_quality_table(manifests: list[Manifest], min_count: int) -> RenderedTable:
    """The data-quality table named by a manifest's ``data_quality`` entry (the cohort's)."""
    for man in manifests:
        if man.data_quality is not None:
            return render_table(man, man.data_quality, min_count, export=True)
    raise ManifestError(
        "no manifest names a 'data_quality' table: the describe stage "
        "(reports/cohort) must run before the report"
    )


def disclosure_audit_table(manifests: list[Manifest], min_count: int) -> RenderedTable | None:
    """The disclosure audit the layer added to the describe stage's manifest (if any)."""
    for man in manifests:
        if man.disclosure_audit is not None:
            return render_table(man, man.disclosure_audit, min_count, export=True)
    return None


def run_date(manifests: list[Manifest]) -> str:
    """The report's date: the ``data_cutoff`` a manifest gives (the describe stage's)."""
    for man in manifests:
        if man.data_cutoff:
            return str(man.data_cutoff)
    raise ManifestError(
        f"no {MANIFEST_FILE} gives 'data_cutoff': the describe stage (reports/cohort) must run "
        "before the report, which takes its date from the data"
    )


def methods_paragraphs(
    manifests: list[Manifest], provenance: Provenance, min_count: int
) -> list[tuple[str, str]]:
    """The methods text as (heading, paragraph): each stage's ``methods``, then software,
    parameters and the disclosure rule."""
    paras = [(man.title, man.methods.strip()) for man in manifests]
    software = ", ".join(f"{k} {v}" for k, v in provenance.versions.items() if v != "not installed")
    paras.append(("Software", f"Analyses ran in {software}."))
    sections = ", ".join(provenance.params)
    paras.append(
        (
            "Parameters",
            f"Every choice was read from {provenance.params_file} (SHA-256 "
            f"{provenance.params_sha256[:16]}…); the sections used ({sections}) "
            "are reproduced in the provenance section. Input data SHA-256 "
            f"{provenance.data_sha256[:16]}…; data cut-off {provenance.run_date}.",
        )
    )
    paras.append(("Disclosure control", disclosure_text(min_count)))
    return paras


def disclosure_text(min_count: int) -> str:
    """The methods paragraph of the disclosure layer (analysis/disclosure)."""
    return (
        f"Counts from 1 to {min_count - 1} are suppressed everywhere in this report, its tables "
        "and figures (primary suppression). Further counts are suppressed (secondary) until a "
        "linear-programming audit shows that, from every number released together "
        "(margins, totals, which injector works in which clinic, rates times denominators, "
        "the data-quality counts), none of the suppressed counts can be narrowed to an "
        "interval shorter than the protection width; both kinds show the same label, "
        "\u201csuppressed\u201d, as do values computed from them in the same row. Figures do "
        "not draw withheld values. The audit is summarised in the data-quality section."
    )


def assemble_report(
    manifests: list[Manifest], config: ReportConfig, provenance: Provenance, min_count: int
) -> Report:
    """Build the :class:`Report` (no files written) from checked, released manifests;
    ``min_count`` is ``disclosure.min_count`` (the report refuses a table below it)."""
    sections: dict[str, list[RenderedSection]] = {v: [] for v in VIEWS}
    headlines: dict[str, list[RenderedHeadline]] = {v: [] for v in VIEWS}
    for man in manifests:
        for sec in man.sections:
            sections[sec.view].append(render_section(man, sec, min_count))
        for head in man.headlines:
            headlines[head.view].append(render_headline(head, man.stage))
    return Report(
        title=config.title,
        min_count=min_count,
        sections=sections,
        headlines=headlines,
        methods=methods_paragraphs(manifests, provenance, min_count),
        data_quality=data_quality_table(manifests, min_count),
        provenance=provenance,
        stage_titles=[m.title for m in manifests],
        disclosure_audit=disclosure_audit_table(manifests, min_count),
    )
