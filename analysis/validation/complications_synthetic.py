"""A fast generator of episode tables with known complication truth.

It draws directly the columns the complication models read (docs/ARCHITECTURE.md episode
contract) from the model's own generative structure, so that benchmarks can build 2M episodes
in seconds and the validation script can repeat simulations many times. The project's full
simulator (``analysis.simulator.cohort``) is the independent check used by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit


@dataclass(frozen=True)
class SyntheticTruth:
    """The parameters that generated a synthetic episode table (logit scale)."""

    region_rates: Mapping[str, Mapping[str, float]]  # type -> region -> rate at reference
    dose_log_or: float
    product_log_or: Mapping[str, float]
    clinic_effect: Mapping[str, float]
    injector_effect: Mapping[str, float]
    injector_clinic: Mapping[str, str]
    year_log_or: float
    reference_year: int
    truly_worse: tuple[str, ...]

    def risk(self, complication: str, frame: pd.DataFrame) -> np.ndarray:
        """True 30-day risk of each row (columns region, log2_rel_dose, product, clinic,
        injector, year)."""
        base = frame["region"].map(self.region_rates[complication]).to_numpy(float)
        eta = (
            logit(base)
            + self.dose_log_or * frame["log2_rel_dose"].to_numpy(float)
            + frame["product"].map(self.product_log_or).to_numpy(float)
            + frame["clinic"].map(self.clinic_effect).to_numpy(float)
            + frame["injector"].map(self.injector_effect).to_numpy(float)
            + self.year_log_or * (frame["year"].to_numpy(float) - self.reference_year)
        )
        return expit(eta)


def simulate_episodes(
    n_episodes: int,
    complication_regions: Mapping[str, Sequence[str]],
    base_rates: Mapping[str, Mapping[str, float]],
    seed: int,
    n_clinics: int = 8,
    injectors_per_clinic: int = 5,
    clinic_sd: float = 0.25,
    injector_sd: float = 0.35,
    n_truly_worse: int = 3,
    worse_log_or: float = 0.9,
    dose_log_or: float = 0.3,
    year_log_or: float = -0.05,
    years: Sequence[int] = (2022, 2023, 2024),
    products: Sequence[str] = ("ona", "inco", "abo", "prabo", "daxi"),
) -> tuple[pd.DataFrame, SyntheticTruth]:
    """Episode table with ``c30_<type>`` outcomes drawn from known risks.

    Parameters
    ----------
    n_episodes
        Rows to draw.
    complication_regions
        Type -> regions where it can occur.
    base_rates
        Type -> region -> risk at the reference dose, product ``ona``, average clinic and
        injector, reference (latest) year.
    n_truly_worse, worse_log_or
        That many injectors get ``worse_log_or`` added to their random effect.
    """
    rng = np.random.default_rng(seed)
    regions = sorted({r for rs in complication_regions.values() for r in rs})
    clinics = [f"C-{i:06d}" for i in range(n_clinics)]
    injectors = [f"I-{c:03d}{j:03d}" for c in range(n_clinics) for j in range(injectors_per_clinic)]
    injector_clinic = {inj: clinics[k // injectors_per_clinic] for k, inj in enumerate(injectors)}
    clinic_effect = dict(zip(clinics, rng.normal(0, clinic_sd, n_clinics), strict=True))
    inj_eff = rng.normal(0, injector_sd, len(injectors))
    worse = tuple(rng.choice(injectors, size=n_truly_worse, replace=False)) if n_truly_worse else ()
    injector_effect = dict(zip(injectors, inj_eff, strict=True))
    for inj in worse:
        injector_effect[inj] += worse_log_or
    product_log_or = {
        p: (0.0 if i == 0 else float(rng.normal(0, 0.2))) for i, p in enumerate(products)
    }
    # busy injectors and small ones: volumes vary ~20-fold, as in clinics
    volume = rng.gamma(1.2, 1.0, len(injectors))
    injector = rng.choice(injectors, size=n_episodes, p=volume / volume.sum())
    frame = pd.DataFrame(
        {
            "region": rng.choice(regions, size=n_episodes),
            "log2_rel_dose": np.log2(
                rng.choice([0.5, 0.75, 1.0, 1.0, 1.0, 1.25, 1.5, 2.0], size=n_episodes)
            ),
            "product": rng.choice(
                products, size=n_episodes, p=[0.5, 0.15, 0.15, 0.1, 0.1][: len(products)]
            ),
            "clinic": pd.Series(injector).map(injector_clinic).to_numpy(),
            "injector": injector,
            "year": rng.choice(np.asarray(years), size=n_episodes),
        }
    )
    frame["rel_dose"] = 2.0 ** frame["log2_rel_dose"]
    truth = SyntheticTruth(
        region_rates={t: dict(base_rates[t]) for t in complication_regions},
        dose_log_or=dose_log_or,
        product_log_or=product_log_or,
        clinic_effect=clinic_effect,
        injector_effect=injector_effect,
        injector_clinic=injector_clinic,
        year_log_or=year_log_or,
        reference_year=int(max(years)),
        truly_worse=worse,
    )
    for ctype, ctype_regions in complication_regions.items():
        at_risk = frame["region"].isin(ctype_regions).to_numpy()
        risk = np.zeros(n_episodes)
        risk[at_risk] = truth.risk(ctype, frame.loc[at_risk])
        frame[f"c30_{ctype}"] = rng.random(n_episodes) < risk
    return frame, truth
