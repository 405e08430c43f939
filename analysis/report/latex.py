"""LaTeX export of report tables (booktabs ``tabular`` in a ``table`` float)."""

from __future__ import annotations

import re

import pandas as pd

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
}
_PATTERN = re.compile("|".join(re.escape(k) for k in _SPECIAL))


def escape_latex(text: str) -> str:
    """Escape the characters LaTeX treats specially.

    >>> escape_latex("n_episodes <5 & 10%")
    'n\\\\_episodes \\\\textless{}5 \\\\& 10\\\\%'
    """
    return _PATTERN.sub(lambda m: _SPECIAL[m.group(0)], str(text))


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table; cells must already be formatted text (``formatting.format_table``).

    Numeric-looking columns are right-aligned, others left-aligned.
    """

    def numeric(col: pd.Series) -> bool:
        return bool(col.astype(str).str.fullmatch(r"[-+]?[\d.,]+(e[-+]?\d+)?|–|<\d+").all())

    align = "".join("r" if numeric(table[c]) else "l" for c in table.columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{escape_latex(caption)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(escape_latex(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(escape_latex(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)
