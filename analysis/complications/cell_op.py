"""The complication model's binomial likelihood over cells, with its gradient, as one Op.

For cell ``j`` (:mod:`analysis.complications.aggregate`) the model's linear predictor is::

    eta_j = region_total[region_j] + on * (dose_log_or * dose_j + product_full[product_j]
            + clinic_dev[clinic_j] + injector_effect[injector_j] + year_log_or * year_c_j)

and its log-likelihood kernel ``y_j eta_j - n_j log(1 + exp(eta_j))``
(:func:`analysis.complications.model.binomial_kernel`). :class:`CellLogLik` sums the kernel
over the cells and returns its gradient in each effect vector in the same loop
(``d/d eta_j = y_j - n_j expit(eta_j)``, added into each index the cell uses): one pass over the
cells per NUTS step instead of a dozen loops of gathers, elementwise ops and scatter-adds
(:class:`analysis.fused.ValueAndGradOp`). ``on`` and the cells are data.
``benchmarks/bench_complications.py --job kernel`` times it beside the graph.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key

from analysis.fused import ValueAndGradOp, cache_key

#: The parameter inputs of :class:`CellLogLik`, in order (vectors, then scalars).
PARAMETERS = (
    "region_total",
    "product_full",
    "clinic_dev",
    "injector_effect",
    "dose_log_or",
    "year_log_or",
)
#: Its data inputs, in order (the names of the model's ``pm.Data``).
DATA = (
    "effects_on",
    "y",
    "n",
    "region_idx",
    "product_idx",
    "clinic_idx",
    "injector_idx",
    "dose",
    "year_c",
)


@numba.njit(nogil=True, cache=True)
def cell_loglik_grad(
    region_total,
    product_full,
    clinic_dev,
    injector_effect,
    dose_log_or,
    year_log_or,
    on,
    y,
    n,
    region_idx,
    product_idx,
    clinic_idx,
    injector_idx,
    dose,
    year_c,
):
    """Summed binomial kernel over the cells and its gradient in each parameter input.

    ``dose_log_or``, ``year_log_or`` and ``on`` are 0-d arrays (as PyTensor passes scalars).
    Returns ``(total, d_region_total, d_product_full, d_clinic_dev, d_injector_effect,
    d_dose_log_or, d_year_log_or)``; the softplus and the logistic share one exponential.
    """
    dose_log_or = dose_log_or.item()
    year_log_or = year_log_or.item()
    on = on.item()
    d_region = np.zeros(region_total.shape[0])
    d_product = np.zeros(product_full.shape[0])
    d_clinic = np.zeros(clinic_dev.shape[0])
    d_injector = np.zeros(injector_effect.shape[0])
    total = 0.0
    d_dose = 0.0
    d_year = 0.0
    for j in range(y.shape[0]):
        shift = (
            dose_log_or * dose[j]
            + product_full[product_idx[j]]
            + clinic_dev[clinic_idx[j]]
            + injector_effect[injector_idx[j]]
            + year_log_or * year_c[j]
        )
        eta = region_total[region_idx[j]] + on * shift
        if eta > 0.0:
            t = math.exp(-eta)
            softplus = eta + math.log1p(t)
            p = 1.0 / (1.0 + t)
        else:
            t = math.exp(eta)
            softplus = math.log1p(t)
            p = t / (1.0 + t)
        total += y[j] * eta - n[j] * softplus
        g = y[j] - n[j] * p
        d_region[region_idx[j]] += g
        g_on = g * on
        d_product[product_idx[j]] += g_on
        d_clinic[clinic_idx[j]] += g_on
        d_injector[injector_idx[j]] += g_on
        d_dose += g_on * dose[j]
        d_year += g_on * year_c[j]
    return total, d_region, d_product, d_clinic, d_injector, d_dose, d_year


class CellLogLik(ValueAndGradOp):
    """``(*PARAMETERS, *DATA) -> (loglik, gradient in each of PARAMETERS)``."""

    __props__ = ()
    n_params = len(PARAMETERS)

    def make_node(self, *inputs) -> Apply:
        """Inputs in the order of :data:`PARAMETERS` then :data:`DATA`."""
        params = [pt.as_tensor_variable(x, dtype="float64") for x in inputs[: self.n_params]]
        data = [pt.as_tensor_variable(x) for x in inputs[self.n_params :]]
        outputs = [pt.dscalar(), *(p.type() for p in params)]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage) -> None:
        values = [np.asarray(x) for x in inputs]
        for storage, value in zip(output_storage, cell_loglik_grad(*values), strict=True):
            storage[0] = np.asarray(value)


@register_funcify_and_cache_key(CellLogLik)
def _numba_cell_loglik(op: CellLogLik, node=None, **kwargs):
    """The Op in PyTensor's Numba backend (nutpie's): the kernel, outputs as arrays (the
    scalar inputs arrive as 0-d arrays, which the kernel reads with ``.item()``)."""

    @numba_njit
    def cell_loglik_op(*inputs):
        total, d_region, d_product, d_clinic, d_injector, d_dose, d_year = cell_loglik_grad(*inputs)
        return (
            np.asarray(total),
            d_region,
            d_product,
            d_clinic,
            d_injector,
            np.asarray(d_dose),
            np.asarray(d_year),
        )

    return cell_loglik_op, cache_key(__file__, "CellLogLik")


def pt_cell_loglik(params: dict, data: dict):
    """PyTensor sum of the binomial kernel over the cells: ``params`` maps :data:`PARAMETERS`
    to tensors, ``data`` maps :data:`DATA` to the model's data containers."""
    outputs = CellLogLik()(*(params[k] for k in PARAMETERS), *(data[k] for k in DATA))
    return outputs[0]  # type: ignore[index]  # a multi-output Op returns a list
