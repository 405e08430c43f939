"""LaTeX export (analysis/report/latex.py)."""

import pandas as pd

from analysis.report.latex import escape_latex, to_latex


def test_special_characters_are_escaped():
    assert escape_latex("rows_in & 10% <5 #1") == r"rows\_in \& 10\% \textless{}5 \#1"


def test_table_has_one_row_per_record_and_aligns_numbers_right():
    frame = pd.DataFrame({"term": ["dose", "sex=M"], "ratio": ["1.19", "<5"]})
    tex = to_latex(frame, "Time ratios", "tr")
    assert r"\begin{tabular}{lr}" in tex
    assert tex.count(r" \\") == 3  # header + 2 rows
    assert r"\label{tab:tr}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
