"""Hierarchical logistic model of the 30-day complication risk per treated episode.

For one complication type, over binomial cells (:mod:`analysis.complications.aggregate`)::

    logit p = region_logit[region]
              + on * (dose_log_or * log2_rel_dose + product_log_or[product]
                      + clinic_effect[clinic] + injector_effect[injector]
                      + year_log_or * (year - reference year))
    clinic_effect ~ Normal(0, clinic_sd)          (i.i.d.)
    injector_effect = deviation from its clinic, marginal SD injector_sd, summing to 0 per clinic
    y ~ Binomial(n, p)

Injectors are nested in clinics, so the data identify a clinic's effect plus the mean of its
injectors' effects, not each alone; injector effects are therefore deviations within their
clinic (the device of PyMC's ``ZeroSumNormal``) and the clinic effect carries the clinic mean.
For the same reason one level up, the sampler works with each region's total log-odds (region
plus mean clinic effect) and recovers ``region_logit`` afterwards; group effects are sampled as
orthonormal contrasts, partially centred by how much the data say about each
(:func:`build_complication_model`, notes). These are changes of variables: the posterior is
that of the model above, but the number of leapfrog steps per draw no longer grows with the
number of episodes (benchmarks/bench_complications.py).

The likelihood is the binomial kernel over cells (:func:`binomial_kernel`), computed with its
gradient in one compiled loop (:mod:`analysis.complications.cell_op`); its cost grows with the
number of distinct covariate patterns, which saturates, not with episodes. The prior
locations and scales are ``pm.Data`` containers, like the cells, so one compiled model serves
every complication type and both prior sets. ``on`` is 1 for the hierarchical model and 0 for
the region-only model used for very rare types (the other coefficients then sample their
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

from analysis.complications.aggregate import Cells, Levels, region_totals
from analysis.complications.cell_op import pt_cell_loglik
from analysis.complications.priors import ComplicationPriors
from analysis.inference import (
    GateConfig,
    SamplerConfig,
    check_convergence,
    quiet_pytensor,
    sample_compiled,
    sample_pymc,
)

HIERARCHICAL = "hierarchical"
REGION_ONLY = "region_only"

#: Free parameters of the model (all gated).
FREE_PARAMETERS: tuple[str, ...] = (
    "region_z",
    "dose_z",
    "product_z",
    "clinic_sd_z",
    "clinic_mean_z",
    "clinic_raw",
    "injector_sd_z",
    "injector_raw",
    "year_z",
)


def prior_data(cells: Cells, priors: ComplicationPriors) -> dict[str, np.ndarray]:
    """Prior locations and scales as data arrays (names match the model's ``pm.Data``).

    Regions where the type cannot occur have no cells; their intercepts keep a placeholder
    prior (they sample it, and no table reports them).
    """
    by_region = dict(zip(cells.regions, priors.region_priors, strict=True))
    effects = priors.effects
    placeholder = (-5.0, 1.0)
    mu = [
        by_region[r].logit_mean if r in by_region else placeholder[0] for r in cells.levels.regions
    ]
    sd = [by_region[r].logit_sd if r in by_region else placeholder[1] for r in cells.levels.regions]
    return {
        "region_prior_mu": np.array(mu),
        "region_prior_sd": np.array(sd),
        "dose_prior": np.array([effects.dose_mean, effects.dose_sd]),
        "effect_scales": np.array(
            [effects.product_sd, effects.clinic_scale, effects.injector_scale, effects.year_sd]
        ),
    }


def helmert_basis(k: int) -> np.ndarray:
    """Orthonormal basis (``k x (k - 1)``) of the vectors of length ``k`` that sum to zero.

    If ``v ~ Normal(0, sd**2 I)`` then ``basis @ v ~ Normal(0, sd**2 (I - J / k))``: exactly the
    deviations of ``k`` i.i.d. ``Normal(0, sd)`` effects from their mean, with no direction
    that only the prior informs (PyMC's ``ZeroSumNormal`` uses the same idea).
    """
    basis = np.zeros((k, max(k - 1, 0)))
    for j in range(1, k):
        basis[:j, j - 1] = 1.0
        basis[j, j - 1] = -j
        basis[:, j - 1] /= np.sqrt(j * (j + 1))
    return basis


def clinic_basis(levels: Levels) -> np.ndarray:
    """Clinic effects around their mean: ``clinic_effect = mean + clinic_basis @ v``."""
    return _at_least_one_column(helmert_basis(len(levels.clinics)))


def injector_basis(levels: Levels) -> np.ndarray:
    """Injector deviations from their (main) clinic's mean: ``injector_effect = basis @ v``.

    Block-diagonal by clinic: a clinic with ``k`` injectors contributes ``k - 1`` columns of
    :func:`helmert_basis` scaled by ``sqrt(k / (k - 1))``, so that each deviation has the
    marginal SD of the group (``injector_sd``); an injector alone in a clinic has none (the
    clinic effect is its effect). Centring within clinics removes the ridge between a clinic's
    effect and the mean of its injectors', which the data cannot separate.
    """
    clinic = np.asarray(levels.injector_clinic)
    blocks = []
    for k in np.unique(clinic):
        members = np.flatnonzero(clinic == k)
        if len(members) < 2:
            continue
        block = np.zeros((len(clinic), len(members) - 1))
        block[members] = helmert_basis(len(members)) * np.sqrt(len(members) / (len(members) - 1))
        blocks.append(block)
    basis = np.hstack(blocks) if blocks else np.zeros((len(clinic), 0))
    return _at_least_one_column(basis)


def _at_least_one_column(basis: np.ndarray) -> np.ndarray:
    """A zero column when there is no contrast (one clinic): the model keeps a fixed shape,
    the unused coefficient samples its standard-normal prior and touches nothing."""
    return basis if basis.shape[1] else np.zeros((basis.shape[0], 1))


#: Centre a contrast when the data's Fisher information about it exceeds this (posterior SD of
#: its log-odds shift below about 0.06). Measured (benchmarks/, validation/): the non-centred
#: form of well-informed contrasts needed 46 leapfrog steps per draw and diverged on 2M
#: episodes; a threshold of 100 centred the clinics of 20k-episode headache cohorts whose clinic
#: SD was small (about 0.13) and gave 18-87 divergences; 1,000 left the injectors of 200k-2M
#: cohorts non-centred (min bulk ESS 198, R-hat 1.02 at 2M). At 300 neither happened. If a fit
#: still fails the gate, ``study.fit_with_retry`` samples everything non-centred, with smaller
#: steps.
CENTRE_ABOVE_INFORMATION = 300.0


def centring_weights(
    cells: Cells, priors: ComplicationPriors, structure: str, bases: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Whether to centre each clinic and injector contrast: ``lambda`` 0 or 1 per column.

    A coefficient ``v ~ Normal(0, sd)`` is sampled as ``v = sd**(1 - lam) * v_raw`` with
    ``v_raw ~ Normal(0, sd**lam)``: the same prior for every ``lam`` (the family of
    Gorinova, Moore & Hoffman 2020, "Automatic reparameterisation of probabilistic programs",
    ICML). ``lam = 0`` is the non-centred form, best when the data say little (a small
    injector, a rare type); ``lam = 1`` the centred form, best when the data pin the
    coefficient down (busy clinics on 2M episodes, where the non-centred form makes a funnel
    and NUTS needs ever more leapfrog steps). A column is centred when the Fisher information
    about its coefficient, ``sum_j basis[j]**2 * I_j`` with ``I_j`` the sum of ``n p (1 - p)``
    over level ``j``'s cells at the prior-centre risk of each cell's region, exceeds
    :data:`CENTRE_ABOVE_INFORMATION`. The rule does not involve the prior set, so both prior
    sets sample the same geometry (a wide prior scale would otherwise centre small groups).
    Intermediate ``lam`` (the paper's continuous choice) caused divergences on small cohorts in
    our runs, so the choice is binary. Only the sampler's geometry depends on ``lam``, never
    the posterior. The region-only model gets ``lam = 0``.
    """
    levels = cells.levels
    if structure != HIERARCHICAL:
        return {f"{key}_lambda": np.zeros(basis.shape[1]) for key, basis in bases.items()}
    table = cells.table
    mu = prior_data(cells, priors)["region_prior_mu"][table["region_idx"].to_numpy()]
    p = 1.0 / (1.0 + np.exp(-mu))
    info = table["n"].to_numpy(float) * p * (1.0 - p)
    sizes = {"clinic": len(levels.clinics), "injector": len(levels.injectors)}
    out = {}
    for key, basis in bases.items():
        level_info = np.bincount(table[f"{key}_idx"].to_numpy(), weights=info, minlength=sizes[key])
        out[f"{key}_lambda"] = ((basis**2).T @ level_info > CENTRE_ABOVE_INFORMATION).astype(float)
    return out


def model_data(
    cells: Cells, priors: ComplicationPriors, structure: str, centring: bool = True
) -> dict[str, np.ndarray]:
    """Every data container of the model for one fit (cells, priors, structure switch).

    ``centring=False`` samples every group contrast non-centred (the safe geometry when the
    data are weak; the fallback when a fit with :func:`centring_weights` fails the gate).
    """
    data = cells.arrays()
    data.update(prior_data(cells, priors))
    bases = {"clinic": clinic_basis(cells.levels), "injector": injector_basis(cells.levels)}
    data.update({f"{key}_basis": basis for key, basis in bases.items()})
    data.update(centring_weights(cells, priors, structure if centring else REGION_ONLY, bases))
    data["effects_on"] = np.array(1.0 if structure == HIERARCHICAL else 0.0)
    return data


def _coords(levels: Levels) -> dict[str, tuple[str, ...]]:
    return {
        "region": levels.regions,
        "product": levels.products,
        "product_contrast": levels.products[1:],
        "clinic": levels.clinics,
        "injector": levels.injectors,
        "clinic_contrast": tuple(f"c{j}" for j in range(clinic_basis(levels).shape[1])),
        "injector_contrast": tuple(f"c{j}" for j in range(injector_basis(levels).shape[1])),
    }


def binomial_kernel(y, n, eta):
    """``log Binomial(y | n, expit(eta))`` without ``log C(n, y)``, a constant of the data.

    ``y * eta - n * log(1 + exp(eta))``: dropping the coefficient (three log-gamma calls per
    cell and gradient step) changes no posterior. Summed over one-episode cells it is exactly
    the Bernoulli log-likelihood, so cells and episodes give the same log density.
    """
    return pt.sum(y * eta - n * pt.softplus(eta))


def linear_predictor(params: dict, d: dict):
    """Each cell's log-odds as a PyTensor graph: ``params`` maps the parameters of
    :data:`analysis.complications.cell_op.PARAMETERS` to tensors, ``d`` the data names to
    the model's data containers (the compiled Op computes the same inside its loop)."""
    shift = (
        params["dose_log_or"] * d["dose"]
        + params["product_full"][d["product_idx"]]
        + params["clinic_dev"][d["clinic_idx"]]
        + params["injector_effect"][d["injector_idx"]]
        + params["year_log_or"] * d["year_c"]
    )
    return params["region_total"][d["region_idx"]] + d["effects_on"] * shift


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
        Aggregated cells (:func:`~analysis.complications.aggregate.aggregate_cells`), or one
        row per episode (:func:`~analysis.complications.aggregate.episode_cells`) with
        ``likelihood="bernoulli"``.
    priors
        Priors of this type (:meth:`PriorSet.for_type`).
    structure
        ``"hierarchical"`` or ``"region_only"``.
    likelihood
        ``"binomial"`` (cells, the kernel of :func:`binomial_kernel` and its gradient in one
        compiled Op, :mod:`analysis.complications.cell_op`), ``"binomial_graph"`` (the same
        kernel as a PyTensor graph: the Op's reference in tests and benchmarks),
        ``"bernoulli"`` (per episode, PyMC's ``Bernoulli``, for the equivalence test) or
        ``"binomial_full"`` (PyMC's ``Binomial`` with its coefficient, for the same test).

    Returns
    -------
    pm.Model
        The first product level is the reference (log-OR 0).

    Notes
    -----
    Parametrisation (each choice removes a direction along which the data alone cannot move
    the sampler, so that the cost does not grow with the number of episodes):

    * The data pin down each region's log-odds *plus* the clinics' mean effect, not each
      alone. The model therefore samples ``region_total = region_logit + mean(clinic_effect)``
      (``region_z``, prior moved accordingly: an exact change of variables with unit Jacobian)
      and uses ``clinic_effect - mean(clinic_effect)`` in the likelihood; ``region_logit`` is
      recovered as a deterministic. Without it the posterior correlation of the two was -0.95
      at 200k episodes.
    * The clinics' mean is sampled on its own, non-centred (only the prior informs it); their
      deviations and the injectors' deviations within clinics are orthonormal contrasts
      (:func:`clinic_basis`, :func:`injector_basis`), so no direction of these coefficients is
      informed by the prior alone.
    * Each contrast is partially centred by how much the data say about it
      (:func:`centring_weights`): non-centred for a small injector on 20k episodes, centred
      for a busy clinic on 2M. With every effect non-centred and no clinic-mean split, NUTS
      needed 15 leapfrog steps per draw at 20k episodes and 92 at 2M.
    """
    if structure not in (HIERARCHICAL, REGION_ONLY):
        raise ValueError(f"unknown structure {structure!r}")
    data = model_data(cells, priors, structure)
    with pm.Model(coords=_coords(cells.levels)) as model:
        d = {name: pm.Data(name, value) for name, value in data.items()}
        on = d["effects_on"]
        scales = d["effect_scales"]
        clinic_sd = pm.Deterministic("clinic_sd", scales[1] * pm.HalfNormal("clinic_sd_z", 1.0))
        n_clinics = d["clinic_basis"].shape[0]
        # clinic effects = their mean (prior only: non-centred) + deviations (contrasts)
        clinic_mean = on * clinic_sd / pt.sqrt(n_clinics) * pm.Normal("clinic_mean_z", 0.0, 1.0)
        clinic_raw = pm.Normal(
            "clinic_raw", 0.0, clinic_sd ** d["clinic_lambda"], dims="clinic_contrast"
        )
        clinic_dev = pt.dot(d["clinic_basis"], clinic_sd ** (1.0 - d["clinic_lambda"]) * clinic_raw)
        pm.Deterministic("clinic_effect", clinic_mean + clinic_dev, dims="clinic")
        # region_total = mu + sd * region_z  and  region_logit = region_total - clinic_mean
        #   ~ Normal(mu, sd)  <=>  region_z ~ Normal(clinic_mean / sd, 1)
        region_z = pm.Normal("region_z", clinic_mean / d["region_prior_sd"], 1.0, dims="region")
        region_total = d["region_prior_mu"] + d["region_prior_sd"] * region_z
        pm.Deterministic("region_logit", region_total - clinic_mean, dims="region")
        dose_log_or = pm.Deterministic(
            "dose_log_or", d["dose_prior"][0] + d["dose_prior"][1] * pm.Normal("dose_z", 0.0, 1.0)
        )
        product_log_or = pm.Deterministic(
            "product_log_or",
            scales[0] * pm.Normal("product_z", 0.0, 1.0, dims="product_contrast"),
            dims="product_contrast",
        )
        injector_sd = pm.Deterministic(
            "injector_sd", scales[2] * pm.HalfNormal("injector_sd_z", 1.0)
        )
        injector_raw = pm.Normal(
            "injector_raw", 0.0, injector_sd ** d["injector_lambda"], dims="injector_contrast"
        )
        injector_effect = pm.Deterministic(
            "injector_effect",
            pt.dot(d["injector_basis"], injector_sd ** (1.0 - d["injector_lambda"]) * injector_raw),
            dims="injector",
        )
        year_log_or = pm.Deterministic("year_log_or", scales[3] * pm.Normal("year_z", 0.0, 1.0))
        product_full = pt.concatenate([pt.zeros(1), product_log_or])
        params = {
            "region_total": region_total,
            "product_full": product_full,
            "clinic_dev": clinic_dev,
            "injector_effect": injector_effect,
            "dose_log_or": dose_log_or,
            "year_log_or": year_log_or,
        }
        eta = linear_predictor(params, d)
        if likelihood == "binomial":  # the kernel and its gradient in one compiled loop
            pm.Potential("complications", pt_cell_loglik(params, d))
        elif likelihood == "binomial_graph":  # the same kernel as a graph (its reference)
            pm.Potential("complications", binomial_kernel(d["y"], d["n"], eta))
        elif likelihood == "binomial_full":
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
        self._coords = _coords(template.levels)
        self._compiled = None
        if config.sampler == "nutpie":
            import nutpie

            with quiet_pytensor():  # PyTensor's missing-BLAS note (README: performance)
                self._compiled = nutpie.compile_pymc_model(self.model, backend="numba")

    def serves(self, levels: Levels) -> bool:
        """Whether cells of ``levels`` fit this compiled model (same regions, products, clinics
        and injectors: the parameters' shapes; the reference year is data)."""
        return _coords(levels) == self._coords

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
        centring: bool = True,
    ) -> ComplicationFit:
        """Sample one type and apply the diagnostics gate (``gate=None`` skips it).

        A region-only fit is sampled over the per-region totals (:func:`region_totals`, the same
        posterior); the returned fit keeps the full cells for the summaries. ``centring=False``
        samples every group contrast non-centred (:func:`model_data`).

        Raises
        ------
        ConvergenceError
            If R-hat, ESS or divergences fail the gate; names the model and parameter.
        """
        start = time.perf_counter()
        sampled = region_totals(cells) if structure == REGION_ONLY else cells
        idata = self.sample(model_data(sampled, priors, structure, centring), seed, config)
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
