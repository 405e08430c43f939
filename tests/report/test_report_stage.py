"""The report stage (analysis/stages/report.py, analysis/report/) on fake manifests."""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from report_html import html_tables

from analysis.cli import main
from analysis.report.formatting import format_number
from analysis.report.provenance import NOT_A_CHECKOUT, git_commit, uncommitted_changes


def _page(built) -> str:
    return (built["reports"] / "index.html").read_text()


def _rebuild(built, tmp_path, edit=None, pdf=None) -> Path:
    """Copy the stage outputs, optionally edit them, and run the report stage again."""
    reports = tmp_path / "reports"
    for stage in ("cohort", "survival", "complications", "advice"):
        shutil.copytree(built["reports"] / stage, reports / stage)
    if edit:
        edit(reports)
    params_file = built["params"]  # same parameters: same bytes expected
    if pdf is not None:
        params = yaml.safe_load(built["params"].read_text())
        params["report"]["pdf"] = pdf
        params_file = tmp_path / "params.yaml"
        params_file.write_text(yaml.safe_dump(params))
    code = main(
        [
            "report",
            "--params",
            str(params_file),
            "--processed",
            str(built["processed"]),
            "--out",
            str(reports),
        ]
    )
    assert code == 0
    return reports


def test_small_counts_are_suppressed_with_their_derived_values(built_report):
    """The page shows the released tables: a small count and the values computed from it in
    its row are "suppressed"; counts of 5 or more and zeros are shown."""
    tables = html_tables(_page(built_report))
    rows = {r[0]: r for r in tables["survival/median_duration_by_region.csv"]}
    assert rows["lip_flip"][1:] == ["suppressed"] * 4
    assert rows["glabella"][1:3] == ["412", "128.4"]
    # 2 events among 233 episodes: the rate and its interval would give the 2 back
    rates = {r[0]: r for r in tables["complications/rates_by_region.csv"]}
    assert rates["forehead"][1:] == ["233", "suppressed", "suppressed", "suppressed", "suppressed"]
    advice = tables["advice/advice_table.csv"]
    assert [r[4] for r in advice][:3] == ["120", "suppressed", "120"]
    analyst = pd.read_csv(built_report["results"] / "survival" / "median_duration_by_region.csv")
    assert analyst.set_index("region").loc["lip_flip", "n_episodes"] == 3  # kept under data/


def test_every_manifest_table_and_figure_is_on_the_page(built_report):
    page = _page(built_report)
    tables = html_tables(page)
    for name, man in built_report["fakes"].items():
        for sec in man["sections"]:
            for t in sec.get("tables", []):
                assert f"{name}/{t['path']}" in tables
            for f in sec.get("figures", []):
                assert f'data-source="{name}/{f["path"]}"' in page
    assert 'data-source="cohort/table1.csv"' in page


def test_headlines_are_taken_from_the_manifest_not_the_template(built_report, tmp_path):
    def edit(reports):
        path = reports / "survival" / "manifest.json"
        man = json.loads(path.read_text())
        man["headlines"][0].update(value=99.94, lower=90.01, upper=109.5)
        path.write_text(json.dumps(man))

    page = (_rebuild(built_report, tmp_path, edit, pdf=False) / "index.html").read_text()
    match = re.search(
        r'data-headline="median_days_glabella" data-value="([^"]+)"'
        r'.*?<span class="value">([^<]+)</span>.*?class="interval-text">([^<]+)<',
        page,
        re.S,
    )
    assert match is not None
    assert match.groups() == ("99.94", "99.9", "90.0–109.5")


def test_research_tables_are_exported_as_csv_and_latex(built_report):
    out = built_report["reports"] / "tables"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{stem}.{ext}"
        for stem in (
            "cohort-table1",
            "cohort-follow_up_summary",
            "survival-time_ratios",
            "survival-aft_unadjusted_time_ratios",
            "cohort-data_quality",
            "cohort-disclosure_audit",
        )
        for ext in ("csv", "tex")
    )
    exported = pd.read_csv(out / "survival-time_ratios.csv")
    source = pd.read_csv(built_report["reports"] / "survival" / "time_ratios.csv")
    pd.testing.assert_frame_equal(exported, source)
    tex = (out / "cohort-table1.tex").read_text()
    n_rows = len(pd.read_csv(out / "cohort-table1.csv"))
    assert tex.count(r" \\") == n_rows + 1
    dq = pd.read_csv(out / "cohort-data_quality.csv", dtype=str)
    assert "suppressed" in set(dq["rows_excluded"])  # 3 rows excluded for an unknown region code


def test_provenance_footer_hashes_inputs_and_dates_from_the_data(built_report):
    page = _page(built_report)

    def footer(key):
        return re.search(rf'data-provenance="{key}">([^<]+)<', page).group(1)

    assert (
        footer("params_sha256") == hashlib.sha256(built_report["params"].read_bytes()).hexdigest()
    )
    files = sorted(p for p in built_report["processed"].rglob("*") if p.is_file())
    lines = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  "
        f"{p.relative_to(built_report['processed']).as_posix()}\n"
        for p in files
    )
    assert footer("data_sha256") == hashlib.sha256(lines.encode()).hexdigest()
    assert footer("run_date") == "2024-12-31"  # the synthetic data cut-off, not today
    assert re.fullmatch(r"[0-9a-f]{40}|" + NOT_A_CHECKOUT, footer("git_commit"))
    assert footer("uncommitted") == "none" or footer("uncommitted").startswith(
        ("analysis/", "params.yaml")
    )
    assert 'data-params-section="disclosure"' in page and "min_count: 5" in page


def test_methods_paragraph_assembles_stage_methods_and_versions(built_report):
    page = _page(built_report)
    methods = page[
        page.index('id="methods"') : page.index("</article>", page.index('id="methods"'))
    ]
    for man in built_report["fakes"].values():
        assert man["methods"] in methods
    import lifelines

    assert f"lifelines {lifelines.__version__}" in methods
    # from the cohort manifest, i.e. from the data: the first treatment date it found
    glance = pd.read_csv(built_report["reports"] / "cohort" / "cohort_at_glance.csv")
    first = glance.set_index("measure").loc["first_treatment", "value"]
    assert f"treated between {first} and" in methods


def test_rebuilding_gives_identical_bytes(built_report, tmp_path):
    again = _rebuild(built_report, tmp_path)
    first = built_report["reports"]
    for rel in [
        "index.html",
        "research.pdf",
        "manuscript/manuscript.md",
        "manuscript/manuscript.html",
        "manuscript/manuscript.pdf",
        "manuscript/participant_flow.png",
        *[f"tables/{p.name}" for p in (first / "tables").iterdir()],
    ]:
        assert (again / rel).read_bytes() == (first / rel).read_bytes(), rel


def test_pdf_embeds_research_figures_at_full_resolution(built_report):
    pdf = (built_report["reports"] / "research.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    png = built_report["reports"] / "survival" / "time_ratio_forest.png"
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert f"/Width {width}".encode() in pdf  # not resampled: 200 dpi as saved


def test_missing_manifest_stops_the_report_with_a_clear_message(built_report, tmp_path, capsys):
    reports = tmp_path / "reports"
    shutil.copytree(built_report["reports"] / "cohort", reports / "cohort")
    shutil.copytree(built_report["reports"] / "survival", reports / "survival")
    code = main(
        [
            "report",
            "--params",
            str(built_report["params"]),
            "--processed",
            str(built_report["processed"]),
            "--out",
            str(reports),
        ]
    )
    assert code == 1
    assert "complications/manifest.json is missing" in capsys.readouterr().err
    assert not (reports / "index.html").exists()


def test_git_commit_outside_a_checkout(tmp_path):
    assert git_commit(tmp_path) == NOT_A_CHECKOUT
    assert uncommitted_changes(tmp_path) == ()


def test_uncommitted_source_changes_are_named(tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "model.py").write_text("A = 1\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "notes.txt").write_text("not a source\n")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    assert uncommitted_changes(tmp_path) == ()
    (tmp_path / "analysis" / "model.py").write_text("A = 2\n")
    (tmp_path / "analysis" / "new.py").write_text("B = 1\n")
    (tmp_path / "params.yaml").unlink()
    (tmp_path / "notes.txt").write_text("edited, but not a source\n")
    assert uncommitted_changes(tmp_path) == ("analysis/model.py", "analysis/new.py", "params.yaml")


@pytest.mark.parametrize(
    "value, digits, text",
    [
        (128.43, None, "128.4"),
        (1.19, 2, "1.19"),
        (600, None, "600"),
        (0.0123, None, "0.0123"),
        (float("nan"), None, "–"),
        (144.6, 0, "145"),
        ("2024-12-31", None, "2024-12-31"),
    ],
)
def test_number_formatting(value, digits, text):
    assert format_number(value, digits) == text
