"""Sampling and the convergence gate shared by every Bayesian model of the study.

``sample`` runs NUTS with nutpie (default: about 2x faster than PyMC's sampler on this
machine, ../shared/PERF-NOTES.md) or PyMC's own sampler; ``check_convergence`` is the gate:
R-hat <= 1.01, bulk and tail ESS >= 400 per parameter, no divergences. A failure raises
:class:`~analysis.errors.ConvergenceError` naming the model, the parameter and the likely fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from analysis.config import parse
from analysis.errors import ConfigError, ConvergenceError


@dataclass(frozen=True)
class SamplerConfig:
    """How to run NUTS (a ``sampler`` mapping of params.yaml, e.g. ``complications.sampler``).

    The defaults serve programmatic use (tests, benchmarks, validation scripts); params.yaml
    gives every key of each sampler it configures except ``low_rank_mass_matrix``.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 2
    target_accept: float = 0.9
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    #: nutpie only: low-rank modified mass matrix (helps correlated posteriors, e.g. a group
    #: scale against its effects when the data inform them).
    low_rank_mass_matrix: bool = False

    def __post_init__(self) -> None:
        if self.draws < 1 or self.tune < 0 or self.chains < 1 or self.cores < 1:
            raise ConfigError(
                f"draws ({self.draws}), chains ({self.chains}) and cores ({self.cores}) must "
                f"be >= 1 and tune ({self.tune}) >= 0"
            )
        if not 0.0 < self.target_accept < 1.0:
            raise ConfigError(f"target_accept = {self.target_accept} must lie in (0, 1)")

    @classmethod
    def from_params(cls, section: Mapping[str, Any], where: str = "sampler") -> SamplerConfig:
        """Parse one sampler mapping strictly (``where``: its dotted path in params.yaml)."""
        return parse(section, cls, where)


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the convergence gate (:func:`check_convergence`).

    The defaults are the study's gate (params.yaml gives them for every model it configures).
    """

    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    min_ess_tail: float = 400.0
    max_divergences: int = 0

    def __post_init__(self) -> None:
        if self.max_rhat < 1.0:
            raise ConfigError(f"max_rhat = {self.max_rhat} must be >= 1")
        if min(self.min_ess_bulk, self.min_ess_tail, self.max_divergences) < 0:
            raise ConfigError("min_ess_bulk, min_ess_tail and max_divergences must be >= 0")

    @classmethod
    def from_params(cls, section: Mapping[str, Any], where: str = "gate") -> GateConfig:
        """Parse one gate mapping strictly (``where``: its dotted path in params.yaml)."""
        return parse(section, cls, where)


#: PyTensor's warning when pip installed it without a BLAS to link: a performance note (README),
#: not a problem of the run. The models sample through nutpie's Numba backend, which does not
#: use PyTensor's C BLAS.
MISSING_BLAS_WARNING = r"PyTensor could not link to a BLAS installation"
#: Numba's note that nutpie's compiled log-density (it holds the data as large global arrays)
#: cannot be cached on disk: the model is compiled once per run anyway.
NUMBA_NO_CACHE_WARNING = r".*Cannot cache compiled function \"numba_funcified_fgraph\""


@contextmanager
def quiet_pytensor() -> Iterator[None]:
    """Silence two messages inside the block, nothing else: PyTensor's missing BLAS and
    Numba's cannot-cache note about nutpie's compiled model (neither affects the results)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MISSING_BLAS_WARNING, category=UserWarning)
        warnings.filterwarnings("ignore", message=NUMBA_NO_CACHE_WARNING)
        yield


def sample(
    model: pm.Model, config: SamplerConfig, seed: int, unjittered: Sequence[str] = ()
) -> az.InferenceData:
    """Draw from the posterior of ``model``; the seed makes the draws reproducible.

    Each chain starts at the model's initial point with every free variable jittered (uniform
    +-1 on the unconstrained scale), except those named in ``unjittered``, which start at their
    initial point in every chain (e.g. regression coefficients at 0: jittered by +-1 each, a
    dozen of them can move a linear predictor far enough from the data that a log-likelihood
    with exponential tails, such as Weibull's, reaches -1e11 and a chain never leaves). PyMC's
    own sampler (``config.sampler == "pymc"``) jitters as it always does.
    """
    jitter = {v for v in model.free_RVs if v.name not in set(unjittered)}
    with quiet_pytensor():
        if config.sampler == "nutpie":
            import nutpie

            compiled = nutpie.compile_pymc_model(model, backend="numba", jitter_rvs=jitter)
            return sample_compiled(compiled, config, seed)
        if config.sampler == "pymc":
            return sample_pymc(model, config, seed)
    raise ValueError(f"unknown sampler {config.sampler!r}: use 'nutpie' or 'pymc'")


def sample_compiled(compiled, config: SamplerConfig, seed: int) -> az.InferenceData:
    """NUTS with nutpie on an already compiled model (re-use one with ``compiled.with_data``)."""
    import nutpie

    with quiet_pytensor():
        return nutpie.sample(
            compiled,
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            cores=config.cores,
            seed=seed,
            save_warmup=False,
            progress_bar=False,
            target_accept=config.target_accept,
            low_rank_modified_mass_matrix=config.low_rank_mass_matrix,
        )


def sample_pymc(model: pm.Model, config: SamplerConfig, seed: int) -> az.InferenceData:
    """NUTS with PyMC's own sampler (the baseline the benchmarks compare nutpie with)."""
    with model, quiet_pytensor():
        return pm.sample(
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            cores=config.cores,
            random_seed=seed,
            target_accept=config.target_accept,
            progressbar=False,
            compute_convergence_checks=False,
        )


def diagnostics_table(idata: az.InferenceData, var_names: list[str] | None = None) -> pd.DataFrame:
    """One row per scalar parameter: ``parameter, r_hat, ess_bulk, ess_tail``."""
    summ = az.summary(idata, var_names=var_names, kind="diagnostics")
    out = summ[["r_hat", "ess_bulk", "ess_tail"]].reset_index(names="parameter")
    return out


def n_divergences(idata: az.InferenceData) -> int:
    """Number of divergent transitions over all chains (0 if the sampler records none)."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None:
        return 0
    for name in ("diverging", "divergences"):
        if name in stats:
            return int(np.asarray(stats[name]).sum())
    return 0


def bfmi(idata: az.InferenceData) -> list[float]:
    """Energy Bayesian fraction of missing information per chain (reported, not gated)."""
    try:
        return [float(x) for x in az.bfmi(idata)]
    except (KeyError, AttributeError, ValueError):
        return []


def check_convergence(
    idata: az.InferenceData,
    model_name: str,
    gate: GateConfig = GateConfig(),  # noqa: B008 - frozen dataclass, safe default
    var_names: list[str] | None = None,
) -> dict:
    """Apply the diagnostics gate; return a summary dict or raise :class:`ConvergenceError`."""
    table = diagnostics_table(idata, var_names)
    divergences = n_divergences(idata)
    failures: list[str] = []
    worst_rhat = table.loc[table["r_hat"].idxmax()]
    if worst_rhat["r_hat"] > gate.max_rhat:
        failures.append(
            f"R-hat {worst_rhat['r_hat']:.3f} > {gate.max_rhat} for '{worst_rhat['parameter']}' "
            "(chains disagree: run longer, or reparametrise that parameter)"
        )
    for col, limit in (("ess_bulk", gate.min_ess_bulk), ("ess_tail", gate.min_ess_tail)):
        worst = table.loc[table[col].idxmin()]
        if worst[col] < limit:
            failures.append(
                f"{col.replace('_', ' ')} {worst[col]:.0f} < {limit:.0f} "
                f"for '{worst['parameter']}' "
                "(increase draws, or non-centre / tighten the prior of its group scale)"
            )
    if divergences > gate.max_divergences:
        failures.append(
            f"{divergences} divergent transitions (> {gate.max_divergences}): fix the geometry "
            "(non-centred group effects, better-informed scale priors) before raising target_accept"
        )
    summary = {
        "model": model_name,
        "max_rhat": float(table["r_hat"].max()),
        "min_ess_bulk": float(table["ess_bulk"].min()),
        "min_ess_tail": float(table["ess_tail"].min()),
        "divergences": divergences,
        "bfmi_min": min(bfmi(idata), default=float("nan")),
        "n_parameters": int(len(table)),
        "passed": not failures,
    }
    if failures:
        raise ConvergenceError(
            f"model '{model_name}' failed its diagnostics gate: " + "; ".join(failures)
        )
    return summary
