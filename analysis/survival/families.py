"""The error families of the log-duration AFT models, in NumPy and in PyTensor (ONE copy).

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

Both duration models use this module: the Bayesian advice model (PyTensor graph, NumPy LOO and
prediction) and the frequentist AFT's patient-clustered sandwich (NumPy scores). The frequentist
AFT also offers the generalised gamma (``gengamma``, Prentice 1974; shape ``lambda``), in NumPy
only: it is fitted by lifelines and never offered to the Bayesian model.
``tests/survival/test_families.py`` checks the functions against SciPy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

#: The three families of both duration models (NumPy and PyTensor).
FAMILIES: tuple[str, ...] = ("lognormal", "loglogistic", "weibull")
#: The generalised gamma: frequentist AFT only (NumPy log-survival and log-density).
GENERALISED_GAMMA = "gengamma"
#: Families the frequentist AFT may fit.
AFT_FAMILIES: tuple[str, ...] = (*FAMILIES, GENERALISED_GAMMA)

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


def log_surv_std(z: np.ndarray, family: str, shape: float | None = None) -> np.ndarray:
    """log S of the standardised error at ``z`` (``z = -inf`` gives 0, ``+inf`` gives -inf).

    ``shape`` is the generalised gamma's lambda (``family="gengamma"`` only).
    """
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return special.log_ndtr(-z)
    if family == "loglogistic":
        return -np.logaddexp(0.0, z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return -np.exp(z)
    if family == GENERALISED_GAMMA:
        return _gengamma_log_surv(z, _shape(shape))
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


def log_pdf_std(z: np.ndarray, family: str, shape: float | None = None) -> np.ndarray:
    """log density of the standardised error at ``z`` (``shape``: see :func:`log_surv_std`)."""
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return -0.5 * z**2 - _HALF_LOG_2PI
    if family == "loglogistic":
        return z - 2.0 * np.logaddexp(0.0, z)
    if family == "weibull":
        with np.errstate(over="ignore"):
            return z - np.exp(z)
    if family == GENERALISED_GAMMA:
        return _gengamma_log_pdf(z, _shape(shape))
    raise ValueError(check_family(family))


def quantile_std(p: npt.ArrayLike, family: str) -> np.ndarray:
    """Quantile of the standardised error: ``P(eps <= q) = p``."""
    p = np.asarray(p, dtype=float)
    if family == "lognormal":
        return special.ndtri(p)
    if family == "loglogistic":
        return special.logit(p)
    if family == "weibull":
        return np.log(-np.log1p(-p))
    raise ValueError(check_family(family))


def _shape(shape: float | None) -> float:
    if shape is None:
        raise ValueError("the generalised gamma needs its shape (lambda)")
    return float(shape)


def _gengamma_log_surv(z: np.ndarray, lam: float) -> np.ndarray:
    """log S of the generalised gamma's standardised log time (lambda != 0); floor 1e-300."""
    q = 1.0 / lam**2
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = q * np.exp(np.clip(lam * z, -700, 700))
        sf = special.gammaincc(q, u) if lam > 0 else special.gammainc(q, u)
        out = np.log(np.maximum(sf, 1e-300))
    return np.where(np.isneginf(z), 0.0, np.where(np.isposinf(z), -np.inf, out))


def _gengamma_log_pdf(z: np.ndarray, lam: float) -> np.ndarray:
    """log density of the generalised gamma's standardised log time (lambda != 0)."""
    q = 1.0 / lam**2
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = q * np.exp(np.clip(lam * z, -700, 700))
        return np.log(abs(lam)) - special.gammaln(q) + q * np.log(u) - u


def log_survival(t_days: np.ndarray, eta: np.ndarray, sigma: np.ndarray, family: str) -> np.ndarray:
    """log S(t) of an AFT duration with location ``eta`` (log days) and scale ``sigma``."""
    with np.errstate(divide="ignore"):
        log_t = np.log(np.asarray(t_days, dtype=float))
    return log_surv_std((log_t - eta) / sigma, family)


def interval_loglik(
    lower_days: npt.ArrayLike,
    upper_days: npt.ArrayLike,
    eta: npt.ArrayLike,
    sigma: npt.ArrayLike,
    family: str,
    *,
    shape: float | None = None,
    stable_tails: bool = True,
) -> np.ndarray:
    """Log-likelihood of observations ``lower < T <= upper`` (broadcasting).

    ``upper = inf`` is right-censoring (log S(lower)); ``lower = 0`` is left-censoring;
    ``lower == upper`` is an exact time (log density).

    Parameters
    ----------
    lower_days, upper_days, eta, sigma
        Bounds (days), location (log days) and scale of ``log T``.
    family : str
        One of :data:`FAMILIES`, or ``"gengamma"`` (with ``shape``, ``stable_tails=False``).
    shape : float, optional
        The generalised gamma's lambda.
    stable_tails : bool
        True (the Bayesian model): right of the location ``log S(l) + log1mexp(log S(u) -
        log S(l))``, left of it the same with the CDF, accurate in both tails. False (the
        frequentist AFT's sandwich scores): ``log S(l) + log1p(-exp(log S(u) - log S(l)))``,
        which loses a few digits when both S are close to 1; kept because the published
        patient-clustered standard errors are computed with it (its central-difference
        scores would move in the last digits); lifelines and this form leave with issue 13.
    """
    lower = np.asarray(lower_days, dtype=float)
    upper = np.asarray(upper_days, dtype=float)
    eta, sigma = np.asarray(eta, dtype=float), np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore"):
        z_l = (np.log(lower) - eta) / sigma
        z_u = (np.log(upper) - eta) / sigma
    log_s_l, log_s_u = log_surv_std(z_l, family, shape), log_surv_std(z_u, family, shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        if stable_tails:
            right_tail = log_s_l + log1mexp(log_s_u - log_s_l)
            # both bounds left of the location: difference of CDFs avoids S(l) ~ S(u) ~ 1
            log_f_l, log_f_u = log_cdf_std(z_l, family), log_cdf_std(z_u, family)
            left_tail = log_f_u + log1mexp(log_f_l - log_f_u)
            interval = np.where(z_u < 0, left_tail, right_tail)
        else:
            interval = log_s_l + np.log1p(-np.exp(np.minimum(log_s_u - log_s_l, 0.0)))
    exact = upper == lower
    if np.any(exact):
        safe_t = np.where(exact, np.maximum(lower, 1e-12), 1.0)
        z = (np.log(safe_t) - eta) / sigma
        dens = log_pdf_std(z, family, shape) - np.log(sigma) - np.log(safe_t)
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


def observation_groups(lower: np.ndarray, upper: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of exact, right-censored, left-censored and two-sided interval observations."""
    exact = upper == lower
    right = np.isinf(upper)
    left = (lower <= 0) & ~right & ~exact
    interval = ~exact & ~right & ~left
    # right-censored at 0 carries no information (log S(0) = 0): dropped
    right_pos = right & (lower > 0)
    return {
        "exact": np.flatnonzero(exact),
        "right": np.flatnonzero(right_pos),
        "left": np.flatnonzero(left),
        "interval": np.flatnonzero(interval),
    }


def pt_interval_loglik(eta, sigma, lower_days: np.ndarray, upper_days: np.ndarray, family: str):
    """PyTensor sum of the log-likelihood of ``lower < T <= upper`` over all observations.

    Observations are split into exact (``log f(t)``), right-censored (``log S(lower)``),
    left-censored (``log(1 - S(upper))``) and interval (``log S(l) + log1mexp(log S(u) -
    log S(l))``) groups when the graph is built, so no infinity or log(0) enters it.
    ``eta`` is a tensor with one entry per observation; the bounds are NumPy arrays.
    """
    import pytensor.tensor as pt

    groups = observation_groups(lower_days, upper_days)
    total = pt.as_tensor_variable(0.0)
    log_sigma = pt.log(sigma)
    if len(groups["exact"]):
        i = groups["exact"]
        log_t = np.log(lower_days[i])
        z = (log_t - eta[i]) / sigma
        total = total + pt.sum(pt_log_pdf_std(z, family) - log_sigma - log_t)
    if len(groups["right"]):
        i = groups["right"]
        total = total + pt.sum(pt_log_surv_std((np.log(lower_days[i]) - eta[i]) / sigma, family))
    if len(groups["left"]):
        i = groups["left"]
        log_s_u = pt_log_surv_std((np.log(upper_days[i]) - eta[i]) / sigma, family)
        total = total + pt.sum(pt.log1mexp(log_s_u))  # log(1 - S(u))
    if len(groups["interval"]):
        i = groups["interval"]
        log_s_l = pt_log_surv_std((np.log(lower_days[i]) - eta[i]) / sigma, family)
        log_s_u = pt_log_surv_std((np.log(upper_days[i]) - eta[i]) / sigma, family)
        # pt.log1mexp(x) = log(1 - exp(x)) for x <= 0 (Maechler 2012)
        total = total + pt.sum(log_s_l + pt.log1mexp(log_s_u - log_s_l))
    return total
