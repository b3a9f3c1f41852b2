"""Properties of the synthetic landscape behind the mock runner."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from tuner.runners.base import Candidate
from tuner.runners.landscape import (
    DEAD_PARAM,
    DEFAULT_CONFIG,
    MOCK_SPACE,
    SWEEP_DEFAULT_FITNESS,
    SWEEP_MARGIN,
    SWEEP_MEASURED,
    SWEEP_NOISE_BAND,
    MockLandscape,
    SweepLandscape,
    make_landscape,
    spec_grid,
)
from tuner.spec import load_spec

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)


def _random_config(rng: random.Random) -> dict[str, object]:
    return {p.name: rng.choice(p.grid()) for p in MOCK_SPACE}


def test_default_is_realistic_and_optimum_beats_it() -> None:
    landscape = MockLandscape()
    default = landscape.fitness(DEFAULT_CONFIG)
    best = landscape.optimum()
    # Shaped like the predecessor's story: defaults well below Redis, tuned near parity.
    assert 75.0 < default < 92.0
    assert best.fitness > default + 10.0
    assert 98.0 < best.fitness < 110.0
    assert landscape.p99_ratio(best.config) < landscape.p99_ratio(DEFAULT_CONFIG)


def test_optimum_is_the_true_grid_maximum() -> None:
    landscape = MockLandscape()
    best = landscape.optimum()
    rng = random.Random(7)
    for _ in range(3000):
        assert landscape.fitness(_random_config(rng)) <= best.fitness + 1e-9
    # Every single-knob move away from the optimum loses (or ties on the dead knob).
    for param in MOCK_SPACE:
        for value in param.grid():
            moved = {**best.config, param.name: value}
            assert landscape.fitness(moved) <= best.fitness + 1e-9


def test_optimum_respects_a_restricted_grid() -> None:
    landscape = MockLandscape()
    grid: dict[str, list[Any]] = {
        "num_shards": [2, 4, 16],
        "threads": [1],
        "build.allocator": ["system", "mimalloc"],
    }
    best = landscape.optimum(grid)
    assert set(best.config) == set(grid)
    assert best.config["threads"] == 1
    assert best.config["num_shards"] == 4  # shards x threads interaction: 4 per thread
    assert best.config["build.allocator"] == "mimalloc"
    brute = max(
        landscape.fitness({**DEFAULT_CONFIG, "num_shards": s, "build.allocator": a, "threads": 1})
        for s, a in itertools.product(grid["num_shards"], grid["build.allocator"])
    )
    assert best.fitness == pytest.approx(brute)


def test_dead_param_has_no_effect_and_live_ones_do() -> None:
    landscape = MockLandscape()
    rng = random.Random(3)
    dead = next(p for p in MOCK_SPACE if p.name == DEAD_PARAM)
    for _ in range(200):
        config = _random_config(rng)
        dead_values = {landscape.fitness({**config, DEAD_PARAM: v}) for v in dead.grid()}
        assert max(dead_values) - min(dead_values) < 1e-9
    # Live knobs move fitness in random contexts.
    for param in MOCK_SPACE:
        if param.name == DEAD_PARAM:
            continue
        spreads = []
        for _ in range(30):
            config = _random_config(rng)
            values = [landscape.fitness({**config, param.name: v}) for v in param.grid()]
            spreads.append(max(values) - min(values))
        assert statistics.median(spreads) > 0.5, param.name


def test_interactions() -> None:
    landscape = MockLandscape()

    # The best shard count depends on threads.
    def best_shards(threads: int) -> int:
        return max(
            range(1, 17),
            key=lambda s: landscape.fitness(
                {**DEFAULT_CONFIG, "threads": threads, "num_shards": s}
            ),
        )

    assert best_shards(1) == 4 and best_shards(2) == 8

    # A reply-buffer pool pays off more with pipelining: the best capacity grows with P.
    def best_capacity(test: str) -> int:
        one = MockLandscape(tests=(test,))
        return max(
            range(0, 4097, 32),
            key=lambda n: one.fitness({**DEFAULT_CONFIG, "response_pool.capacity": n}),
        )

    assert 0 < best_capacity("SET@P1") < best_capacity("SET@P16") < 4096


def test_landscape_is_deterministic_and_weights_matter() -> None:
    a, b = MockLandscape(), MockLandscape()
    config = _random_config(random.Random(11))
    assert a.fitness(config) == b.fitness(config)
    p16_heavy = MockLandscape(weights={"SET@P16": 10.0, "GET@P16": 10.0})
    # Batching only pays off with pipelining, so P16-heavy weights want a larger threshold.
    assert (
        p16_heavy.optimum().config["batching.batch_threshold"]
        >= a.optimum().config["batching.batch_threshold"]
    )
    assert not math.isclose(p16_heavy.fitness(DEFAULT_CONFIG), a.fitness(DEFAULT_CONFIG))


def test_mock_space_mirrors_the_shipped_spec() -> None:
    # Same knobs as the shipped spec, so mock studies, audits and demos look real.
    # (Ranges may drift; candidates come from the spec, so only names must match.)
    # The shipped spec searches a subset (sized to the machine); the wide fixture all of them.
    shipped_names = [p.name for p in load_spec(REPO / "studies" / "redis-throughput.toml").params]
    assert set(shipped_names) <= {p.name for p in MOCK_SPACE}
    spec = load_spec(REPO / "tests" / "data" / "wide-space.toml")
    assert [p.name for p in spec.params] == [p.name for p in MOCK_SPACE]
    for mock in MOCK_SPACE:
        shipped = spec.param(mock.name)
        assert (shipped.kind, shipped.stage) == (mock.kind, mock.stage), mock.name
        if mock.kind == "categorical":
            assert tuple(shipped.choices) == mock.choices
    best = MockLandscape().optimum(spec_grid(spec.params))
    assert best.fitness > MockLandscape().fitness(spec.defaults()) + 10.0
    assert all(c.satisfied(best.config) for c in spec.param_constraints)
    for p in spec.params:
        if p.kind != "categorical":
            assert p.low <= best.config[p.name] <= p.high, p.name


def test_unknown_params_have_no_effect() -> None:
    landscape = MockLandscape()
    config = {**DEFAULT_CONFIG, "some.new_knob": 7}
    assert landscape.fitness(config) == landscape.fitness(DEFAULT_CONFIG)
    best = landscape.optimum({"some.new_knob": [3, 7], "threads": [1, 2]})
    assert best.config == {"some.new_knob": 3, "threads": 2}


def test_batching_trades_p99_for_throughput() -> None:
    # A Pareto study must find a real front: larger batches win throughput, lose p99.
    landscape = MockLandscape()
    best = landscape.optimum().config
    small = {**best, "batching.batch_threshold": 4}
    assert landscape.fitness(small) < landscape.fitness(best)
    assert landscape.p99_ratio(small) < landscape.p99_ratio(best)


# --- The sweep landscape: server/sweeps/knob-sweep-2026-11-26.md as measured. ---


def _knobs_md_curves() -> dict[str, dict[str, float]]:
    """param -> {value text: fitness} from the 'fitness per value' column of KNOBS.md."""
    curves: dict[str, dict[str, float]] = {}
    for line in (REPO / "server" / "sweeps" / "knob-sweep-2026-11-26.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or cells[0] in ("param", "---") or ": " not in cells[-1]:
            continue
        points = (part.split(": ") for part in cells[-1].split(", "))
        curves[cells[0]] = {value.rstrip("*"): float(fit) for value, fit in points}
    return curves


def test_sweep_landscape_data_is_the_committed_knob_sweep() -> None:
    text = (REPO / "server" / "sweeps" / "knob-sweep-2026-11-26.md").read_text()
    assert f"(median {SWEEP_DEFAULT_FITNESS})" in text
    assert f"noise band = {SWEEP_NOISE_BAND} fitness points" in text
    measured = _knobs_md_curves()
    for name, curve in SWEEP_MEASURED.items():
        assert {str(k): v for k, v in curve.items()} == measured[name], name
    # Every searched knob of the shipped spec has a measured curve (prewarm left the server).
    spec = load_spec(REPO / "studies" / "redis-throughput.toml")
    assert {p.name for p in spec.params} <= set(SWEEP_MEASURED)


def test_sweep_landscape_reproduces_each_measured_point_within_the_noise() -> None:
    landscape = SweepLandscape()
    assert landscape.fitness(DEFAULT_CONFIG) == pytest.approx(SWEEP_DEFAULT_FITNESS)
    threshold = SWEEP_MARGIN * SWEEP_NOISE_BAND
    moved = 0
    for name, curve in SWEEP_MEASURED.items():
        for value, fit in curve.items():
            model = landscape.fitness({**DEFAULT_CONFIG, name: value})
            assert abs(model - fit) <= threshold, (name, value)
            if abs(fit - SWEEP_DEFAULT_FITNESS) > threshold:
                moved += 1
                assert model == pytest.approx(fit), (name, value)
            else:
                assert model == pytest.approx(SWEEP_DEFAULT_FITNESS), (name, value)
    # batch_threshold 1 and 16, min_pipeline_buffer x3, read_size 512, threads 6.
    assert moved == 7


def test_sweep_landscape_default_is_the_optimum_and_most_of_the_box_is_bad() -> None:
    landscape = SweepLandscape()
    spec = load_spec(REPO / "studies" / "redis-throughput.toml")
    best = landscape.optimum(spec_grid(spec.params))
    assert best.fitness == pytest.approx(SWEEP_DEFAULT_FITNESS)
    assert best.config == spec.defaults()
    rng = random.Random(7)
    scores = [landscape.fitness(_random_config(rng)) for _ in range(2000)]
    assert 40.0 < statistics.median(scores) < 55.0
    assert sum(s < 60.0 for s in scores) / len(scores) > 0.8
    # The dead knobs of the sweep do nothing at all here.
    for name in ("response_pool.capacity", "buffers.max_size", "num_shards"):
        param = next(p for p in MOCK_SPACE if p.name == name)
        values = [landscape.fitness({**DEFAULT_CONFIG, name: v}) for v in param.grid()]
        assert values == pytest.approx([SWEEP_DEFAULT_FITNESS] * len(values))


def test_landscapes_are_selected_by_name() -> None:
    from tuner.runners.mock import MockRunner

    assert isinstance(make_landscape("sweep"), SweepLandscape)
    assert type(make_landscape("interior")) is MockLandscape
    with pytest.raises(ValueError, match=r"unknown mock landscape 'flat'.*interior, sweep"):
        make_landscape("flat")
    runner = MockRunner(None, landscape="sweep")
    m = runner.evaluate(Candidate(runtime={"batching.batch_threshold": 1}))
    assert m.detail["true_fitness"] == pytest.approx(46.0)
    # Raw noisy runs around the true value (the statistics judge them elsewhere).
    assert 30.0 < m.fitness < 65.0
