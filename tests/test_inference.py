"""The convergence gate shared by the Bayesian models (analysis/inference.py), on hand-made
draws where the right verdict is known: no sampling."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from analysis.errors import ConfigError, ConvergenceError
from analysis.inference import (
    GateConfig,
    SamplerConfig,
    bfmi,
    check_convergence,
    diagnostics_table,
    n_divergences,
)

CHAINS, DRAWS = 4, 1000


def _idata(shift: float = 0.0, divergent: int = 0, draws: int = DRAWS, seed: int = 1):
    """Independent standard-normal draws of ``a`` and ``b[2]``; chain 0 of ``b`` shifted by
    ``shift``; ``divergent`` divergent transitions; i.i.d. energies (BFMI about 2)."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(CHAINS, draws, 2))
    b[0] += shift
    diverging = np.zeros((CHAINS, draws), dtype=bool)
    diverging.flat[:divergent] = True
    return az.from_dict(
        posterior={"a": rng.normal(size=(CHAINS, draws)), "b": b},
        sample_stats={"diverging": diverging, "energy": rng.normal(size=(CHAINS, draws))},
    )


def test_well_mixed_chains_pass_and_the_summary_reports_the_worst_values():
    summary = check_convergence(_idata(), "iid")
    assert summary["passed"] is True and summary["model"] == "iid"
    assert summary["n_parameters"] == 3 and summary["divergences"] == 0
    assert summary["max_rhat"] <= 1.01 and summary["min_ess_bulk"] > 2000
    assert 0.3 < summary["bfmi_min"] < 3.0


def test_chains_that_disagree_fail_on_r_hat_naming_model_and_parameter():
    with pytest.raises(ConvergenceError, match=r"model 'stuck' failed .*R-hat .* for 'b\[0\]'"):
        check_convergence(_idata(shift=3.0), "stuck")


def test_divergences_fail_the_gate_unless_allowed():
    with pytest.raises(ConvergenceError, match=r"2 divergent transitions \(> 0\)"):
        check_convergence(_idata(divergent=2), "m")
    allowed = GateConfig(max_divergences=2)
    assert check_convergence(_idata(divergent=2), "m", allowed)["divergences"] == 2


def test_too_few_draws_fail_on_effective_sample_size():
    with pytest.raises(ConvergenceError, match=r"ess bulk \d+ < 400 for '"):
        check_convergence(_idata(draws=50), "short")


def test_var_names_restrict_the_gate_and_the_table():
    table = diagnostics_table(_idata(shift=3.0), var_names=["a"])
    assert list(table["parameter"]) == ["a"]
    assert check_convergence(_idata(shift=3.0), "a only", var_names=["a"])["passed"]


def test_divergences_and_bfmi_are_read_from_sample_stats():
    assert n_divergences(_idata(divergent=5)) == 5
    no_stats = az.from_dict(posterior={"a": np.zeros((2, 10))})
    assert n_divergences(no_stats) == 0 and bfmi(no_stats) == []
    assert len(bfmi(_idata())) == CHAINS


def test_sampler_and_gate_settings_are_parsed_strictly():
    section = {"draws": 500, "tune": 600, "chains": 4, "cores": 2, "target_acept": 0.9}
    with pytest.raises(
        ConfigError, match=r"'advice\.sampler\.target_acept'.*did you mean 'target_accept'"
    ):
        SamplerConfig.from_params(section, "advice.sampler")
    with pytest.raises(ConfigError, match=r"'gate\.max_rhats'.*did you mean 'max_rhat'"):
        GateConfig.from_params({"max_rhats": 1.01})
    with pytest.raises(ConfigError, match=r"'s': target_accept = 1\.5 must lie in \(0, 1\)"):
        SamplerConfig.from_params({"target_accept": 1.5}, "s")
    assert SamplerConfig.from_params({"draws": 10}) == SamplerConfig(draws=10)
