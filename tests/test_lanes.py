"""The pipeline runner (analysis/lanes.py): a stage starts only after the stages it reads from,
at most ``jobs`` at once, the longest first; a failure stops new stages. The runner on a real
DVC project is exercised by the tiny pipeline (tests/pipeline_run.py builds both copies with
it; tests/report/test_pipeline_repro.py compares them and checks dvc.lock is complete)."""

from __future__ import annotations

import pytest

from analysis.lanes import Graph, run_stages

#: The study's graph (dvc.yaml, 4 December 2026).
STUDY = Graph(
    stages=(
        "simulate",
        "prepare",
        "describe",
        "fit_survival",
        "fit_complications",
        "fit_advice",
        "disclose",
        "report",
    ),
    upstream={
        "simulate": frozenset(),
        "prepare": frozenset({"simulate"}),
        "describe": frozenset({"prepare"}),
        "fit_survival": frozenset({"prepare"}),
        "fit_complications": frozenset({"prepare"}),
        "fit_advice": frozenset({"prepare"}),
        "disclose": frozenset({"describe", "fit_survival", "fit_complications", "fit_advice"}),
        "report": frozenset({"prepare", "disclose"}),
    },
)


class FakeRun:
    """A stage 'process' that finishes after ``polls`` polls with ``code``."""

    def __init__(self, polls: int, code: int) -> None:
        self.polls, self.code = polls, code

    def poll(self) -> int | None:
        self.polls -= 1
        return self.code if self.polls < 0 else None


def simulate_run(graph: Graph, needed: set[str], jobs: int, fail: str | None = None):
    """Run the scheduler with fake stages (each lasts a few polls); return the log of events
    and the exit status."""
    events: list[tuple[str, ...]] = []
    running: set[str] = set()
    peak = [0]

    def start(stage: str) -> FakeRun:
        assert stage not in {e[1] for e in events if e[0] == "start"}, f"{stage} started twice"
        running.add(stage)
        peak[0] = max(peak[0], len(running))
        events.append(("start", stage))
        return FakeRun(polls=3 if stage.startswith("fit_") else 1, code=int(stage == fail))

    def progress(line: str) -> None:
        stage = line.split()[0]
        if " finished" in line or " failed" in line:
            running.discard(stage)
            events.append(("end", stage))

    code = run_stages(graph, needed, start, jobs, progress, poll_seconds=0.0)
    return events, code, peak[0]


def test_a_stage_starts_after_everything_it_reads_and_at_most_jobs_at_once():
    events, code, peak = simulate_run(STUDY, set(STUDY.stages), jobs=2)
    assert code == 0
    ended: set[str] = set()
    for kind, stage in events:
        if kind == "start":
            assert STUDY.upstream[stage] <= ended, (
                f"{stage} started before {STUDY.upstream[stage] - ended}"
            )
        else:
            ended.add(stage)
    assert ended == set(STUDY.stages)
    assert peak == 2
    # the two model stages, the longest, are the first two to start once the data is prepared
    starts = [s for k, s in events if k == "start"]
    assert starts[2:4] == ["fit_advice", "fit_complications"]


def test_one_job_runs_the_stages_one_at_a_time():
    _, code, peak = simulate_run(STUDY, set(STUDY.stages), jobs=1)
    assert (code, peak) == (0, 1)


def test_only_needed_stages_run_and_those_downstream_of_a_change_are_needed():
    needed = STUDY.downstream_of({"fit_survival"})
    assert needed == {"fit_survival", "disclose", "report"}
    events, code, _ = simulate_run(STUDY, needed, jobs=2)
    assert code == 0
    assert [s for k, s in events if k == "start"] == ["fit_survival", "disclose", "report"]
    assert STUDY.downstream_of(set()) == set()
    assert STUDY.downstream_of({"simulate"}) == set(STUDY.stages)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_stage_stops_new_stages_but_running_ones_finish(jobs):
    events, code, _ = simulate_run(STUDY, set(STUDY.stages), jobs=jobs, fail="fit_complications")
    assert code == 1
    started = {s for k, s in events if k == "start"}
    ended = {s for k, s in events if k == "end"}
    assert started == ended  # nothing left running
    assert "disclose" not in started and "report" not in started
    if jobs == 2:
        assert "fit_advice" in ended  # it was running beside the failure and finished
