"""Markdown of the manuscript: building blocks, heading ids, sections, and HTML/PDF rendering.

The manuscript's source is Markdown (CommonMark + pipe tables) a researcher can edit;
:func:`render_html` turns it (edited or not) into one self-contained HTML page, figures
embedded, and :func:`write_pdf` into the PDF. Every heading gets the id :func:`heading_id`
of its text, which is how the STROBE/TRIPOD checklists point at sections.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from analysis.report.formatting import format_number, format_p

NUMERIC = re.compile(r"^([<>≤≥−–-]?\d|suppressed$|–$)")
CAPTION_BEFORE_TABLE = re.compile(
    r'<p class="table-caption">(.*?)</p>\n<table class="(\w+)">', re.S
)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: Paragraphs under a heading whose id starts with this are set small, in two columns.
PARAMETER_HEADING = "appendix_c_parameters"
MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def heading_id(text: str) -> str:
    """Id of a heading: lower-case words joined by ``_`` (``Time to re-treatment`` ->
    ``time_to_re_treatment``); Markdown emphasis and link syntax are ignored."""
    plain = re.sub(r"[*_`\[\]]|\(#[^)]*\)", "", text)
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


def sections(markdown: str) -> dict[str, tuple[str, str]]:
    """Every heading of ``markdown``: id -> (heading text, text up to the next heading of the
    same or a higher level, subsections included)."""
    lines = markdown.splitlines()
    heads = [
        (i, len(m.group(1)), m.group(2))
        for i, line in enumerate(lines)
        if (m := HEADING.match(line))
    ]
    out: dict[str, tuple[str, str]] = {}
    for k, (start, level, text) in enumerate(heads):
        end = next((i for i, lv, _ in heads[k + 1 :] if lv <= level), len(lines))
        out[heading_id(text)] = (text, "\n".join(lines[start + 1 : end]).strip())
    return out


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------
def cell(value: Any, digits: int | None = None) -> str:
    """Display text of a released value (a suppressed count keeps its label)."""
    return format_number(value, digits).replace("|", "\\|")


def p_cell(value: Any) -> str:
    """A p-value as shown in the manuscript (``<0.001``, never ``8.86e-204``)."""
    return format_p(value)


def with_interval(est: Any, lower: Any, upper: Any, digits: int | None = None) -> str:
    """``est (lower–upper)``; any suppressed or missing part shows the estimate alone."""
    parts = [est, lower, upper]
    if any(isinstance(v, str) for v in parts):
        return cell(est if isinstance(est, str) else "suppressed")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in parts[1:]):
        return cell(est, digits)
    return f"{cell(est, digits)} ({cell(lower, digits)}–{cell(upper, digits)})"


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], number: int, caption: str, source: str
) -> str:
    """A captioned pipe table; the caption names the released file it comes from."""
    head = "| " + " | ".join(header) + " |"
    numeric = [
        all(NUMERIC.match(str(row[i])) for row in rows) if rows else False
        for i in range(len(header))
    ]
    rule = "| " + " | ".join("---:" if num else "---" for num in numeric) + " |"
    body = ["| " + " | ".join(str(c).replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(
        [f"**Table {number}.** {caption} (source: `reports/{source}`)", "", head, rule, *body]
    )


def figure(path: str, number: int, caption: str, alt: str) -> str:
    """An image with its numbered caption (``path`` relative to the Markdown file)."""
    return f"![{alt}]({path})\n\n*Figure {number}.* {caption}"


# ------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_body(markdown: str, base_dir: Path, embed: bool = True) -> str:
    """HTML of the Markdown body: heading ids, table captions classed, wide tables marked,
    images embedded as data URIs (``embed``) or left as paths relative to ``base_dir``."""
    md = _parser()
    tokens = md.parse(markdown)
    current = ""
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            current = heading_id(tokens[i + 1].content)
            tok.attrSet("id", current)
        elif tok.type == "paragraph_open" and tokens[i + 1].content.startswith("**Table "):
            tok.attrSet("class", "table-caption")
        elif tok.type == "paragraph_open" and current.startswith(PARAMETER_HEADING):
            tok.attrSet("class", "param-appendix")
        elif tok.type == "table_open":
            first_row_end = next(j for j in range(i, len(tokens)) if tokens[j].type == "tr_close")
            n_cols = sum(1 for t in tokens[i:first_row_end] if t.type == "th_open")
            tok.attrSet("class", "wide" if n_cols > 7 else "narrow")
        elif tok.type == "blockquote_open":
            tok.attrSet("class", "banner")
        elif tok.type == "inline" and tok.children:
            for child in tok.children:
                if child.type == "image" and embed:
                    src = str(child.attrGet("src") or "")
                    target = (base_dir / src).resolve()
                    if not src.startswith(("data:", "http")) and target.is_file():
                        child.attrSet("src", _data_uri(target))
    html = md.renderer.render(tokens, md.options, {})
    # the caption paragraph moves into its table, so that it prints on the table's first page
    return CAPTION_BEFORE_TABLE.sub(r'<table class="\2">\n<caption>\1</caption>', html)
