"""The ``complications`` section of params.yaml as one frozen, validated object.

Parsed strictly by :func:`analysis.config.parse_section`: a misspelt key anywhere in the
section (``sampler.target_acept``, ``gate.max_rhats``, ``priors.informative.rates.headache
.glabella.logit_sd``) stops with the key's path and the nearest valid name. Every value lives in
params.yaml; the dataclasses hold no default a reader could question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analysis.complications.priors import (
    PRIOR_SETS,
    EffectPriors,
    PriorsConfig,
    PriorSet,
    PriorSetConfig,
)
from analysis.config import parse_section
from analysis.errors import ConfigError
from analysis.inference import GateConfig, SamplerConfig
from analysis.vocabulary import Vocabulary

#: Outcome name of the touch-up rate model (its "complication type"; docs/ARCHITECTURE.md).
TOUCHUP = "touchup"


@dataclass(frozen=True)
class TouchupRatesConfig:
    """``complications.touchup``: the touch-up rate model's follow-up rule and priors.

    ``priors.rates`` may name only the outcome ``touchup`` (with regions of the vocabulary or
    ``_other``); the effect priors play the roles they play in the complication models.
    """

    min_followup_days: int
    priors: PriorSetConfig

    def __post_init__(self) -> None:
        if self.min_followup_days < 0:
            raise ConfigError("complications.touchup.min_followup_days must be >= 0")

    def check_vocabulary(self, regions: tuple[str, ...]) -> None:
        """The rate priors name the outcome ``touchup`` and known regions only."""
        where = "complications.touchup.priors.rates"
        unknown = set(self.priors.rates) - {TOUCHUP}
        if unknown:
            raise ConfigError(f"{where}: only '{TOUCHUP}' can be named, got {sorted(unknown)}")
        bad = set(self.priors.rates.get(TOUCHUP, {})) - {*regions, "_other"}
        if bad:
            raise ConfigError(f"{where}.{TOUCHUP}: unknown regions {sorted(bad)}")

    @property
    def prior_set(self) -> PriorSet:
        """The priors ready for the model (named ``touchup``)."""
        node = self.priors
        return PriorSet(
            name=TOUCHUP,
            rates=node.rates,
            default_rate=node.default_rate,
            effects=EffectPriors(
                dose_mean=node.dose_log_or_per_doubling.mean,
                dose_sd=node.dose_log_or_per_doubling.sd,
                product_sd=node.product_log_or_sd.sd,
                clinic_scale=node.clinic_sd_scale.scale,
                injector_scale=node.injector_sd_scale.scale,
                year_sd=node.year_log_or_sd.sd,
            ),
        )


@dataclass(frozen=True)
class ComplicationsConfig:
    """Settings of the complication models (params.yaml ``complications``; comments there)."""

    prior_set: Literal["informative", "weak"]
    sensitivity: bool
    dose_step_log2: float
    calendar_trend: bool
    region_only_below_events: int
    min_treatments_to_judge: int
    benchmark_multiplier: float
    flag_probability: float
    ppc_draws: int
    headline_types: tuple[str, ...]
    sampler: SamplerConfig
    #: sampler of the prior-sensitivity fits (params.yaml gives it explicitly)
    sensitivity_sampler: SamplerConfig
    gate: GateConfig
    priors: PriorsConfig
    #: the touch-up rate model (issue 14)
    touchup: TouchupRatesConfig

    def __post_init__(self) -> None:
        if self.benchmark_multiplier <= 0 or self.min_treatments_to_judge < 0:
            raise ConfigError("benchmark_multiplier must be > 0 and min_treatments_to_judge >= 0")
        if not 0.5 <= self.flag_probability < 1.0:
            raise ConfigError(f"flag_probability = {self.flag_probability} must lie in [0.5, 1)")
        if self.ppc_draws < 1 or self.region_only_below_events < 0:
            raise ConfigError("ppc_draws must be >= 1 and region_only_below_events >= 0")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ComplicationsConfig:
        """Parse ``params['complications']`` and check it against the study's vocabulary.

        Raises
        ------
        ConfigError
            Naming the key (and the nearest valid name) that is unknown, missing, of the wrong
            type or out of range, or a complication type or region the vocabulary lacks.
        """
        config = parse_section(params, "complications", cls)
        config.check_vocabulary(Vocabulary.from_params(params))
        return config

    def check_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Headline types and the types and regions of the rate priors must be known."""
        unknown = set(self.headline_types) - set(vocabulary.complication_codes)
        if unknown:
            raise ConfigError(
                f"complications.headline_types names unknown types: {sorted(unknown)}"
            )
        self.priors.check_vocabulary(vocabulary.complication_regions)
        self.touchup.check_vocabulary(vocabulary.region_codes)

    @property
    def alternative_prior_set(self) -> str:
        """The prior set of the sensitivity fits: the one not chosen by ``prior_set``."""
        return next(p for p in PRIOR_SETS if p != self.prior_set)

    @property
    def prior_sets(self) -> dict[str, PriorSet]:
        """Both prior sets, ready for the models, in :data:`PRIOR_SETS` order."""
        return {name: self.priors.prior_set(name) for name in PRIOR_SETS}
