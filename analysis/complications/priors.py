"""Priors and published benchmarks of the complication models, read from ``params.yaml``.

Every prior of the informative set is centred on a published per-treatment rate and cites its
source (``complications.priors.informative`` in params.yaml); the same published rates are the
benchmarks the clinic is compared with. The ``weak`` set is the prior-sensitivity alternative.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logit

from analysis.errors import ConfigError

PRIOR_SETS = ("informative", "weak")

#: Key of a type's rate prior for its regions without their own entry.
OTHER_REGIONS = "_other"


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

    def __post_init__(self) -> None:
        if not 0.0 < self.rate < 1.0:
            raise ConfigError(f"rate {self.rate} must lie strictly between 0 and 1")
        if self.logit_sd <= 0:
            raise ConfigError(f"logit_sd {self.logit_sd} must be positive")

    @property
    def logit_mean(self) -> float:
        return float(logit(self.rate))


@dataclass(frozen=True)
class NormalPrior:
    """``Normal(mean, sd)`` on a log odds ratio (``complications.priors.<set>.dose_...``)."""

    mean: float
    sd: float
    source: str

    def __post_init__(self) -> None:
        _positive("sd", self.sd)


@dataclass(frozen=True)
class ZeroCentredPrior:
    """``Normal(0, sd)`` on a log odds ratio (product, calendar year)."""

    sd: float
    source: str

    def __post_init__(self) -> None:
        _positive("sd", self.sd)


@dataclass(frozen=True)
class HalfNormalScale:
    """``HalfNormal(scale)`` on a group SD of the log-odds (clinics, injectors)."""

    scale: float
    source: str

    def __post_init__(self) -> None:
        _positive("scale", self.scale)


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} = {value} must be positive")


@dataclass(frozen=True)
class PriorSetConfig:
    """One prior set as params.yaml writes it (``complications.priors.<name>``).

    ``rates[type][region]`` is the region's rate prior; a type's ``_other`` entry covers its
    regions without their own entry; ``default_rate`` covers every other type and region.
    """

    dose_log_or_per_doubling: NormalPrior
    product_log_or_sd: ZeroCentredPrior
    clinic_sd_scale: HalfNormalScale
    injector_sd_scale: HalfNormalScale
    year_log_or_sd: ZeroCentredPrior
    default_rate: RatePrior
    rates: Mapping[str, Mapping[str, RatePrior]]


@dataclass(frozen=True)
class PriorsConfig:
    """``complications.priors``: the two prior sets (:data:`PRIOR_SETS`)."""

    informative: PriorSetConfig
    weak: PriorSetConfig

    def check_vocabulary(self, complication_regions: Mapping[str, Sequence[str]]) -> None:
        """Every ``rates.<type>.<region>`` names a known type and one of its regions.

        Raises
        ------
        ConfigError
            Naming the key's path and the nearest valid name (a misspelt type or region
            would otherwise silently fall back to the default prior).
        """
        for name in PRIOR_SETS:
            where = f"complications.priors.{name}.rates"
            for ctype, by_region in getattr(self, name).rates.items():
                if ctype not in complication_regions:
                    raise _unknown(f"{where}.{ctype}", ctype, complication_regions)
                valid = (*complication_regions[ctype], OTHER_REGIONS)
                for region in by_region:
                    if region not in valid:
                        raise _unknown(f"{where}.{ctype}.{region}", region, valid)

    def prior_set(self, name: str) -> PriorSet:
        """The prior set ``name`` ready for the models."""
        if name not in PRIOR_SETS:
            raise ConfigError(
                f"complications.prior_set = {name!r}: use one of {', '.join(PRIOR_SETS)}"
            )
        node: PriorSetConfig = getattr(self, name)
        return PriorSet(
            name=name,
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


def _unknown(path: str, name: str, valid: Iterable[str]) -> ConfigError:
    names = [str(v) for v in valid]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"valid: {', '.join(names)}"
    return ConfigError(f"params.yaml: unknown key '{path}' ({hint})")


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
        return by_region.get(region) or by_region.get(OTHER_REGIONS) or self.default_rate

    def for_type(self, complication: str, regions: Sequence[str]) -> ComplicationPriors:
        """Priors of one model; ``regions`` is the model's full region order."""
        return ComplicationPriors(
            prior_set=self.name,
            region_priors=tuple(self.rate_prior(complication, r) for r in regions),
            effects=self.effects,
        )


def benchmark_table(
    benchmarks: PriorSet, complication_regions: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """Published benchmark per complication type and region where it can occur.

    Returns columns ``complication, region, benchmark_rate, benchmark_published,
    benchmark_source``; the benchmark is the informative prior's centre: a published rate
    (``benchmark_published`` true) or a labelled practice assumption (false).
    """
    rows = []
    for ctype, regions in complication_regions.items():
        for region in regions:
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


def prior_table(
    prior_set: PriorSet,
    complication_regions: Mapping[str, Sequence[str]],
    calendar_trend: bool = True,
) -> pd.DataFrame:
    """Tidy description of a prior set for the research view (one row per prior); the
    calendar term's prior only when the term is in the model (``calendar_trend``)."""
    rows = []
    for ctype, regions in complication_regions.items():
        for region in regions:
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
    ]
    if calendar_trend:
        shared.append(("calendar log-OR per year", f"Normal(0, {e.year_sd:g})"))
    for name, dist in shared:
        rows.append({"prior_set": prior_set.name, "parameter": name, "distribution": dist})
    return pd.DataFrame(rows)


def _rate_interval(prior: RatePrior) -> tuple[float, float]:
    from scipy.special import expit

    half = 1.959964 * prior.logit_sd
    return float(expit(prior.logit_mean - half)), float(expit(prior.logit_mean + half))
