# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Advice walkthrough: when will this patient's treatment wear off, and when should they book?
#
# This notebook walks a researcher through the advice model with the project's own package
# (`analysis.advice`). It uses a **small simulated cohort** from the study's simulator (so we know
# the truth) and short chains so that it executes in about a minute; the pipeline stage
# `bonta fit-advice` runs the same functions on the full data (families compared by PSIS-LOO, the
# study's sampler and convergence gate). Nothing here is a pipeline dependency.
#
# The model: a Bayesian accelerated-failure-time model for the interval-censored duration,
# `log T = region intercept + dose spline + covariates + patient frailty + sigma * noise`. The
# **patient frailty** is what lets a patient's own history change their advice.

# %%
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis.advice.config import AdviceConfig
from analysis.advice.fit import fit_duration_models
from analysis.advice.spec import spec_from_vocabulary
from analysis.config import load_params, with_overrides
from analysis.data.prepare import prepare
from analysis.data.prepare_config import PrepareConfig
from analysis.inference import GateConfig, SamplerConfig
from analysis.simulator.cohort import simulate_cohort, write_cohort
from analysis.simulator.config import SimConfig
from analysis.survival.covariates import DurationModelConfig
from analysis.vocabulary import Vocabulary

REPO = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
params = with_overrides(load_params(REPO / "params.yaml"), {"simulate.n_patients": 1000})
cohort = simulate_cohort(SimConfig.from_params(params))
tmp = Path(tempfile.mkdtemp())
write_cohort(cohort, tmp / "raw")
key = b"notebook-demo-key-not-secret-000"
episodes = prepare(tmp / "raw", PrepareConfig.from_params(params), key=key).episodes
knot = DurationModelConfig.from_params(params).dose_knot_log2
spec = spec_from_vocabulary(Vocabulary.from_params(params), knot)
episodes["dur_status"].value_counts()

# %% [markdown]
# ## 1. Fit (one family, short chains)
#
# The stage compares the lognormal, Weibull and log-logistic families by PSIS-LOO on a patient
# subsample and refits the best; here we fit the lognormal alone with short chains and a relaxed
# gate (the study's gate needs the study's sampler settings). A fit that fails its gate raises
# `ConvergenceError` naming the parameter.

# %%
config = replace(
    AdviceConfig.from_params(params),
    families=("lognormal",),
    max_train_patients=600,
    sampler=SamplerConfig(draws=400, tune=400, chains=2, cores=2),
    gate=GateConfig(max_rhat=1.05, min_ess_bulk=100, min_ess_tail=100, max_divergences=5),
    advice_draws=200,
)
fit = fit_duration_models(episodes, spec, config, seed=1)
pd.Series(fit.diagnostics)

# %% [markdown]
# ### Does it recover the truth?
# The simulator's true effects (log time ratios) are in `cohort.truth`. The model's endpoint is
# derived from visits (wear-off known only between two visits), so the check is approximate:
# most 95% credible intervals should cover the true values.

# %%
truth = cohort.truth["duration"]
summary = fit.summary.set_index("parameter")
true_values = {
    f"beta[{name}]": value
    for name, value in truth["log_coefficients"].items()
    if f"beta[{name}]" in summary.index
}
true_values |= {"sigma": truth["residual_sd"], "tau": truth["frailty_sd"]}
check = summary.loc[list(true_values), ["q2_5", "median", "q97_5"]].copy()
check["truth"] = [true_values[p] for p in check.index]
check["covered"] = (check["q2_5"] <= check["truth"]) & (check["truth"] <= check["q97_5"])
print(f"covered: {check['covered'].mean():.0%} of {len(check)}")
check.round(3)

# %% [markdown]
# ## 2. Advice for a new patient
#
# `advise` integrates the patient frailty over its population distribution for every posterior
# draw: the median time to wear-off, a predictive interval, the probability that the effect
# still holds week by week, and the booking window (never earlier than the 90-day floor between
# treatments). This is what `bonta advise` prints and `bonta serve` shows at the desk.

# %%
from analysis.advice.advise import AdviceRequest, PastEpisode, advise, render_text
from analysis.advice.predict import PosteriorDraws

draws = PosteriorDraws.from_dataset(fit.posterior, fit.family, fit.spec, config.advice_draws)
request = AdviceRequest(
    region="glabella",
    product="ona",
    units=20,
    muscle_bulk=2,
    exercise_met_h_week=10,
    sex="F",
    age_years=45,
)
population = advise(request, draws, config)
print(render_text(population))

# %% [markdown]
# ## 3. The patient's own history changes the advice
#
# A patient whose last two glabella treatments wore off early (between days 60 and 75) is
# probably a short-duration patient: the frailty's posterior given her history moves the advice
# earlier. `bonta advise --past ...` does the same from the command line.

# %%
history = tuple(
    PastEpisode(region="glabella", product="ona", units=20, lower_days=60, upper_days=75)
    for _ in range(2)
)
personal = advise(replace(request, history=history), draws, config)
pd.DataFrame(
    {
        "population": [population.median_days, population.booking_start_days],
        "with her history": [personal.median_days, personal.booking_start_days],
    },
    index=["median days to wear-off", "book from day"],
).round(1)

# %% [markdown]
# The full analysis (family comparison, the advice table of the report by region, dose, muscle
# bulk and exercise, the stored posterior that `bonta advise` and `bonta serve` read) is the DVC
# stage `fit_advice`: `bonta fit-advice --params params.yaml --episodes
# data/processed/episodes.parquet --out data/results/advice`, released to `reports/advice` by
# `bonta disclose`.
