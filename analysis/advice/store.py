"""The stored duration model: ``posterior.nc`` (ArviZ InferenceData) and ``spec.json``.

``posterior.nc`` is an InferenceData in NetCDF, like the complication models': group
``posterior`` (population parameters only, dimensions ``chain`` and ``draw``), ``sample_stats``
(NUTS statistics) and ``log_likelihood`` (``duration``: each training patient's log-likelihood
with the frailty integrated out, what PSIS-LOO needs; patients numbered ``0..N-1``, never
keyed). There are no patient frailties, hence no patient keys. `bonta advise` reads only the
``posterior`` group (fast) and ``spec.json``: no training data, no refit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import arviz as az
import xarray as xr

from analysis.advice.fit import AdviceFit, stacked
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import AdviceSpec
from analysis.errors import AdviceInputError
from analysis.io import read_json, write_json

POSTERIOR_FILE = "posterior.nc"
SPEC_FILE = "spec.json"


@dataclass(frozen=True)
class StoredModel:
    """A loaded advice model: posterior draws, covariate spec and chosen family."""

    family: str
    spec: AdviceSpec
    posterior: xr.Dataset
    meta: dict


def save_model(
    fit: AdviceFit, models_dir: str | Path, meta: dict | None = None
) -> tuple[Path, Path]:
    """Write ``posterior.nc`` and ``spec.json`` to ``models_dir``; return both paths.

    ``fit.idata`` is written when present; a fit without one (built by hand, e.g. in tests)
    stores its ``sample``-stacked posterior as a one-chain InferenceData.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    idata = fit.idata if fit.idata is not None else _as_idata(fit.posterior)
    nc_path = models_dir / POSTERIOR_FILE
    idata.to_netcdf(str(nc_path), engine="h5netcdf")
    spec = {
        "family": fit.family,
        "design": fit.spec.to_dict(),
        "n_episodes": fit.n_episodes,
        "n_patients": fit.n_patients,
        "meta": meta or {},
    }
    return nc_path, write_json(spec, models_dir / SPEC_FILE)


def load_model(models_dir: str | Path) -> StoredModel:
    """Load a model written by :func:`save_model`; a clear error if the files are missing."""
    models_dir = Path(models_dir)
    nc_path, spec_path = models_dir / POSTERIOR_FILE, models_dir / SPEC_FILE
    for path in (nc_path, spec_path):
        if not path.exists():
            raise AdviceInputError(
                f"{path}: no stored advice model; run `bonta fit-advice` "
                "(or `dvc repro fit_advice`) first"
            )
    spec = read_json(spec_path)
    try:
        with xr.open_dataset(nc_path, engine="h5netcdf", group="posterior") as ds:
            posterior = stacked(ds.load())
    except OSError as exc:  # an older bare Dataset has no "posterior" group
        raise AdviceInputError(
            f"{nc_path}: not an InferenceData with a posterior group (written by an older "
            "version); run `bonta fit-advice` again"
        ) from exc
    model = StoredModel(
        family=spec["family"],
        spec=AdviceSpec.from_dict(spec["design"]),
        posterior=posterior,
        meta=spec.get("meta", {}),
    )
    _check_covariates(model, nc_path)
    return model


def _as_idata(posterior: xr.Dataset) -> az.InferenceData:
    """A ``sample``-stacked posterior as a one-chain InferenceData."""
    post = posterior.rename({"sample": "draw"}).expand_dims("chain")
    post = post.assign_coords(chain=[0], draw=range(post.sizes["draw"]))
    post = post.transpose("chain", "draw", ...)
    post.attrs = {}
    return az.InferenceData(posterior=post)


def _check_covariates(model: StoredModel, nc_path: Path) -> None:
    """A posterior coded with other covariate names than today's spec is stale: refit."""
    if "covariate" not in model.posterior.coords:
        return
    stored = [str(c) for c in model.posterior["covariate"].values]
    if stored != model.spec.covariate_names:
        raise AdviceInputError(
            f"{nc_path}: coefficients {stored} do not match the covariates "
            f"{model.spec.covariate_names} this version codes; run `bonta fit-advice` again"
        )


def load_draws(models_dir: str | Path, n_draws: int) -> PosteriorDraws:
    """The stored model's population draws, thinned to ``n_draws`` (what the advice uses)."""
    model = load_model(models_dir)
    return PosteriorDraws.from_dataset(model.posterior, model.family, model.spec, n_draws)
