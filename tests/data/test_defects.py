"""The defect corpus (tests/data/defects/): every case gives exactly its expected problems.

Each case is the clean hand-written export with one defect. It runs through the prepare stage
(``analysis.stages.prepare.run``, as ``bonta prepare`` does) and must give exactly the expected
root problems (file, row, column, value, rule, knock-on count), show no identifier, write
nothing (no outputs, metrics or private files; the full problem list only when the message
does not show it all), and leave the input byte for byte as it was.
"""

from __future__ import annotations

import argparse

import pytest
import yaml
from defects.builder import SECRETS, build, fingerprint
from defects.cases import CASES

from analysis.config import with_overrides
from analysis.errors import InputValidationError
from analysis.stages.prepare import run

#: Defects named in issue 14 ("Exports as clinics write them"), each a case of the corpus.
ISSUE_CASES = {
    "latin1_far_into_the_file",
    "latin1_in_header",
    "cp1252_in_code",
    "empty_file",
    "decimal_comma_unquoted",
    "timestamp_with_bad_offset",
    "assessment_five_years_ahead",
    "day_month_column_undeclared",
    "sheet_with_another_header",
    "swapped_sex_and_patient_id_headers",
    "missing_key_column",
    "semicolon_delimiter",
    "units_text",
    "units_one_megabyte",
    "cutoff_unknown",
}


def test_the_corpus_holds_at_least_40_cases_and_every_defect_of_the_issue():
    assert len(CASES) >= 40
    assert ISSUE_CASES <= set(CASES)


def _as_tuple(p) -> tuple:
    row = (p.file, p.row, p.column, p.value, p.rule)
    return row + (p.knock_on,) if p.knock_on else row


@pytest.mark.parametrize("name", sorted(CASES))
def test_defect_gives_exactly_its_problems_and_writes_nothing(name, params, tmp_path, monkeypatch):
    case = CASES[name]
    monkeypatch.setenv("BONTA_PSEUDONYM_KEY", "corpus-key")
    raw = build(case, tmp_path / "raw")
    before = fingerprint(raw)
    overrides = {**case.params, "data.cutoff_date": case.cutoff}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(with_overrides(params, overrides)))
    outs = {
        "out": tmp_path / "processed",
        "metrics": tmp_path / "reports" / "data_quality.json",
        "private": tmp_path / "private",
    }
    problems_file = tmp_path / "problems" / "prepare.csv"
    args = argparse.Namespace(
        params=tmp_path / "params.yaml",
        input=raw,
        mapping=None,
        problems=problems_file,
        **outs,
    )
    with pytest.raises(InputValidationError) as info:
        run(args)
    err = info.value
    assert tuple(_as_tuple(p) for p in err.problems) == case.expected
    message = str(err)
    assert "nothing was written" in message
    for secret in SECRETS:
        assert secret not in message
    assert not any(p.exists() for p in outs.values())
    if err.complete:
        assert not problems_file.exists()
    else:
        assert f"is in {problems_file}" in message
        listed = problems_file.read_text()
        assert not any(secret in listed for secret in SECRETS)
    assert fingerprint(raw) == before
