"""The compiled binomial-cell likelihood Op against the PyTensor graph it replaces."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from analysis.complications.cell_op import PARAMETERS, pt_cell_loglik
from analysis.complications.model import binomial_kernel, linear_predictor

VECTORS = ("region_total", "product_full", "clinic_dev", "injector_effect")


@pytest.mark.parametrize("effects_on", [1.0, 0.0])
@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_op_value_and_gradient_equal_the_graph(cells, effects_on, mode):
    # NUMBA: the backend nutpie samples with; FAST_COMPILE runs the Op's Python `perform`.
    # The reference graph runs in Python (no compile). effects_on = 0 is the region-only
    # model: every effect's gradient must vanish.
    c = cells["headache"]
    data = {**c.arrays(), "effects_on": np.array(effects_on)}
    levels = c.levels
    sizes = {
        "region_total": len(levels.regions),
        "product_full": len(levels.products),
        "clinic_dev": len(levels.clinics),
        "injector_effect": len(levels.injectors),
    }
    params = {k: pt.dvector(k) if k in VECTORS else pt.dscalar(k) for k in PARAMETERS}
    inputs = [params[k] for k in PARAMETERS]

    def value_and_grads(total):
        return [total, *pt.grad(total, inputs)]

    op = pytensor.function(inputs, value_and_grads(pt_cell_loglik(params, data)), mode=mode)
    graph_total = binomial_kernel(data["y"], data["n"], linear_predictor(params, data))
    graph = pytensor.function(inputs, value_and_grads(graph_total), mode="FAST_COMPILE")
    rng = np.random.default_rng(7)
    totals = []
    for _ in range(4):
        point = [
            rng.normal(-3.0 if k == "region_total" else 0.0, 0.7, sizes[k])
            if k in VECTORS
            else np.array(rng.normal(0.0, 0.3))
            for k in PARAMETERS
        ]
        got, expected = op(*point), graph(*point)
        assert got[0] == pytest.approx(expected[0], rel=1e-11)
        for g, e in zip(got[1:], expected[1:], strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9)
        if effects_on == 0.0:
            assert all(np.all(g == 0) for g in got[2:])
        totals.append(expected[0])
    assert np.ptp(totals) > 10.0  # the points differ, so equality is not an accident
