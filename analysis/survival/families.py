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
``log S(l) + log1mexp(log S(u) - log S(l))`` right of the location and the same with the CDF
left of it.

Both duration models use this module: the Bayesian advice model (its compiled likelihood Op,
:mod:`analysis.survival.interval_op`, is checked against the PyTensor graph here; NumPy LOO and
prediction) and the frequentist AFT (:mod:`analysis.survival.aft`), whose Newton-Raphson
maximiser and patient-clustered sandwich use the analytic first and second derivatives of each
observation's log-likelihood with respect to its location ``eta`` and ``log sigma``
(:func:`loglik_derivatives`; formulas in its docstring). ``tests/survival/test_families.py``
checks the functions against SciPy and the derivatives against finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

#: The three families of both duration models (NumPy and PyTensor).
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


def dlog_pdf_std(z: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of the log density of the standardised error at ``z``.

    ``g = f'/f`` and ``g'``: normal ``(-z, -1)``; logistic ``(1 - 2p, -2p(1 - p))`` with
    ``p = expit(z)``; minimum Gumbel ``(1 - e^z, -e^z)``.
    """
    z = np.asarray(z, dtype=float)
    if family == "lognormal":
        return -z, np.full_like(z, -1.0)
    if family == "loglogistic":
        p = special.expit(z)
        return 1.0 - 2.0 * p, -2.0 * p * (1.0 - p)
    if family == "weibull":
        with np.errstate(over="ignore"):
            e = np.exp(z)
        return 1.0 - e, -e
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


#: Mean and standard deviation of the standardised error (starting values of the AFT fit).
MOMENTS_STD: dict[str, tuple[float, float]] = {
    "lognormal": (0.0, 1.0),
    "loglogistic": (0.0, float(np.pi / np.sqrt(3.0))),
    "weibull": (-float(np.euler_gamma), float(np.pi / np.sqrt(6.0))),
}


def log_survival(t_days: np.ndarray, eta: np.ndarray, sigma: np.ndarray, family: str) -> np.ndarray:
    """log S(t) of an AFT duration with location ``eta`` (log days) and scale ``sigma``."""
    with np.errstate(divide="ignore"):
        log_t = np.log(np.asarray(t_days, dtype=float))
    return log_surv_std((log_t - eta) / sigma, family)


def log_interval_std(z_l: np.ndarray, z_u: np.ndarray, family: str) -> np.ndarray:
    """``log(S(z_l) - S(z_u))`` of the standardised error for ``z_l < z_u`` (either may be
    infinite), accurate in both tails: the survival form right of 0, the CDF form left of it."""
    z_l, z_u = np.broadcast_arrays(np.asarray(z_l, float), np.asarray(z_u, float))
    out = np.empty(z_l.shape)
    left = z_u < 0
    right = ~left
    with np.errstate(invalid="ignore", divide="ignore"):
        log_s_l, log_s_u = log_surv_std(z_l[right], family), log_surv_std(z_u[right], family)
        out[right] = log_s_l + log1mexp(log_s_u - log_s_l)
        log_f_l, log_f_u = log_cdf_std(z_l[left], family), log_cdf_std(z_u[left], family)
        out[left] = log_f_u + log1mexp(log_f_l - log_f_u)
    return out


def interval_loglik(
    lower_days: npt.ArrayLike,
    upper_days: npt.ArrayLike,
    eta: npt.ArrayLike,
    sigma: npt.ArrayLike,
    family: str,
) -> np.ndarray:
    """Log-likelihood of observations ``lower < T <= upper`` (broadcasting).

    ``upper = inf`` is right-censoring (log S(lower)); ``lower = 0`` is left-censoring;
    ``lower == upper`` is an exact time (log density).

    Parameters
    ----------
    lower_days, upper_days, eta, sigma
        Bounds (days), location (log days) and scale of ``log T``.
    family : str
        One of :data:`FAMILIES`.
    """
    lower = np.asarray(lower_days, dtype=float)
    upper = np.asarray(upper_days, dtype=float)
    eta, sigma = np.asarray(eta, dtype=float), np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore"):
        z_l = (np.log(lower) - eta) / sigma
        z_u = (np.log(upper) - eta) / sigma
    interval = log_interval_std(z_l, z_u, family)
    exact = upper == lower
    if np.any(exact):
        safe_t = np.where(exact, np.maximum(lower, 1e-12), 1.0)
        z = (np.log(safe_t) - eta) / sigma
        dens = log_pdf_std(z, family) - np.log(sigma) - np.log(safe_t)
        interval = np.where(exact, dens, interval)
    return interval


# ------------------------------------------------------------------ analytic derivatives
@dataclass(frozen=True)
class Observations:
    """Interval-censored observations ``(lower, upper]`` (days) split once by kind.

    Indices of exact (``lower == upper``), right-censored (``upper = inf``, ``lower > 0``),
    left-censored (``lower = 0``) and two-sided interval rows, with the logs of the bounds each
    kind needs. A right-censoring at 0 days carries no information: such rows belong to no
    group and contribute 0 to the log-likelihood and its derivatives.
    """

    n: int
    exact: np.ndarray
    right: np.ndarray
    left: np.ndarray
    interval: np.ndarray
    log_t: np.ndarray
    log_lower_right: np.ndarray
    log_upper_left: np.ndarray
    log_lower_interval: np.ndarray
    log_upper_interval: np.ndarray

    @classmethod
    def from_bounds(cls, lower_days: np.ndarray, upper_days: np.ndarray) -> Observations:
        """Split bounds in days (``upper = inf``: right-censored; ``lower == upper``: exact)."""
        lower = np.asarray(lower_days, dtype=float)
        upper = np.asarray(upper_days, dtype=float)
        g = observation_groups(lower, upper)
        return cls(
            n=lower.size,
            exact=g["exact"],
            right=g["right"],
            left=g["left"],
            interval=g["interval"],
            log_t=np.log(lower[g["exact"]]),
            log_lower_right=np.log(lower[g["right"]]),
            log_upper_left=np.log(upper[g["left"]]),
            log_lower_interval=np.log(lower[g["interval"]]),
            log_upper_interval=np.log(upper[g["interval"]]),
        )


@dataclass(frozen=True)
class LoglikDerivatives:
    """Per-observation log-likelihood and its derivatives in ``eta`` and ``w = log sigma``."""

    loglik: np.ndarray
    d_eta: np.ndarray
    d_ls: np.ndarray
    d2_eta: np.ndarray | None = None
    d2_eta_ls: np.ndarray | None = None
    d2_ls: np.ndarray | None = None


def loglik_derivatives(
    obs: Observations, eta: np.ndarray, log_sigma: float, family: str, second: bool = True
) -> LoglikDerivatives:
    """Log-likelihood of each observation and its analytic derivatives (survreg's algebra).

    With ``z = (log t - eta) / sigma``, ``w = log sigma``, ``f``, ``S`` the density and survival
    of the standardised error and ``g = f'/f`` (:func:`dlog_pdf_std`):

    * exact: ``ll = log f(z) - w - log t``; ``d/deta = -g/sigma``, ``d/dw = -g z - 1``,
      ``d2/deta2 = g'/sigma^2``, ``d2/deta dw = (g' z + g)/sigma``, ``d2/dw2 = g' z^2 + g z``.
    * censored, ``L = S(z_l) - S(z_u)`` (right: ``S(z_u) = 0``; left: ``S(z_l) = 1``), with
      ``r_l = f(z_l)/L`` and ``r_u = f(z_u)/L`` formed on the log scale:
      ``d/deta = (r_l - r_u)/sigma``, ``d/dw = r_l z_l - r_u z_u``,
      ``d2/deta2 = -(r_l g_l - r_u g_u)/sigma^2 - (d/deta)^2``,
      ``d2/deta dw = -[(r_l - r_u) + (r_l g_l z_l - r_u g_u z_u)]/sigma - (d/deta)(d/dw)``,
      ``d2/dw2 = -r_l (g_l z_l^2 + z_l) + r_u (g_u z_u^2 + z_u) - (d/dw)^2``.

    Parameters
    ----------
    obs : Observations
    eta : array, shape (n,)
        Location of each observation (log days).
    log_sigma : float
    family : str
    second : bool
        Also return the second derivatives (the Newton step needs them, the scores do not).
    """
    check_family(family)
    sigma = float(np.exp(log_sigma))
    n = obs.n
    out = {k: np.zeros(n) for k in ("ll", "de", "dw", "dee", "dew", "dww")}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if obs.exact.size:
            _exact_terms(obs, eta, log_sigma, sigma, family, out)
        if obs.right.size:
            z_l = (obs.log_lower_right - eta[obs.right]) / sigma
            ll = log_surv_std(z_l, family)
            _censored_terms(obs.right, z_l, None, ll, sigma, family, out)
        if obs.left.size:
            z_u = (obs.log_upper_left - eta[obs.left]) / sigma
            ll = log_cdf_std(z_u, family)
            _censored_terms(obs.left, None, z_u, ll, sigma, family, out)
        if obs.interval.size:
            e = eta[obs.interval]
            z_l = (obs.log_lower_interval - e) / sigma
            z_u = (obs.log_upper_interval - e) / sigma
            ll = log_interval_std(z_l, z_u, family)
            _censored_terms(obs.interval, z_l, z_u, ll, sigma, family, out)
    if not second:
        return LoglikDerivatives(out["ll"], out["de"], out["dw"])
    return LoglikDerivatives(out["ll"], out["de"], out["dw"], out["dee"], out["dew"], out["dww"])


def _exact_terms(obs, eta, log_sigma, sigma, family, out) -> None:
    i = obs.exact
    z = (obs.log_t - eta[i]) / sigma
    g, dg = dlog_pdf_std(z, family)
    out["ll"][i] = log_pdf_std(z, family) - log_sigma - obs.log_t
    out["de"][i] = -g / sigma
    out["dw"][i] = -g * z - 1.0
    out["dee"][i] = dg / sigma**2
    out["dew"][i] = (dg * z + g) / sigma
    out["dww"][i] = dg * z**2 + g * z


def _censored_terms(idx, z_l, z_u, ll, sigma, family, out) -> None:
    """Fill the rows ``idx`` of ``out`` for ``L = S(z_l) - S(z_u)`` (None: that bound absent)."""
    zero = np.zeros(idx.size)
    if z_l is None:
        r_l = g_l = z_l = zero
    else:
        r_l = np.exp(log_pdf_std(z_l, family) - ll)
        g_l = dlog_pdf_std(z_l, family)[0]
    if z_u is None:
        r_u = g_u = z_u = zero
    else:
        r_u = np.exp(log_pdf_std(z_u, family) - ll)
        g_u = dlog_pdf_std(z_u, family)[0]
    de = (r_l - r_u) / sigma
    dw = r_l * z_l - r_u * z_u
    out["ll"][idx] = ll
    out["de"][idx] = de
    out["dw"][idx] = dw
    out["dee"][idx] = -(r_l * g_l - r_u * g_u) / sigma**2 - de**2
    out["dew"][idx] = -((r_l - r_u) + (r_l * g_l * z_l - r_u * g_u * z_u)) / sigma - de * dw
    out["dww"][idx] = -r_l * (g_l * z_l**2 + z_l) + r_u * (g_u * z_u**2 + z_u) - dw**2


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


def pt_interval_loglik_graph(
    eta, sigma, lower_days: np.ndarray, upper_days: np.ndarray, family: str
):
    """PyTensor sum of the log-likelihood of ``lower < T <= upper`` as a graph of elementwise ops.

    The reference for the compiled Op the advice model samples with
    (:func:`analysis.survival.interval_op.pt_interval_loglik`, value and gradient in one loop):
    the tests check the Op's value and gradient against this graph's (automatic
    differentiation), and ``benchmarks/bench_advice.py --job loglik`` times both. Observations
    are split into exact (``log f(t)``), right-censored (``log S(lower)``), left-censored
    (``log(1 - S(upper))``) and interval (``log S(l) + log1mexp(log S(u) - log S(l))``) groups
    when the graph is built, so no infinity or log(0) enters it.
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
