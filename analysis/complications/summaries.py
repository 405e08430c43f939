"""Tidy tables from fitted complication models: rates against benchmarks, providers, dose-risk,
odds ratios, posterior predictive checks and prior sensitivity; :func:`complication_tables`
builds every table of the ``fit_complications`` stage.

Rates are computed per posterior draw from the cells, so every estimate carries its credible
interval. A group's rate (region, clinic, injector) is the expected share of its own treatments
with the complication, ``sum(n * p) / sum(n)`` over its cells: the rate of the treatments that
group actually gave, with its own dose, product and injector mix. Its benchmark is the published
rate standardised to the same region mix, ``sum(n * benchmark[region]) / sum(n)``.

A provider (clinic or injector) is also compared with its *peers*: the expected rate of the same
treatments (regions, doses, products) given by the network's average clinic and injector, per
posterior draw. That comparison needs no benchmark, so it also works for types whose benchmark
is only a practice assumption; such benchmarks are shown but never flag anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numba
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit

from analysis.complications.aggregate import Levels
from analysis.complications.config import ComplicationsConfig
from analysis.complications.model import HIERARCHICAL, ComplicationFit
from analysis.complications.priors import prior_table
from analysis.complications.study import ComplicationStudy

#: Equal-tailed credible interval reported everywhere (95%).
LOWER_Q, UPPER_Q = 0.025, 0.975


@dataclass(frozen=True)
class Draws:
    """Posterior draws flattened over chains: ``(S,)`` or ``(S, k)`` arrays."""

    region_logit: np.ndarray
    dose_log_or: np.ndarray
    product_log_or: np.ndarray  # (S, P) including the reference product (zeros)
    clinic_effect: np.ndarray
    injector_effect: np.ndarray
    year_log_or: np.ndarray
    effects_on: float


def posterior_draws(fit: ComplicationFit, max_draws: int | None = None) -> Draws:
    """Flatten the posterior; ``max_draws`` keeps an evenly spaced subset (deterministic)."""
    post = fit.idata.posterior

    def flat(name: str) -> np.ndarray:
        values = np.asarray(post[name])
        return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

    contrasts = flat("product_log_or")
    product = np.concatenate([np.zeros((contrasts.shape[0], 1)), contrasts], axis=1)
    parts = {
        "region_logit": flat("region_logit"),
        "dose_log_or": flat("dose_log_or"),
        "product_log_or": product,
        "clinic_effect": flat("clinic_effect"),
        "injector_effect": flat("injector_effect"),
        "year_log_or": flat("year_log_or"),
    }
    total = parts["dose_log_or"].shape[0]
    if max_draws is not None and max_draws < total:
        keep = np.linspace(0, total - 1, max_draws).round().astype(int)
        parts = {k: v[keep] for k, v in parts.items()}
    return Draws(**parts, effects_on=1.0 if fit.structure == HIERARCHICAL else 0.0)


def peer_draws(draws: Draws) -> Draws:
    """The same posterior with every clinic at the network's mean clinic effect and every
    injector at its clinic's mean (deviation 0): the risk an average provider would have."""
    mean_clinic = draws.clinic_effect.mean(axis=1, keepdims=True)
    return replace(
        draws,
        clinic_effect=np.broadcast_to(mean_clinic, draws.clinic_effect.shape),
        injector_effect=np.zeros_like(draws.injector_effect),
    )


def cell_risk(draws: Draws, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Posterior risk of each cell, shape ``(S, n_cells)`` (compiled: one pass over draws x
    cells on every core, no temporaries of that size)."""
    # numba's Dispatcher takes any arguments (its stub says otherwise)
    return _cell_risk(  # type: ignore[call-arg]
        *(
            np.ascontiguousarray(a, dtype=np.float64)
            for a in (
                draws.region_logit,
                draws.dose_log_or,
                draws.product_log_or,
                draws.clinic_effect,
                draws.injector_effect,
                draws.year_log_or,
            )
        ),
        float(draws.effects_on),
        *(
            np.ascontiguousarray(arrays[k])
            for k in ("region_idx", "dose", "product_idx", "clinic_idx", "injector_idx", "year_c")
        ),
    )


@numba.njit(parallel=True, cache=True)
def _cell_risk(
    region_logit, dose_or, product_or, clinic, injector, year_or, effects_on,
    region_idx, dose, product_idx, clinic_idx, injector_idx, year_c,
):  # fmt: skip
    n_draws, n_cells = region_logit.shape[0], region_idx.size
    out = np.empty((n_draws, n_cells))
    for s in numba.prange(n_draws):
        for c in range(n_cells):
            shift = (
                dose_or[s] * dose[c]
                + product_or[s, product_idx[c]]
                + clinic[s, clinic_idx[c]]
                + injector[s, injector_idx[c]]
                + year_or[s] * year_c[c]
            )
            x = region_logit[s, region_idx[c]] + effects_on * shift
            if x >= 0.0:
                out[s, c] = 1.0 / (1.0 + np.exp(-x))
            else:
                e = np.exp(x)
                out[s, c] = e / (1.0 + e)
    return out


@numba.njit(parallel=True, cache=True)
def _group_sums(values, weights, codes, n_groups):
    """``out[s, g] = sum over cells c of group g of weights[c] * values[s, c]``."""
    n_draws = values.shape[0]
    out = np.zeros((n_draws, n_groups))
    for s in numba.prange(n_draws):
        for c in range(codes.size):
            out[s, codes[c]] += weights[c] * values[s, c]
    return out


def _indicator(codes: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), n_groups)
    )


def _interval(
    x: np.ndarray, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=axis)
    median, lower, upper = np.quantile(x, [0.5, LOWER_Q, UPPER_Q], axis=axis)
    return mean, median, lower, upper


def group_rates(
    fit: ComplicationFit, risk: np.ndarray, key: str, benchmark: dict[str, float]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-group counts, observed rate, benchmark, and posterior rate draws ``(S, G)``.

    ``key`` is ``region``, ``clinic`` or ``injector``; only groups with treatments are kept.
    """
    table = fit.cells.table
    codes, names = pd.factorize(table[key], sort=True)
    ind = _indicator(codes, len(names))
    n = table["n"].to_numpy(float)
    bench_cell = table["region"].map(benchmark).to_numpy(float)
    n_group = ind.T @ n
    rate_draws = _group_sums(risk, n, codes.astype(np.int64), len(names)) / n_group[None, :]
    frame = pd.DataFrame(
        {
            key: np.asarray(names),
            "n_treatments": n_group.astype(np.int64),
            "n_events": (ind.T @ table["y"].to_numpy(float)).astype(np.int64),
            "benchmark_rate": (ind.T @ (n * bench_cell)) / n_group,
        }
    )
    frame["observed_rate"] = frame["n_events"] / frame["n_treatments"]
    return frame, rate_draws


def _add_rate_columns(
    frame: pd.DataFrame, rate_draws: np.ndarray, multiplier: float
) -> pd.DataFrame:
    mean, median, lower, upper = _interval(rate_draws)
    bench = frame["benchmark_rate"].to_numpy()
    out = frame.assign(
        rate_mean=mean,
        rate_median=median,
        rate_lower=lower,
        rate_upper=upper,
        rate_upper_one_sided_95=np.quantile(rate_draws, 0.95, axis=0),
        rate_ratio_mean=(rate_draws / bench).mean(axis=0),
        rate_ratio_lower=np.quantile(rate_draws / bench, LOWER_Q, axis=0),
        rate_ratio_upper=np.quantile(rate_draws / bench, UPPER_Q, axis=0),
        p_above_benchmark=(rate_draws > bench).mean(axis=0),
    )
    out[f"p_above_{multiplier:g}x_benchmark"] = (rate_draws > multiplier * bench).mean(axis=0)
    return out


def _identity(fit: ComplicationFit) -> dict[str, str]:
    return {
        "complication": fit.complication,
        "model_structure": fit.structure,
        "prior_set": fit.prior_set,
    }


def region_rate_table(
    fits: Sequence[ComplicationFit],
    benchmarks: pd.DataFrame,
    multiplier: float,
    max_draws: int | None = None,
) -> pd.DataFrame:
    """Per complication x region: posterior rate (95% CrI), one-sided 95% upper bound,
    the published benchmark, P(rate > benchmark) and P(rate > multiplier x benchmark)."""
    frames = []
    for fit in fits:
        bench = _benchmark_map(benchmarks, fit.complication)
        risk = cell_risk(posterior_draws(fit, max_draws), fit.cells.arrays())
        frame, draws = group_rates(fit, risk, "region", bench)
        frame = _add_rate_columns(frame, draws, multiplier)
        by_region = benchmarks.loc[benchmarks["complication"] == fit.complication].set_index(
            "region"
        )
        frame["benchmark_published"] = (
            frame["region"].map(by_region["benchmark_published"]).astype(bool)
        )
        frame["benchmark_source"] = frame["region"].map(by_region["benchmark_source"])
        frames.append(frame.assign(**_identity(fit)))
    return _front(pd.concat(frames, ignore_index=True), ["complication", "region"])


def main_clinics(levels: Levels) -> dict[str, str]:
    """Injector -> the clinic its effect is nested in (where most of its treatments are);
    empty for levels built without that nesting."""
    if not levels.injector_clinic:
        return {}
    return {
        injector: levels.clinics[k]
        for injector, k in zip(levels.injectors, levels.injector_clinic, strict=True)
    }


def provider_table(
    fits: Sequence[ComplicationFit],
    benchmarks: pd.DataFrame,
    level: str,
    multiplier: float,
    min_treatments: int,
    max_draws: int | None = None,
    flag_probability: float = 0.9,
) -> pd.DataFrame:
    """Per complication x clinic (or injector): shrunken rate against the mix-standardised
    benchmark and against peers, and whether the provider is flagged.

    Columns beyond :func:`group_rates`: the rate's posterior summary and ratios to the
    benchmark (``p_above_<m>x_benchmark``); ``benchmark_published_share``, the share of the
    provider's treatments in regions whose benchmark is a published rate; ``peer_rate_mean``
    and ``rate_ratio_vs_peers_{mean,lower,upper}``, ``p_above_<m>x_peers`` (see the module
    note); ``too_few_to_judge`` below ``min_treatments``; ``flagged`` when judged and
    ``P(rate > m x peers) > flag_probability``, or the benchmark is entirely published and
    ``P(rate > m x benchmark) > flag_probability``; ``flag_reason`` says which. An injector
    table also names each injector's ``clinic`` (the one its effect is nested in).
    """
    frames = []
    for fit in fits:
        draws = posterior_draws(fit, max_draws)
        arrays = fit.cells.arrays()
        risk = cell_risk(draws, arrays)
        frame, rate_draws = group_rates(
            fit, risk, level, _benchmark_map(benchmarks, fit.complication)
        )
        frame = _add_rate_columns(frame, rate_draws, multiplier)
        if level == "injector":  # the clinic the model nests it in (its main clinic)
            frame.insert(1, "clinic", frame["injector"].map(main_clinics(fit.cells.levels)))
        published = _benchmark_map(benchmarks, fit.complication, "benchmark_published")
        share, _ = group_rates(fit, risk, level, {r: float(v) for r, v in published.items()})
        frame["benchmark_published_share"] = share["benchmark_rate"].to_numpy()
        _, peer = group_rates(fit, cell_risk(peer_draws(draws), arrays), level, {})
        ratio = rate_draws / peer
        frame["peer_rate_mean"] = peer.mean(axis=0)
        frame["rate_ratio_vs_peers_mean"] = ratio.mean(axis=0)
        frame["rate_ratio_vs_peers_lower"] = np.quantile(ratio, LOWER_Q, axis=0)
        frame["rate_ratio_vs_peers_upper"] = np.quantile(ratio, UPPER_Q, axis=0)
        frame[f"p_above_{multiplier:g}x_peers"] = (ratio > multiplier).mean(axis=0)
        frame["too_few_to_judge"] = frame["n_treatments"] < min_treatments
        frame["rank_by_rate"] = frame["rate_mean"].rank(ascending=False, method="first").astype(int)
        above_peers = frame[f"p_above_{multiplier:g}x_peers"] > flag_probability
        above_bench = (frame["benchmark_published_share"] >= 1.0) & (
            frame[f"p_above_{multiplier:g}x_benchmark"] > flag_probability
        )
        if fit.structure != HIERARCHICAL:  # region-only: no provider effects to judge
            above_peers = above_bench = pd.Series(False, index=frame.index)
        judged = ~frame["too_few_to_judge"]
        frame["flagged"] = judged & (above_peers | above_bench)
        frame["flag_reason"] = np.select(
            [judged & above_peers & above_bench, judged & above_peers, judged & above_bench],
            [
                f"> {multiplier:g}x peers and published benchmark",
                f"> {multiplier:g}x peers",
                f"> {multiplier:g}x published benchmark",
            ],
            default="",
        )
        frames.append(frame.assign(**_identity(fit)))
    return _front(pd.concat(frames, ignore_index=True), ["complication", level])


def dose_risk_table(fits: Sequence[ComplicationFit], rel_doses: Sequence[float]) -> pd.DataFrame:
    """Posterior risk against relative dose per region (reference product, average clinic and
    injector, reference year): ``complication, region, rel_dose, risk_mean, risk_median,
    risk_lower, risk_upper``.

    Region-only fits (very rare types) have no dose term and are left out.
    """
    x = np.log2(np.asarray(rel_doses, dtype=float))
    rows = []
    for fit in fits:
        if fit.structure != HIERARCHICAL:
            continue
        d = posterior_draws(fit)
        levels = fit.cells.levels
        for region in fit.cells.regions:
            r = levels.regions.index(region)
            risk = expit(
                d.region_logit[:, [r]] + d.effects_on * d.dose_log_or[:, None] * x[None, :]
            )
            mean, median, lower, upper = _interval(risk)
            rows.append(
                pd.DataFrame(
                    {
                        "complication": fit.complication,
                        "region": region,
                        "rel_dose": np.asarray(rel_doses, dtype=float),
                        "risk_mean": mean,
                        "risk_median": median,
                        "risk_lower": lower,
                        "risk_upper": upper,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def odds_ratio_table(fits: Sequence[ComplicationFit], calendar_trend: bool = True) -> pd.DataFrame:
    """Odds ratios with 95% CrI: dose (per doubling), each product vs the reference, calendar
    year (per year; only when ``calendar_trend`` is on: a term that is off has only its prior
    and is not reported), and the clinic/injector SDs on the logit scale (hierarchical fits
    only)."""
    rows = []
    for fit in fits:
        if fit.structure != HIERARCHICAL:
            continue
        d = posterior_draws(fit)
        products = fit.cells.levels.products
        terms = [("dose (per doubling of relative dose)", d.dose_log_or, True)]
        terms += [
            (f"product {p} vs {products[0]}", d.product_log_or[:, k], True)
            for k, p in enumerate(products)
            if k
        ]
        if calendar_trend:
            terms += [("calendar year (per year)", d.year_log_or, True)]
        post = fit.idata.posterior
        terms += [
            ("clinic SD (logit)", np.asarray(post["clinic_sd"]).ravel(), False),
            ("injector SD (logit)", np.asarray(post["injector_sd"]).ravel(), False),
        ]
        for term, draws, is_or in terms:
            values = np.exp(draws) if is_or else draws
            mean, median, lower, upper = _interval(values)
            rows.append(
                {
                    **_identity(fit),
                    "term": term,
                    "scale": "odds ratio" if is_or else "SD of log-odds",
                    "mean": float(mean),
                    "median": float(median),
                    "lower": float(lower),
                    "upper": float(upper),
                    "p_above_1": float((values > 1).mean()) if is_or else np.nan,
                }
            )
    return pd.DataFrame(rows)


def ppc_tables(
    fits: Sequence[ComplicationFit], n_draws: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior predictive checks of event counts per region and per injector.

    Replicated counts ``y_rep ~ Binomial(n, p)`` per posterior draw. Returns two tables with the
    observed count, the replicated mean and 95% interval, whether the observed count lies in it,
    and the two-sided predictive p-value ``2 min(P(y_rep >= y), P(y_rep <= y))`` (capped at 1).
    """
    rng = np.random.default_rng(seed)
    by_region: list[dict] = []
    by_injector: list[dict] = []
    for fit in fits:
        arrays = fit.cells.arrays()
        risk = cell_risk(posterior_draws(fit, n_draws), arrays)
        y_rep = rng.binomial(arrays["n"][None, :], risk)
        for key, sink in (("region", by_region), ("injector", by_injector)):
            sink.append(_ppc_group(fit, y_rep, key))
    return pd.concat(by_region, ignore_index=True), pd.concat(by_injector, ignore_index=True)


def _ppc_group(fit: ComplicationFit, y_rep: np.ndarray, key: str) -> pd.DataFrame:
    table = fit.cells.table
    codes, names = pd.factorize(table[key], sort=True)
    ind = _indicator(codes, len(names))
    rep = _group_sums(
        y_rep.astype(np.float64), np.ones(len(codes)), codes.astype(np.int64), len(names)
    )
    observed = ind.T @ table["y"].to_numpy(float)
    lower, upper = np.quantile(rep, [LOWER_Q, UPPER_Q], axis=0)
    p_value = np.minimum(1.0, 2 * np.minimum((rep >= observed).mean(0), (rep <= observed).mean(0)))
    return pd.DataFrame(
        {
            "complication": fit.complication,
            key: np.asarray(names),
            "n_treatments": (ind.T @ table["n"].to_numpy(float)).astype(np.int64),
            "observed_events": observed.astype(np.int64),
            "replicated_mean": rep.mean(0),
            "replicated_lower": lower,
            "replicated_upper": upper,
            "within_95": (observed >= lower) & (observed <= upper),
            "ppc_p_value": p_value,
        }
    )


def sensitivity_table(
    main: pd.DataFrame, alternative: pd.DataFrame, types: Sequence[str]
) -> pd.DataFrame:
    """Headline region rates under the main and the alternative prior set side by side."""
    cols = ["complication", "region", "rate_mean", "rate_lower", "rate_upper", "p_above_benchmark"]
    a = main.loc[main["complication"].isin(types), cols + ["prior_set", "n_treatments", "n_events"]]
    b = alternative.loc[alternative["complication"].isin(types), cols + ["prior_set"]]
    merged = a.merge(b, on=["complication", "region"], suffixes=("", "_alt"))
    merged["rate_mean_ratio_alt_to_main"] = merged["rate_mean_alt"] / merged["rate_mean"]
    return merged


def _benchmark_map(
    benchmarks: pd.DataFrame, complication: str, column: str = "benchmark_rate"
) -> dict:
    sel = benchmarks.loc[benchmarks["complication"] == complication]
    return dict(zip(sel["region"], sel[column], strict=True))


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]


#: Relative doses (multiples of the region's reference dose) of the dose-risk curves.
DOSE_GRID: tuple[float, ...] = tuple(np.round(2.0 ** np.linspace(-1.0, 1.5, 21), 4))

#: Rate columns of the region table that are also given in percent (``<column>_pct``).
PERCENT_COLUMNS: tuple[str, ...] = (
    "rate_mean",
    "rate_lower",
    "rate_upper",
    "rate_upper_one_sided_95",
    "benchmark_rate",
    "observed_rate",
)


@dataclass(frozen=True)
class ComplicationTables:
    """Every table of the ``fit_complications`` stage (docs/ARCHITECTURE.md lists the columns).

    ``prior_sensitivity`` is ``None`` when the study fitted no sensitivity models.
    """

    rates_by_region: pd.DataFrame
    rates_by_injector: pd.DataFrame
    rates_by_clinic: pd.DataFrame
    dose_risk_curves: pd.DataFrame
    odds_ratios: pd.DataFrame
    model_parameters: pd.DataFrame
    diagnostics: pd.DataFrame
    ppc_by_region: pd.DataFrame
    ppc_by_injector: pd.DataFrame
    priors: pd.DataFrame
    prior_sensitivity: pd.DataFrame | None

    def rates_by(self, level: str) -> pd.DataFrame:
        """The provider table of ``level``: ``"injector"`` or ``"clinic"``."""
        return {"injector": self.rates_by_injector, "clinic": self.rates_by_clinic}[level]

    def hierarchical_providers(self, level: str, complication: str | None = None) -> pd.DataFrame:
        """Rows of the ``level`` table (of one type, if given) from hierarchical fits: the
        providers a funnel or caterpillar plot can show (rare types have no provider effects)."""
        table = self.rates_by(level)
        keep = table["model_structure"] == HIERARCHICAL
        if complication is not None:
            keep &= table["complication"] == complication
        return table.loc[keep]


def complication_tables(
    study: ComplicationStudy, config: ComplicationsConfig
) -> ComplicationTables:
    """Summarise every fit of ``study`` into the stage's tables.

    Wall-clock sampling time is left out (it goes to the log): the tables must be
    byte-identical between runs.
    """
    m, n_min = config.benchmark_multiplier, config.min_treatments_to_judge
    regions = region_rate_table(study.fits, study.benchmarks, m)
    for col in PERCENT_COLUMNS:
        regions[f"{col}_pct"] = 100 * regions[col]
    ppc_region, ppc_injector = ppc_tables(study.fits, config.ppc_draws, study.seed)
    providers = {
        level: provider_table(
            study.fits, study.benchmarks, level, m, n_min, flag_probability=config.flag_probability
        )
        for level in ("injector", "clinic")
    }
    fitted_regions = {f.complication: f.cells.regions for f in study.fits}
    sensitivity = None
    if study.sensitivity_fits:
        alternative = region_rate_table(study.sensitivity_fits, study.benchmarks, m)
        sensitivity = sensitivity_table(regions, alternative, config.headline_types)
    return ComplicationTables(
        rates_by_region=regions,
        rates_by_injector=providers["injector"],
        rates_by_clinic=providers["clinic"],
        dose_risk_curves=dose_risk_table(study.fits, DOSE_GRID),
        odds_ratios=odds_ratio_table(study.fits, config.calendar_trend),
        model_parameters=pd.concat(
            [
                f.summary.assign(complication=f.complication, prior_set=f.prior_set)
                for f in study.fits
            ],
            ignore_index=True,
        ),
        diagnostics=diagnostics_table(study.all_fits),
        ppc_by_region=ppc_region,
        ppc_by_injector=ppc_injector,
        priors=pd.concat(
            [
                prior_table(prior_set, fitted_regions, config.calendar_trend)
                for prior_set in study.prior_sets.values()
            ],
            ignore_index=True,
        ),
        prior_sensitivity=sensitivity,
    )


def diagnostics_table(fits: Sequence[ComplicationFit]) -> pd.DataFrame:
    """The gate's summary of every fit (one row a model), without the sampling time."""
    rows = [
        {
            **f.diagnostics,
            "complication": f.complication,
            "prior_set": f.prior_set,
            "model_structure": f.structure,
        }
        for f in fits
    ]
    return pd.DataFrame(rows).drop(columns="sampling_seconds")
