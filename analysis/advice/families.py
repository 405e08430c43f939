"""Error distributions of the log-duration AFT model, in NumPy and in PyTensor.

An accelerated-failure-time model writes ``log T = eta + sigma * eps``. The family is the law of
``eps``; with ``z = (log t - eta) / sigma``:

============  =======================  ===============================  =====================
family        eps                      log S(t)                         log density of eps
============  =======================  ===============================  =====================
lognormal     standard normal          log Phi(-z)                      -z^2/2 - log(2 pi)/2
loglogistic   standard logistic        -log(1 + e^z)                    z - 2 log(1 + e^z)
weibull       standard minimum Gumbel  -e^z                             z - e^z
============  =======================  ===============================  =====================

``log f(t) = log f_eps(z) - log sigma - log t``. Every function works on the log scale so that
tails (S close to 0 or 1) stay finite; the interval contribution ``log(S(l) - S(u))`` is
``log S(l) + log1mexp(log S(u) - log S(l))``.

The NumPy versions serve prediction, pointwise log-likelihood (LOO) and validation; the
PyTensor versions build the model. ``tests/advice/test_families.py`` checks both against SciPy.
"""

from __future__ import annotations

import numpy as np
from scipy import special

FAMILIES: tuple[str, ...] = ("lognormal", "loglogistic", "weibull")

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def check_family(family: str) -> str:
    """Return ``family`` if it is known, else raise ``ValueError`` listing the known ones."""
    if family not in FAMILIES:
        raise ValueError(f"unknown AFT family {family!r}: use one of {', '.join(FAMILIES)}")
    return family


# ------------------------------------------------------------------------------------ NumPy
def log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x <= 0`` without cancellation (Maechler 2012)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_surv_std(z: np.ndarray, family: str) -> np.ndarray:
    """log S of the standardised error at ``z`` (``z = -inf`` gives 0, ``+inf`` gives -inf)."""
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return special.log_ndtr(-z)
    if family == "loglogistic":
        return -np.logaddexp(0.0, z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return -np.exp(z)
    raise ValueError(check_family(family))


def surv_std(z: np.ndarray, family: str) -> np.ndarray:
    """S of the standardised error (cheaper than ``exp(log_surv_std)`` for the normal)."""
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return special.ndtr(-z)
    if family == "loglogistic":
        return special.expit(-z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return np.exp(-np.exp(z))
    raise ValueError(check_family(family))


def log_cdf_std(z: np.ndarray, family: str) -> np.ndarray:
    """log F = log(1 - S) of the standardised error at ``z`` (accurate in the left tail)."""
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return special.log_ndtr(z)
    if family == "loglogistic":
        return -np.logaddexp(0.0, -z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return log1mexp(-np.exp(z))
    raise ValueError(check_family(family))


def log_pdf_std(z: np.ndarray, family: str) -> np.ndarray:
    """log density of the standardised error at ``z``."""
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return -0.5 * z**2 - _HALF_LOG_2PI
    if family == "loglogistic":
        return z - 2.0 * np.logaddexp(0.0, z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return z - np.exp(z)
    raise ValueError(check_family(family))


def quantile_std(p: np.ndarray, family: str) -> np.ndarray:
    """Quantile of the standardised error: ``P(eps <= q) = p``."""
    p = np.asarray(p, dtype=float)
    if family == "lognormal":
        return special.ndtri(p)
    if family == "loglogistic":
        return special.logit(p)
    if family == "weibull":
        return np.log(-np.log1p(-p))
    raise ValueError(check_family(family))


def log_survival(t_days: np.ndarray, eta: np.ndarray, sigma: np.ndarray, family: str) -> np.ndarray:
    """log S(t) of an AFT duration with location ``eta`` (log days) and scale ``sigma``."""
    with np.errstate(divide="ignore"):
        log_t = np.log(np.asarray(t_days, dtype=float))
    return log_surv_std((log_t - eta) / sigma, family)


def interval_loglik(
    lower_days: np.ndarray,
    upper_days: np.ndarray,
    eta: np.ndarray,
    sigma: np.ndarray,
    family: str,
) -> np.ndarray:
    """Log-likelihood of observations ``lower < T <= upper`` (broadcasting).

    ``upper = inf`` is right-censoring (log S(lower)); ``lower = 0`` is left-censoring;
    ``lower == upper`` is an exact time (log density). Stable in both tails: right of the
    location ``log S(l) + log1mexp(log S(u) - log S(l))``, left of it the same with the CDF.
    """
    lower = np.asarray(lower_days, dtype=float)
    upper = np.asarray(upper_days, dtype=float)
    with np.errstate(divide="ignore"):
        z_l = (np.log(lower) - eta) / sigma
        z_u = (np.log(upper) - eta) / sigma
    log_s_l, log_s_u = log_surv_std(z_l, family), log_surv_std(z_u, family)
    with np.errstate(invalid="ignore", divide="ignore"):
        right_tail = log_s_l + log1mexp(log_s_u - log_s_l)
        # both bounds left of the location: difference of CDFs avoids S(l) ~ S(u) ~ 1
        log_f_l, log_f_u = log_cdf_std(z_l, family), log_cdf_std(z_u, family)
        left_tail = log_f_u + log1mexp(log_f_l - log_f_u)
    interval = np.where(z_u < 0, left_tail, right_tail)
    exact = upper == lower
    if np.any(exact):
        safe_t = np.where(exact, np.maximum(lower, 1e-12), 1.0)
        z = (np.log(safe_t) - eta) / sigma
        dens = log_pdf_std(z, family) - np.log(sigma) - np.log(safe_t)
        interval = np.where(exact, dens, interval)
    return interval


# --------------------------------------------------------------------------------- PyTensor
def pt_log_surv_std(z, family: str):
    """PyTensor log S of the standardised error (finite ``z`` only)."""
    import pytensor.tensor as pt

    if family == "lognormal":
        # log Phi(-z): erfcx form right of 0 (no underflow), log1p form left of 0 (no
        # cancellation); arguments clipped so the unused branch stays finite under autodiff
        z_pos = pt.maximum(z, 0.0)
        z_neg = pt.minimum(z, 0.0)
        right = pt.log(0.5 * pt.erfcx(z_pos / np.sqrt(2.0))) - 0.5 * z_pos**2
        left = pt.log1p(-0.5 * pt.erfc(-z_neg / np.sqrt(2.0)))
        return pt.switch(z > 0, right, left)
    if family == "loglogistic":
        return -pt.softplus(z)
    if family == "weibull":
        return -pt.exp(z)
    raise ValueError(check_family(family))


def pt_log_pdf_std(z, family: str):
    """PyTensor log density of the standardised error."""
    import pytensor.tensor as pt

    if family == "lognormal":
        return -0.5 * z**2 - _HALF_LOG_2PI
    if family == "loglogistic":
        return z - 2.0 * pt.softplus(z)
    if family == "weibull":
        return z - pt.exp(z)
    raise ValueError(check_family(family))
