"""The compiled binomial-cell likelihood Op against the PyTensor graph it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.complications.model import HIERARCHICAL, REGION_ONLY, build_complication_model


@pytest.mark.parametrize("structure", [HIERARCHICAL, REGION_ONLY])
@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_op_log_density_and_gradient_equal_the_graph(cells, informative, structure, mode):
    # NUMBA: the backend nutpie samples with; FAST_COMPILE runs the Op's Python `perform`.
    # Region-only: `effects_on` = 0, so every effect's gradient must vanish
    c = cells["headache"]
    priors = informative.for_type("headache", c.regions)
    models = [
        build_complication_model(c, priors, structure, likelihood=lik)
        for lik in ("binomial", "binomial_graph")
    ]
    fns = [m.logp_dlogp_function(mode=mode, ravel_inputs=True) for m in models]
    for fn in fns:
        fn.set_extra_values({})
    rng = np.random.default_rng(7)
    from pymc.blocking import DictToArrayBijection

    point = models[0].initial_point()
    x0 = DictToArrayBijection.map({v.name: point[v.name] for v in models[0].value_vars}).data
    values = []
    for _ in range(4):
        x = x0 + rng.normal(0.0, 0.7, x0.size)
        (op_logp, op_grad), (logp, grad) = (fn(x) for fn in fns)
        np.testing.assert_allclose(op_logp, logp, rtol=1e-11)
        np.testing.assert_allclose(op_grad, grad, rtol=1e-9, atol=1e-9)
        values.append(logp)
    assert np.ptp(values) > 10.0  # the points differ, so equality is not an accident
