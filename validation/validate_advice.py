"""Held-out validation of the re-treatment interval advice on a simulated cohort.

Simulates a cohort with the project's simulator (params.yaml, ``--n-patients``), runs the real
``prepare`` step, holds out ``--holdout`` of the patients, fits the advice model on the rest
(`fit_duration_models`, families and sampler from params.yaml unless overridden), then predicts
each held-out patient's LAST duration episode twice: from the population, and personalised on
the patient's earlier episodes. Prints, for both:

- coverage of the 80% predictive interval, counted three ways
  (analysis/validation/advice_holdout.py): decided-only (observed interval entirely inside /
  outside), expected (predictive mass of the interval given the observation, no target
  dropped), and against the simulator's latent duration (exact);
- the mean log predictive score log P(lower < T <= upper) and the personalised gain over the
  population prediction (paired, with its standard error).

    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
    PYTHONPATH=. .venv/bin/python validation/validate_advice.py --n-patients 3000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis.advice.config import AdviceStudyConfig
from analysis.advice.fit import fit_duration_models
from analysis.advice.predict import PosteriorDraws
from analysis.advice.spec import spec_from_vocabulary
from analysis.config import load_params, with_overrides
from analysis.inference import SamplerConfig
from analysis.validation.advice_holdout import evaluate_holdout, holdout_patients

KEY = b"validation-key-not-secret-0123456789"


def simulate_and_prepare(params: dict, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Prepared episodes and the latent durations indexed by episode_key."""
    from analysis.data.prepare import prepare
    from analysis.data.prepare_config import PrepareConfig
    from analysis.data.pseudonym import pseudonymise
    from analysis.simulator.cohort import simulate_cohort, write_cohort
    from analysis.simulator.config import SimConfig

    cohort = simulate_cohort(SimConfig.from_params(params, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "demo"
        write_cohort(cohort, raw)
        episodes = prepare(raw, PrepareConfig.from_params(params), key=KEY).episodes
    truth = cohort.truth_tables["episodes"]
    latent = truth.set_index(pseudonymise(truth["episode_id"], KEY, "episode"))[
        "latent_duration_days"
    ]
    return episodes, latent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--n-patients", type=int, default=3000)
    parser.add_argument(
        "--holdout", type=float, default=None, help="default: advice.validation.holdout_fraction"
    )
    parser.add_argument("--families", default=None, help="comma list (default: params)")
    parser.add_argument(
        "--draws", type=int, default=None, help="NUTS draws per chain (default: params)"
    )
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--max-targets", type=int, default=None)
    parser.add_argument("--out", default=None, help="optional CSV of every target")
    args = parser.parse_args(argv)

    params = with_overrides(load_params(args.params), {"simulate.n_patients": args.n_patients})
    study_cfg = AdviceStudyConfig.from_params(params)
    seed = study_cfg.seed
    config = study_cfg.advice
    if args.families:
        config = replace(config, families=tuple(args.families.split(",")))
    if args.draws or args.chains:
        s = config.sampler
        config = replace(
            config,
            sampler=SamplerConfig(
                draws=args.draws or s.draws,
                tune=s.tune,
                chains=args.chains or s.chains,
                cores=s.cores,
                target_accept=s.target_accept,
                sampler=s.sampler,
            ),
        )
    fraction = args.holdout or config.validation.holdout_fraction

    t0 = time.perf_counter()
    episodes, latent = simulate_and_prepare(params, seed)
    held = holdout_patients(episodes, fraction, seed)
    train = episodes[~episodes["patient_key"].isin(held)]
    t1 = time.perf_counter()
    spec = spec_from_vocabulary(study_cfg.vocabulary, study_cfg.model.dose_knot_log2)
    fit = fit_duration_models(train, spec, config, seed)
    t2 = time.perf_counter()
    draws = PosteriorDraws.from_dataset(fit.posterior, fit.family, fit.spec, config.advice_draws)
    result = evaluate_holdout(
        draws,
        episodes,
        held,
        mass=config.interval_mass,
        latent_days=latent,
        n_nodes=config.quadrature_nodes,
        max_targets=args.max_targets,
    )
    t3 = time.perf_counter()

    print(
        f"cohort: {args.n_patients} patients, {len(episodes)} episodes; "
        f"held out {len(held)} patients"
    )
    print(f"family by LOO: {fit.family}")
    print(
        fit.comparison[["family", "elpd_loo", "elpd_se", "elpd_diff", "elpd_diff_se"]].to_string(
            index=False
        )
    )
    print(f"fit: {fit.n_episodes} episodes, {fit.n_patients} patients; gate {fit.diagnostics}")
    pd.set_option("display.width", 200)
    print("\nheld-out last episodes, 80% predictive interval and log score:")
    print(result.summary.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(
        f"\ntimings: simulate+prepare {t1 - t0:.1f} s, fit {t2 - t1:.1f} s, "
        f"validation predictions {t3 - t2:.1f} s ({len(result.targets)} predictions)"
    )
    if args.out:
        result.targets.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
