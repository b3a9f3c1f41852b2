"""The mock runner: seeded noise, repetitions, progress, pruning, failures, build cache."""

from __future__ import annotations

import math
import re
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tuner.runners import RUNNERS, RunnerUnavailable, make_runner
from tuner.runners.base import Candidate, Progress, TrialFailure
from tuner.runners.landscape import DEFAULT_CONFIG, MOCK_SPACE, MockLandscape
from tuner.runners.mock import SERVER_RANGES, MockRunner

REPO = Path(__file__).resolve().parents[2]


def _candidate(config: dict[str, Any]) -> Candidate:
    runtime = {k: v for k, v in config.items() if not k.startswith("build.")}
    build = {k: v for k, v in config.items() if k.startswith("build.")}
    return Candidate(runtime=runtime, build=build)


DEFAULT = _candidate(DEFAULT_CONFIG)


def test_same_seed_same_numbers_other_seed_differs() -> None:
    a = MockRunner(seed=5).evaluate(DEFAULT)
    b = MockRunner(seed=5).evaluate(DEFAULT)
    c = MockRunner(seed=6).evaluate(DEFAULT)
    assert (a.fitness, a.ci_low, a.repetitions) == (b.fitness, b.ci_low, b.repetitions)
    assert a.fitness != c.fitness


def test_remeasuring_a_config_gives_a_new_sample() -> None:
    runner = MockRunner(seed=1)
    first, second = runner.evaluate(DEFAULT), runner.evaluate(DEFAULT)
    assert first.fitness != second.fitness


def test_per_pair_noise_matches_measured_aa_cv() -> None:
    # Single-repetition ratios of one test at P=1 and P=16: CV near 7% and 13%
    # (A/A measured 7-8% and 12-15%). Bounds are wide so the test cannot flake.
    runner = MockRunner(seed=2)
    p1: list[float] = []
    p16: list[float] = []
    for _ in range(150):
        m = runner.evaluate(DEFAULT, repetitions=1)
        p1.append(m.per_test["SET@P1"])
        p16.append(m.per_test["SET@P16"])
    cv1 = statistics.pstdev(p1) / statistics.mean(p1)
    cv16 = statistics.pstdev(p16) / statistics.mean(p16)
    assert 0.04 < cv1 < 0.12
    assert 0.08 < cv16 < 0.20
    assert cv16 > cv1


def test_ci_shrinks_with_repetitions_and_covers_the_truth() -> None:
    runner = MockRunner(seed=3)
    seen: list[Progress] = []
    m = runner.evaluate(DEFAULT, repetitions=12, on_progress=seen.append)
    assert [p.repetition for p in seen] == list(range(1, m.repetitions + 1))
    assert math.isnan(seen[0].ci_low) and math.isnan(seen[0].ci_high)  # as PairedRun
    # The CI shrinks with repetitions: mean width at 6 (the stop floor; below it the
    # bootstrap cannot be trusted, as in PairedRun) vs 12.
    at3: list[float] = []
    at12: list[float] = []
    no_early_stop = SimpleNamespace(workload=SimpleNamespace(target_ci_pct=1e-6))
    for seed in range(20):
        trace: list[Progress] = []
        MockRunner(no_early_stop, seed=seed).evaluate(
            DEFAULT, repetitions=12, on_progress=trace.append
        )
        assert len(trace) == 12
        at3.append(trace[5].ci_high - trace[5].ci_low)
        at12.append(trace[-1].ci_high - trace[-1].ci_low)
    assert statistics.fmean(at12) < statistics.fmean(at3) * 0.8, (at3, at12)
    assert (m.fitness, m.ci_low, m.ci_high) == (seen[-1].fitness, seen[-1].ci_low, seen[-1].ci_high)
    # Coverage of the true value over many trials: nominal 95%, allow down to 80%.
    truth = MockLandscape().fitness(DEFAULT_CONFIG)
    covered = sum(
        r.ci_low <= truth <= r.ci_high
        for r in (runner.evaluate(DEFAULT, repetitions=8) for _ in range(100))
    )
    assert covered >= 80


def test_stops_at_ci_target_or_max_repetitions() -> None:
    workload = SimpleNamespace(
        tests=("set", "get"),
        pipelines=(1, 16),
        weights={},
        min_repetitions=2,
        max_repetitions=8,
        target_ci_pct=50.0,
        confidence=0.95,
    )
    loose = MockRunner(SimpleNamespace(workload=workload), seed=0).evaluate(DEFAULT)
    # The CI stop waits for the stop floor (6 at 95%), as in PairedRun.
    assert (loose.repetitions, loose.stop_reason) == (6, "ci_target")
    workload.target_ci_pct = 0.01
    tight = MockRunner(SimpleNamespace(workload=workload), seed=0).evaluate(DEFAULT)
    assert (tight.repetitions, tight.stop_reason) == (8, "max_repetitions")
    more = MockRunner(SimpleNamespace(workload=workload), seed=0).evaluate(DEFAULT, repetitions=9)
    assert more.repetitions == 9
    assert set(more.per_test) == {"SET@P1", "GET@P1", "SET@P16", "GET@P16"}


def test_progress_callback_can_abort_the_trial() -> None:
    class Pruned(Exception):
        pass

    calls: list[int] = []

    def prune_at_two(p: Progress) -> None:
        calls.append(p.repetition)
        if p.repetition == 2:
            raise Pruned

    with pytest.raises(Pruned):
        MockRunner(seed=0).evaluate(DEFAULT, on_progress=prune_at_two)
    assert calls == [1, 2]


def test_optimum_measures_better_than_default() -> None:
    runner = MockRunner(seed=4)
    best = _candidate(MockLandscape().optimum().config)
    wins = sum(runner.evaluate(best).fitness > runner.evaluate(DEFAULT).fitness for _ in range(10))
    assert wins >= 9


def test_build_time_only_when_build_params_change() -> None:
    runner = MockRunner(seed=0)
    first = runner.evaluate(DEFAULT, repetitions=1)
    runtime_change = Candidate({**DEFAULT.runtime, "num_shards": 4}, DEFAULT.build)
    second = runner.evaluate(runtime_change, repetitions=1)
    build_change = Candidate(DEFAULT.runtime, {**DEFAULT.build, "build.allocator": "jemalloc"})
    third = runner.evaluate(build_change, repetitions=1)
    assert first.timings["build"] > 0
    assert second.timings["build"] == 0
    assert third.timings["build"] > 0
    assert first.build_tag == second.build_tag != third.build_tag
    assert set(first.timings) == {"build", "start", "benchmark"}
    assert first.p99_ratio > 0 and first.detail["runner"] == "mock"


def test_failures_are_reported_as_trial_failures() -> None:
    runner = MockRunner(seed=0, crash_values={"batching.batch_threshold": [16]})
    with pytest.raises(TrialFailure) as crash:
        runner.evaluate(Candidate({**DEFAULT.runtime, "batching.batch_threshold": 16}))
    assert "crash" in crash.value.reason and "panicked" in crash.value.log_tail
    # Out of the server's range: rejected at start with the real server's message.
    with pytest.raises(TrialFailure) as invalid:
        runner.evaluate(Candidate({**DEFAULT.runtime, "response_pool.capacity": 100000}))
    assert "invalid config" in invalid.value.reason
    assert (
        "response_pool.capacity = 100000 is out of range (allowed: 0 to 65536)"
        in invalid.value.log_tail
    )
    with pytest.raises(TrialFailure, match="invalid config"):
        runner.evaluate(Candidate({**DEFAULT.runtime, "num_shards": 0}))
    picky = MockRunner(fail_when=lambda c: "too many shards" if c["num_shards"] > 32 else None)
    with pytest.raises(TrialFailure, match="too many shards"):
        picky.evaluate(Candidate({**DEFAULT.runtime, "num_shards": 64}))
    assert picky.evaluate(DEFAULT, repetitions=1).repetitions == 1


def test_delay_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    start = time.monotonic()
    MockRunner(delay_s=0.05).evaluate(DEFAULT, repetitions=3)
    assert time.monotonic() - start >= 0.15
    monkeypatch.setenv("TUNER_MOCK_DELAY", "0.04")
    runner = MockRunner()
    assert runner.delay_s == pytest.approx(0.04)
    start = time.monotonic()
    runner.evaluate(DEFAULT, repetitions=2)
    assert time.monotonic() - start >= 0.08


def test_noise_scale_zero_returns_the_truth() -> None:
    m = MockRunner(noise=0.0).evaluate(DEFAULT, repetitions=3)
    assert m.fitness == pytest.approx(MockLandscape().fitness(DEFAULT_CONFIG))
    assert np.isclose(m.ci_low, m.ci_high)


def test_make_runner_names() -> None:
    runner = make_runner("mock", None, seed=3)
    assert runner.name == "mock"
    runner.close()
    runner.close()  # idempotent
    assert set(RUNNERS) == {"mock", "local", "compose"}
    with pytest.raises(RunnerUnavailable, match="choose one of: compose, local, mock"):
        make_runner("docker-swarm", None)


def test_sampler_comparison_scores_true_fitness_of_the_reported_best() -> None:
    from dataclasses import replace

    from tuner.sampler_comparison import (
        _summary,
        compare,
        landscape_truth,
        run_study,
        to_markdown,
    )
    from tuner.spec import load_spec

    base = load_spec(None)
    spec = replace(base, budget=replace(base.budget, trials=8))
    run = run_study(spec, "random", seed=0, trials=8)
    assert len(run.true_best) == 8
    optimum = MockLandscape().optimum().fitness
    default = MockLandscape().fitness(spec.defaults())
    assert run.true_best[0] == pytest.approx(default)  # the default config runs first
    assert all(v <= optimum + 1e-9 for v in run.true_best)
    rows = compare(seeds=2, trials=4, checkpoints=[2, 4])
    assert [r.sampler for r in rows][:4] == ["cmaes", "tpe", "random", "nsga2"]
    assert all(len(r.means) == 2 for r in rows)
    assert "s.e." in _summary(rows, [2, 4])
    # SAMPLERS.md holds one section per landscape, each with its own known truth.
    sweep_default, sweep_optimum = landscape_truth("sweep")
    assert sweep_default == pytest.approx(sweep_optimum)  # the sweep's default is its optimum
    text = to_markdown([("interior", rows), ("sweep", rows)], 2, 4, [2, 4], "keep cmaes")
    assert "## Landscape `interior`" in text and "## Landscape `sweep`" in text
    assert f"true fitness is {default:.2f}" in text and f"{sweep_default:.2f}" in text


def test_crash_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNER_MOCK_CRASH", "threads=3,4; build.allocator=mimalloc")
    runner = MockRunner()
    with pytest.raises(TrialFailure, match="crashed"):
        runner.evaluate(Candidate({**DEFAULT.runtime, "threads": 4}, DEFAULT.build))
    with pytest.raises(TrialFailure, match="crashed"):
        runner.evaluate(Candidate(DEFAULT.runtime, {"build.allocator": "mimalloc"}))
    assert runner.evaluate(Candidate({**DEFAULT.runtime, "threads": 2}), repetitions=1)
    monkeypatch.setenv("TUNER_MOCK_CRASH", "threads")
    with pytest.raises(ValueError, match="TUNER_MOCK_CRASH: 'threads'"):
        MockRunner()


def test_server_ranges_mirror_the_servers_knobs() -> None:
    # The mock rejects what the real server rejects: the same knobs and limits as KNOBS in
    # server/src/config.rs, and every runtime knob of the mock space within them.
    source = (REPO / "server" / "src" / "config.rs").read_text()
    knobs = re.findall(r'name:\s*"([^"]+)",\s*min:\s*([\d_]+),\s*max:\s*([\d_]+)', source)
    assert knobs, "KNOBS not found in server/src/config.rs"
    server = {name: (int(low), int(high)) for name, low, high in knobs}
    assert server == SERVER_RANGES
    for param in MOCK_SPACE:
        if param.stage == "runtime":
            low, high = SERVER_RANGES[param.name]
            assert low <= param.low and param.high <= high, param.name  # type: ignore[operator]
