"""The stored duration model: ``posterior.nc`` (population draws) and ``spec.json``.

`bonta advise` needs nothing else: no training data, no refit. The posterior holds only the
population parameters (no patient frailties, hence no patient keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from analysis.advice.fit import AdviceFit
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
    """Write ``posterior.nc`` and ``spec.json`` to ``models_dir``; return both paths."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    post = fit.posterior.copy()
    post.attrs = {}
    for var in post.data_vars:
        post[var].attrs = {}
    nc_path = models_dir / POSTERIOR_FILE
    post.to_netcdf(nc_path, engine="h5netcdf")
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
    with xr.open_dataset(nc_path, engine="h5netcdf") as ds:
        posterior = ds.load()
    model = StoredModel(
        family=spec["family"],
        spec=AdviceSpec.from_dict(spec["design"]),
        posterior=posterior,
        meta=spec.get("meta", {}),
    )
    _check_covariates(model, nc_path)
    return model


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
