"""Frozen configuration of the advice work, read from the ``advice:`` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.survival.families import check_family
from analysis.bayes.diagnostics import GateConfig, SamplerConfig
from analysis.errors import ConfigError


@dataclass(frozen=True)
class PriorConfig:
    """Priors of the duration model (log-days scale); sources in params.yaml."""

    region_median_days: float = 120.0
    region_sd: float = 0.5
    beta_sd: float = 0.5
    sigma_sd: float = 0.5
    tau_sd: float = 0.3
    dose_sd: float = 0.15

    @classmethod
    def from_params(cls, section: dict) -> PriorConfig:
        keys = {"region_median_days", "region_sd", "beta_sd", "sigma_sd", "tau_sd", "dose_sd"}
        return cls(**{k: float(v) for k, v in section.items() if k in keys})


@dataclass(frozen=True)
class TableConfig:
    """Grid of the advice table for the report (reference patient for the other covariates)."""

    dose_multipliers: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    muscle_bulk: tuple[int, ...] = (1, 2, 3, 4)
    exercise_tiers: dict[str, float] = field(
        default_factory=lambda: {"low": 5.0, "moderate": 20.0, "high": 40.0}
    )
    reference: dict = field(
        default_factory=lambda: {
            "sex": "F",
            "age_years": 45,
            "product": "ona",
            "cycle": 1,
            "baseline_severity": 2,
        }
    )

    @classmethod
    def from_params(cls, section: dict) -> TableConfig:
        return cls(
            dose_multipliers=tuple(float(x) for x in section["dose_multipliers"]),
            muscle_bulk=tuple(int(x) for x in section["muscle_bulk"]),
            exercise_tiers={str(k): float(v) for k, v in section["exercise_tiers"].items()},
            reference=dict(section["reference"]),
        )


@dataclass(frozen=True)
class AdviceConfig:
    """Everything `fit-advice` and `advise` read from params.yaml."""

    families: tuple[str, ...] = ("lognormal", "weibull", "loglogistic")
    sampler: SamplerConfig = SamplerConfig()
    compare_sampler: SamplerConfig = SamplerConfig(draws=400, tune=500, chains=2)
    compare_patients: int | None = 1500
    gate: GateConfig = GateConfig()
    priors: PriorConfig = PriorConfig()
    table: TableConfig = TableConfig()
    dose_knot_log2: float = 1.0
    max_train_patients: int | None = None
    stored_draws: int = 1000
    advice_draws: int = 500
    quadrature_nodes: int = 61
    label_min_interval_days: float = 90.0
    survival_weeks: tuple[int, ...] = (8, 12, 16, 20)
    interval_mass: float = 0.8
    booking_probs: tuple[float, float] = (0.5, 0.8)

    @classmethod
    def from_params(cls, params: dict) -> AdviceConfig:
        """Build from the whole params dict (reads ``params['advice']``)."""
        if "advice" not in params:
            raise ConfigError("params.yaml has no section 'advice'")
        s = params["advice"]
        families = tuple(s.get("families", cls.families))
        for fam in families:
            try:
                check_family(fam)
            except ValueError as exc:
                raise ConfigError(f"advice.families: {exc}") from None
        booking = tuple(float(x) for x in s.get("booking_probs", (0.5, 0.8)))
        if len(booking) != 2 or not 0 < booking[0] < booking[1] < 1:
            raise ConfigError(
                f"advice.booking_probs must be two increasing probabilities, got {booking}"
            )
        mass = float(s.get("interval_mass", 0.8))
        if not 0 < mass < 1:
            raise ConfigError(f"advice.interval_mass must lie in (0, 1), got {mass}")
        return cls(
            families=families,
            sampler=SamplerConfig.from_params(s.get("sampler", {})),
            compare_sampler=SamplerConfig.from_params(s.get("compare_sampler", {})),
            compare_patients=s.get("compare_patients", 1500),
            gate=GateConfig.from_params(s.get("gate", {})),
            priors=PriorConfig.from_params(s.get("priors", {})),
            table=TableConfig.from_params(s["table"]) if "table" in s else TableConfig(),
            dose_knot_log2=float(s.get("dose_knot_log2", 1.0)),
            max_train_patients=s.get("max_train_patients"),
            stored_draws=int(s.get("stored_draws", 1000)),
            advice_draws=int(s.get("advice_draws", 500)),
            quadrature_nodes=int(s.get("quadrature_nodes", 61)),
            label_min_interval_days=float(s.get("label_min_interval_days", 90)),
            survival_weeks=tuple(int(w) for w in s.get("survival_weeks", (8, 12, 16, 20))),
            interval_mass=mass,
            booking_probs=booking,  # type: ignore[arg-type]
        )
