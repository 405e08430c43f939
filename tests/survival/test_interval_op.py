"""The compiled interval-censored log-likelihood Op against the NumPy algebra and the graph."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from survival_synth import mixed_observations

from analysis.survival.families import (
    FAMILIES,
    Observations,
    interval_loglik,
    loglik_derivatives,
    pt_interval_loglik_graph,
)
from analysis.survival.interval_op import (
    FAMILY_CODE,
    IntervalLogLik,
    coded_bounds,
    interval_loglik_grad,
    pt_interval_loglik,
)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sigma", [0.08, 0.3, 2.0])
def test_kernel_equals_the_numpy_algebra(family, sigma):
    lower, upper, eta = mixed_observations(n=400, seed=3, eta_sd=1.5)
    total, d_eta, d_sigma = interval_loglik_grad(
        eta, sigma, *coded_bounds(lower, upper), FAMILY_CODE[family]
    )
    ref = loglik_derivatives(
        Observations.from_bounds(lower, upper), eta, np.log(sigma), family, second=False
    )
    assert total == pytest.approx(ref.loglik.sum(), rel=1e-12)
    np.testing.assert_allclose(d_eta, ref.d_eta, rtol=1e-9, atol=1e-12)
    # d/dsigma = (d/dlog sigma) / sigma
    assert d_sigma == pytest.approx(ref.d_ls.sum() / sigma, rel=1e-10)
    assert (d_eta[90:95] == 0).all()  # right-censored at day 0: no information


@pytest.mark.parametrize("family", FAMILIES)
def test_far_tails_are_finite_and_exact(family):
    # 40 scale units above the location: the probabilities underflow (log-scale path for the
    # normal and Gumbel) and the sum stays equal to the NumPy log-scale form
    eta, sigma = np.log(100.0), 0.1
    lower = np.array([100 * np.exp(4.0), 100 * np.exp(4.0), 0.0, 1e-3])
    upper = np.array([100 * np.exp(4.1), np.inf, 100 * np.exp(4.0), 2e-3])
    etas = np.full(4, eta)
    total, d_eta, _ = interval_loglik_grad(
        etas, sigma, *coded_bounds(lower, upper), FAMILY_CODE[family]
    )
    ref = interval_loglik(lower, upper, etas, sigma, family)
    assert np.isfinite(total) and np.isfinite(d_eta).all()
    assert total == pytest.approx(ref.sum(), rel=1e-10)
    assert total < -30


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_op_value_and_gradient_equal_the_elementwise_graph(family, mode):
    # NUMBA: the backend nutpie samples with; FAST_COMPILE runs the Op's Python `perform`.
    # The reference graph runs in Python (no compile; test_families checks it under Numba)
    lower, upper, eta0 = mixed_observations(n=200, seed=5, eta_sd=1.5)
    eta, sigma = pt.dvector("eta"), pt.dscalar("sigma")
    fns = []
    for build, build_mode in (
        (pt_interval_loglik, mode),
        (pt_interval_loglik_graph, "FAST_COMPILE"),
    ):
        total = build(eta, sigma, lower, upper, family)
        fns.append(
            pytensor.function([eta, sigma], [total, *pt.grad(total, [eta, sigma])], mode=build_mode)
        )
    (op_value, op_d_eta, op_d_sigma), (value, d_eta, d_sigma) = (f(eta0, 0.4) for f in fns)
    assert op_value == pytest.approx(value, rel=1e-10)
    np.testing.assert_allclose(op_d_eta, d_eta, rtol=1e-8, atol=1e-12)
    assert op_d_sigma == pytest.approx(d_sigma, rel=1e-8)


def test_only_first_derivatives_are_defined():
    lower, upper, _ = mixed_observations(n=100)
    eta, sigma = pt.dvector("eta"), pt.dscalar("sigma")
    _, d_eta, _ = IntervalLogLik("lognormal")(eta, sigma, *coded_bounds(lower, upper))
    with pytest.raises(NotImplementedError, match="first derivatives"):
        pt.grad(d_eta.sum(), eta)
