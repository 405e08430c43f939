"""What the describe stage records (analysis/cohort/narrative.py): tables, headlines, methods."""

import pandas as pd
import pytest

from analysis.cohort.describe import DescribeConfig, describe_cohort
from analysis.cohort.narrative import STAGE, TITLE, cohort_methods, record_cohort
from analysis.manifest import load_manifest
from analysis.outputs import StageOutput

CONFIG = DescribeConfig(
    min_count=5, table1_by="sex", ci_level=0.95, bootstrap_replicates=400, seed=11
)


@pytest.fixture(scope="module")
def recorded(synthetic, tmp_path_factory):
    episodes, raw, dq = synthetic
    cohort = describe_cohort(episodes, dq, pd.Timestamp("2024-12-31"), CONFIG)
    out = StageOutput(tmp_path_factory.mktemp("cohort"), stage=STAGE, title=TITLE)
    dq_ref = record_cohort(cohort, CONFIG, out)
    out.write_manifest(
        cohort_methods(cohort, CONFIG), data_cutoff="2024-12-31", data_quality=dq_ref
    )
    return cohort, raw, load_manifest(out.directory)


def test_every_output_is_written_and_read_back_through_the_typed_manifest(recorded):
    _, _, man = recorded
    shown = [t.path for s in man.sections for t in s.tables]
    assert shown == [
        "cohort_at_glance.csv",
        "cohort_outcomes.csv",
        "episodes_by_region.csv",
        "quarterly_trends.csv",
        "table1.csv",
    ]
    assert [f.path for s in man.sections for f in s.figures] == [
        "episodes_by_region.png",
        "quarterly_trends.png",
    ]
    assert man.data_quality.path == "data_quality.csv"
    assert man.data_cutoff == "2024-12-31"
    assert [t.latex for s in man.sections for t in s.tables] == [False] * 4 + [True]


def test_headlines_equal_the_tables_they_cite(recorded):
    cohort, raw, man = recorded
    heads = {h.key: h for h in man.headlines}
    assert heads["cohort_n_patients"].value == len(raw["patient_id"])
    for head in man.headlines:
        table = pd.read_csv(man.path(head.source))
        if head.source == "cohort_at_glance.csv":
            measure = head.key.removeprefix("cohort_")
            assert str(table.set_index("measure").loc[measure, "value"]) == str(head.value)
        else:
            column = head.key.removeprefix("cohort_")
            assert table[column].iloc[0] == pytest.approx(head.value, rel=1e-5)  # CSV: 6 digits
    label = heads["cohort_complication_rate_pct"].interval_label
    assert label == "95% patient-clustered Wilson interval"
    assert heads["cohort_median_retreat_days"].interval_label == "95% patient-bootstrap interval"


def test_methods_repeat_no_count(recorded):
    """Counts live in the tables only (where the disclosure layer protects them; a total may
    have to be withheld in a small cohort); the methods point at the tables."""
    _, raw, man = recorded
    assert f"{len(raw['patient_id'])}" not in man.methods and "Cohort at a glance" in man.methods
    assert "unknown region code" not in man.methods and "data-quality table" in man.methods
    assert "95% Wilson intervals at the effective sample size" in man.methods
    assert "percentile intervals from 400 patient-bootstrap replicates" in man.methods
