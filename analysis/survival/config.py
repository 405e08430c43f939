"""Configuration of the survival study: params.yaml ``survival``, parsed strictly.

Every value lives in params.yaml (with its source); these frozen classes only say what each
key is and check its range. :class:`SurvivalStudyConfig` bundles what
:func:`analysis.survival.study.run_survival_study` reads from params.yaml: its section, the
shared ``duration_model`` section, the seed and the regions' reference doses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from analysis.config import convert, parse_section
from analysis.errors import ConfigError
from analysis.survival.covariates import DurationModelConfig
from analysis.survival.families import FAMILIES
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class CoxConfig:
    """Cox model of time to re-treatment."""

    ties: Literal["efron", "breslow"]
    #: a covariate whose patient-clustered PH test has p below this is acted on
    ph_alpha: float
    #: g(t) of the PH score tests: rank | km | identity | log
    ph_time_transform: Literal["rank", "km", "identity", "log"]
    #: Newton-Raphson on the partial likelihood: largest scaled score component at the maximum
    gradient_tol: float
    max_iter: int


@dataclass(frozen=True)
class AFTFitConfig:
    """Convergence rule of the AFT maximiser (Newton-Raphson, :mod:`analysis.survival.aft`)."""

    #: largest |gradient_k| max(1, |theta_k|) / max(1, |loglik|) at the maximum
    gradient_tol: float
    max_iter: int

    def __post_init__(self) -> None:
        if not 0 < self.gradient_tol < 1e-3:
            raise ConfigError(
                f"survival.aft.gradient_tol must lie in (0, 1e-3), got {self.gradient_tol}"
            )
        if self.max_iter < 1:
            raise ConfigError(f"survival.aft.max_iter must be >= 1, got {self.max_iter}")


@dataclass(frozen=True)
class CVConfig:
    """Patient-grouped cross-validation of prediction quality."""

    folds: int
    calibration_weeks: tuple[int, ...]
    risk_groups: int
    brier_weeks: tuple[int, ...]
    #: patient-bootstrap replicates of each calibration group's Turnbull estimate
    calibration_bootstrap_replicates: int
    #: days at which the Cox model's Brier score is evaluated: numpy.arange(start, stop, step)
    cox_eval_days: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"survival.cv.folds must be >= 2, got {self.folds}")
        if self.calibration_bootstrap_replicates < 20:
            raise ConfigError("survival.cv.calibration_bootstrap_replicates must be >= 20")

    @property
    def cox_eval_grid(self) -> np.ndarray:
        return np.arange(*self.cox_eval_days)


@dataclass(frozen=True)
class TypicalProfile:
    """The patient whose predicted median the dose-response figure shows."""

    sex: Literal["F", "M"]
    muscle_bulk: int
    #: MET-h/week, or ``cohort_median``: the median of the episodes analysed
    exercise_met_h_week: float | Literal["cohort_median"]
    age_years: float
    product: str
    cycle: int
    baseline_severity: int


@dataclass(frozen=True)
class DoseResponseConfig:
    """Predicted median duration against dose, per region, for a typical patient."""

    #: relative doses (x the region's reference dose): numpy.linspace(start, stop, points)
    rel_dose_grid: tuple[float, float, int]
    profile: TypicalProfile

    @property
    def rel_doses(self) -> np.ndarray:
        return np.linspace(*self.rel_dose_grid)


@dataclass(frozen=True)
class SurvivalConfig:
    """Every choice of the survival study (params.yaml ``survival``, sources cited there)."""

    ci_level: float
    report_weeks: tuple[int, ...]
    bootstrap_replicates: int
    turnbull_min_episodes: int
    #: Turnbull NPMLE stops when max_j d_j / n - 1 <= this (KKT conditions)
    turnbull_kkt_tol: float
    turnbull_max_iter: int
    strata: tuple[str, ...]
    families: tuple[str, ...]
    region_slope_alpha: float
    reference_region: str
    reference_product: str
    #: tabulated curves: numpy.arange(start, stop, step) days
    curve_grid_days: tuple[float, float, float]
    dose_response: DoseResponseConfig
    aft: AFTFitConfig
    cox: CoxConfig
    cv: CVConfig

    def __post_init__(self) -> None:
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ConfigError(f"survival.families: unknown {bad}; allowed {list(FAMILIES)}")
        if not 0 < self.turnbull_kkt_tol < 1e-2:
            raise ConfigError(
                f"survival.turnbull_kkt_tol must lie in (0, 0.01), got {self.turnbull_kkt_tol}"
            )
        if not 0.5 < self.ci_level < 1:
            raise ConfigError(f"survival.ci_level must lie in (0.5, 1), got {self.ci_level}")
        if self.bootstrap_replicates < 20:
            raise ConfigError("survival.bootstrap_replicates must be >= 20 (percentile intervals)")
        if self.turnbull_min_episodes < 1:
            raise ConfigError(
                f"survival.turnbull_min_episodes must be >= 1, got {self.turnbull_min_episodes}"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SurvivalConfig:
        """Parse the ``survival`` section strictly."""
        return parse_section(params, "survival", cls)

    @property
    def curve_grid(self) -> np.ndarray:
        return np.arange(*self.curve_grid_days)


@dataclass(frozen=True)
class SurvivalStudyConfig:
    """What the survival study reads from params.yaml, typed (built by :meth:`from_params`)."""

    survival: SurvivalConfig
    model: DurationModelConfig
    seed: int
    #: region code -> reference dose (onabotulinumtoxinA units), from ``regions``
    reference_dose_units: Mapping[str, float]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SurvivalStudyConfig:
        """Sections ``survival``, ``duration_model``, ``seed`` and ``regions``."""
        return cls(
            survival=SurvivalConfig.from_params(params),
            model=DurationModelConfig.from_params(params),
            seed=convert(params.get("seed"), int, "seed"),
            reference_dose_units=Vocabulary.from_params(params).reference_dose_units,
        )
