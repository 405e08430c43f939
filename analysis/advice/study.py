"""The advice study: fit the Bayesian duration model and tabulate the population advice.

:func:`run_advice_study` codes the episodes with the study's vocabulary and the shared
covariate specification, compares the families by PSIS-LOO and refits the chosen one
(:func:`analysis.advice.fit.fit_duration_models`), and builds the report's advice table and
the frailty model's cycle effect (:meth:`AdviceStudy.cycle_effect`), and validates the advice
for new patients beside the frequentist AFT (:mod:`analysis.advice.validation`). It touches no
file: the stage stores the model and writes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.advice.config import AdviceStudyConfig
from analysis.advice.fit import AdviceFit, fit_duration_models, training_episodes
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import spec_from_vocabulary
from analysis.advice.table import advice_table
from analysis.advice.validation import AdviceValidation, validate_new_patients
from analysis.progress import ProgressFn, step
from analysis.survival.covariates import CYCLE

#: Why the report takes the cycle effect from this model (``cycle_effect.csv``; the survival
#: stage's file of the same name has the marginal AFT's estimate, with the same columns).
CYCLE_FRAILTY_NOTE = (
    "conditional on the patient (normal patient frailty): patients whose treatments wear off "
    "sooner return sooner and accumulate more cycles, which biases a model without a patient "
    "effect (the marginal AFT of fit_survival: -14% bias and 83% coverage in simulation); the "
    "frailty separates the patient from the cycle"
)


@dataclass(frozen=True)
class AdviceStudy:
    """The fitted model, the draws the advice uses, the report's advice table and the
    out-of-sample validation for new patients (:mod:`analysis.advice.validation`)."""

    fit: AdviceFit
    draws: PosteriorDraws
    table: pd.DataFrame
    validation: AdviceValidation | None = None

    def metrics(self) -> dict:
        """Small metrics for ``dvc metrics show``."""
        fit, d = self.fit, self.fit.diagnostics
        summary = fit.summary.set_index("parameter")
        return {
            "family": fit.family,
            "n_episodes": fit.n_episodes,
            "n_patients": fit.n_patients,
            "max_rhat": d["max_rhat"],
            "min_ess_bulk": d["min_ess_bulk"],
            "min_ess_tail": d["min_ess_tail"],
            "divergences": d["divergences"],
            "elpd_loo": {r.family: r.elpd_loo for r in fit.comparison.itertuples()},
            "elpd_loo_episodes": int(fit.comparison["n_episodes"].iloc[0]),
            "comparison_trustworthy": bool(fit.comparison["comparison_trustworthy"].iloc[0]),
            "pareto_k_over_0_7": {
                r.family: r.pareto_k_over_0_7 for r in fit.comparison.itertuples()
            },
            "pareto_k_over_1": {r.family: r.pareto_k_over_1 for r in fit.comparison.itertuples()},
            "cycle_time_ratio": self.cycle_effect()[
                ["time_ratio", "time_ratio_lower", "time_ratio_upper"]
            ]
            .iloc[0]
            .to_dict(),
            "tau_median": float(summary.loc["tau", "median"]),
            "sigma_median": float(summary.loc["sigma", "median"]),
            "share_floor_binds": float(self.table["floor_binds"].mean()),
            "validation": self.validation.metrics() if self.validation is not None else None,
        }

    def cycle_effect(self) -> pd.DataFrame:
        """The time ratio per doubling of the cycle number with its 95% credible interval (the
        columns of fit_survival's ``cycle_effect.csv``, so that the report can set the two
        estimates side by side)."""
        fit = self.fit
        row = fit.summary.set_index("parameter").loc[f"beta[{CYCLE}]"]
        return pd.DataFrame(
            [
                {
                    "term": CYCLE,
                    "estimator": "patient frailty",
                    "model": f"Bayesian {fit.family} AFT with a normal patient frailty "
                    "(fit_advice)",
                    "time_ratio": row["time_ratio"],
                    "time_ratio_lower": row["time_ratio_lower"],
                    "time_ratio_upper": row["time_ratio_upper"],
                    "coef": row["median"],
                    "se": row["sd"],
                    "interval": "95% CrI",
                    "note": CYCLE_FRAILTY_NOTE,
                }
            ]
        )


def run_advice_study(
    episodes: pd.DataFrame, cfg: AdviceStudyConfig, progress: ProgressFn | None = None
) -> AdviceStudy:
    """Fit the duration models on ``episodes`` and tabulate the population advice.

    ``progress`` receives one line per finished long step (each fit, the advice table).

    Raises
    ------
    ConvergenceError
        If the chosen family's final fit fails the diagnostics gate.
    """
    spec = spec_from_vocabulary(cfg.vocabulary, cfg.model.dose_knot_log2)
    fit = fit_duration_models(episodes, spec, cfg.advice, cfg.seed, progress)
    draws = PosteriorDraws.from_dataset(
        fit.posterior, fit.family, fit.spec, cfg.advice.advice_draws
    )
    with step(progress, "advice table"):
        table = advice_table(draws, cfg.advice)
    validation = None
    if fit.idata is not None:
        train = training_episodes(episodes, cfg.advice, cfg.seed)
        validation = validate_new_patients(
            fit.idata, fit.family, fit.spec, train, cfg.advice.validation, cfg.seed, progress
        )
    return AdviceStudy(fit=fit, draws=draws, table=table, validation=validation)
