"""Stage ``fit_complications``: Bayesian complication rates with published benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.complications import report, touchups
from analysis.complications.config import ComplicationsConfig
from analysis.complications.study import fit_complication_study
from analysis.complications.summaries import complication_tables
from analysis.config import load_params
from analysis.data.processed import read_episodes
from analysis.figures.theme import theme
from analysis.io import write_json
from analysis.outputs import StageOutput
from analysis.progress import reporter, step
from analysis.vocabulary import Vocabulary

HELP = "fit hierarchical Bayesian complication-rate models and compare with published benchmarks"
DESCRIPTION = """\
Fit one hierarchical logistic model per complication type (30-day risk per treated episode:
region, relative dose, product, calendar year, partially pooled clinic and injector effects)
over aggregated binomial cells, with priors centred on published rates (params.yaml
`complications.priors`). Every model must pass the diagnostics gate (R-hat, bulk/tail ESS,
no divergences). Writes tables, figures, manifest.json, posteriors as NetCDF and
reports/metrics/complications.json. The prior-sensitivity comparison (informative vs weak
priors for the headline types) is part of the outputs; `dvc exp run -S
complications.prior_set=weak` runs the whole stage with the weak priors. The touch-up rate
per region, clinic and injector (issue 14) is fitted with the same model and gate
(params.yaml `complications.touchup`; providers judged against peers) and written as
touchup_* tables, a caterpillar plot and data/models/complications/touchup.nc.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file")
    parser.add_argument("--episodes", required=True, help="processed episodes.parquet")
    parser.add_argument("--out", required=True, help="output directory for tables and figures")
    parser.add_argument("--models", required=True, help="directory for posterior NetCDF files")
    parser.add_argument(
        "--metrics",
        default=None,
        help="metrics JSON (default: <out>/../metrics/complications.json)",
    )
    parser.add_argument(
        "--types", nargs="*", default=None, help="only these complication types (for quick runs)"
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    config = ComplicationsConfig.from_params(params)
    vocabulary = Vocabulary.from_params(params)
    episodes = read_episodes(Path(args.episodes), vocabulary)
    progress = reporter("fit-complications")
    study = fit_complication_study(
        episodes, config, vocabulary, int(params["seed"]), types=args.types, progress=progress
    )
    with step(progress, "touch-up rates"):
        touch = touchups.fit_touchup_rates(
            episodes, config, vocabulary, int(params["seed"]), sampler=study.sampler
        )
    progress(f"sampling took {study.sampling_seconds:.0f} s of the complication fits")
    models = Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    for fit in (*study.fits, touch.fit):
        fit.idata.to_netcdf(models / f"{fit.complication}.nc")
    with step(progress, "rates, flags and posterior predictive checks"):
        tables = complication_tables(study, config)
        touch_tables = touchups.touchup_tables(touch, config)
    out = StageOutput(args.out, stage="fit_complications", title=report.TITLE)
    fitted = {f.complication: f.cells.regions for f in study.fits}
    with step(progress, "tables, figures and disclosure cubes"):
        report.write_cubes(out, episodes, fitted, study.benchmarks)
        touchups.write_touchup_cubes(out, episodes, config, list(vocabulary.region_codes))
        with theme():
            report.write_sections(out, tables, config)
            touchups.write_touchup_sections(out, touch, touch_tables, config)
    for headline in [*report.headlines(tables, config), touchups.headline(touch_tables)]:
        out.headline(headline)
    metrics = Path(args.metrics or Path(args.out).parent / "metrics" / "complications.json")
    write_json(
        {**report.metrics(tables, config), "touchup": touchups.metrics(touch_tables)}, metrics
    )
    out.write_manifest(report.methods(study, config) + " " + touchups.methods_sentence(touch))
    return 0
