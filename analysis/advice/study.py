"""The advice study: fit the Bayesian duration model and tabulate the population advice.

:func:`run_advice_study` codes the episodes with the study's vocabulary and the shared
covariate specification, compares the families by PSIS-LOO and refits the best
(:func:`analysis.advice.fit.fit_duration_models`), and builds the report's advice table. It
touches no file: the stage stores the model and writes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.advice.config import AdviceStudyConfig
from analysis.advice.fit import AdviceFit, fit_duration_models
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import spec_from_vocabulary
from analysis.advice.table import advice_table


@dataclass(frozen=True)
class AdviceStudy:
    """The fitted model, the draws the advice uses, and the report's advice table."""

    fit: AdviceFit
    draws: PosteriorDraws
    table: pd.DataFrame

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
            "tau_median": float(summary.loc["tau", "median"]),
            "sigma_median": float(summary.loc["sigma", "median"]),
            "share_floor_binds": float(self.table["floor_binds"].mean()),
        }


def run_advice_study(episodes: pd.DataFrame, cfg: AdviceStudyConfig) -> AdviceStudy:
    """Fit the duration models on ``episodes`` and tabulate the population advice.

    Raises
    ------
    ConvergenceError
        If the chosen family's final fit fails the diagnostics gate.
    """
    spec = spec_from_vocabulary(cfg.vocabulary, cfg.model.dose_knot_log2)
    fit = fit_duration_models(episodes, spec, cfg.advice, cfg.seed)
    draws = PosteriorDraws.from_dataset(
        fit.posterior, fit.family, fit.spec, cfg.advice.advice_draws
    )
    return AdviceStudy(fit=fit, draws=draws, table=advice_table(draws, cfg.advice))
