"""Assembling stage manifests into the report: index.html (three views), research.pdf, tables.

The report only assembles (docs/ARCHITECTURE.md): numbers come from the stage manifests and the
tables they name, never from a template. Small counts are suppressed in every table the report
shows or exports, because the whole page is something a clinic could share.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from analysis.errors import ConfigError
from analysis.report.latex import to_latex
from analysis.report.manifest import (
    VIEW_READERS,
    VIEW_TITLES,
    VIEWS,
    Manifest,
    ReportInputError,
    read_table,
)
from analysis.report.provenance import Provenance
from analysis.report.suppress import suppress_small_counts

TEMPLATES = Path(__file__).parent / "templates"
#: Columns treated as computed from a row's counts when a manifest table declares no
#: ``derived_columns``: observed / crude / raw values (e.g. ``observed_rate``).
OBSERVED_COLUMN = re.compile(r"(^|_)(observed|crude|raw)(_|$)")
DEFAULT_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "lifelines",
    "statsmodels",
    "scikit-survival",
    "pymc",
    "pytensor",
    "arviz",
    "nutpie",
    "matplotlib",
    "seaborn",
    "pyarrow",
    "jinja2",
    "weasyprint",
    "dvc",
)


@dataclass(frozen=True)
class ReportConfig:
    """The ``report`` section of params.yaml.

    Attributes
    ----------
    title : page title.
    min_count : counts 1 .. min_count-1 are shown as ``"<min_count"``.
    stages : stage output directories (under ``reports/``) assembled, in reading order.
    params_sections : params.yaml sections shown in the provenance footer.
    packages : packages whose versions are reported.
    pdf : whether to write research.pdf.
    """

    title: str = "Botulinum toxin A: duration of effect and complications"
    min_count: int = 5
    stages: tuple[str, ...] = ("cohort", "survival", "complications", "advice")
    params_sections: tuple[str, ...] = ("seed", "data", "report")
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    pdf: bool = True

    def __post_init__(self):
        if int(self.min_count) < 1:
            raise ConfigError(f"report.min_count must be >= 1, got {self.min_count}")
        if not self.stages:
            raise ConfigError("report.stages must name at least one stage directory")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ReportConfig:
        rep = params.get("report") or {}
        kwargs: dict[str, Any] = {}
        for key in ("title", "min_count", "pdf"):
            if key in rep:
                kwargs[key] = rep[key]
        for key in ("stages", "params_sections", "packages"):
            if key in rep:
                kwargs[key] = tuple(rep[key])
        return cls(**kwargs)


@dataclass(frozen=True)
class Headline:
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
    """A table as shown: suppressed, formatted cells, and where it is exported."""

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
    headlines: dict[str, list[Headline]]
    methods: list[tuple[str, str]]
    data_quality: RenderedTable
    provenance: Provenance
    stage_titles: list[str] = field(default_factory=list)

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
        return [*out, self.data_quality]


# ------------------------------------------------------------------------------------------
# Formatting
# ------------------------------------------------------------------------------------------
def format_number(value: Any, digits: int | None = None) -> str:
    """Display text of one cell: integers as integers, floats to a sensible precision.

    Missing values print as an en dash. With ``digits`` the value is rounded to that many
    decimals; otherwise 1 decimal from 10, 2 from 1, else 3 significant digits.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if digits is not None:
        return f"{number:.{digits}f}"
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) >= 10:
        return f"{number:.1f}"
    if abs(number) >= 1:
        return f"{number:.2f}"
    return f"{number:.3g}"


def format_table(table: pd.DataFrame) -> list[list[str]]:
    """Rows of display text (see :func:`format_number`); a missing label is an empty cell."""
    text_columns = [not pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    return [
        [
            "" if is_text and _missing(v) else format_number(v)
            for v, is_text in zip(row, text_columns, strict=True)
        ]
        for row in table.itertuples(index=False)
    ]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def headline_from_manifest(head: dict, stage: str) -> Headline:
    """A :class:`Headline` with its display text; ``digits`` in the manifest sets precision."""
    digits = head.get("digits")
    value = head["value"]
    text = format_number(value, digits)
    lower, upper = head.get("lower"), head.get("upper")
    interval = ""
    if lower is not None and upper is not None:
        interval = f"{format_number(lower, digits)}–{format_number(upper, digits)}"
    return Headline(
        key=str(head["key"]),
        label=str(head["label"]),
        view=str(head["view"]),
        stage=stage,
        value=value,
        lower=lower,
        upper=upper,
        unit=str(head.get("unit", "") or ""),
        text=text,
        interval_text=interval,
        interval_label=str(head.get("interval_label", "interval") or "interval"),
        source=str(head.get("source", "") or ""),
    )


def data_uri(path: Path) -> str:
    """The file as a base64 ``data:`` URI (PNG, JPEG or SVG)."""
    mime = {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".svg": "image/svg+xml",
    }.get(path.suffix.lower())
    if mime is None:
        raise ReportInputError(f"{path}: figures must be PNG, JPEG or SVG")
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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# ------------------------------------------------------------------------------------------
# Assembly
# ------------------------------------------------------------------------------------------
def render_table(man: Manifest, spec: dict, min_count: int, export: bool) -> RenderedTable:
    """Read a manifest table, suppress small counts, format it."""
    table = read_table(man.path(spec["path"]))
    derived = spec.get("derived_columns")
    if derived is None:  # not declared: withhold the observed (crude) proportions of the row
        derived = [c for c in table.columns if OBSERVED_COLUMN.search(str(c))]
    shown = suppress_small_counts(table, spec.get("count_columns", []) or [], min_count, derived)
    stem = f"{man.name}-{Path(spec['path']).stem}" if export else None
    return RenderedTable(
        caption=str(spec.get("caption", "")),
        source=f"{man.name}/{spec['path']}",
        columns=[str(c) for c in shown.columns],
        rows=format_table(shown),
        suppressed=shown,
        export_stem=stem,
    )


def render_section(man: Manifest, sec: dict, min_count: int) -> RenderedSection:
    view = sec["view"]
    tables = [
        render_table(man, t, min_count, export=view == "research" or bool(t.get("latex")))
        for t in sec.get("tables", []) or []
    ]
    figures = [
        RenderedFigure(
            caption=str(f.get("caption", "")),
            alt=str(f["alt"]),
            source=f"{man.name}/{f['path']}",
            data_uri=data_uri(man.path(f["path"])),
            width_px=png_display_width(man.path(f["path"])) or 800,
        )
        for f in sec.get("figures", []) or []
    ]
    return RenderedSection(
        stage=man.stage,
        view=view,
        title=str(sec["title"]),
        text=str(sec.get("text", "") or ""),
        tables=tables,
        figures=figures,
    )


def data_quality_table(manifests: list[Manifest], min_count: int) -> RenderedTable:
    """The data-quality table named by a manifest's ``data_quality`` entry (the cohort's)."""
    for man in manifests:
        spec = man.data.get("data_quality")
        if spec:
            if not man.path(spec["path"]).is_file():
                raise ReportInputError(
                    f"{man.directory / 'manifest.json'}: data_quality names "
                    f"{spec['path']!r}, which does not exist"
                )
            return render_table(man, spec, min_count, export=True)
    raise ReportInputError(
        "no manifest names a 'data_quality' table: the describe stage "
        "(reports/cohort) must run before the report"
    )


def run_date(manifests: list[Manifest], params: dict[str, Any]) -> str:
    """The report's date: a manifest's ``data_cutoff`` (from the data) or ``data.cutoff_date``."""
    for man in manifests:
        if man.data.get("data_cutoff"):
            return str(man.data["data_cutoff"])
    cutoff = (params.get("data") or {}).get("cutoff_date")
    if cutoff:
        return str(cutoff)
    raise ReportInputError(
        "no manifest gives 'data_cutoff' and params data.cutoff_date is "
        "null: the report needs a date taken from the data"
    )


def methods_paragraphs(
    manifests: list[Manifest], provenance: Provenance, min_count: int
) -> list[tuple[str, str]]:
    """The methods text as (heading, paragraph): each stage's ``methods``, then software,
    parameters and the disclosure rule."""
    paras = [(str(man.data["title"]), man.data["methods"].strip()) for man in manifests]
    software = ", ".join(f"{k} {v}" for k, v in provenance.versions.items() if v != "not installed")
    paras.append(("Software", f"Analyses ran in {software}."))
    paras.append(
        (
            "Parameters",
            f"Every choice was read from {provenance.params_file} (SHA-256 "
            f"{provenance.params_sha256[:16]}…); the sections used ({', '.join(provenance.params)}) "
            "are reproduced in the provenance section. Input data SHA-256 "
            f"{provenance.data_sha256[:16]}…; data cut-off {provenance.run_date}.",
        )
    )
    paras.append(
        (
            "Disclosure control",
            f"In every table of this report, counts from 1 to "
            f"{min_count - 1} are shown as \u201c<{min_count}\u201d and values computed "
            "from them in the same row are withheld.",
        )
    )
    return paras


def assemble_report(
    manifests: list[Manifest], config: ReportConfig, provenance: Provenance
) -> Report:
    """Build the :class:`Report` (no files written) from checked manifests."""
    sections: dict[str, list[RenderedSection]] = {v: [] for v in VIEWS}
    headlines: dict[str, list[Headline]] = {v: [] for v in VIEWS}
    for man in manifests:
        for sec in man.data["sections"]:
            sections[sec["view"]].append(render_section(man, sec, config.min_count))
        for head in man.data["headlines"]:
            headlines[head["view"]].append(headline_from_manifest(head, man.stage))
    return Report(
        title=config.title,
        min_count=config.min_count,
        sections=sections,
        headlines=headlines,
        methods=methods_paragraphs(manifests, provenance, config.min_count),
        data_quality=data_quality_table(manifests, config.min_count),
        provenance=provenance,
        stage_titles=[str(m.data["title"]) for m in manifests],
    )


# ------------------------------------------------------------------------------------------
# Rendering and writing
# ------------------------------------------------------------------------------------------
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = _slug
    return env


def render_index(report: Report) -> str:
    """``index.html``: the three views, headlines marked with ``data-headline``."""
    return (
        _environment()
        .get_template("index.html.j2")
        .render(report=report, views=VIEWS, view_titles=VIEW_TITLES, view_readers=VIEW_READERS)
    )


def render_research(report: Report) -> str:
    """HTML of the research view alone, laid out for print (the PDF's source)."""
    return (
        _environment()
        .get_template("research.html.j2")
        .render(report=report, view_titles=VIEW_TITLES)
    )


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` to PDF with WeasyPrint (figures keep their 200 dpi PNG resolution)."""
    import weasyprint  # heavy import, only when a PDF is written

    path.parent.mkdir(parents=True, exist_ok=True)
    weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path)
    return path


def export_tables(report: Report, out_dir: Path) -> list[Path]:
    """Write every exported table as CSV (suppressed values) and LaTeX (display text)."""
    from analysis.io import write_csv

    written = []
    for table in report.tables:
        csv = write_csv(table.suppressed, out_dir / f"{table.export_stem}.csv")
        tex = out_dir / f"{table.export_stem}.tex"
        frame = pd.DataFrame(table.rows, columns=table.columns)
        tex.write_text(
            to_latex(frame, table.caption or table.export_stem, _slug(table.export_stem))
        )
        written += [csv, tex]
    return written
