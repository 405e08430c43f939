"""Stage ``report``: assemble the stage manifests into index.html, research.pdf and tables."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import analysis
from analysis.config import load_params
from analysis.disclosure.config import DisclosureConfig
from analysis.manifest import load_manifests
from analysis.report.assemble import assemble_report, run_date
from analysis.report.config import ReportConfig
from analysis.report.manuscript import write_manuscript
from analysis.report.provenance import collect_provenance
from analysis.report.render import export_tables, render_index, render_research, write_pdf

HELP = "Assemble the reports: index.html (three views), research.pdf, tables (CSV, LaTeX)."
DESCRIPTION = """\
Assemble reports/<stage>/manifest.json of every stage in params `report.stages` into
OUT/index.html (Clinic outcomes, Research results, Interval advice; figures embedded, no server
or internet needed), OUT/research.pdf (the research view, WeasyPrint), OUT/tables/*.csv|*.tex and
OUT/manuscript/manuscript.{md,html,pdf} (the paper, with the editable texts of --manuscript-texts).
It reads only what `bonta disclose` released (small counts already suppressed) and refuses a
table that shows a count under `disclosure.min_count`. Nothing is recomputed; a missing manifest is
an error. The provenance footer hashes the input data (--processed) and params.yaml and takes its
date from the data cut-off.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument(
        "--reports",
        type=Path,
        default=None,
        help="directory holding <stage>/manifest.json (default: OUT)",
    )
    parser.add_argument(
        "--manuscript-texts",
        type=Path,
        default=Path("manuscript"),
        help="folder of the manuscript's editable texts (introduction.md, objectives.md, ...)",
    )
    parser.add_argument(
        "--processed",
        type=Path,
        default=Path("data/processed"),
        help="input data hashed into the provenance (default: data/processed)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = ReportConfig.from_params(params)
    min_count = DisclosureConfig.from_params(params).min_count
    out: Path = args.out
    manifests = load_manifests(args.reports or out, list(config.stages))
    provenance = collect_provenance(
        repo_dir=Path.cwd(),
        code_dir=Path(analysis.__file__).parent,
        data_dir=args.processed,
        params_file=args.params,
        sections=list(config.params_sections),
        packages=list(config.packages),
        run_date=run_date(manifests),
    )
    report = assemble_report(manifests, config, provenance, min_count)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(render_index(report), encoding="utf-8")
    shutil.rmtree(out / "tables", ignore_errors=True)
    export_tables(report, out / "tables")
    if config.pdf:
        write_pdf(render_research(report), out / "research.pdf")
    write_manuscript(report, manifests, args.manuscript_texts, out / "manuscript", pdf=config.pdf)
    print(f"report: {len(manifests)} manifests -> {out / 'index.html'}")
    return 0
