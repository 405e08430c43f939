"""The attack of tests/disclosure/attack.py on released cohorts: reading only ``reports/``,
no suppressed count that could be small (its feasible interval reaches below the threshold)
may be narrowed to an interval shorter than the protection width."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from attack import attack, memberships
from cohorts import MIN_TREATMENTS_TO_JUDGE, SPECS, make_cohort

from analysis.config import load_params
from analysis.disclosure.config import DisclosureConfig
from analysis.disclosure.model import LinkedTables
from analysis.disclosure.protect import audit_cells
from analysis.disclosure.release import release


def narrowed(intervals: pd.DataFrame, config: DisclosureConfig) -> pd.DataFrame:
    could_be_small = intervals["lower"] < config.min_count - 1e-6
    return intervals.loc[could_be_small & (intervals["width"] < config.protection_width - 1e-6)]


def test_the_cohorts_are_as_easy_to_attack_as_intended(released):
    episodes, _ = make_cohort(released["spec"])
    if released["name"] == "one_injector_per_clinic":
        assert episodes.groupby("clinic")["injector"].nunique().max() == 1
    elif released["name"] == "one_event_in_a_region":
        assert int(episodes["c30_eyelid_edema"].sum()) == 1
    else:
        assert 1 <= int((episodes["region"] == "platysma").sum()) <= 4


def test_without_complements_the_attack_recovers_suppressed_counts(
    released_without_complements, params
):
    """The attack has teeth: with primary suppression only, the single eyelid-edema event comes
    back exactly (data-quality complication rows minus every other type's total)."""
    intervals = attack(released_without_complements["reports"], MIN_TREATMENTS_TO_JUDGE)
    bad = narrowed(intervals, DisclosureConfig.from_params(params))
    assert len(bad)
    assert (bad["width"] < 1e-6).any()  # at least one count recovered exactly
    # ... and so do the small counts of a clinic's quarters (the clinic's total minus the rest)
    quarters = bad.loc[bad["where"].str.startswith("cohort/clinic_outcomes_by_quarter,")]
    assert (quarters["width"] < 1e-6).any()


def test_the_attack_reaches_every_suppressed_count_of_the_clinic_pages(released):
    """Each adversarial cohort suppresses counts of a clinic's quarters, and the attack tries to
    narrow every suppressed count of the clinic pages' tables."""
    intervals = attack(released["reports"], MIN_TREATMENTS_TO_JUDGE)
    for table in ("clinic_outcomes_by_quarter", "clinic_outcomes_by_region", "clinic_outcomes"):
        attacked = intervals.loc[intervals["where"].str.startswith(f"cohort/{table},")]
        shown = pd.read_csv(released["reports"] / "cohort" / f"{table}.csv", dtype=str)
        counts = shown[["n_episodes", "n_complications", "n_retreated"]]
        assert len(attacked) == int(counts.eq("suppressed").sum().sum()), table
    assert (intervals["where"].str.startswith("cohort/clinic_outcomes_by_quarter,")).any()


def test_no_suppressed_count_can_be_narrowed(released, params):
    config = DisclosureConfig.from_params(params)
    intervals = attack(released["reports"], MIN_TREATMENTS_TO_JUDGE)
    assert len(intervals)  # something was suppressed, so something was attacked
    bad = narrowed(intervals, config)
    assert bad.empty, bad.to_string()


def _membership_options(reports):
    reports = reports / "complications"
    injectors = pd.read_csv(reports / "complication_rates_by_injector.csv", dtype=str)
    clinics = pd.read_csv(reports / "complication_rates_by_clinic.csv", dtype=str)
    return list(memberships(injectors, clinics))


def _true_membership(spec) -> dict:
    episodes, _ = make_cohort(spec)
    return dict(episodes[["injector", "clinic"]].drop_duplicates().itertuples(index=False))


def test_the_attacker_works_out_which_clinic_each_injector_works_in(
    released_without_complements,
):
    """As in the issue: with primary suppression only, the n_treatments columns give every
    injector's clinic, and nothing else fits."""
    truth = _true_membership(SPECS["one_event_in_a_region"])
    assert _membership_options(released_without_complements["reports"]) == [truth]


def test_the_attacker_tries_every_membership_that_fits(released):
    """The attack considers the true assignment (complements may leave others possible)."""
    assert _true_membership(released["spec"]) in _membership_options(released["reports"])


@pytest.mark.slow
def test_the_pipeline_reports_resist_the_attack(pipeline_root):
    params = load_params(pipeline_root / "params.yaml")
    reports = pipeline_root / "reports"
    assert (reports / "cohort" / "disclosure_audit.csv").exists()
    config = DisclosureConfig.from_params(params)
    threshold = params["complications"]["min_treatments_to_judge"]
    intervals = attack(reports, threshold, params["survival"]["turnbull_min_episodes"])
    bad = narrowed(intervals, config)
    assert bad.empty, bad.to_string()


def test_the_certified_audit_gives_what_solving_every_cell_gives(released, monkeypatch):
    """The release's audit skips the LPs of cells already seen wide enough
    (LinkedTables.seen_width); solving every cell instead (the previous method) suppresses the
    same cells and finds the same narrowest interval, and every cell it skipped is provably at
    least as wide as required and as that narrowest interval."""
    params = load_params(Path(released["params"]))
    config = DisclosureConfig.from_params(params)
    stages = list(params["report"]["stages"])
    results = Path(released["results"])
    certified = release(results, Path(released["reports"]).parent / "certified", stages, config)
    monkeypatch.setattr(LinkedTables, "certify", False)
    solved = release(results, Path(released["reports"]).parent / "solved", stages, config)
    assert (certified.protection.status == solved.protection.status).all()
    narrowest = solved.protection.min_width(config.min_count)
    assert certified.protection.min_width(config.min_count) == narrowest
    assert certified.protection.n_lp < solved.protection.n_lp
    assert certified.protection.n_certified > 0
    assert solved.protection.n_certified == 0
    left_out = sorted(
        set(solved.protection.audit["cell"]) - set(certified.protection.audit["cell"])
    )
    assert len(left_out) == certified.protection.n_certified
    exact = audit_cells(certified.model, certified.protection.status, left_out)
    assert (exact["width"] >= config.protection_width - 1e-6).all()
    assert (exact["width"] >= narrowest - 1e-6).all()
