"""Hierarchical logistic model of the 30-day complication risk per treated episode.

For one complication type, over binomial cells (:mod:`analysis.bayes.aggregate`)::

    logit p = region_logit[region]
              + on * (dose_log_or * log2_rel_dose + product_log_or[product]
                      + clinic_sd * z_clinic[clinic] + injector_sd * z_injector[injector]
                      + year_log_or * (year - reference year))
    y ~ Binomial(n, p)

Every coefficient is non-centred (a standard-normal variable times a prior scale), so the
geometry stays simple when a group SD is near zero, as it is for rare events. Injectors are
nested in clinics, so the data identify a clinic's effect plus the mean of its injectors'
effects: a ridge that NUTS crosses slowly (low ESS of the clinic SD, divergences). Injector
effects are therefore centred within their clinic (``within_clinic @ z``, a projection that
removes each clinic's mean, rescaled to keep the marginal SD), so the clinic effect carries the
clinic mean and the injector effects only the deviations from it, the same device as PyMC's
``ZeroSumNormal``. The prior locations and scales are ``pm.Data`` containers, like the cells, so one compiled model
serves every complication type and both prior sets. ``on`` is 1 for the hierarchical model and
0 for the region-only model used for very rare types (the other coefficients then sample their
priors, untouched by the data, and are ignored by the summaries).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from analysis.bayes.aggregate import Cells, Levels
from analysis.bayes.diagnostics import (
    GateConfig,
    SamplerConfig,
    check_convergence,
    sample_compiled,
    sample_pymc,
)
from analysis.bayes.priors import ComplicationPriors

HIERARCHICAL = "hierarchical"
REGION_ONLY = "region_only"

#: Free parameters of the model (all gated).
FREE_PARAMETERS: tuple[str, ...] = (
    "region_z",
    "dose_z",
    "product_z",
    "clinic_sd_z",
    "clinic_z",
    "injector_sd_z",
    "injector_z",
    "year_z",
)


def prior_data(cells: Cells, priors: ComplicationPriors) -> dict[str, np.ndarray]:
    """Prior locations and scales as data arrays (names match the model's ``pm.Data``).

    Regions where the type cannot occur have no cells; their intercepts keep a placeholder
    prior (they sample it, and no table reports them).
    """
    by_region = dict(zip(cells.regions, priors.region_priors, strict=True))
    placeholder = (-5.0, 1.0)
    mu = [by_region[r].logit_mean if r in by_region else placeholder[0] for r in cells.levels.regions]
    sd = [by_region[r].logit_sd if r in by_region else placeholder[1] for r in cells.levels.regions]
    return {
        "region_prior_mu": np.array(mu),
        "region_prior_sd": np.array(sd),
        "dose_prior": np.array([priors.dose_mean, priors.dose_sd]),
        "effect_scales": np.array(
            [priors.product_sd, priors.clinic_scale, priors.injector_scale, priors.year_sd]
        ),
    }


def model_data(cells: Cells, priors: ComplicationPriors, structure: str) -> dict[str, np.ndarray]:
    """Every data container of the model for one fit (cells, priors, structure switch)."""
    data = cells.arrays()
    data.update(prior_data(cells, priors))
    data["effects_on"] = np.array(1.0 if structure == HIERARCHICAL else 0.0)
    data["within_clinic"] = within_clinic_projection(cells.levels)
    return data


def within_clinic_projection(levels: Levels) -> np.ndarray:
    """Matrix that maps i.i.d. standard normals to injector deviations from their clinic's mean.

    Row ``i`` subtracts the mean over the injectors of ``i``'s main clinic and rescales by
    ``sqrt(k / (k - 1))`` (``k`` injectors in that clinic) so that each deviation keeps unit
    marginal variance; an injector alone in a clinic gets 0 (the clinic effect is its effect).
    """
    clinic = np.asarray(levels.injector_clinic)
    same = (clinic[:, None] == clinic[None, :]).astype(float)
    k = same.sum(axis=1)
    projection = np.eye(len(clinic)) - same / k[:, None]
    scale = np.where(k > 1, np.sqrt(k / np.maximum(k - 1, 1)), 0.0)
    return projection * scale[:, None]


def _coords(levels: Levels) -> dict[str, tuple[str, ...]]:
    return {
        "region": levels.regions,
        "product": levels.products,
        "product_contrast": levels.products[1:],
        "clinic": levels.clinics,
        "injector": levels.injectors,
    }


def build_complication_model(
    cells: Cells,
    priors: ComplicationPriors,
    structure: str = HIERARCHICAL,
    likelihood: str = "binomial",
) -> pm.Model:
    """Build (not sample) the complication model of one type.

    Parameters
    ----------
    cells
        Aggregated cells (:func:`~analysis.bayes.aggregate.aggregate_cells`), or one row per
        episode (:func:`~analysis.bayes.aggregate.episode_cells`) with ``likelihood="bernoulli"``.
    priors
        Priors of this type (:meth:`PriorSet.for_type`).
    structure
        ``"hierarchical"`` or ``"region_only"``.
    likelihood
        ``"binomial"`` (cells) or ``"bernoulli"`` (per episode, for the equivalence test).

    Returns
    -------
    pm.Model
        The first product level is the reference (log-OR 0).
    """
    if structure not in (HIERARCHICAL, REGION_ONLY):
        raise ValueError(f"unknown structure {structure!r}")
    data = model_data(cells, priors, structure)
    with pm.Model(coords=_coords(cells.levels)) as model:
        d = {name: pm.Data(name, value) for name, value in data.items()}
        region_logit = pm.Deterministic(
            "region_logit",
            d["region_prior_mu"] + d["region_prior_sd"] * pm.Normal("region_z", 0.0, 1.0, dims="region"),
            dims="region",
        )
        dose_log_or = pm.Deterministic(
            "dose_log_or", d["dose_prior"][0] + d["dose_prior"][1] * pm.Normal("dose_z", 0.0, 1.0)
        )
        scales = d["effect_scales"]
        product_log_or = pm.Deterministic(
            "product_log_or",
            scales[0] * pm.Normal("product_z", 0.0, 1.0, dims="product_contrast"),
            dims="product_contrast",
        )
        clinic_sd = pm.Deterministic("clinic_sd", scales[1] * pm.HalfNormal("clinic_sd_z", 1.0))
        clinic_effect = pm.Deterministic(
            "clinic_effect", clinic_sd * pm.Normal("clinic_z", 0.0, 1.0, dims="clinic"), dims="clinic"
        )
        injector_sd = pm.Deterministic("injector_sd", scales[2] * pm.HalfNormal("injector_sd_z", 1.0))
        injector_z = pm.Normal("injector_z", 0.0, 1.0, dims="injector")
        injector_effect = pm.Deterministic(
            "injector_effect", injector_sd * pt.dot(d["within_clinic"], injector_z), dims="injector"
        )
        year_log_or = pm.Deterministic("year_log_or", scales[3] * pm.Normal("year_z", 0.0, 1.0))
        product_full = pt.concatenate([pt.zeros(1), product_log_or])
        shift = (
            dose_log_or * d["dose"]
            + product_full[d["product_idx"]]
            + clinic_effect[d["clinic_idx"]]
            + injector_effect[d["injector_idx"]]
            + year_log_or * d["year_c"]
        )
        eta = region_logit[d["region_idx"]] + d["effects_on"] * shift
        if likelihood == "binomial":
            pm.Binomial("complications", n=d["n"], logit_p=eta, observed=d["y"], shape=d["y"].shape)
        elif likelihood == "bernoulli":
            pm.Bernoulli("complications", logit_p=eta, observed=d["y"], shape=d["y"].shape)
        else:
            raise ValueError(f"unknown likelihood {likelihood!r}")
    return model


def choose_structure(cells: Cells, region_only_below_events: int) -> str:
    """The params rule for very rare types: too few events for clinic/injector effects."""
    return REGION_ONLY if cells.n_events < region_only_below_events else HIERARCHICAL


@dataclass(frozen=True)
class ComplicationFit:
    """Posterior of one complication model.

    ``summary`` has one row per interpretable parameter (``parameter, mean, sd, lower, upper,
    r_hat, ess_bulk, ess_tail``; intervals are 95% equal-tailed); ``diagnostics`` is the gate's
    summary dict (plus sampling time).
    """

    complication: str
    structure: str
    prior_set: str
    cells: Cells
    priors: ComplicationPriors
    idata: az.InferenceData
    diagnostics: dict
    summary: pd.DataFrame = field(repr=False)


def parameter_summary(idata: az.InferenceData, structure: str) -> pd.DataFrame:
    """Tidy posterior summary of the interpretable parameters."""
    names = ["region_logit"]
    if structure == HIERARCHICAL:
        names += ["dose_log_or", "product_log_or", "year_log_or", "clinic_sd", "injector_sd"]
    summ = az.summary(idata, var_names=names, hdi_prob=0.95, stat_focus="mean", round_to="none")
    post = az.extract(idata, var_names=names, keep_dataset=True)
    lower, upper = [], []
    for label in summ.index:
        lo, hi = _quantiles(post, label)
        lower.append(lo)
        upper.append(hi)
    out = pd.DataFrame(
        {
            "parameter": summ.index,
            "mean": summ["mean"].to_numpy(),
            "sd": summ["sd"].to_numpy(),
            "lower": lower,
            "upper": upper,
            "r_hat": summ["r_hat"].to_numpy(),
            "ess_bulk": summ["ess_bulk"].to_numpy(),
            "ess_tail": summ["ess_tail"].to_numpy(),
        }
    )
    return out


def _quantiles(post, label: str) -> tuple[float, float]:
    name, _, index = label.partition("[")
    values = post[name]
    if index:
        dim = [d for d in values.dims if d != "sample"][0]
        values = values.sel({dim: index.rstrip("]")})
    q = np.quantile(np.asarray(values), [0.025, 0.975])
    return float(q[0]), float(q[1])


class ComplicationSampler:
    """Compile the complication model once; fit every type and prior set by swapping data.

    With ``config.sampler == "nutpie"`` the model is compiled once by nutpie (numba backend)
    and re-used with ``with_data``; with ``"pymc"`` the data are swapped with ``pm.set_data``.
    """

    def __init__(self, template: Cells, priors: ComplicationPriors, config: SamplerConfig):
        self.config = config
        self.model = build_complication_model(template, priors)
        self._compiled = None
        if config.sampler == "nutpie":
            import nutpie

            self._compiled = nutpie.compile_pymc_model(self.model, backend="numba")

    def sample(
        self, data: dict[str, np.ndarray], seed: int, config: SamplerConfig | None = None
    ) -> az.InferenceData:
        """Draw from the posterior with the given data containers (``config`` overrides draws)."""
        cfg = config or self.config
        if self._compiled is not None:
            return sample_compiled(self._compiled.with_data(**data), cfg, seed)
        with self.model:
            pm.set_data(data)
        return sample_pymc(self.model, cfg, seed)

    def fit(
        self,
        cells: Cells,
        priors: ComplicationPriors,
        seed: int,
        structure: str = HIERARCHICAL,
        gate: GateConfig | None = GateConfig(),  # noqa: B008 - frozen dataclass
        model_name: str | None = None,
        config: SamplerConfig | None = None,
    ) -> ComplicationFit:
        """Sample one type and apply the diagnostics gate (``gate=None`` skips it).

        Raises
        ------
        ConvergenceError
            If R-hat, ESS or divergences fail the gate; names the model and parameter.
        """
        start = time.perf_counter()
        idata = self.sample(model_data(cells, priors, structure), seed, config)
        seconds = time.perf_counter() - start
        name = model_name or f"complications/{cells.complication} ({priors.prior_set}, {structure})"
        if gate is not None:
            diagnostics = check_convergence(idata, name, gate, var_names=list(FREE_PARAMETERS))
        else:
            diagnostics = {"model": name, "passed": None}
        diagnostics["sampling_seconds"] = seconds
        _strip_timestamps(idata)
        return ComplicationFit(
            complication=cells.complication,
            structure=structure,
            prior_set=priors.prior_set,
            cells=cells,
            priors=priors,
            idata=idata,
            diagnostics=diagnostics,
            summary=parameter_summary(idata, structure),
        )


def _strip_timestamps(idata: az.InferenceData) -> None:
    """Remove creation times and sampler timing so saved NetCDF files are reproducible."""
    for group in idata.groups():
        ds = getattr(idata, group)
        for key in ("created_at", "sampling_time", "arviz_version", "inference_library_version"):
            ds.attrs.pop(key, None)
