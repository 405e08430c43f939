"""The strict parameter loader: every misspelt, missing or mistyped key stops with its path."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

import pytest

from analysis.config import load_params, parse, parse_section, with_overrides
from analysis.errors import ConfigError
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class Gate:
    max_rhat: float
    max_divergences: int = 0


@dataclass(frozen=True)
class Sampler:
    draws: int
    sampler: Literal["nutpie", "pymc"]
    weeks: tuple[float, ...]
    bounds: tuple[float, float]
    gate: Gate
    label: str | None = None
    by_region: dict[str, float] | None = None


GOOD = {
    "draws": 1000,
    "sampler": "nutpie",
    "weeks": [8, 12],
    "bounds": [0, 1],
    "gate": {"max_rhat": 1.01},
    "by_region": {"glabella": 1},
}


def test_a_valid_mapping_becomes_typed_frozen_values():
    cfg = parse(GOOD, Sampler, "advice.sampler")
    assert cfg == Sampler(
        1000, "nutpie", (8.0, 12.0), (0.0, 1.0), Gate(1.01, 0), None, {"glabella": 1.0}
    )
    assert isinstance(cfg.weeks[0], float)
    with pytest.raises(AttributeError):
        cfg.draws = 5  # type: ignore[misc]


def test_a_misspelt_key_names_its_path_and_the_nearest_valid_key():
    bad = {**GOOD, "gate": {"max_rhat": 1.01, "max_divergence": 0}}
    with pytest.raises(
        ConfigError,
        match=r"'advice\.sampler\.gate\.max_divergence'.*"
        r"did you mean 'max_divergences'",
    ):
        parse(bad, Sampler, "advice.sampler")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"draws": "many"}, r"'s\.draws' must be a whole number, got 'many'"),
        ({"draws": True}, r"'s\.draws' must be a whole number"),
        ({"sampler": "nutpy"}, r"'s\.sampler' = 'nutpy': use one of.*did you mean 'nutpie'"),
        ({"weeks": 8}, r"'s\.weeks' must be a list"),
        ({"bounds": [0, 1, 2]}, r"'s\.bounds' must be a list of 2 values"),
        ({"gate": {"max_rhat": "x"}}, r"'s\.gate\.max_rhat' must be a number"),
        ({"by_region": {"glabella": "a"}}, r"'s\.by_region\.glabella' must be a number"),
    ],
)
def test_a_value_of_the_wrong_type_names_key_value_and_rule(change, message):
    with pytest.raises(ConfigError, match=message):
        parse({**GOOD, **change}, Sampler, "s")


def test_a_missing_required_key_is_named_and_defaults_fill_only_optional_keys():
    with pytest.raises(ConfigError, match=r"'s\.draws' is required and missing"):
        parse({k: v for k, v in GOOD.items() if k != "draws"}, Sampler, "s")
    assert (
        parse({k: v for k, v in GOOD.items() if k != "by_region"}, Sampler, "s").by_region is None
    )


def test_sections_and_overrides_are_strict_too(params):
    with pytest.raises(ConfigError, match="no section 'survivl'.*did you mean 'survival'"):
        parse_section(params, "survivl", Gate)
    with pytest.raises(ConfigError, match="no key 'n_patient'.*did you mean 'n_patients'"):
        with_overrides(params, {"simulate.n_patient": 10})
    assert with_overrides(params, {"simulate.n_patients": 10})["simulate"]["n_patients"] == 10


def test_the_vocabulary_is_parsed_once_from_the_study_params(repo_root):
    vocab = Vocabulary.from_params(load_params(repo_root / "params.yaml"))
    assert vocab.region_codes[0] == "glabella" and vocab.reference_dose_units["glabella"] == 20
    assert vocab.units_per_ona_unit["abo"] == 2.5
    assert "glabella" in vocab.complication_regions["eyelid_ptosis"]


def test_the_vocabulary_rejects_a_misspelt_key_and_an_unknown_region(params):
    bad = with_overrides(params, {})
    bad["regions"]["glabella"]["reference_dose_unit"] = 20
    with pytest.raises(ConfigError, match=r"'regions\.glabella\.reference_dose_unit'"):
        Vocabulary.from_params(bad)
    bad = with_overrides(params, {})
    bad["complication_types"]["dysphagia"]["regions"] = ["neck"]
    with pytest.raises(ConfigError, match=r"unknown regions: \['neck'\]"):
        Vocabulary.from_params(bad)


@dataclass(frozen=True)
class Period:
    start: datetime.date
    cutoff: datetime.date | None = None


def test_dates_are_read_from_yaml_dates_or_iso_text():
    got = parse({"start": datetime.date(2022, 1, 1), "cutoff": "2024-12-31"}, Period, "p")
    assert got == Period(datetime.date(2022, 1, 1), datetime.date(2024, 12, 31))
    assert parse({"start": "2022-01-01", "cutoff": None}, Period, "p").cutoff is None
    with pytest.raises(
        ConfigError, match=r"'p\.start' must be a date YYYY-MM-DD, got '31/12/2024'"
    ):
        parse({"start": "31/12/2024"}, Period, "p")
