"""Configuration of `bonta serve`: params.yaml ``serve`` (strict), plus what it borrows.

The app reads ``serve`` (host, port, paths, precision, event planning, the injector's
calibration view), ``advice`` (the label floor, booking probabilities, weeks, interval: the
same settings as `bonta advise`, except the number of posterior draws and frailty nodes, which
``serve`` sets for interactive speed) and ``disclosure.min_count`` (the small-count rule). Every
value lives in params.yaml; these frozen classes say what each key is and check its range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from analysis.advice.config import AdviceConfig
from analysis.config import convert, parse_section
from analysis.disclosure.config import DisclosureConfig
from analysis.errors import ConfigError


@dataclass(frozen=True)
class ServePaths:
    """Files the app reads (relative to the working directory, as every stage's paths)."""

    models: str
    episodes: str
    staff_codes: str
    injector_rates: str
    clinic_rates: str

    def rates(self, kind: str) -> Path:
        """The complication-rate table of providers of ``kind`` (``injector`` or ``clinic``)."""
        return Path(self.injector_rates if kind == "injector" else self.clinic_rates)


@dataclass(frozen=True)
class EventConfig:
    """Planning a treatment before an event: settle, touch-up margin, probability on the day."""

    settle_days: int
    touch_up_days: int
    hold_probability: float

    def __post_init__(self) -> None:
        if self.settle_days < 0 or self.touch_up_days < 0:
            raise ConfigError("serve.event: settle_days and touch_up_days must be >= 0")
        if not 0.5 <= self.hold_probability < 1:
            raise ConfigError(
                f"serve.event.hold_probability must lie in [0.5, 1), got {self.hold_probability}"
            )

    @property
    def lead_days(self) -> int:
        """Fewest days between treatment and event: the two-week check plus a touch-up."""
        return self.settle_days + self.touch_up_days


@dataclass(frozen=True)
class MyPatientsConfig:
    """The injector's calibration view (observed against predicted durations)."""

    min_episodes: int
    bootstrap_replicates: int
    ci_level: float

    def __post_init__(self) -> None:
        if self.min_episodes < 1 or self.bootstrap_replicates < 20:
            raise ConfigError(
                "serve.my_patients: min_episodes must be >= 1 and bootstrap_replicates >= 20"
            )
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"serve.my_patients.ci_level must lie in (0, 1), got {self.ci_level}")


@dataclass(frozen=True)
class ServeConfig:
    """params.yaml ``serve``."""

    host: str
    port: int
    workers: int
    token_env: str
    token_file: str
    paths: ServePaths
    history_scope: Literal["region", "all"]
    advice_draws: int
    quadrature_nodes: int
    max_relative_dose: float
    max_batch: int
    curve_days: int
    event: EventConfig
    my_patients: MyPatientsConfig

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"serve.port must lie in 1-65535, got {self.port}")
        if self.workers < 1:
            raise ConfigError(f"serve.workers must be >= 1, got {self.workers}")
        if self.max_relative_dose <= 1:
            raise ConfigError(f"serve.max_relative_dose must be > 1, got {self.max_relative_dose}")
        if self.max_batch < 1 or self.curve_days < 28:
            raise ConfigError("serve: max_batch must be >= 1 and curve_days >= 28")
        if self.advice_draws < 50 or self.quadrature_nodes < 11 or self.quadrature_nodes % 2 == 0:
            raise ConfigError(
                "serve: advice_draws must be >= 50 and quadrature_nodes odd and >= 11, got "
                f"{self.advice_draws} and {self.quadrature_nodes}"
            )


@dataclass(frozen=True)
class ServeSettings:
    """Everything the app reads from params.yaml, typed (built by :meth:`from_params`).

    ``advice`` is params.yaml ``advice`` with ``advice_draws`` and ``quadrature_nodes`` taken
    from ``serve`` (the app's precision; `bonta advise` keeps its own).
    """

    serve: ServeConfig
    advice: AdviceConfig
    min_count: int
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ServeSettings:
        """Sections ``serve`` and ``advice``, ``disclosure.min_count`` and ``seed``."""
        min_count = DisclosureConfig.from_params(params).min_count
        serve = parse_section(params, "serve", ServeConfig)
        advice = replace(
            AdviceConfig.from_params(params),
            advice_draws=serve.advice_draws,
            quadrature_nodes=serve.quadrature_nodes,
        )
        return cls(
            serve=serve,
            advice=advice,
            min_count=min_count,
            seed=convert(params.get("seed"), int, "seed"),
        )
