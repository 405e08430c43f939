"""Configuration of the advice work: params.yaml ``advice``, parsed strictly.

Every value lives in params.yaml (with its source); these frozen classes say what each key is
and check its range. `bonta advise` reads :class:`AdviceConfig` only; `bonta fit-advice` also
needs the shared ``duration_model`` section, the seed and the vocabulary
(:class:`AdviceStudyConfig`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analysis.config import convert, parse_section
from analysis.errors import ConfigError
from analysis.inference import GateConfig, SamplerConfig
from analysis.survival.covariates import DurationModelConfig
from analysis.survival.families import FAMILIES
from analysis.vocabulary import Vocabulary


@dataclass(frozen=True)
class PriorConfig:
    """Priors of the duration model (log-days scale); sources in params.yaml."""

    region_median_days: float
    region_sd: float
    beta_sd: float
    sigma_sd: float
    tau_sd: float
    dose_sd: float


@dataclass(frozen=True)
class ReferencePatient:
    """The patient of the report's advice table (its other covariates vary by row)."""

    sex: Literal["F", "M"]
    age_years: float
    product: str
    cycle: int
    baseline_severity: int

    def describe(self) -> str:
        """``"sex F, age_years 45, product ona, cycle 1, baseline_severity 2"``."""
        return ", ".join(
            f"{f.name} {_plain(getattr(self, f.name))}" for f in dataclasses.fields(self)
        )


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TableConfig:
    """Grid of the advice table for the report (reference patient for the other covariates)."""

    dose_multipliers: tuple[float, ...]
    muscle_bulk: tuple[int, ...]
    exercise_tiers: dict[str, float]
    reference: ReferencePatient


@dataclass(frozen=True)
class ValidationConfig:
    """Validation of the advice model.

    ``holdout_fraction``: held-out patients of validation/validate_advice.py. The others
    configure fit-advice's out-of-sample validation for new patients
    (:mod:`analysis.advice.validation`): the frequentist AFT's patient-grouped ``folds``, the
    ``brier_weeks`` of the integrated Brier score, the ``calibration_weeks`` with their
    ``risk_groups``, patient-bootstrap replicates and the KKT tolerance of each group's Turnbull
    NPMLE, and the Pareto k above which PSIS is unreliable for a patient (``pareto_k_max``).
    """

    holdout_fraction: float
    folds: int
    brier_weeks: tuple[float, ...]
    calibration_weeks: tuple[float, ...]
    risk_groups: int
    calibration_bootstrap_replicates: int
    pareto_k_max: float

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"advice.validation.folds must be at least 2, got {self.folds}")
        if len(self.brier_weeks) < 2 or list(self.brier_weeks) != sorted(self.brier_weeks):
            raise ConfigError(
                "advice.validation.brier_weeks must be at least two increasing weeks, got "
                f"{list(self.brier_weeks)}"
            )


@dataclass(frozen=True)
class AdviceConfig:
    """Everything `fit-advice` and `advise` read from params.yaml ``advice``."""

    families: tuple[str, ...]
    default_family: str
    compare_patients: int | None
    max_train_patients: int | None
    sampler: SamplerConfig
    compare_sampler: SamplerConfig
    gate: GateConfig
    priors: PriorConfig
    stored_draws: int
    advice_draws: int
    quadrature_nodes: int
    label_min_interval_days: float
    survival_weeks: tuple[int, ...]
    interval_mass: float
    booking_probs: tuple[float, float]
    table: TableConfig
    validation: ValidationConfig

    def __post_init__(self) -> None:
        bad = [f for f in self.families if f not in FAMILIES]
        if bad or not self.families:
            raise ConfigError(f"advice.families: unknown {bad}; use some of {list(FAMILIES)}")
        if self.default_family not in self.families:
            raise ConfigError(
                f"advice.default_family {self.default_family!r} must be one of advice.families "
                f"{list(self.families)}"
            )
        low, high = self.booking_probs
        if not 0 < low < high < 1:
            raise ConfigError(
                "advice.booking_probs must be two increasing probabilities, got "
                f"{self.booking_probs}"
            )
        if not 0 < self.interval_mass < 1:
            raise ConfigError(f"advice.interval_mass must lie in (0, 1), got {self.interval_mass}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AdviceConfig:
        """Parse the ``advice`` section strictly."""
        return parse_section(params, "advice", cls)


@dataclass(frozen=True)
class AdviceStudyConfig:
    """What `bonta fit-advice` reads from params.yaml, typed (built by :meth:`from_params`)."""

    advice: AdviceConfig
    model: DurationModelConfig
    seed: int
    vocabulary: Vocabulary

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AdviceStudyConfig:
        """Sections ``advice``, ``duration_model``, ``seed``, ``regions`` and ``products``."""
        return cls(
            advice=AdviceConfig.from_params(params),
            model=DurationModelConfig.from_params(params),
            seed=convert(params.get("seed"), int, "seed"),
            vocabulary=Vocabulary.from_params(params),
        )
