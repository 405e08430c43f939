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
# # Complications walkthrough: how often do complications occur, and who needs review?
#
# This notebook walks a researcher through the complication models with the project's own package
# (`analysis.complications`). It uses a **small synthetic cohort with known truth**
# (`analysis.validation.complications_synthetic`: known region rates, dose effect, clinic and
# injector effects, and a few injectors who are truly worse), and a short sampler run so that it
# executes in about a minute; the pipeline stage `bonta fit-complications` runs the same functions
# on the full data with the study's sampler and convergence gate. Nothing here is a pipeline
# dependency.
#
# The model, per complication type: a Bayesian logistic regression of the 30-day risk per
# treated episode with region intercepts (priors centred on published rates), log2 relative dose,
# product, and clinic effects with injector effects nested within clinics. Episodes with identical
# covariates are pooled into **cells** (a binomial likelihood), which keeps it fast at any size.

# %%
from pathlib import Path

import pandas as pd

from analysis.complications.aggregate import aggregate_cells, levels_from_episodes
from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import HIERARCHICAL, ComplicationSampler
from analysis.complications.priors import benchmark_table
from analysis.config import load_params
from analysis.inference import GateConfig, SamplerConfig
from analysis.validation.complications_synthetic import simulate_episodes

REPO = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
params = load_params(REPO / "params.yaml")
config = ComplicationsConfig.from_params(params)
regions = params["complication_types"]["headache"]["regions"]
true_rates = {"headache": {r: 0.05 for r in regions} | {"forehead": 0.08}}
episodes, truth = simulate_episodes(5000, {"headache": regions}, true_rates, seed=11)
episodes[["region", "clinic", "injector", "log2_rel_dose", "product", "c30_headache"]].head()

# %% [markdown]
# ## 1. From episodes to cells
#
# `aggregate_cells` pools episodes with the same region, dose (rounded to 1/8 doubling), product,
# clinic and injector. The likelihood over cells is exactly the likelihood over episodes.

# %%
levels = levels_from_episodes(episodes, list(params["regions"]), list(params["products"]))
cells = aggregate_cells(episodes, "headache", regions, levels)
print(f"{cells.n_treatments} episodes -> {len(cells.table)} cells, {cells.n_events} events")

# %% [markdown]
# ## 2. Fit: one compiled model, a short run, the convergence gate
#
# The study's gate (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences) needs the study's
# sampler settings; this short demonstration run uses a relaxed gate and says so. A fit that fails
# its gate raises `ConvergenceError` naming the parameter.

# %%
priors = config.priors.prior_set("informative").for_type("headache", cells.regions)
quick = SamplerConfig(draws=400, tune=400, chains=2, cores=2, target_accept=0.9)
sampler = ComplicationSampler(cells, priors, quick)
demo_gate = GateConfig(max_rhat=1.05, min_ess_bulk=100, min_ess_tail=100, max_divergences=5)
fit = sampler.fit(cells, priors, seed=1, structure=HIERARCHICAL, gate=demo_gate)
pd.Series(fit.diagnostics)

# %% [markdown]
# ## 3. Region rates against the truth and the published benchmarks
#
# The rate of a region is the posterior expected rate of that region's own treatments (its doses,
# products and providers). With the simulator we know each episode's true risk, so we can check
# that the 95% credible intervals bracket the true mean risk.

# %%
from analysis.complications import summaries

bench = benchmark_table(config.priors.prior_set("informative"), {"headache": list(cells.regions)})
rates = summaries.region_rate_table([fit], bench, config.benchmark_multiplier).set_index("region")
true_mean = episodes.assign(risk=truth.risk("headache", episodes)).groupby("region")["risk"].mean()
check = rates[["rate_mean", "rate_lower", "rate_upper", "benchmark_rate"]].assign(
    truth=true_mean.reindex(rates.index)
)
check["covered"] = (check["rate_lower"] <= check["truth"]) & (check["truth"] <= check["rate_upper"])
print(f"covered: {check['covered'].mean():.0%} of {len(check)} regions")
check.round(4)

# %% [markdown]
# ## 4. Injectors: shrunken rates, peers and the flag
#
# Each injector's rate is compared with the benchmark standardised to the injector's own mix of
# regions and with the network's average provider on the same treatments (peers). An injector is
# flagged when P(rate > 1.5 x peers) exceeds 0.9; fewer than 30 treatments is "too few to judge".
# The simulator made a few injectors truly worse: they should rank near the top.

# %%
injectors = summaries.provider_table(
    [fit], bench, "injector", config.benchmark_multiplier, config.min_treatments_to_judge
)
injectors["truly_worse"] = injectors["injector"].isin(truth.truly_worse)
columns = ["injector", "n_treatments", "n_events", "rate_mean", "rate_ratio_vs_peers_mean"]
injectors.sort_values("rank_by_rate")[
    [*columns, "p_above_1.5x_peers", "flagged", "truly_worse"]
].head(8).round(3)

# %%
from analysis.figures.complications import fig_funnel
from analysis.figures.theme import theme

with theme():
    fig = fig_funnel(injectors, config.benchmark_multiplier)
fig

# %% [markdown]
# The full analysis (every complication type, prior sensitivity, posterior predictive checks,
# clinics, touch-up rates, the tables and figures of the report) is the DVC stage
# `fit_complications`: `bonta fit-complications --params params.yaml --episodes
# data/processed/episodes.parquet --out data/results/complications`, released to
# `reports/complications` by `bonta disclose`.
