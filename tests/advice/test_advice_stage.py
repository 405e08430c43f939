"""`bonta advise` from the stored model: single patient (text, JSON) and batch CSV."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.advice.store import load_model, save_model
from analysis.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models_dir(advice_fit, tmp_path_factory):
    out = tmp_path_factory.mktemp("advice_models")
    save_model(advice_fit, out)
    return out


def test_stored_model_round_trips(advice_fit, models_dir):
    model = load_model(models_dir)
    assert model.family == advice_fit.family
    stored, fitted = model.spec.to_dict(), advice_fit.spec.to_dict()
    ranges_stored, ranges_fitted = stored.pop("trained_ranges"), fitted.pop("trained_ranges")
    assert stored == fitted
    assert ranges_stored.keys() == ranges_fitted.keys()
    for key, (lo, hi) in ranges_fitted.items():  # JSON keeps 10 decimals
        assert ranges_stored[key] == pytest.approx([lo, hi], abs=1e-9)
    np.testing.assert_allclose(model.posterior["beta"].values, advice_fit.posterior["beta"].values)
    # no patient-level quantities (hence no patient keys) in the stored posterior
    assert set(model.posterior.data_vars) == {
        "mu_region",
        "beta",
        "dose_sd",
        "dose_region",
        "sigma",
        "tau",
    }
    assert "patient" not in model.posterior.dims


def test_stored_posterior_is_inference_data_with_what_loo_needs(advice_fit, models_dir):
    import arviz as az

    idata = az.from_netcdf(models_dir / "posterior.nc")
    assert {"posterior", "sample_stats", "log_likelihood"} <= set(idata.groups())
    ll = idata.log_likelihood["duration"]
    assert ll.dims == ("chain", "draw", "patient")
    assert ll.sizes["patient"] == advice_fit.n_patients
    assert (
        idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
        == (advice_fit.posterior.sizes["sample"])
    )
    assert np.isfinite(ll.values).all()
    from analysis.advice.fit import informative_patients, patient_loo

    keep = informative_patients(idata)  # PSIS-LOO straight from the stored file
    loo = patient_loo(idata, keep)
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == keep.sum()
    assert keep.sum() >= 0.95 * advice_fit.n_patients  # 788 of 800 in the test cohort
    # patients are numbered, never keyed
    assert not any("patient_key" in str(v) for v in idata.log_likelihood.coords.values())


def test_cycle_effect_sits_beside_the_marginal_estimate(advice_fit):
    from analysis.advice.study import AdviceStudy
    from analysis.survival.study import CYCLE_EFFECT_COLUMNS

    study = AdviceStudy(fit=advice_fit, draws=None, table=pd.DataFrame())  # type: ignore[arg-type]
    row = study.cycle_effect()
    assert list(row.columns) == CYCLE_EFFECT_COLUMNS
    r = row.iloc[0]
    assert r["estimator"] == "patient frailty" and r["interval"] == "95% CrI"
    assert r["time_ratio_lower"] < r["time_ratio"] < r["time_ratio_upper"]
    beta = advice_fit.posterior["beta"].sel(covariate="log2_cycle").values
    assert r["time_ratio"] == pytest.approx(np.quantile(np.exp(beta), 0.5), rel=1e-12)


def _single(models_dir, *extra):
    return [
        "advise",
        "--models",
        str(models_dir),
        "--region",
        "glabella",
        "--product",
        "ona",
        "--units",
        "20",
        "--muscle-bulk",
        "2",
        "--exercise",
        "12",
        "--sex",
        "F",
        "--age",
        "45",
        *extra,
    ]


def test_single_patient_text_and_json(models_dir, capsys):
    assert main(_single(models_dir)) == 0
    text = capsys.readouterr().out
    assert "Recommended booking window" in text and "not units" in text
    assert (
        main(
            _single(
                models_dir,
                "--json",
                "--past",
                "region=glabella,product=ona,units=20,date=2026-05-01,wearoff=80",
                "--date",
                "2026-11-24",
            )
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["personalised"] and d["n_history"] == 1
    assert d["booking_start_date"] >= "2027-02-22"  # never before 90 days after 2026-11-24


def test_unknown_region_fails_with_exit_1(models_dir, capsys):
    args = _single(models_dir)
    args[args.index("glabella")] = "earlobe"
    assert main(args) == 1
    assert "column 'region', value 'earlobe'" in capsys.readouterr().err


def test_batch_csv_in_csv_out(models_dir, tmp_path, advice_draws, advice_config):
    upcoming = pd.DataFrame(
        {
            "patient_ref": ["a", "b", "c"],
            "region": ["glabella", "lip_flip", "masseter"],
            "product": ["ona", "abo", "ona"],
            "units": [20, 20, 60],
            "muscle_bulk": [2, 1, 4],
            "exercise_met_h_week": [5, 20, 40],
            "sex": ["F", "F", "M"],
            "age_years": [40, 35, 50],
            "treatment_date": ["2026-11-24", "2026-11-25", ""],
        }
    )
    history = pd.DataFrame(
        {
            "patient_ref": ["a", "a"],
            "treatment_date": ["2026-01-10", "2026-06-01"],
            "region": ["glabella", "glabella"],
            "product": ["ona", "ona"],
            "units": [20, 20],
            "wearoff_day": [70, np.nan],
            "lower_days": [np.nan, 60],
            "upper_days": [np.nan, 95],
        }
    )
    upcoming.to_csv(tmp_path / "in.csv", index=False)
    history.to_csv(tmp_path / "hist.csv", index=False)
    code = main(
        [
            "advise",
            "--models",
            str(models_dir),
            "--batch",
            str(tmp_path / "in.csv"),
            "--history",
            str(tmp_path / "hist.csv"),
            "--out",
            str(tmp_path / "out.csv"),
        ]
    )
    assert code == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out["patient_ref"]) == ["a", "b", "c"]
    assert list(out["n_history"]) == [2, 0, 0]
    assert (out["booking_start_days"] >= 90).all()
    assert (out["lower_days"] < out["median_days"]).all() and (
        out["median_days"] < out["upper_days"]
    ).all()
    # patient a wore off early twice: the personalised median is below the population one
    from analysis.advice.advise import AdviceRequest, advise

    pop = advise(
        AdviceRequest("glabella", "ona", 20, 2, 5, "F", 40, cycle=3), advice_draws, advice_config
    )
    assert out.loc[0, "median_days"] < pop.median_days


def test_batch_error_names_row_not_patient(models_dir, tmp_path):
    bad = pd.DataFrame(
        {
            "patient_ref": ["secret-id-1"],
            "region": ["glabella"],
            "product": ["xyz"],
            "units": [20],
            "muscle_bulk": [2],
            "exercise_met_h_week": [5],
            "sex": ["F"],
            "age_years": [40],
        }
    )
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(Exception) as exc:
        from analysis.cli import build_parser

        args = build_parser().parse_args(
            [
                "advise",
                "--models",
                str(models_dir),
                "--batch",
                str(tmp_path / "bad.csv"),
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        args._run(args)
    assert "row 1" in str(exc.value) and "'xyz'" in str(exc.value)
    assert "secret-id-1" not in str(exc.value)
    assert not (tmp_path / "o.csv").exists()


def test_stage_outputs_are_named_once_and_headlines_match_the_table(
    advice_fit, advice_draws, advice_config, params, tmp_path
):
    """What fit-advice writes (narrative.write_study): manifest, tables, figure, headlines."""
    from analysis.advice import narrative
    from analysis.advice.config import AdviceStudyConfig
    from analysis.advice.study import AdviceStudy
    from analysis.advice.table import advice_table
    from analysis.manifest import load_manifest
    from analysis.outputs import StageOutput

    cfg = AdviceStudyConfig.from_params(params)
    study = AdviceStudy(advice_fit, advice_draws, advice_table(advice_draws, advice_config))
    out = StageOutput(tmp_path, stage=narrative.STAGE, title=narrative.TITLE)
    narrative.write_study(study, cfg, out)
    out.write_manifest(narrative.methods_text(study, cfg))
    manifest = load_manifest(tmp_path)  # checks every named file exists
    assert [s.view for s in manifest.sections] == ["advice", "research"]
    table = pd.read_parquet(tmp_path / "advice_table.parquet")
    ref = table[(table.dose_multiple == 1) & (table.muscle_bulk == 2)]
    ref = ref[ref.exercise_tier == "moderate"].set_index("region")
    heads = {h.key: h for h in manifest.headlines}
    cycle = heads.pop("advice_cycle_time_ratio")
    assert cycle.source == "cycle_effect.csv" and cycle.view == "research"
    # the manifest keeps 10 significant digits
    assert cycle.value == pytest.approx(study.cycle_effect()["time_ratio"].iloc[0], rel=1e-9)
    for head in heads.values():
        region = head.key.removeprefix("advice_median_days_")
        assert head.value == pytest.approx(ref.loc[region, "median_days"], rel=1e-6)
    assert "knot at 1" in manifest.methods and advice_fit.family in manifest.methods
    assert set(study.metrics()) >= {"family", "max_rhat", "elpd_loo", "share_floor_binds"}
