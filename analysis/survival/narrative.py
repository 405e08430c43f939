"""What the survival stage tells its readers: tables, figures, sections, headlines, methods.

:func:`write_study` writes every table and figure of a :class:`~analysis.survival.study.
SurvivalStudy` through the stage's :class:`~analysis.outputs.StageOutput`, each named once
where it is written and placed in its manifest section; :func:`methods_text` is generated from
the settings actually used.
"""

from __future__ import annotations

from importlib.metadata import version

import lifelines
import numpy as np
import pandas as pd

from analysis.disclosure.cubes import grid_counts
from analysis.disclosure.spec import Below, Count
from analysis.figures import survival as figures
from analysis.figures.theme import theme
from analysis.manifest import Headline
from analysis.outputs import StageOutput
from analysis.survival.config import SurvivalStudyConfig
from analysis.survival.covariates import EXERCISE, MUSCLE_BULK, SEX_MALE, TOUCHUP
from analysis.survival.study import SurvivalStudy

STAGE = "fit_survival"
TITLE = "Duration of effect"
#: time ratios shown as headlines (research view; the touch-up effect also in the clinic view)
HEADLINE_TERMS = (EXERCISE, MUSCLE_BULK, SEX_MALE, TOUCHUP)
#: Cubes of the fine counts behind the stage's counts (analysis/disclosure)
DURATION_CUBE = "survival.duration_episodes"
KNOWN_CUBE = "survival.known_effective"
CLINIC_CUBE = "survival.duration_episodes_by_clinic"
CLINIC_DIMS = ("clinic", "region")
#: the stratifying variables of the Turnbull estimates (columns of the episodes)
STRATA = ("region", "product", "exercise_tier", "muscle_bulk")
MEDIAN_DERIVED = ("median_days", "median_lower", "median_upper")


def write_cubes(episodes: pd.DataFrame, out: StageOutput) -> None:
    """Episodes in the duration analysis by region x product x exercise tier x muscle bulk
    (every network ``n_episodes`` of the stage is a margin of it) and by clinic x region (the
    clinic pages' table). The two share only the region: no cycle of shared dims."""
    rows = episodes.loc[episodes["in_duration_analysis"].astype(bool)]
    levels = {v: sorted(episodes[v].dropna().astype(str).unique()) for v in STRATA}
    out.cube(DURATION_CUBE, "duration_episodes", grid_counts(rows, levels), STRATA)
    by_clinic = {v: sorted(episodes[v].dropna().astype(str).unique()) for v in CLINIC_DIMS}
    out.cube(CLINIC_CUBE, "duration_episodes", grid_counts(rows, by_clinic), CLINIC_DIMS)


def _episode_counts(by: str = "region") -> tuple[Count, ...]:
    return (
        Count("n_episodes", cube=DURATION_CUBE, by={by: "region"}),
        Count("n_patients", family="duration_patients", by={by: "region"}, at_most="n_episodes"),
    )


def write_study(study: SurvivalStudy, cfg: SurvivalStudyConfig, out: StageOutput) -> None:
    """Write every table and figure of ``study`` and record sections and headlines in ``out``."""
    with theme():
        _clinic_medians(study, out)
        record_clinic_durations(
            study.nonparametric.median_by_clinic_region, cfg.survival.turnbull_min_episodes, out
        )
        _nonparametric(study, cfg, out)
        _regression(study, out)
        _retreatment(study, out)
        _prediction(study, out)
    _headlines(study, out)


def _clinic_medians(study: SurvivalStudy, out: StageOutput) -> None:
    sec = out.section(
        "clinic",
        "Median duration by region",
        "Median days until the treated region is back at baseline, Turnbull estimate with 95% "
        "patient-bootstrap interval.",
    )
    sec.table(
        study.nonparametric.median_by_region,
        "median_duration_by_region",
        "Median duration (days) by region",
        counts=_episode_counts(),
        derived_columns=MEDIAN_DERIVED,
        latex=True,
    )
    out.table(
        study.nonparametric.curves,
        "turnbull_curves",
        withheld_columns=("n_known_effective",),  # released only at the figure's ticks
    )
    _numbers_known_effective(study, out)
    sec.figure_from(
        "survival_by_region",
        "Proportion still effective by region",
        "Turnbull survival curves of effect duration by region with 95% bands",
        figures.fig_survival_by_region,
        {"curves": "turnbull_curves", "numbers": "numbers_known_effective"},
    )


def record_clinic_durations(table: pd.DataFrame, min_episodes: int, out: StageOutput) -> None:
    """Write ``median_duration_by_clinic_region`` (for download and the clinic pages; no
    section of its own): episodes are cells of the clinic x region cube (a cell without
    episodes has no row), patients an own count bounded by them, the medians withheld with a
    suppressed count, and ``too_few_to_estimate`` declared as saying whether the episodes are
    below ``min_episodes`` (so that a missing estimate narrows no suppressed count)."""
    by = {d: d for d in CLINIC_DIMS}
    out.table(
        table,
        "median_duration_by_clinic_region",
        caption="Median duration (days) by clinic and region",
        counts=(
            Count("n_episodes", cube=CLINIC_CUBE, by=by, complete=True),
            Count(
                "n_patients",
                family="duration_patients_by_clinic_region",
                by=by,
                at_most="n_episodes",
            ),
        ),
        derived_columns=MEDIAN_DERIVED,
        below=(Below("too_few_to_estimate", "n_episodes", min_episodes),),
    )


def _numbers_known_effective(study: SurvivalStudy, out: StageOutput) -> None:
    """The numbers printed under the region curves, declared: day 0 is every episode of the
    region; later days never increase (a cube of their own, ordered by day)."""
    curves = study.nonparametric.curves
    numbers = figures.numbers_known_effective(curves[curves["variable"] == "region"])
    later = numbers.loc[numbers["day"] > 0]
    cube = later.rename(columns={"level": "region", "n_known_effective": "value"})
    out.cube(
        KNOWN_CUBE, "known_effective", cube[["day", "region", "value"]], ("day", "region"), "day"
    )
    out.table(
        numbers,
        "numbers_known_effective",
        counts=(
            Count(
                "n_known_effective", cube=DURATION_CUBE, by={"level": "region"}, where={"day": "0"}
            ),
            Count("n_known_effective", cube=KNOWN_CUBE, by={"level": "region", "day": "day"}),
        ),
    )


def _nonparametric(study: SurvivalStudy, cfg: SurvivalStudyConfig, out: StageOutput) -> None:
    sec = out.section(
        "research",
        "Nonparametric estimates and group comparisons",
        "Turnbull estimates by region, product, exercise tier and muscle bulk; generalised "
        "log-rank tests. A level with fewer than "
        f"{cfg.survival.turnbull_min_episodes} episodes is listed with its counts and no "
        "estimates.",
    )
    sec.table(
        study.nonparametric.estimates,
        "turnbull_estimates",
        "Median and proportion still effective at 8-24 weeks",
        counts=tuple(
            Count(
                c.column,
                cube=c.cube,
                by={"level": v},
                where={"variable": v},
                family=c.family,
                at_most=c.at_most,
            )
            for v in STRATA
            for c in _episode_counts()
        ),
        derived_columns=("estimate", "lower", "upper"),
    )
    sec.table(
        study.nonparametric.logrank_tests,
        "logrank_tests",
        "Generalised log-rank tests",
        latex=True,
    )


def _regression(study: SurvivalStudy, out: StageOutput) -> None:
    reg = study.regression
    sec = out.section(
        "research",
        f"Interval-censored AFT model ({reg.family})",
        "Time ratios above 1 mean a longer effect. Intervals use patient-clustered standard "
        "errors.",
    )
    sec.table(
        reg.model_choice,
        "aft_model_choice",
        "AIC of the AFT families, with the Newton-Raphson iterations and the largest "
        "log-likelihood gradient component at the maximum",
        latex=True,
    )
    sec.table(reg.time_ratios, "aft_time_ratios", "Time ratios with 95% CI", latex=True)
    sec.table(
        reg.unadjusted_time_ratios,
        "aft_unadjusted_time_ratios",
        f"Unadjusted time ratios: one {reg.family} AFT model per candidate predictor "
        "(patient-clustered 95% CI), with the adjusted time ratio beside each",
    )
    sec.table(
        reg.cycle_effect,
        "cycle_effect",
        "Time ratio per doubling of the cycle number: the marginal AFT estimate, biased by "
        "informative cycle accumulation (the patient-frailty estimate belongs beside it)",
    )
    sec.table(reg.dose_slope_test, "dose_slope_test", "Region-specific dose slopes: LR test")
    sec.table(study.aft_vs_turnbull, "aft_vs_turnbull", "Model vs Turnbull curves by region")
    sec.figure(
        figures.fig_forest(reg.time_ratios, f"Time ratios, {reg.family} AFT"),
        "time_ratio_forest",
        "Time ratios",
        "Forest plot of time ratios",
    )
    sec.figure(
        figures.fig_dose_response(reg.dose_response),
        "dose_response_by_region",
        "Predicted median duration against dose",
        "Dose-response curves of predicted median duration per region",
    )
    out.table(reg.model_curves, "aft_model_curves")
    sec.figure_from(
        "aft_vs_turnbull",
        "AFT model (dotted) against Turnbull curves",
        "Model-based and nonparametric survival curves by region",
        figures.fig_survival_by_region,
        {
            "curves": "turnbull_curves",
            "numbers": "numbers_known_effective",
            "model": "aft_model_curves",
        },
    )
    out.table(reg.coefficients_all_families, "aft_coefficients_all_families")
    out.table(reg.dose_response, "dose_response")


def _retreatment(study: SurvivalStudy, out: StageOutput) -> None:
    rt = study.retreatment
    sec = out.section(
        "research",
        "Time to re-treatment (Cox)",
        "Hazard ratios above 1 mean earlier re-treatment; proportional-hazards score tests "
        "(naive and patient-clustered; the clustered p-value decides) before and after acting "
        "on them.",
    )
    sec.table(
        rt.hazard_ratios,
        "retreatment_hazard_ratios",
        "Hazard ratios (clustered SE)",
        latex=True,
    )
    sec.table(
        rt.ph_tests,
        "ph_tests",
        "Proportional-hazards score tests of x*g(t): naive (p, as R cox.zph) and "
        "patient-clustered (p_clustered, Lin & Wei robust score test)",
    )
    sec.table(rt.ph_actions, "ph_actions", "Action taken on failing covariates")


def _prediction(study: SurvivalStudy, out: StageOutput) -> None:
    pred = study.prediction
    sec = out.section(
        "research",
        "Prediction quality",
        "Patient-grouped cross-validation: concordance, Brier scores and calibration.",
    )
    sec.table(
        study.prediction_metrics,
        "prediction_metrics",
        "Cross-validated prediction metrics",
        latex=True,
    )
    sec.table(
        pred.calibration,
        "calibration",
        "Calibration by predicted-risk group",
        counts=(
            Count(
                "n_episodes", family="calibration_group", by={"week": "week", "risk_group": "group"}
            ),
        ),
    )
    sec.figure_from(
        "calibration",
        "Calibration at 12, 16, 20 weeks",
        "Observed against predicted proportion still effective",
        figures.fig_calibration,
        {"table": "calibration"},
    )
    out.table(pred.brier_by_week, "brier_by_week")


def _headlines(study: SurvivalStudy, out: StageOutput) -> None:
    for region, row in study.nonparametric.median_by_region.set_index("region").iterrows():
        out.headline(
            Headline(
                key=f"median_days_{region}",
                label=f"{region} median duration",
                value=row.median_days,
                lower=row.median_lower,
                upper=row.median_upper,
                unit="days",
                view="clinic",
                source="median_duration_by_region.csv",
            )
        )
    for row in study.regression.time_ratios.itertuples():
        if row.term in HEADLINE_TERMS:
            out.headline(
                Headline(
                    key=f"time_ratio_{row.term}",
                    label=row.label,
                    value=row.time_ratio,
                    lower=row.time_ratio_lower,
                    upper=row.time_ratio_upper,
                    unit="time ratio",
                    view="clinic" if row.term == TOUCHUP else "research",
                    source="aft_time_ratios.csv",
                )
            )


def methods_text(study: SurvivalStudy, cfg: SurvivalStudyConfig) -> str:
    """Methods paragraph generated from the settings used."""
    s = cfg.survival
    kkt = study.nonparametric.kkt_metrics()
    choice = study.regression.model_choice
    grad = float(np.nanmax(choice["max_abs_gradient"]))
    return (
        "Durations are interval-censored (last visit still effective, first visit back at "
        "baseline) and episodes cluster within patients; every interval below accounts for "
        "the repeated episodes of a patient. Nonparametric curves: Turnbull NPMLE computed by a "
        "constrained Newton method and stopped on its Kuhn-Tucker conditions (largest violation "
        f"max_j d_j/n - 1 <= {s.turnbull_kkt_tol:g}; largest violation reached "
        f"{kkt['turnbull_max_kkt_violation']:.1e}), "
        f"{s.ci_level:.0%} percentile bands from {s.bootstrap_replicates} patient-level "
        "bootstrap replicates (patients resampled with all their episodes; each replicate a "
        "weighted NPMLE on the full sample's innermost intervals, stopped on the same rule: "
        f"{kkt['turnbull_boot_not_converged']} replicates did not reach it, largest violation "
        f"{kkt['turnbull_boot_max_kkt_violation']:.1e}); groups compared by a generalised "
        "log-rank score test (Fay 1999 logrank scores) with patient-clustered variance, "
        "stratified by region for non-region factors. Medians per clinic and region: the same "
        "NPMLE and patient bootstrap within each clinic x region cell with at least "
        f"{s.turnbull_min_episodes} episodes, smaller cells listed without estimates "
        f"({study.nonparametric.clinic_boot_not_converged} bootstrap replicates of these "
        "medians did not reach the stopping rule). "
        "Regression: interval-censored AFT models "
        f"({', '.join(s.families)}) fitted by Newton-Raphson with analytic gradient and Hessian "
        "(survreg's algorithm; converged when the largest scaled gradient component "
        f"|g_k| max(1, |theta_k|)/max(1, |loglik|) <= {s.aft.gradient_tol:g}; largest absolute "
        f"gradient component {grad:.1e}), chosen by AIC ({study.regression.family}); dose as a "
        "linear spline in log2(dose / reference dose) "
        f"with a knot at {2**cfg.model.dose_knot_log2:g}x the reference, region-specific slopes "
        f"kept only if a likelihood-ratio test (alpha {s.region_slope_alpha}) and AIC support "
        "them; standard errors are patient-clustered sandwich estimates from the analytic "
        "per-episode scores. Unadjusted associations: one AFT model of the chosen family per "
        "candidate predictor (region, product, the dose spline, and each patient term alone), "
        "with the same patient-clustered intervals. The cycle-number time ratio of this "
        "marginal model is population-averaged and biased by informative cycle accumulation "
        "(short-duration patients accumulate cycles); the patient-frailty advice model "
        "estimates it. Time to "
        f"re-treatment: Cox model ({s.cox.ties} ties, Newton-Raphson converged on the score, "
        f"tolerance {s.cox.gradient_tol:g}) with patient-clustered sandwich variance; "
        "proportional hazards tested per covariate by "
        f"score tests of x*g(t) ({s.cox.ph_time_transform} time), reported naive and "
        "patient-clustered (Lin & Wei robust score test); covariates with clustered "
        f"p < {s.cox.ph_alpha} were acted on: failing factors stratified, failing continuous "
        "covariates given separate early/late effects. Prediction quality under "
        f"{s.cv.folds}-fold patient-grouped cross-validation; interval-censored Brier scores "
        "use the conditional probability of the status given the observed interval under the "
        "training Turnbull estimate; the Cox model's cross-validated survival predictions use "
        f"lifelines {lifelines.__version__}."
        + _touchup_sentence(study)
        + f" NumPy {np.__version__}, SciPy {version('scipy')}."
    )


def _touchup_sentence(study: SurvivalStudy) -> str:
    """How touch-ups enter the models (empty when the data have none to compare)."""
    if not study.regression.fit.spec.touchup:
        return ""
    return (
        " Touch-ups (a treatment within prepare.touchup_window_days of the region's previous "
        "treatment, or as the clinic marked it) belong to their episode: duration is counted "
        "from the first injection, the dose is the total including the touch-up's units, and a "
        "touch-up indicator's time ratio compares episodes with and without a touch-up at the "
        "same total dose."
    )
