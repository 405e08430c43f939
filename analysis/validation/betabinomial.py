"""Hierarchical beta-binomial model for binomial counts, checked against a published analysis.

The reference is the rat tumour example of Gelman et al., *Bayesian Data Analysis* (3rd ed.,
2013), section 5.3: 71 historical experiments, ``theta_j ~ Beta(alpha, beta)``,
``y_j ~ Binomial(n_j, theta_j)`` and the hyperprior ``p(alpha, beta) ∝ (alpha + beta)^(-5/2)``,
whose posterior means are about ``alpha = 2.4`` and ``beta = 14.3``.

The model is sampled on BDA's own scale, ``(log(alpha/beta), log(alpha+beta))``; the prior
density there includes the Jacobian ``alpha * beta``. ``theta`` is integrated out
(beta-binomial likelihood), so the posterior has two dimensions and a simple geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from analysis.inference import GateConfig, SamplerConfig, check_convergence, sample

#: BDA3 Table 5.1 (Tarone 1982): tumours ``y`` among ``n`` rats in 71 historical experiments.
RAT_TUMOUR_Y = np.array([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    1, 5, 2, 5, 3, 2, 7, 7, 3, 3, 2, 9, 10, 4, 4, 4, 4, 4, 4, 4, 10, 4, 4, 4, 5, 11, 12, 5, 5,
    6, 5, 6, 6, 6, 6, 16, 15, 15, 9, 4,
])  # fmt: skip
RAT_TUMOUR_N = np.array([
    20, 20, 20, 20, 20, 20, 20, 19, 19, 19, 19, 18, 18, 17, 20, 20, 20, 20, 19, 19, 18, 18, 25,
    24, 23, 20, 20, 20, 20, 20, 20, 10, 49, 19, 46, 27, 17, 49, 47, 20, 20, 13, 48, 50, 20, 20,
    20, 20, 20, 20, 20, 48, 19, 19, 19, 22, 46, 49, 20, 20, 23, 19, 22, 20, 20, 20, 52, 46, 47,
    24, 14,
])  # fmt: skip


def build_beta_binomial_model(y: np.ndarray, n: np.ndarray) -> pm.Model:
    """Hierarchical beta-binomial with BDA's ``(alpha+beta)^(-5/2)`` hyperprior.

    Parameters
    ----------
    y, n
        Events and trials per group (integer arrays of equal length, ``0 <= y <= n``).
    """
    y, n = np.asarray(y), np.asarray(n)
    if y.shape != n.shape or np.any(y < 0) or np.any(y > n):
        raise ValueError("y and n must have equal length with 0 <= y <= n")
    with pm.Model(coords={"group": np.arange(len(y))}) as model:
        log_ratio = pm.Flat("log_alpha_over_beta")
        log_sum = pm.Flat("log_alpha_plus_beta")
        total = pt.exp(log_sum)
        alpha = pm.Deterministic("alpha", total * pm.math.sigmoid(log_ratio))
        beta = pm.Deterministic("beta", total * pm.math.sigmoid(-log_ratio))
        # p(alpha, beta) ∝ (alpha+beta)^(-5/2), times the Jacobian alpha*beta of the transform
        pm.Potential("hyperprior", pt.log(alpha) + pt.log(beta) - 2.5 * log_sum)
        pm.BetaBinomial("y", alpha=alpha, beta=beta, n=pm.Data("n", n), observed=y, dims="group")
    return model


@dataclass(frozen=True)
class BetaBinomialFit:
    """Posterior of the beta-binomial model; ``summary`` rows: alpha, beta, mean rate."""

    idata: az.InferenceData
    diagnostics: dict
    summary: pd.DataFrame


def fit_beta_binomial(
    y: np.ndarray,
    n: np.ndarray,
    config: SamplerConfig,
    seed: int,
    gate: GateConfig = GateConfig(),  # noqa: B008
) -> BetaBinomialFit:
    """Sample, gate and summarise: posterior mean, SD and 95% interval of alpha, beta and
    alpha / (alpha + beta)."""
    idata = sample(build_beta_binomial_model(y, n), config, seed)
    diagnostics = check_convergence(
        idata, "beta-binomial", gate, var_names=["log_alpha_over_beta", "log_alpha_plus_beta"]
    )
    post = idata.posterior
    draws = {
        "alpha": np.asarray(post["alpha"]).ravel(),
        "beta": np.asarray(post["beta"]).ravel(),
    }
    draws["population_mean_rate"] = draws["alpha"] / (draws["alpha"] + draws["beta"])
    rows = [
        {
            "parameter": name,
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)),
            "lower": float(np.quantile(v, 0.025)),
            "upper": float(np.quantile(v, 0.975)),
        }
        for name, v in draws.items()
    ]
    return BetaBinomialFit(idata=idata, diagnostics=diagnostics, summary=pd.DataFrame(rows))
