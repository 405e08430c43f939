"""The log-survival and log-density functions against SciPy, and their stability in the tails."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from survival_synth import mixed_observations

from analysis.survival.families import (
    FAMILIES,
    Observations,
    interval_loglik,
    log_pdf_std,
    log_surv_std,
    loglik_derivatives,
    pt_log_pdf_std,
    pt_log_surv_std,
    quantile_std,
)

SCIPY = {
    "lognormal": stats.norm(),
    "loglogistic": stats.logistic(),
    "weibull": stats.gumbel_l(),  # minimum Gumbel: log of a Weibull variable
}
Z = np.linspace(-6, 3, 19)


@pytest.mark.parametrize("family", FAMILIES)
def test_numpy_matches_scipy(family):
    ref = SCIPY[family]
    np.testing.assert_allclose(log_surv_std(Z, family), ref.logsf(Z), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_pdf_std(Z, family), ref.logpdf(Z), rtol=1e-9, atol=1e-12)
    p = np.array([0.1, 0.5, 0.8])
    np.testing.assert_allclose(quantile_std(p, family), ref.ppf(p), rtol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_pytensor_matches_numpy(family):
    z = pt.dvector("z")
    # Numba: the backend nutpie samples with (and no C compiler needed)
    f = pytensor.function(
        [z], [pt_log_surv_std(z, family), pt_log_pdf_std(z, family)], mode="NUMBA"
    )
    surv, dens = f(Z)
    np.testing.assert_allclose(surv, log_surv_std(Z, family), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dens, log_pdf_std(Z, family), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_interval_loglik_is_log_of_survival_difference(family):
    ref = SCIPY[family]
    eta, sigma = np.log(120.0), 0.3
    lower = np.array([0.0, 30.0, 100.0, 100.0, 90.0])
    upper = np.array([60.0, 90.0, 150.0, np.inf, 90.0])
    got = interval_loglik(lower, upper, eta, sigma, family)
    s = lambda t: ref.sf((np.log(t) - eta) / sigma)  # noqa: E731
    with np.errstate(divide="ignore", over="ignore"):  # log(0) = -inf and S(inf) = 0 on purpose
        expected = np.log(
            s(lower[:4]) - np.where(np.isinf(upper[:4]), 0.0, s(np.minimum(upper[:4], 1e300)))
        )
    np.testing.assert_allclose(got[:4], expected, rtol=1e-9)
    # exact time: density of T = density of log T / t
    dens = ref.logpdf((np.log(90.0) - eta) / sigma) - np.log(sigma) - np.log(90.0)
    assert got[4] == pytest.approx(dens, rel=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_interval_loglik_finite_far_in_the_tails(family):
    # an interval 40 scale units above the location: naive log(S(l) - S(u)) underflows to -inf
    eta, sigma = np.log(100.0), 0.1
    lower, upper = 100 * np.exp(40 * 0.1), 100 * np.exp(41 * 0.1)
    got = interval_loglik(lower, upper, eta, sigma, family)
    ref = SCIPY[family]
    with np.errstate(divide="ignore", over="ignore"):  # the naive form's underflow, on purpose
        naive = np.log(ref.sf(40.0) - ref.sf(41.0))
    assert np.isfinite(got)
    assert got < -30
    if np.isfinite(naive):
        assert got == pytest.approx(naive, rel=1e-6)
    # and a tiny interval just after 0 (S close to 1): no cancellation to log(0)
    tiny = interval_loglik(1e-3, 2e-3, eta, sigma, family)
    assert np.isfinite(tiny)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sigma", [0.25, 1.3])
def test_analytic_derivatives_equal_finite_differences(family, sigma):
    lower, upper, eta = mixed_observations()
    obs = Observations.from_bounds(lower, upper)
    w = np.log(sigma)
    d = loglik_derivatives(obs, eta, w, family)
    ref = interval_loglik(lower, upper, eta, sigma, family)
    ref[(lower <= 0) & np.isinf(upper)] = 0.0
    np.testing.assert_allclose(d.loglik, ref, rtol=1e-12, atol=1e-12)
    h = 1e-6

    def at(e, ls):
        return loglik_derivatives(obs, e, ls, family)

    pairs = [
        (d.d_eta, (at(eta + h, w).loglik - at(eta - h, w).loglik) / (2 * h)),
        (d.d_ls, (at(eta, w + h).loglik - at(eta, w - h).loglik) / (2 * h)),
        (d.d2_eta, (at(eta + h, w).d_eta - at(eta - h, w).d_eta) / (2 * h)),
        (d.d2_eta_ls, (at(eta, w + h).d_eta - at(eta, w - h).d_eta) / (2 * h)),
        (d.d2_ls, (at(eta, w + h).d_ls - at(eta, w - h).d_ls) / (2 * h)),
    ]
    for analytic, numeric in pairs:
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-5)
    assert (d.d_eta[90:95] == 0).all() and (d.d2_ls[90:95] == 0).all()
