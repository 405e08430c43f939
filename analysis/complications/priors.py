"""Priors and published benchmarks of the complication models, read from ``params.yaml``.

Every prior of the informative set is centred on a published per-treatment rate and cites its
source (``complications.priors.informative`` in params.yaml); the same published rates are the
benchmarks the clinic is compared with. The ``weak`` set is the prior-sensitivity alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logit

from analysis.errors import ConfigError

PRIOR_SETS = ("informative", "weak")


@dataclass(frozen=True)
class RatePrior:
    """Normal prior on the logit of a per-treatment rate, centred on ``rate``."""

    rate: float
    logit_sd: float
    source: str
    #: True when ``rate`` is a published per-treatment rate for this region; False when it is a
    #: practice assumption or an extrapolation. Only published rates are used as benchmarks
    #: that can flag a provider (:func:`analysis.complications.summaries.provider_table`).
    published: bool = False

    @property
    def logit_mean(self) -> float:
        return float(logit(self.rate))

    @classmethod
    def from_params(cls, node: Mapping, where: str) -> RatePrior:
        try:
            rate, sd = float(node["rate"]), float(node["logit_sd"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: needs numeric 'rate' and 'logit_sd'") from None
        if not 0.0 < rate < 1.0:
            raise ConfigError(f"{where}: rate {rate} must lie strictly between 0 and 1")
        if sd <= 0:
            raise ConfigError(f"{where}: logit_sd {sd} must be positive")
        published = node.get("published", False)
        if not isinstance(published, bool):
            raise ConfigError(f"{where}: published must be true or false, not {published!r}")
        return cls(rate=rate, logit_sd=sd, source=str(node.get("source", "")), published=published)


@dataclass(frozen=True)
class EffectPriors:
    """The effect priors every complication model of one prior set shares (logit scale)."""

    dose_mean: float
    dose_sd: float
    product_sd: float
    clinic_scale: float
    injector_scale: float
    year_sd: float


@dataclass(frozen=True)
class ComplicationPriors:
    """All priors of one complication model (one type, one prior set).

    ``region_priors`` holds one :class:`RatePrior` per region in the model's region order;
    ``effects`` are the set's shared effect priors.
    """

    prior_set: str
    region_priors: tuple[RatePrior, ...]
    effects: EffectPriors

    @property
    def region_mu(self) -> np.ndarray:
        return np.array([p.logit_mean for p in self.region_priors])

    @property
    def region_sd(self) -> np.ndarray:
        return np.array([p.logit_sd for p in self.region_priors])


@dataclass(frozen=True)
class PriorSet:
    """One named prior set for every complication type (parsed once from params)."""

    name: str
    rates: Mapping[str, Mapping[str, RatePrior]]
    default_rate: RatePrior
    effects: EffectPriors

    def rate_prior(self, complication: str, region: str) -> RatePrior:
        """Region-specific prior, else the type's ``_other`` entry, else the set's default."""
        by_region = self.rates.get(complication, {})
        return by_region.get(region) or by_region.get("_other") or self.default_rate

    def for_type(self, complication: str, regions: Sequence[str]) -> ComplicationPriors:
        """Priors of one model; ``regions`` is the model's full region order."""
        return ComplicationPriors(
            prior_set=self.name,
            region_priors=tuple(self.rate_prior(complication, r) for r in regions),
            effects=self.effects,
        )


def _number(node: Mapping, key: str, field: str, where: str, positive: bool = True) -> float:
    try:
        value = float(node[key][field])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}.{key}.{field} is missing or not a number") from None
    if positive and value <= 0:
        raise ConfigError(f"{where}.{key}.{field} = {value} must be positive")
    return value


def prior_set_from_params(complications: Mapping, name: str) -> PriorSet:
    """Parse ``complications.priors.<name>`` into a :class:`PriorSet`.

    Raises
    ------
    ConfigError
        If the set is unknown or a number is missing or out of range.
    """
    if name not in PRIOR_SETS:
        raise ConfigError(f"complications.prior_set = {name!r}: use one of {', '.join(PRIOR_SETS)}")
    where = f"complications.priors.{name}"
    try:
        node = complications["priors"][name]
    except (KeyError, TypeError):
        raise ConfigError(f"params.yaml has no section '{where}'") from None
    rates = {
        ctype: {
            region: RatePrior.from_params(entry, f"{where}.rates.{ctype}.{region}")
            for region, entry in (by_region or {}).items()
        }
        for ctype, by_region in (node.get("rates") or {}).items()
    }
    return PriorSet(
        name=name,
        rates=rates,
        default_rate=RatePrior.from_params(node.get("default_rate", {}), f"{where}.default_rate"),
        effects=EffectPriors(
            dose_mean=_number(node, "dose_log_or_per_doubling", "mean", where, positive=False),
            dose_sd=_number(node, "dose_log_or_per_doubling", "sd", where),
            product_sd=_number(node, "product_log_or_sd", "sd", where),
            clinic_scale=_number(node, "clinic_sd_scale", "scale", where),
            injector_scale=_number(node, "injector_sd_scale", "scale", where),
            year_sd=_number(node, "year_log_or_sd", "sd", where),
        ),
    )


def benchmark_table(benchmarks: PriorSet, complication_types: Mapping) -> pd.DataFrame:
    """Published benchmark per complication type and region where it can occur.

    Returns columns ``complication, region, benchmark_rate, benchmark_published,
    benchmark_source``; the benchmark is the informative prior's centre: a published rate
    (``benchmark_published`` true) or a labelled practice assumption (false).
    """
    rows = []
    for ctype, spec in complication_types.items():
        for region in spec["regions"]:
            prior = benchmarks.rate_prior(ctype, region)
            rows.append(
                {
                    "complication": ctype,
                    "region": region,
                    "benchmark_rate": prior.rate,
                    "benchmark_published": prior.published,
                    "benchmark_source": prior.source,
                }
            )
    return pd.DataFrame(rows)


def prior_table(prior_set: PriorSet, complication_types: Mapping) -> pd.DataFrame:
    """Tidy description of a prior set for the research view (one row per prior)."""
    rows = []
    for ctype, spec in complication_types.items():
        for region in spec["regions"]:
            p = prior_set.rate_prior(ctype, region)
            lo, hi = _rate_interval(p)
            rows.append(
                {
                    "prior_set": prior_set.name,
                    "parameter": f"rate[{ctype}, {region}]",
                    "distribution": f"logit ~ Normal({p.logit_mean:.2f}, {p.logit_sd:.2f})",
                    "centre": p.rate,
                    "published": p.published,
                    "lower_95": lo,
                    "upper_95": hi,
                    "source": p.source,
                }
            )
    e = prior_set.effects
    shared = [
        ("dose log-OR per doubling", f"Normal({e.dose_mean:g}, {e.dose_sd:g})"),
        ("product log-OR vs ona", f"Normal(0, {e.product_sd:g})"),
        ("clinic SD (logit)", f"HalfNormal({e.clinic_scale:g})"),
        ("injector SD (logit)", f"HalfNormal({e.injector_scale:g})"),
        ("calendar log-OR per year", f"Normal(0, {e.year_sd:g})"),
    ]
    for name, dist in shared:
        rows.append({"prior_set": prior_set.name, "parameter": name, "distribution": dist})
    return pd.DataFrame(rows)


def _rate_interval(prior: RatePrior) -> tuple[float, float]:
    from scipy.special import expit

    half = 1.959964 * prior.logit_sd
    return float(expit(prior.logit_mean - half)), float(expit(prior.logit_mean + half))
