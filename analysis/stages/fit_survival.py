"""Stage ``bonta fit-survival``: Turnbull curves, interval-censored AFT models, re-treatment Cox.

Reads ``episodes.parquet`` and the ``survival`` section of params.yaml; writes tidy tables
(Parquet + CSV), figures, ``manifest.json`` to ``--out`` and ``reports/metrics/survival.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import lifelines
import numpy as np
import pandas as pd

from analysis.errors import InputValidationError, Problem
from analysis.figures.theme import save_figure, theme
from analysis.io import write_json, write_table
from analysis.params import load_params
from analysis.figures import survival as figures
from analysis.survival import aft, cox, cv, nonparametric
from analysis.survival.config import SurvivalConfig, load_config
from analysis.survival.covariates import UNITS, check_columns, design_matrix, duration_frame, make_spec

HELP = "fit the survival models of effect duration and time to re-treatment"
DESCRIPTION = __doc__


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--episodes", default=Path("data/processed/episodes.parquet"), type=Path)
    parser.add_argument("--out", default=Path("reports/survival"), type=Path)
    parser.add_argument(
        "--metrics",
        default=None,
        type=Path,
        help="metrics JSON (default: <out>/../metrics/survival.json)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    cfg = load_config(params)
    if not args.episodes.exists():
        raise InputValidationError(
            [Problem(str(args.episodes), None, None, None, "file does not exist")]
        )
    episodes = pd.read_parquet(args.episodes)
    metrics_path = args.metrics or args.out.parent / "metrics" / "survival.json"
    results = analyse(episodes, cfg, params, source=args.episodes.name, log=_log)
    write_outputs(results, cfg, args.out, metrics_path)
    return 0


def _log(msg: str) -> None:
    print(f"[fit-survival] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
def analyse(
    episodes: pd.DataFrame,
    cfg: SurvivalConfig,
    params: dict,
    source: str = "episodes.parquet",
    log=lambda m: None,
) -> dict:
    """Run every survival analysis; returns a dict of tables (DataFrames) and small metrics."""
    t0 = time.time()
    df = duration_frame(episodes, source)
    grid = np.arange(*cfg.curve_grid_days) if len(cfg.curve_grid_days) == 3 else None
    out: dict = {
        "n_episodes_total": len(episodes),
        "n_episodes_duration": len(df),
        "n_patients_duration": int(df["patient_key"].nunique()),
    }
    out.update(_nonparametric(df, cfg, grid, log))
    log(f"Turnbull done ({time.time() - t0:.0f} s)")
    out.update(_regression(df, cfg, grid, params))
    log(f"AFT done ({time.time() - t0:.0f} s)")
    out.update(_retreatment(episodes, cfg, source))
    log(f"Cox done ({time.time() - t0:.0f} s)")
    out.update(_prediction(df, cfg, out["chosen_family"], out["spec"]))
    log(f"CV done ({time.time() - t0:.0f} s)")
    return out


def _nonparametric(df: pd.DataFrame, cfg: SurvivalConfig, grid, log) -> dict:
    summaries, curves, n_too_few = [], [], 0
    for k, var in enumerate(cfg.strata):
        res, too_few = nonparametric.turnbull_by(
            df,
            var,
            n_boot=cfg.bootstrap_replicates,
            seed=cfg.seed + 1000 * k,
            ci_level=cfg.ci_level,
            report_weeks=cfg.report_weeks,
            grid_days=grid,
            min_episodes=cfg.turnbull_min_episodes,
        )
        for level, r in res.items():
            summaries.append(r.summary.assign(variable=var, level=level))
            curves.append(r.curve.assign(variable=var))
        if not too_few.empty:
            summaries.append(
                too_few.assign(variable=var)[[*too_few.columns.drop("level"), "variable", "level"]]
            )
            for level, n in too_few.groupby("level", sort=False)["n_episodes"].first().items():
                log(
                    f"Turnbull: {var}={level} has {n} episodes (< {cfg.turnbull_min_episodes}): "
                    "listed without estimates"
                )
            n_too_few += too_few["level"].nunique()
    summary = pd.concat(summaries, ignore_index=True)
    med = summary[(summary["variable"] == "region") & (summary["quantity"] == "median_duration")]
    by_region = med.rename(
        columns={
            "level": "region",
            "estimate": "median_days",
            "lower": "median_lower",
            "upper": "median_upper",
        }
    )[["region", "n_episodes", "n_patients", "median_days", "median_lower", "median_upper"]]
    tests = []
    for var in cfg.strata:
        strata = None if var == "region" else "region"
        r = nonparametric.generalised_logrank(df, var, strata=strata)
        tests.append(
            {
                "variable": var,
                "stratified_by": strata or "",
                "chi2": r.chi2,
                "df": r.df,
                "p": r.p_value,
            }
        )
    return {
        "turnbull_summary": summary,
        "turnbull_levels_not_estimated": n_too_few,
        "turnbull_curves": pd.concat(curves, ignore_index=True),
        "median_by_region": by_region.reset_index(drop=True),
        "logrank": pd.DataFrame(tests),
    }


def _regression(df: pd.DataFrame, cfg: SurvivalConfig, grid, params: dict) -> dict:
    spec0 = make_spec(df, cfg.reference_region, cfg.reference_product, cfg.dose_knot_log2, False)
    choice = aft.choose_family(df, spec0, cfg.families, cfg.ci_level)
    slope_test, common, per_region = aft.compare_dose_slopes(
        df, spec0, choice.chosen, cfg.region_slope_alpha
    )
    best = per_region if slope_test.region_specific else common
    ratios = _time_ratio_table(best)
    model_curves = aft.marginal_survival(best, df, "region", grid[1:])
    return {
        "aic_table": choice.aic_table,
        "chosen_family": choice.chosen,
        "spec": best.spec,
        "aft": best,
        "aft_all_families": pd.concat([f.summary for f in choice.fits.values()], ignore_index=True),
        "slope_test": pd.DataFrame([vars(slope_test)]),
        "time_ratios": ratios,
        "aft_model_curves": model_curves,
        "dose_response": _dose_response(best, df, params, cfg),
    }


def _label(term: str, reference_region: str = "reference") -> str:
    if term.startswith("region_"):
        return f"Region: {term[7:]} vs {reference_region}"
    if term.startswith("product_"):
        return f"Product: {term[8:]} vs ona"
    if term.startswith("dose_slope_below_knot_"):
        return f"Dose doubling (below 2x ref.), {term[22:]}"
    if term == "dose_slope_below_knot":
        return "Dose doubling (below 2x reference)"
    return {
        "sex_M": "Men vs women",
        "muscle_bulk": "Muscle bulk, per grade",
        "exercise_per_10_met_h": "Exercise, per 10 MET-h/week",
        "age_per_10_years": "Age, per 10 years",
        "log2_cycle": "Cycle number, per doubling",
        "baseline_severity": "Baseline severity, per grade",
        "dose_slope_above_knot": "Dose doubling (above 2x reference)",
    }.get(term, term)


def _time_ratio_table(fit: aft.AFTResult) -> pd.DataFrame:
    s = fit.summary[fit.summary["time_ratio"].notna() & (fit.summary["term"] != "Intercept")].copy()
    s["label"] = s["term"].map(lambda t: _label(t, fit.spec.regions[0]))
    s["unit"] = s["term"].map(
        lambda t: UNITS.get(t, "per doubling of dose" if "dose" in t else "vs reference level")
    )
    s["percent_change"] = 100 * (s["time_ratio"] - 1)
    return s[
        [
            "term",
            "label",
            "unit",
            "time_ratio",
            "time_ratio_lower",
            "time_ratio_upper",
            "percent_change",
            "coef",
            "se_robust",
            "se_model",
            "p",
            "family",
        ]
    ].reset_index(drop=True)


def _dose_response(
    fit: aft.AFTResult, df: pd.DataFrame, params: dict, cfg: SurvivalConfig
) -> pd.DataFrame:
    """Predicted median for a typical profile (woman, bulk 2, median exercise, age 45, ona, cycle 1, severity 2)."""
    rel = np.linspace(0.5, 2.5, 21)
    met = float(df["exercise_met_h_week"].median())
    frames = []
    for region in fit.spec.regions:
        ref_units = float(params["regions"][region]["reference_dose_units"])
        frames.append(
            pd.DataFrame(
                {
                    "region": region,
                    "product": cfg.reference_product,
                    "rel_dose": rel,
                    "log2_rel_dose": np.log2(rel),
                    "units_ona_eq": rel * ref_units,
                    "muscle_bulk": 2,
                    "exercise_met_h_week": met,
                    "sex": "F",
                    "age_years": 45.0,
                    "cycle": 1,
                    "baseline_severity": 2,
                }
            )
        )
    return aft.predicted_medians(fit, pd.concat(frames, ignore_index=True), cfg.ci_level)


def _retreatment(episodes: pd.DataFrame, cfg: SurvivalConfig, source: str) -> dict:
    check_columns(episodes, ("retreat_days", "retreat_event", "patient_key"), source)
    data = episodes[episodes["retreat_days"] > 0].reset_index(drop=True)
    spec = make_spec(data, cfg.reference_region, cfg.reference_product, cfg.dose_knot_log2, False)
    x = design_matrix(data, spec)
    work = pd.concat(
        [x, data[["retreat_days", "retreat_event", "patient_key", "region", "product"]]], axis=1
    )
    work["retreat_event"] = work["retreat_event"].astype(bool)
    res = cox.fit_retreatment(
        work,
        list(x.columns),
        cfg.cox.ph_alpha,
        time_transform=cfg.cox.ph_time_transform,
        ties=cfg.cox.ties,
    )
    hr = res.final.summary.copy()
    hr["label"] = hr["term"].map(_label)
    parts = [res.ph_initial.assign(model="initial")]
    if len(res.ph_final) and res.ph_final is not res.ph_initial:
        parts.append(res.ph_final.assign(model="final"))
    ph = pd.concat(parts, ignore_index=True)
    # CV of the final model's structure on unsplit rows (time-split terms enter as one effect)
    cv_terms = [c for c in x.columns if cox._source(c) not in res.final.strata]
    cv_cox = cv.cv_cox(
        work,
        cv_terms,
        list(res.final.strata),
        cfg.cv.folds,
        "retreat_days",
        "retreat_event",
        np.arange(90.0, 361.0, 10.0),
    )
    return {
        "cox_hazard_ratios": hr,
        "ph_tests": ph,
        "ph_actions": res.action.actions,
        "cox": res,
        "cv_cox": cv_cox,
    }


def _prediction(df: pd.DataFrame, cfg: SurvivalConfig, family: str, spec) -> dict:
    res = cv.cv_aft(df, family, spec, cfg.cv.folds, cfg.cv.brier_weeks)
    calib = cv.calibration_table(
        res.predictions,
        cfg.cv.calibration_weeks,
        cfg.cv.risk_groups,
        n_boot=max(50, cfg.bootstrap_replicates // 4),
        seed=cfg.seed,
        ci_level=cfg.ci_level,
    )
    return {"cv_aft": res.summary, "brier_by_week": res.brier, "calibration": calib}


# ---------------------------------------------------------------------------------------------
def _discrepancy(npmle: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    m = npmle[npmle["variable"] == "region"].merge(
        model, on=["group", "time_days"], suffixes=("_npmle", "_model")
    )
    d = (m["survival_model"] - m["survival_npmle"]).abs()
    inside = (m["survival_model"] >= m["lower"]) & (m["survival_model"] <= m["upper"])
    return (
        m.assign(abs_diff=d, inside=inside)
        .groupby("group", as_index=False)
        .agg(
            max_abs_diff=("abs_diff", "max"),
            mean_abs_diff=("abs_diff", "mean"),
            share_inside_band=("inside", "mean"),
        )
    )


def write_outputs(r: dict, cfg: SurvivalConfig, out: Path, metrics_path: Path) -> None:
    """Write tables, figures, manifest and metrics."""
    out.mkdir(parents=True, exist_ok=True)
    disc = _discrepancy(r["turnbull_curves"], r["aft_model_curves"])
    tables = {
        "median_duration_by_region": r["median_by_region"],
        "turnbull_estimates": r["turnbull_summary"],
        "turnbull_curves": r["turnbull_curves"],
        "logrank_tests": r["logrank"],
        "aft_model_choice": r["aic_table"],
        "aft_time_ratios": r["time_ratios"],
        "aft_coefficients_all_families": r["aft_all_families"],
        "dose_slope_test": r["slope_test"],
        "aft_vs_turnbull": disc,
        "dose_response": r["dose_response"],
        "retreatment_hazard_ratios": r["cox_hazard_ratios"],
        "ph_tests": r["ph_tests"],
        "ph_actions": r["ph_actions"],
        "prediction_metrics": pd.concat([r["cv_aft"], r["cv_cox"]], ignore_index=True),
        "brier_by_week": r["brier_by_week"],
        "calibration": r["calibration"],
    }
    for stem, table in tables.items():
        write_table(table, out / stem)
    region_curves = r["turnbull_curves"][r["turnbull_curves"]["variable"] == "region"]
    with theme():
        save_figure(figures.fig_survival_by_region(region_curves), out / "survival_by_region.png")
        save_figure(
            figures.fig_survival_by_region(region_curves, r["aft_model_curves"]),
            out / "aft_vs_turnbull.png",
        )
        save_figure(
            figures.fig_forest(r["time_ratios"], f"Time ratios, {r['chosen_family']} AFT"),
            out / "time_ratio_forest.png",
        )
        save_figure(
            figures.fig_dose_response(r["dose_response"]), out / "dose_response_by_region.png"
        )
        save_figure(figures.fig_calibration(r["calibration"]), out / "calibration.png")
    metrics = _metrics(r, cfg, disc)
    write_json(metrics, metrics_path)
    write_json(_manifest(r, cfg, metrics), out / "manifest.json")


def _metrics(r: dict, cfg: SurvivalConfig, disc: pd.DataFrame) -> dict:
    med = r["median_by_region"].set_index("region")
    cv_all = pd.concat([r["cv_aft"], r["cv_cox"]])
    return {
        "n_episodes_duration": r["n_episodes_duration"],
        "n_patients_duration": r["n_patients_duration"],
        "chosen_family": r["chosen_family"],
        "aic": {row.family: row.aic for row in r["aic_table"].itertuples()},
        "region_specific_dose_slopes": bool(r["slope_test"]["region_specific"].iloc[0]),
        "median_days": {
            k: {"estimate": v.median_days, "lower": v.median_lower, "upper": v.median_upper}
            for k, v in med.iterrows()
        },
        "prediction": {f"{row.endpoint}_{row.metric}": row.estimate for row in cv_all.itertuples()},
        "aft_vs_turnbull_max_abs_diff": float(disc["max_abs_diff"].max()),
        "ph_failing_terms": len(r["ph_actions"]),
        "turnbull_levels_not_estimated": r["turnbull_levels_not_estimated"],
    }


def _manifest(r: dict, cfg: SurvivalConfig, metrics: dict) -> dict:
    fam = r["chosen_family"]
    methods = (
        f"Durations are interval-censored (last visit still effective, first visit back at baseline) and "
        f"episodes cluster within patients. Nonparametric curves: Turnbull NPMLE (EM with SQUAREM), "
        f"{cfg.ci_level:.0%} percentile bands from {cfg.bootstrap_replicates} patient-level bootstrap replicates; "
        f"groups compared by a generalised log-rank score test (Fay 1999 logrank scores) with patient-clustered "
        f"variance, stratified by region for non-region factors. Regression: interval-censored AFT models "
        f"({', '.join(cfg.families)}; lifelines {lifelines.__version__}) chosen by AIC ({fam}); dose as a linear "
        f"spline in log2(dose / reference dose) with a knot at {2**cfg.dose_knot_log2:g}x the reference, "
        f"region-specific slopes kept only if a likelihood-ratio test (alpha {cfg.region_slope_alpha}) and AIC "
        f"support them; standard errors are patient-clustered sandwich estimates. Time to re-treatment: Cox model "
        f"({cfg.cox.ties} ties) with patient-clustered sandwich variance; proportional hazards tested by scaled "
        f"Schoenfeld residuals ({cfg.cox.ph_time_transform} time, alpha {cfg.cox.ph_alpha}); failing factors were "
        f"stratified, failing continuous covariates given separate early/late effects. Prediction quality under "
        f"{cfg.cv.folds}-fold patient-grouped cross-validation; interval-censored Brier scores use the conditional "
        f"probability of the status given the observed interval under the training Turnbull estimate."
    )
    gl = r["median_by_region"].set_index("region")
    headlines = []
    for region, row in gl.iterrows():
        headlines.append(
            {
                "key": f"median_days_{region}",
                "label": f"{region} median duration",
                "value": row.median_days,
                "lower": row.median_lower,
                "upper": row.median_upper,
                "unit": "days",
                "view": "clinic",
                "source": "median_duration_by_region.csv",
            }
        )
    for row in r["time_ratios"].itertuples():
        if row.term in ("exercise_per_10_met_h", "muscle_bulk", "sex_M"):
            headlines.append(
                {
                    "key": f"time_ratio_{row.term}",
                    "label": row.label,
                    "value": row.time_ratio,
                    "lower": row.time_ratio_lower,
                    "upper": row.time_ratio_upper,
                    "unit": "time ratio",
                    "view": "research",
                    "source": "aft_time_ratios.csv",
                }
            )
    sections = [
        {
            "view": "clinic",
            "title": "Median duration by region",
            "text": "Median days until the treated region is back at baseline, Turnbull estimate with 95% patient-bootstrap interval.",
            "tables": [
                {
                    "path": "median_duration_by_region.csv",
                    "caption": "Median duration (days) by region",
                    "count_columns": ["n_episodes", "n_patients"],
                    "latex": True,
                }
            ],
            "figures": [
                {
                    "path": "survival_by_region.png",
                    "caption": "Proportion still effective by region",
                    "alt": "Turnbull survival curves of effect duration by region with 95% bands",
                }
            ],
        },
        {
            "view": "research",
            "title": "Nonparametric estimates and group comparisons",
            "text": "Turnbull estimates by region, product, exercise tier and muscle bulk; generalised log-rank tests. "
            f"A level with fewer than {cfg.turnbull_min_episodes} episodes is listed with its counts and no estimates.",
            "tables": [
                {
                    "path": "turnbull_estimates.csv",
                    "caption": "Median and proportion still effective at 8-24 weeks",
                    "count_columns": ["n_episodes", "n_patients"],
                    "latex": False,
                },
                {
                    "path": "logrank_tests.csv",
                    "caption": "Generalised log-rank tests",
                    "count_columns": [],
                    "latex": True,
                },
            ],
            "figures": [],
        },
        {
            "view": "research",
            "title": f"Interval-censored AFT model ({fam})",
            "text": "Time ratios above 1 mean a longer effect. Intervals use patient-clustered standard errors.",
            "tables": [
                {
                    "path": "aft_model_choice.csv",
                    "caption": "AIC of the AFT families",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "aft_time_ratios.csv",
                    "caption": "Time ratios with 95% CI",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "dose_slope_test.csv",
                    "caption": "Region-specific dose slopes: LR test",
                    "count_columns": [],
                    "latex": False,
                },
                {
                    "path": "aft_vs_turnbull.csv",
                    "caption": "Model vs Turnbull curves by region",
                    "count_columns": [],
                    "latex": False,
                },
            ],
            "figures": [
                {
                    "path": "time_ratio_forest.png",
                    "caption": "Time ratios",
                    "alt": "Forest plot of time ratios",
                },
                {
                    "path": "dose_response_by_region.png",
                    "caption": "Predicted median duration against dose",
                    "alt": "Dose-response curves of predicted median duration per region",
                },
                {
                    "path": "aft_vs_turnbull.png",
                    "caption": "AFT model (dotted) against Turnbull curves",
                    "alt": "Model-based and nonparametric survival curves by region",
                },
            ],
        },
        {
            "view": "research",
            "title": "Time to re-treatment (Cox)",
            "text": "Hazard ratios above 1 mean earlier re-treatment; proportional-hazards tests before and after acting on them.",
            "tables": [
                {
                    "path": "retreatment_hazard_ratios.csv",
                    "caption": "Hazard ratios (clustered SE)",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "ph_tests.csv",
                    "caption": "Scaled Schoenfeld tests",
                    "count_columns": [],
                    "latex": False,
                },
                {
                    "path": "ph_actions.csv",
                    "caption": "Action taken on failing covariates",
                    "count_columns": [],
                    "latex": False,
                },
            ],
            "figures": [],
        },
        {
            "view": "research",
            "title": "Prediction quality",
            "text": "Patient-grouped cross-validation: concordance, Brier scores and calibration.",
            "tables": [
                {
                    "path": "prediction_metrics.csv",
                    "caption": "Cross-validated prediction metrics",
                    "count_columns": [],
                    "latex": True,
                },
                {
                    "path": "calibration.csv",
                    "caption": "Calibration by predicted-risk group",
                    "count_columns": ["n_episodes"],
                    "latex": False,
                },
            ],
            "figures": [
                {
                    "path": "calibration.png",
                    "caption": "Calibration at 12, 16, 20 weeks",
                    "alt": "Observed against predicted proportion still effective",
                }
            ],
        },
    ]
    return {
        "stage": "fit_survival",
        "title": "Duration of effect",
        "methods": methods,
        "sections": sections,
        "headlines": headlines,
    }
