"""A test double of nutpie for the tiny pipeline (``tests/pipeline_run.py``): NOT a sampler.

The tests that read the tiny pipeline check what the stages build from a posterior (tables,
pages, PDFs, disclosure, reproducibility), not the posterior itself. Compiling the models
with Numba took most of that build (about 40 s for the complication model and 20-25 s per
advice model, whatever the number of patients). This package is put ahead of the real nutpie
on the copy's ``PYTHONPATH`` only; it offers the two calls the project makes
(``compile_pymc_model`` and ``sample``) and returns, for the same arguments, what nutpie
returns in shape: ``posterior`` (every free variable, on its constrained scale, and every
deterministic, with the model's dims) and ``sample_stats`` (no divergence). The draws are
independent draws from the model's *prior* given its current data (PyMC's
``sample_prior_predictive``, evaluated without compiling C or Numba code), so the seed fixes
them and the diagnostics gate passes. Outputs built with it name it: ``__version__`` below,
and the version in ``nutpie-0+test.double.dist-info`` beside this package (what
``importlib.metadata`` finds first on that path), are what the methods texts print as nutpie's
version.

The real sampler is exercised by the tests that check numbers (tests/complications,
tests/advice), which fit the models with nutpie, and its reproducibility for a given seed by
``tests/complications/test_model.py``.
"""

from __future__ import annotations

import logging
import sys
import warnings

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

__version__ = "test double (prior draws, not a posterior)"

_NOTICE = "tests/doubles/nutpie: prior draws in place of NUTS (tiny pipeline, structure tests)\n"


class CompiledModel:
    """The model and the data to set before drawing (nutpie's ``with_data`` semantics)."""

    def __init__(self, model: pm.Model, data: dict | None = None) -> None:
        self.model = model
        self.data = dict(data or {})

    def with_data(self, **updates) -> CompiledModel:
        names = {d.name for d in self.model.data_vars}
        unknown = sorted(set(updates) - names)
        if unknown:
            raise KeyError(f"Unknown shared variable: {unknown[0]}")
        return CompiledModel(self.model, {**self.data, **updates})


def compile_pymc_model(model: pm.Model, backend: str = "numba", **_: object) -> CompiledModel:
    return CompiledModel(model)


def sample(
    compiled: CompiledModel,
    draws: int = 1000,
    tune: int = 300,
    chains: int = 6,
    seed: int | None = None,
    **_: object,
) -> az.InferenceData:
    sys.stderr.write(_NOTICE)
    model = compiled.model
    names = [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not PyMC's "Sampling: [...]" line per fit
    try:
        with model, warnings.catch_warnings():
            # the likelihood (a Potential) is what the prior draws leave out, by design
            warnings.filterwarnings("ignore", message="The effect of Potentials")
            if compiled.data:
                pm.set_data(compiled.data)
            prior = pm.sample_prior_predictive(
                draws=draws * chains,
                var_names=names,
                random_seed=seed,
                compile_kwargs={"mode": "FAST_COMPILE"},
            ).prior
    finally:
        pymc_log.setLevel(level)
    posterior = xr.Dataset(
        {
            name: _by_chain(prior[name], chains, draws)
            for name in names  # nutpie's order: free variables, then deterministics
        }
    )
    rng = np.random.default_rng(seed)
    shape = (chains, draws)
    dims = ("chain", "draw")
    stats = xr.Dataset(
        {
            "diverging": (dims, np.zeros(shape, dtype=bool)),
            "energy": (dims, rng.normal(size=shape)),
            "step_size": (dims, np.full(shape, 0.5)),
            "n_steps": (dims, np.full(shape, 7, dtype=np.uint64)),
            "depth": (dims, np.full(shape, 3, dtype=np.uint64)),
            "maxdepth_reached": (dims, np.zeros(shape, dtype=bool)),
            "tuning": (dims, np.zeros(shape, dtype=bool)),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )
    return az.InferenceData(posterior=posterior, sample_stats=stats)


def _by_chain(values: xr.DataArray, chains: int, draws: int) -> xr.DataArray:
    """(1, chains x draws, ...) prior draws as (chains, draws, ...)."""
    arr = values.values.reshape(chains, draws, *values.shape[2:])
    coords = {d: values.coords[d] for d in values.dims[2:] if d in values.coords}
    return xr.DataArray(
        arr,
        dims=("chain", "draw", *values.dims[2:]),
        coords={"chain": np.arange(chains), "draw": np.arange(draws), **coords},
    )
