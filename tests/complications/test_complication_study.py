"""The study's retry policy (analysis/complications/study.py): one retry with safer geometry."""

from __future__ import annotations

import pytest

from analysis.errors import ConvergenceError
from analysis.inference import GateConfig, SamplerConfig


def test_gate_failure_is_retried_once_with_safer_geometry_and_smaller_steps():
    """The stage's retry policy (study.fit_with_retry), with a stub sampler that fails the gate
    a set number of times and records what it was asked to do."""
    from dataclasses import replace

    from analysis.complications.model import ComplicationFit
    from analysis.complications.study import RETRY_TARGET_ACCEPT, fit_with_retry

    class Stub:
        def __init__(self, failures):
            self.failures, self.calls = failures, []

        def fit(self, cells, priors, seed, structure, gate, config, centring=True):
            self.calls.append({"seed": seed, "config": config, "centring": centring})
            if len(self.calls) <= self.failures:
                raise ConvergenceError(
                    "model 'm' failed its diagnostics gate: 1 divergent transitions"
                )
            return ComplicationFit(
                "dysphagia", structure, "informative", cells, priors, None, {"passed": True}, None
            )

    config = SamplerConfig(draws=1000, tune=800, target_accept=0.9)
    first_time = Stub(failures=0)
    assert fit_with_retry(
        first_time, None, None, 5, "hierarchical", GateConfig(), config
    ).diagnostics == {"passed": True, "retried": False}
    assert first_time.calls == [{"seed": 5, "config": config, "centring": True}]

    once = Stub(failures=1)
    fit = fit_with_retry(once, None, None, 5, "hierarchical", GateConfig(), config)
    assert fit.diagnostics["retried"] is True
    retry = once.calls[1]
    assert retry["seed"] == 6 and retry["centring"] is False
    assert retry["config"] == replace(
        config, draws=2000, tune=1600, target_accept=RETRY_TARGET_ACCEPT
    )
    assert RETRY_TARGET_ACCEPT > config.target_accept
    # a higher configured acceptance is never lowered by the retry
    keen = SamplerConfig(target_accept=0.99)
    fit_with_retry(stub := Stub(failures=1), None, None, 5, "hierarchical", GateConfig(), keen)
    assert stub.calls[1]["config"].target_accept == 0.99

    with pytest.raises(ConvergenceError, match="diagnostics gate"):
        fit_with_retry(Stub(failures=2), None, None, 5, "hierarchical", GateConfig(), config)
