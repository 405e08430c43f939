"""The ``report`` section of params.yaml (analysis/report/config.py) is read strictly."""

import pytest

from analysis.config import with_overrides
from analysis.errors import ConfigError
from analysis.report.config import ReportConfig
from analysis.stages.describe import describe_config


def test_the_repository_params_give_every_setting(params):
    config = ReportConfig.from_params(params)
    assert config.title == params["report"]["title"]
    assert config.stages == tuple(params["report"]["stages"])
    assert "cohort" in config.stages and config.pdf in (True, False)


def test_a_misspelt_key_stops_with_its_path_and_the_nearest_name(params):
    bad = dict(params, report={**params["report"], "ci_levl": 0.9})
    with pytest.raises(ConfigError, match=r"'report\.ci_levl' \(did you mean 'ci_level'\?\)"):
        ReportConfig.from_params(bad)


def test_a_missing_key_stops_with_its_path(params):
    report = {k: v for k, v in params["report"].items() if k != "packages"}
    with pytest.raises(ConfigError, match=r"'report\.packages' is required"):
        ReportConfig.from_params(dict(params, report=report))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("report.table1_by", "clinic", r"'report\.table1_by' = 'clinic': use one of"),
        ("report.ci_level", 1.5, r"report\.ci_level must lie in"),
        ("report.pdf", "yes", r"'report\.pdf' must be true or false"),
        ("report.stages", [], r"report\.stages must name at least one"),
    ],
)
def test_a_wrong_value_names_the_key(params, key, value, message):
    with pytest.raises(ConfigError, match=message):
        ReportConfig.from_params(with_overrides(params, {key: value}))


def test_the_cohort_description_takes_its_settings_from_report_and_regions(params):
    config = describe_config(params)
    assert config.min_count == params["disclosure"]["min_count"]
    assert config.table1_by == params["report"]["table1_by"]
    assert config.region_order == tuple(params["regions"])
