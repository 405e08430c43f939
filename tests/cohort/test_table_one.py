"""Table 1 (analysis/cohort/table_one.py) on the synthetic cohort."""

from analysis.cohort.table_one import table_one
from analysis.disclosure import SUPPRESSED


def test_table_one_groups_add_up_to_overall(synthetic):
    episodes, _, _ = synthetic
    t1 = table_one(episodes, "sex").set_index(["characteristic", "level"])
    patients = t1.loc[("Patients", "")]
    assert int(patients["sex=F"]) + int(patients["sex=M"]) == int(patients["Overall"])
    n_female = episodes.loc[episodes["sex"] == "F", "patient_key"].nunique()
    assert int(patients["sex=F"]) == n_female
    glab = t1.loc[("Region (episodes)", "glabella"), "Overall"]
    n_glab = int((episodes["region"] == "glabella").sum())
    assert glab == f"{n_glab} ({100 * n_glab / len(episodes):.1f}%)"


def test_table_one_suppresses_small_cells(synthetic):
    episodes, _, _ = synthetic
    ep = episodes.copy()
    ep.loc[ep.index[:3], "product"] = "daxi"  # three episodes only
    t1 = table_one(ep, "sex", min_count=5).set_index(["characteristic", "level"])
    assert t1.loc[("Product (episodes)", "daxi"), "Overall"] == SUPPRESSED
    row = t1.loc[("Product (episodes)", "daxi")]
    n_by_sex = ep.loc[ep.index[:3], "sex"].value_counts()
    for sex in ("F", "M"):
        expected = SUPPRESSED if n_by_sex.get(sex, 0) else "0 (0.0%)"
        assert row[f"sex={sex}"] == expected


def test_table_one_by_region_has_a_column_per_region(synthetic):
    episodes, _, _ = synthetic
    t1 = table_one(episodes, "region")
    assert {f"region={r}" for r in episodes["region"].unique()} <= set(t1.columns)
