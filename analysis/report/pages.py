"""Writing the reader pages of the ``report`` stage: the clinic outcome pages and what
``index.html`` shows of them (the page switch, the network's needs-review box, the advice card).

Each page is one self-contained HTML file (styles inline, charts as inline SVG, no script),
written to ``<out>/clinics/<code>.html``; ``index.html`` stays the entry point and links them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from analysis.report.advice_card import AdviceCard, CardSettings, build_advice_card
from analysis.report.outcomes import OutcomePage, build_pages
from analysis.report.provenance import Provenance
from analysis.report.readers import Released
from analysis.vocabulary import Vocabulary

PAGES_DIR = "clinics"


@dataclass(frozen=True)
class ReaderViews:
    """What the reader views add to the report: outcome pages and the advice card."""

    pages: list[OutcomePage]
    advice_card: AdviceCard | None

    @property
    def network(self) -> OutcomePage:
        return self.pages[0]


def build_reader_views(
    reports: Path, min_count: int, settings: CardSettings, vocabulary: Vocabulary
) -> ReaderViews:
    """Assemble the pages and the card from the released tables under ``reports``."""
    released = Released(reports, min_count)
    return ReaderViews(build_pages(released), build_advice_card(released, settings, vocabulary))


def write_outcome_pages(
    views: ReaderViews,
    out: Path,
    *,
    environment,
    report_title: str,
    provenance: Provenance,
    min_count: int,
) -> list[Path]:
    """Write ``<out>/clinics/<code>.html`` for every page (the directory is replaced)."""
    directory = out / PAGES_DIR
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    template = environment.get_template("outcomes.html.j2")
    written = []
    for page in views.pages:
        path = out / page.filename
        html = template.render(
            page=page,
            pages=views.pages,
            report_title=report_title,
            provenance=provenance,
            run_date=provenance.run_date,
            min_count=min_count,
        )
        path.write_text(html, encoding="utf-8")
        written.append(path)
    return written
