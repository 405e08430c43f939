"""Log-likelihoods computed with their gradient in one compiled loop, as PyTensor Ops.

NUTS evaluates a model's log density and its gradient at every leapfrog step, and for the
study's two large models nearly all of that time is the likelihood: the advice model's
interval-censored AFT terms (:mod:`analysis.survival.interval_op`) and the complication model's
binomial cells (:mod:`analysis.complications.cell_op`). Written as PyTensor graphs of
elementwise ops with automatic differentiation, each observation is visited by a dozen loops
(gathers, special functions, their derivatives, scatter-adds). A :class:`ValueAndGradOp`
computes the summed log-likelihood and its gradient in every parameter input in one Numba loop;
its ``L_op`` hands back the stored gradient, so a NUTS step visits each observation once. Only
first derivatives are defined (what NUTS needs). Each such Op is tested against the graph it
replaces (value and automatic gradient) and benchmarked beside it.
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.op import Op


class ValueAndGradOp(Op):
    """An Op whose outputs are a value and its gradient in each of its first ``n_params``
    inputs (the parameters); the inputs after them are data (no gradient).

    Subclasses define ``n_params``, ``make_node`` (outputs: the scalar value, then one output
    shaped like each parameter input) and ``perform``; a Numba implementation is registered
    with :func:`pytensor.link.numba.dispatch.basic.register_funcify_and_cache_key` under
    :func:`cache_key`.
    """

    n_params: int = 0

    def connection_pattern(self, node) -> list[list[bool]]:
        n_out = len(node.outputs)
        params = [[True] * n_out for _ in range(self.n_params)]
        return params + [[False] * n_out for _ in node.inputs[self.n_params :]]

    def L_op(self, inputs, outputs, output_grads):
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError(f"{type(self).__name__}: only first derivatives are defined")
        g_value = output_grads[0]
        params = [g_value * outputs[1 + i] for i in range(self.n_params)]
        return params + [disconnected_type() for _ in inputs[self.n_params :]]


def cache_key(source: str, *parts: str) -> str:
    """PyTensor's cache key of a compiled Op: the text of the module at ``source`` (its
    ``__file__``) and ``parts``, so that an edited kernel is never served from a stale cache."""
    text = Path(source).read_bytes()
    return sha256(text + "|".join(parts).encode()).hexdigest()
