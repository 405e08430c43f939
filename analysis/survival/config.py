"""Frozen configuration of the survival analysis, read from the ``survival:`` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.errors import ConfigError

FAMILIES = ("weibull", "lognormal", "loglogistic", "gengamma")


@dataclass(frozen=True)
class CoxConfig:
    """Cox model of time to re-treatment."""

    ties: str = "efron"
    ph_alpha: float = 0.01
    ph_time_transform: str = "rank"


@dataclass(frozen=True)
class CVConfig:
    """Patient-grouped cross-validation of prediction quality."""

    folds: int = 5
    calibration_weeks: tuple[float, ...] = (12.0, 16.0, 20.0)
    risk_groups: int = 5
    brier_weeks: tuple[float, ...] = (8.0, 12.0, 16.0, 20.0, 24.0)


@dataclass(frozen=True)
class SurvivalConfig:
    """Every choice of the survival stage (see params.yaml ``survival:`` for sources)."""

    seed: int
    ci_level: float = 0.95
    report_weeks: tuple[float, ...] = (8.0, 12.0, 16.0, 20.0, 24.0)
    bootstrap_replicates: int = 200
    turnbull_min_episodes: int = 20
    strata: tuple[str, ...] = ("region", "product", "exercise_tier", "muscle_bulk")
    families: tuple[str, ...] = FAMILIES
    dose_knot_log2: float = 1.0
    region_slope_alpha: float = 0.05
    reference_region: str = "glabella"
    reference_product: str = "ona"
    curve_grid_days: tuple[float, float, float] = (0.0, 300.0, 2.0)
    headline_region: str = "glabella"
    cox: CoxConfig = field(default_factory=CoxConfig)
    cv: CVConfig = field(default_factory=CVConfig)

    @property
    def z(self) -> float:
        """Two-sided normal quantile of :attr:`ci_level`."""
        from scipy.stats import norm

        return float(norm.ppf(0.5 + self.ci_level / 2))


def _tuple(value: Any) -> tuple:
    return tuple(value) if value is not None else ()


def load_config(params: dict[str, Any]) -> SurvivalConfig:
    """Build a :class:`SurvivalConfig` from the whole params dict (sections ``seed``, ``survival``)."""
    if "survival" not in params:
        raise ConfigError("params.yaml has no section 'survival'")
    s = dict(params["survival"])
    cox = CoxConfig(**s.pop("cox", {}))
    cv_raw = s.pop("cv", {})
    cv = CVConfig(**{k: (_tuple(v) if isinstance(v, list) else v) for k, v in cv_raw.items()})
    kwargs = {k: (_tuple(v) if isinstance(v, list) else v) for k, v in s.items()}
    try:
        cfg = SurvivalConfig(seed=int(params["seed"]), cox=cox, cv=cv, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"params.yaml survival section: {exc}") from None
    bad = [f for f in cfg.families if f not in FAMILIES]
    if bad:
        raise ConfigError(f"survival.families: unknown {bad}; allowed {list(FAMILIES)}")
    if not 0.5 < cfg.ci_level < 1:
        raise ConfigError(f"survival.ci_level must lie in (0.5, 1), got {cfg.ci_level}")
    if cfg.cox.ties not in ("efron", "breslow"):
        raise ConfigError(f"survival.cox.ties must be 'efron' or 'breslow', got {cfg.cox.ties!r}")
    if cfg.bootstrap_replicates < 20:
        raise ConfigError("survival.bootstrap_replicates must be >= 20 for percentile intervals")
    if cfg.turnbull_min_episodes < 1:
        raise ConfigError(
            f"survival.turnbull_min_episodes must be >= 1, got {cfg.turnbull_min_episodes}"
        )
    return cfg
