"""Writing an assembled :class:`~analysis.report.assemble.Report`: HTML, PDF, CSV and LaTeX."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from analysis.io import write_csv
from analysis.manifest import VIEW_READERS, VIEW_TITLES, VIEWS
from analysis.report.assemble import Report
from analysis.report.formatting import slug
from analysis.report.latex import to_latex
from analysis.report.printing import print_parts
from analysis.report.provenance import parameter_lines

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = slug
    return env


def render_index(report: Report) -> str:
    """``index.html``: the three views, headlines marked with ``data-headline``."""
    return (
        _environment()
        .get_template("index.html.j2")
        .render(report=report, views=VIEWS, view_titles=VIEW_TITLES, view_readers=VIEW_READERS)
    )


def render_research(report: Report) -> str:
    """HTML of the research view alone, laid out for print (the PDF's source): simulated-data
    banner on page 1, wide tables on landscape pages or split (:mod:`analysis.report.printing`),
    the parameters as a compact appendix."""
    env = _environment()
    env.filters["print_parts"] = print_parts
    prov = report.provenance
    return env.get_template("research.html.j2").render(
        report=report,
        view_titles=VIEW_TITLES,
        parameters=parameter_lines(prov.params, include_simulate=prov.simulated),
    )


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` to PDF with WeasyPrint (figures keep their 200 dpi PNG resolution)."""
    import weasyprint  # heavy import, only when a PDF is written

    path.parent.mkdir(parents=True, exist_ok=True)
    weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path)
    return path


def export_tables(report: Report, out_dir: Path) -> list[Path]:
    """Write every exported table as CSV (suppressed values) and LaTeX (display text)."""
    written = []
    for table in report.tables:
        assert table.export_stem is not None  # report.tables holds exported tables only
        csv = write_csv(table.suppressed, out_dir / f"{table.export_stem}.csv")
        tex = out_dir / f"{table.export_stem}.tex"
        frame = pd.DataFrame(table.rows, columns=table.columns)
        tex.write_text(to_latex(frame, table.caption or table.export_stem, slug(table.export_stem)))
        written += [csv, tex]
    return written
