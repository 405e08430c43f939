"""What the fit-advice stage tells its readers: the advice table, figure, sections, methods.

:func:`write_study` writes the tables and the figure of an :class:`~analysis.advice.study.
AdviceStudy` through the stage's :class:`~analysis.outputs.StageOutput`, each named once where
it is written; :func:`methods_text` is generated from what was run (with the validation's
method, :func:`validation_methods`).
"""

from __future__ import annotations

import importlib.metadata

from analysis.advice.config import AdviceStudyConfig
from analysis.advice.fit import AdviceFit
from analysis.advice.study import AdviceStudy
from analysis.advice.table import region_summary
from analysis.disclosure.spec import Count
from analysis.figures.advice import fig_duration_by_dose
from analysis.figures.theme import theme
from analysis.manifest import Headline
from analysis.outputs import StageOutput

STAGE = "fit_advice"
TITLE = "Re-treatment interval advice"


def write_study(study: AdviceStudy, cfg: AdviceStudyConfig, out: StageOutput) -> None:
    """Write the advice table, the model comparison and summary, the figure and headlines."""
    _advice_section(study, cfg, out)
    _research_section(study, out)
    for r in region_summary(study.table).itertuples():
        out.headline(
            Headline(
                key=f"advice_median_days_{r.region}",
                label=f"{r.region} predicted median duration",
                value=r.median_days,
                lower=r.lower_days,
                upper=r.upper_days,
                unit="days",
                view="advice",
                source="advice_table.csv",
            )
        )


def _advice_section(study: AdviceStudy, cfg: AdviceStudyConfig, out: StageOutput) -> None:
    advice = cfg.advice
    floor = advice.label_min_interval_days
    sec = out.section(
        "advice",
        "When will the effect wear off, and when to book",
        "Population advice for a reference patient "
        f"({advice.table.reference.describe()}) by region, dose (multiple of the region's "
        "reference dose), muscle bulk and exercise tier: predicted median duration with its "
        f"{int(100 * advice.interval_mass)}% interval, and a booking window from when half to "
        f"when 80% of such patients have worn off, never before the label's {floor:.0f} days. "
        "The tool advises intervals, not units.",
    )
    sec.table(
        study.table,
        "advice_table",
        "Interval advice by region, dose, muscle bulk and exercise tier (days since treatment).",
    )
    with theme():
        sec.figure(
            fig_duration_by_dose(study.table, floor),
            "duration_by_dose",
            "Predicted duration by dose, average bulk, moderate exercise.",
            "Predicted median duration and 80% interval against relative dose, one line per "
            "region, with the 90-day label minimum.",
        )


def _research_section(study: AdviceStudy, out: StageOutput) -> None:
    fit, d = study.fit, study.fit.diagnostics
    sec = out.section(
        "research",
        "Duration model: family comparison and diagnostics",
        f"PSIS-LOO comparison of the AFT families (best first); {fit.family} was chosen "
        f"({_choice(fit)}). Its final fit passed the diagnostics gate: max R-hat "
        f"{d['max_rhat']:.3f}, min bulk ESS "
        f"{d['min_ess_bulk']:.0f}, {d['divergences']} divergences. Time ratios are "
        "exp(coefficient) with 95% credible intervals.",
    )
    sec.table(
        fit.comparison,
        "model_comparison",
        "LOO comparison of AFT families, with each comparison fit's diagnostics gate and its "
        "patients with Pareto k > 0.7 and > 1.",
        # the comparison subsample (one number on every row) and patients with large Pareto k
        counts=(
            Count("n_episodes", family="advice_compare_episodes"),
            Count("pareto_k_over_0_7"),
            Count("pareto_k_over_1", at_most="pareto_k_over_0_7"),
        ),
        latex=True,
    )
    sec.table(fit.summary, "parameter_summary", "Population parameters.", latex=True)
    if study.validation is not None:
        _validation_tables(study, out)
    cycle = study.cycle_effect()
    sec.table(
        cycle,
        "cycle_effect",
        "Time ratio per doubling of the cycle number from the patient-frailty model (the "
        "estimator to report; fit_survival's cycle_effect has the biased marginal estimate).",
    )
    r = cycle.iloc[0]
    out.headline(
        Headline(
            key="advice_cycle_time_ratio",
            label="Time ratio per doubling of the cycle number (patient-frailty model)",
            value=float(r["time_ratio"]),
            lower=float(r["time_ratio_lower"]),
            upper=float(r["time_ratio_upper"]),
            unit="ratio",
            view="research",
            source="cycle_effect.csv",
            interval_label="95% credible interval",
        )
    )


def _validation_tables(study: AdviceStudy, out: StageOutput) -> None:
    """The advice model's out-of-sample metrics for new patients beside the frequentist AFT's."""
    v = study.validation
    assert v is not None
    sec = out.section(
        "research",
        "Duration model: prediction for new patients",
        f"Out-of-sample prediction of the advice for a patient with no history (frailty "
        f"integrated), leave-one-patient-out by PSIS from the stored fit, beside the "
        f"frequentist AFT refitted in patient-grouped folds, on the same {v.n_patients} "
        f"patients. {v.pareto_k_over_0_7} patients have Pareto k > 0.7 (PSIS unreliable): "
        "every metric is also given without them.",
    )
    sec.table(
        v.summary,
        "advice_validation",
        "Cross-validated concordance, integrated Brier score, log score and calibration error "
        "of the Bayesian advice model (new patient) and the frequentist AFT.",
        counts=(
            Count("n_patients", family="advice_validation_patients", by={"patients": "subset"}),
            Count("n_episodes", family="advice_validation_episodes", by={"patients": "subset"}),
        ),
    )
    sec.table(
        v.calibration,
        "advice_calibration",
        "Calibration by predicted-risk group, both models: observed Turnbull S(t) with "
        "patient-bootstrap interval against the mean predicted S(t).",
        counts=(
            Count(
                "n_episodes",
                family="advice_calibration_group",
                by={"model": "model", "week": "week", "risk_group": "group"},
            ),
        ),
    )


def validation_methods(study: AdviceStudy, cfg: AdviceStudyConfig) -> str:
    """Methods sentences of the out-of-sample validation ("" without one)."""
    v, c = study.validation, cfg.advice.validation
    if v is None:
        return ""
    weeks = ", ".join(f"{w:g}" for w in c.calibration_weeks)
    return (
        " Prediction for new patients was validated out of sample: for each training patient "
        "the posterior without that patient was obtained by Pareto-smoothed importance sampling "
        "(PSIS) of the stored per-patient log-likelihood, which integrates the frailty out, and "
        "the advice for a patient with no history (population prediction, frailty integrated "
        "over its distribution) was scored on that patient's episodes without refitting. "
        f"Calibration at {weeks} weeks (observed Turnbull S(t) with a "
        f"{c.calibration_bootstrap_replicates}-replicate patient bootstrap against the mean "
        f"prediction in {c.risk_groups} predicted-risk groups), Harrell-type concordance for "
        "interval-censored data on the predicted median, the Brier score integrated over weeks "
        f"{c.brier_weeks[0]:g}-{c.brier_weeks[-1]:g} (status at t replaced by its Turnbull "
        "probability given the observed interval) and the log score (log predictive "
        "probability of the observed intervals, per patient and per episode) were compared "
        f"with the frequentist AFT of the same family and design refitted in {c.folds} "
        "patient-grouped folds, on the same folds. "
        f"{v.pareto_k_over_0_7} of {v.n_patients} patients had Pareto k > "
        f"{c.pareto_k_max:g}, for whom PSIS is unreliable; exact refits were too costly, so "
        "every metric is also reported without them."
    )


def _choice(fit: AdviceFit) -> str:
    """Why the family was chosen (the comparison table's ``choice``)."""
    if "choice" in fit.comparison:
        return str(fit.comparison["choice"].iloc[0])
    return "highest ELPD-LOO"


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def methods_text(study: AdviceStudy, cfg: AdviceStudyConfig) -> str:
    """Methods paragraph generated from what was run."""
    fit, advice = study.fit, cfg.advice
    p, s, c, gate = advice.priors, advice.sampler, advice.compare_sampler, advice.gate
    return (
        "Effect duration was modelled with a Bayesian accelerated-failure-time model for "
        "interval-censored times (an interval contributes log(S(lower) - S(upper)), computed in "
        "log space; right-censored episodes log S(lower); patient-reported dates the density), "
        "with region intercepts, a linear spline in log2 relative dose (knot at "
        f"{cfg.model.dose_knot_log2:g}), sex, muscle bulk, exercise load, age, product, log2 "
        "cycle and baseline severity, and a non-centred normal patient frailty. Priors: region "
        f"intercepts N(log {p.region_median_days:g}, {p.region_sd:g}), coefficients N(0, "
        f"{p.beta_sd:g}), residual scale HalfNormal({p.sigma_sd:g}), frailty SD "
        f"HalfNormal({p.tau_sd:g}). Families {', '.join(advice.families)} were compared by "
        f"PSIS-LOO on {int(fit.comparison['n_episodes'].iloc[0])} episodes of a seeded patient "
        f"subsample ({c.chains} chains x {c.draws} draws), each per patient with the frailty "
        "integrated out (patients whose log-likelihood does not vary over the draws carry no "
        "information and are left out of PSIS) and each fit held to the diagnostics gate "
        "below; the best is chosen "
        "only when every comparison fit passed, otherwise the stated default "
        f"{advice.default_family}. {fit.family.capitalize()} ({_choice(fit)}) was refitted "
        f"on {fit.n_episodes} episodes of {fit.n_patients} patients with NUTS ({s.sampler}, "
        f"{s.chains} chains, {s.tune} tuning and {s.draws} kept draws each) and passed the "
        f"diagnostics gate (R-hat <= {gate.max_rhat}, bulk and tail ESS >= "
        f"{gate.min_ess_bulk:g}, {gate.max_divergences} divergences). Advice integrates the "
        "frailty on a grid per posterior draw, weighting by the likelihood of the patient's own "
        f"history.{validation_methods(study, cfg)} Software: PyMC {_version('pymc')}, nutpie "
        f"{_version('nutpie')}, ArviZ {_version('arviz')}."
    )
