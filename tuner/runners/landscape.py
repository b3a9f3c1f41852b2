"""Synthetic performance landscapes shaped like the real server's knobs.

The mock runner samples one to give tests and demos a study that behaves like a real one
in seconds: same dotted param names, a known optimum and noise at the measured A/A level.
Two shapes (:data:`LANDSCAPES`, ``--mock-landscape``):

- ``interior`` (:class:`MockLandscape`): interactions, one dead knob, and an optimum well
  inside the box that beats the default by about 20%: the case a sweep cannot show.
- ``sweep`` (:class:`SweepLandscape`): the committed knob sweep of 2026-11-26
  (server/sweeps/knob-sweep-2026-11-26.md) as measured: the default is the optimum, most of
  the box scores about 46-52%.

Log fitness is a sum of independent param-group terms, which is what lets
:meth:`MockLandscape.optimum` find the exact optimum on a grid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The knob that does nothing here: max_size caps buffer growth, and 64-byte values
#: never grow a buffer that far. ``tuner space audit`` must flag it.
DEAD_PARAM = "buffers.max_size"

ALLOCATORS = ("system", "jemalloc", "mimalloc")


@dataclass(frozen=True)
class MockParam:
    """One knob of the landscape with the range the shipped spec searches."""

    name: str
    kind: str  # "int" | "categorical"
    default: Any
    low: int | None = None
    high: int | None = None
    step: int = 1
    log: bool = False
    choices: tuple[Any, ...] = ()
    stage: str = "runtime"

    def grid(self) -> list[Any]:
        """Values to search for the optimum: every step, or powers of two for log knobs.

        Every log knob's term peaks on a power of two, so that grid holds the optimum.
        """
        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.log:
            values = []
            v = self.low
            while v <= self.high:
                values.append(v)
                v *= 2
            return values
        return list(range(self.low, self.high + 1, self.step))


#: The landscape's search space: the params, ranges and defaults of the shipped spec
#: studies/redis-throughput.toml (a test keeps the two in step).
MOCK_SPACE: tuple[MockParam, ...] = (
    MockParam("num_shards", "int", 16, 1, 256, log=True),
    MockParam("threads", "int", 1, 1, 4),
    MockParam("response_pool.capacity", "int", 128, 0, 4096, step=32),
    MockParam("response_pool.buffer_size", "int", 16384, 512, 262144, log=True),
    MockParam("buffers.read_size", "int", 16384, 512, 262144, log=True),
    MockParam("buffers.max_size", "int", 1073741824, 1048576, 4294967296, log=True),
    MockParam("batching.min_pipeline_buffer", "int", 0, 0, 65536, step=64),
    MockParam("batching.batch_threshold", "int", 256, 1, 4096, log=True),
    MockParam("build.allocator", "categorical", "system", choices=ALLOCATORS, stage="build"),
)


def spec_grid(params: Iterable[Any]) -> dict[str, list[Any]]:
    """Optimum grid for a spec's params (``tuner.spec.ParamSpec``-like objects).

    Stepped ints take every step, log ints powers of two (where every log term peaks),
    other ints every value, categoricals their choices.
    """
    grid: dict[str, list[Any]] = {}
    for p in params:
        if p.kind == "categorical":
            grid[p.name] = list(p.choices)
        elif p.kind == "int":
            mock = MockParam(p.name, "int", p.default, int(p.low), int(p.high), int(p.step or 1))
            grid[p.name] = MockParam(**{**mock.__dict__, "log": bool(p.log)}).grid()
        else:
            raise ValueError(f"param {p.name!r}: the mock landscape has no float knobs")
    return grid


DEFAULT_CONFIG: dict[str, Any] = {p.name: p.default for p in MOCK_SPACE}
DEFAULT_TESTS: tuple[str, ...] = ("SET@P1", "GET@P1", "SET@P16", "GET@P16")

_WRITE_COMMANDS = {"set", "incr", "lpush", "rpush", "sadd", "hset", "zadd", "mset", "xadd"}


@dataclass(frozen=True)
class TestShape:
    """What the landscape needs to know of a benchmark test name like ``SET@P16``."""

    write: float  # 1.0 for write commands, 0.0 for reads
    pipelined: float  # 0.0 at P=1 rising to 1.0 at P>=16

    @classmethod
    def parse(cls, test: str) -> TestShape:
        command, _, pipe = test.partition("@")
        pipeline = int(pipe.upper().lstrip("P") or 1) if pipe else 1
        write = 1.0 if command.lower() in _WRITE_COMMANDS else 0.0
        return cls(write=write, pipelined=min(1.0, math.log2(max(pipeline, 1)) / 4.0))


def _as_int(config: Mapping[str, Any], name: str) -> int:
    return int(config.get(name, DEFAULT_CONFIG[name]))


# --- Param-group terms: each returns a log-ratio contribution for one test. ---------
# Every group reads only its own params, so log fitness is additive across groups.


def _term_parallelism(c: Mapping[str, Any], t: TestShape) -> float:
    # Two threads overlap syscalls with work; more only context-switch on 2 cores.
    # The best shard count grows with threads (contention vs per-shard overhead).
    threads = _as_int(c, "threads")
    shards = _as_int(c, "num_shards")
    thread_term = -0.025 * (threads - 2) ** 2
    shard_term = -0.012 * (1.0 + 0.5 * t.write) * (math.log2(shards) - math.log2(4 * threads)) ** 2
    return thread_term + shard_term


def _term_response_pool(c: Mapping[str, Any], t: TestShape) -> float:
    # Pooled reply buffers save allocations, more so pipelined, with diminishing returns;
    # a large pool costs cache misses.
    capacity = _as_int(c, "response_pool.capacity")
    gain = 0.05 * (0.5 + t.pipelined) * (1.0 - math.exp(-capacity / 300.0))
    return gain - 0.02 * (capacity / 2048.0) ** 2


def _term_reply_buffer(c: Mapping[str, Any], t: TestShape) -> float:
    # 4 KiB reply buffers fit a pipelined batch of replies; bigger ones waste cache.
    size = _as_int(c, "response_pool.buffer_size")
    return -(0.002 + 0.006 * t.pipelined) * (math.log2(size) - 12.0) ** 2


def _term_read_buffer(c: Mapping[str, Any], t: TestShape) -> float:
    # 32 KiB reads are best; pipelined traffic suffers more from small or huge buffers.
    size = _as_int(c, "buffers.read_size")
    return -(0.004 + 0.01 * t.pipelined) * (math.log2(size) - 15.0) ** 2


def _term_dead(c: Mapping[str, Any], t: TestShape) -> float:
    return 0.0


def _coalescing(c: Mapping[str, Any], t: TestShape) -> float:
    # Replies are coalesced once a read holds min_pipeline_buffer bytes: a P=16 read of
    # 64-byte SETs is about 1.6 KB, a P=1 read about 100 bytes.
    min_buffer = _as_int(c, "batching.min_pipeline_buffer")
    read_bytes = 100.0 * 16.0**t.pipelined
    exponent = min(50.0, (min_buffer - read_bytes) / (0.2 * read_bytes))
    return 1.0 / (1.0 + math.exp(exponent))


def _batch_gain(threshold: int) -> float:
    # Batches of 32 commands are best: smaller ones re-take shard locks more often,
    # larger ones hold them too long. Flat top at exactly 2^5 (log2 scale).
    x = math.log2(max(threshold, 1))
    if x <= 5.0:
        return 0.05 * (1.0 - ((5.0 - x) / 5.0) ** 2)
    return 0.05 - 0.003 * (x - 5.0) ** 2


def _term_batching(c: Mapping[str, Any], t: TestShape) -> float:
    # Pipelined commands run in batches under held shard locks; coalescing replies adds
    # to it and doubles the batch effect (interaction). At P=1 coalescing only costs.
    batch_gain = _batch_gain(_as_int(c, "batching.batch_threshold"))
    coalesced = _coalescing(c, t)
    pipelined = batch_gain * (0.5 + 0.5 * coalesced) + 0.04 * coalesced
    return t.pipelined * pipelined - (1.0 - t.pipelined) * 0.02 * coalesced


_ALLOCATOR_GAIN = {"system": (0.0, 0.0), "jemalloc": (0.015, 0.03), "mimalloc": (0.01, 0.035)}


def _term_allocator(c: Mapping[str, Any], t: TestShape) -> float:
    read_gain, write_gain = _ALLOCATOR_GAIN[str(c.get("build.allocator", "system"))]
    return read_gain + (write_gain - read_gain) * t.write


Term = Callable[[Mapping[str, Any], TestShape], float]

#: Param groups: the optimum of the sum is the sum of per-group optima.
GROUPS: tuple[tuple[tuple[str, ...], Term], ...] = (
    (("num_shards", "threads"), _term_parallelism),
    (("response_pool.capacity",), _term_response_pool),
    (("response_pool.buffer_size",), _term_reply_buffer),
    (("buffers.read_size",), _term_read_buffer),
    ((DEAD_PARAM,), _term_dead),
    (("batching.min_pipeline_buffer", "batching.batch_threshold"), _term_batching),
    (("build.allocator",), _term_allocator),
)


def _base(t: TestShape) -> float:
    # At P=1 syscall cost dominates both servers, which compresses differences.
    return math.log(0.95) + (math.log(0.88) - math.log(0.95)) * t.pipelined


def _p99_extra(c: Mapping[str, Any], t: TestShape) -> float:
    # Bigger batches trade latency for throughput: the source of a real Pareto front.
    x = math.log2(max(_as_int(c, "batching.batch_threshold"), 1))
    return t.pipelined * _coalescing(c, t) * 0.025 * x


#: The mock's memory model (:meth:`MockLandscape.memory_ratio`): the ratio with no reply
#: pool, and how much a full pool (4096 buffers of 16 KiB) adds to it.
MEMORY_AT_EMPTY_POOL = 0.9
MEMORY_POOL_WEIGHT = 0.6


@dataclass(frozen=True)
class Optimum:
    """The noiseless best config on a grid, with its fitness (percent of baseline)."""

    config: dict[str, Any]
    fitness: float


@dataclass(frozen=True)
class MockLandscape:
    """The ``interior`` landscape: noiseless fitness and p99 ratios of configs, with an
    interior optimum; noise is the mock runner's job.

    ``config`` maps dotted names (runtime and ``build.*``) to values; missing params take
    the landscape's defaults; unknown params are ignored (they have no effect).
    """

    tests: tuple[str, ...] = DEFAULT_TESTS
    weights: Mapping[str, float] = field(default_factory=dict)

    #: The name ``--mock-landscape`` selects this landscape by.
    name = "interior"

    def _groups(self) -> tuple[tuple[tuple[str, ...], Term], ...]:
        return GROUPS

    def _base(self, shape: TestShape) -> float:
        return _base(shape)

    def _p99_extra(self, config: Mapping[str, Any], shape: TestShape) -> float:
        return _p99_extra(config, shape)

    def _weight(self, test: str) -> float:
        return float(self.weights.get(test, 1.0))

    def log_ratio(self, config: Mapping[str, Any], test: str) -> float:
        """Natural log of the candidate/baseline rps ratio for one test."""
        shape = TestShape.parse(test)
        return self._base(shape) + sum(term(config, shape) for _, term in self._groups())

    def per_test(self, config: Mapping[str, Any]) -> dict[str, float]:
        """True rps ratio per test."""
        return {t: math.exp(self.log_ratio(config, t)) for t in self.tests}

    def fitness(self, config: Mapping[str, Any]) -> float:
        """True fitness: weighted geomean of per-test ratios x 100."""
        total = sum(self._weight(t) for t in self.tests)
        log_f = sum(self._weight(t) * self.log_ratio(config, t) for t in self.tests) / total
        return 100.0 * math.exp(log_f)

    def p99_ratio(self, config: Mapping[str, Any]) -> float:
        """True geomean of candidate/baseline p99 latency ratios (lower is better)."""
        total = sum(self._weight(t) for t in self.tests)
        log_p = 0.0
        for t in self.tests:
            shape = TestShape.parse(t)
            log_p += self._weight(t) * (
                -0.6 * self.log_ratio(config, t) + self._p99_extra(config, shape)
            )
        return math.exp(log_p / total)

    def memory_ratio(self, config: Mapping[str, Any]) -> float:
        """True candidate / baseline ``used_memory`` per key of a dataset (lower is better).

        The reply pool trades memory for throughput: every pooled buffer stays allocated,
        so memory grows with ``response_pool.capacity`` (and a little with the buffers'
        size) while its throughput gain saturates (:func:`_term_response_pool`).
        """
        capacity = _as_int(config, "response_pool.capacity")
        size = _as_int(config, "response_pool.buffer_size")
        pool = MEMORY_POOL_WEIGHT * (capacity / 4096.0) * (size / 16384.0) ** 0.25
        return MEMORY_AT_EMPTY_POOL * (1.0 + pool)

    def optimum(self, grid: Mapping[str, Sequence[Any]] | None = None) -> Optimum:
        """Exact best config over ``grid`` (name -> values; default: :data:`MOCK_SPACE`).

        Params absent from ``grid`` stay at their defaults; params the landscape does not
        know have no effect and keep their first grid value.
        """
        values = dict(grid) if grid is not None else {p.name: p.grid() for p in MOCK_SPACE}
        best: dict[str, Any] = {}
        for names, _ in self._groups():
            free = [n for n in names if n in values]
            if not free:
                continue
            best_score = -math.inf
            best_choice: dict[str, Any] = {}
            # The default combo goes first so ties (the dead param) keep the default.
            default_combo = tuple(DEFAULT_CONFIG[n] for n in free)
            grids = [list(values[n]) for n in free]
            first = (
                [default_combo]
                if all(d in g for d, g in zip(default_combo, grids, strict=True))
                else []
            )
            combos = itertools.chain(first, itertools.product(*grids))
            for combo in combos:
                choice = dict(zip(free, combo, strict=True))
                trial = {**DEFAULT_CONFIG, **choice}
                score = self._group_score(names, trial)
                if score > best_score + 1e-12:
                    best_score, best_choice = score, choice
            best.update(best_choice)
        unknown = {k: next(iter(v)) for k, v in values.items() if k not in DEFAULT_CONFIG}
        config = {**DEFAULT_CONFIG, **unknown, **best}
        config = {k: config[k] for k in values} if grid is not None else config
        return Optimum(config=config, fitness=self.fitness(config))

    def _group_score(self, names: Iterable[str], config: Mapping[str, Any]) -> float:
        term = dict(self._groups())[tuple(names)]
        return sum(self._weight(t) * term(config, TestShape.parse(t)) for t in self.tests)


# --- The sweep landscape: server/sweeps/knob-sweep-2026-11-26.md as measured. ---

#: Fitness of the default config in the knob sweep (median of its 5 repeats).
SWEEP_DEFAULT_FITNESS = 106.9
#: The sweep's noise band (max(D, W), fitness points) and the audit's margin on it: a
#: measured point counts only when it is further than this from the default's fitness.
SWEEP_NOISE_BAND = 3.9
SWEEP_MARGIN = 1.25

#: Fitness per value of every knob in server/sweeps/knob-sweep-2026-11-26.md
#: (the other knobs at their defaults);
#: a test keeps this table in step with the file.
SWEEP_MEASURED: dict[str, dict[Any, float]] = {
    "batching.batch_threshold": {1: 46.0, 16: 100.8, 256: 106.9, 4096: 105.7},
    "batching.min_pipeline_buffer": {0: 106.9, 21824: 52.2, 43712: 48.3, 65536: 47.3},
    "buffers.read_size": {512: 101.3, 4096: 111.1, 16384: 106.9, 32768: 107.6, 262144: 109.9},
    "threads": {1: 106.9, 3: 104.2, 6: 97.3, 8: 102.6},
    "num_shards": {1: 108.5, 8: 105.7, 16: 106.9, 128: 102.6, 1024: 107.5},
    "buffers.max_size": {
        1048576: 102.5,
        16777216: 107.8,
        268435456: 108.0,
        1073741824: 106.9,
        4294967296: 107.5,
    },
    "response_pool.capacity": {64: 108.1, 128: 106.9, 1408: 107.2, 2752: 105.4, 4096: 106.0},
    "build.allocator": {"jemalloc": 107.4, "mimalloc": 105.0, "system": 106.9},
    "response_pool.buffer_size": {
        512: 106.4,
        4096: 105.9,
        16384: 106.9,
        32768: 105.1,
        262144: 107.2,
    },
}

#: Knots the sweep did not measure, inferred from the mechanism: a read is executed in
#: pipeline mode only from min_pipeline_buffer pending bytes, and a P=16 read of this
#: workload (64-byte values) is under 2 KiB, so every value from 2048 up turns pipelining
#: off as fully as 21824 does (the trials of issue 14 at 28k-41k scored 43-48%).
SWEEP_INFERRED: dict[str, dict[Any, float]] = {
    "batching.min_pipeline_buffer": {2048: 52.2},
}

#: Knobs searched on a log scale (their curves interpolate in log2 of the value).
_SWEEP_LOG = {p.name for p in MOCK_SPACE if p.log}


def sweep_curve(name: str) -> dict[Any, float]:
    """The knob's curve as the sweep landscape models it: measured fitness per value, with
    every point within the noise margin of the default set to the default's fitness (the
    sweep cannot tell it from noise), plus the inferred knots."""
    threshold = SWEEP_MARGIN * SWEEP_NOISE_BAND
    curve = {
        value: (fit if abs(fit - SWEEP_DEFAULT_FITNESS) > threshold else SWEEP_DEFAULT_FITNESS)
        for value, fit in SWEEP_MEASURED[name].items()
    }
    curve.update(SWEEP_INFERRED.get(name, {}))
    return curve


def _sweep_term(name: str) -> Term:
    curve = sweep_curve(name)
    default = DEFAULT_CONFIG[name]

    def term(c: Mapping[str, Any], t: TestShape) -> float:
        value = c.get(name, default)
        if isinstance(default, str):
            fit = curve.get(str(value), SWEEP_DEFAULT_FITNESS)
        else:
            fit = _interpolate(curve, float(value), log=name in _SWEEP_LOG)
        return math.log(fit / SWEEP_DEFAULT_FITNESS)

    return term


def _interpolate(curve: Mapping[Any, float], x: float, *, log: bool) -> float:
    """Piecewise-linear through the knots (in log2 of the value for log knobs), flat past
    the ends."""

    def axis(v: float) -> float:
        return math.log2(max(v, 1.0)) if log else v

    knots = sorted((axis(float(k)), v) for k, v in curve.items())
    at = axis(x)
    if at <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if at <= x1:
            return y0 + (y1 - y0) * (at - x0) / (x1 - x0)
    return knots[-1][1]


#: One group per knob: in the sweep every knob was varied alone, so no interaction is known.
SWEEP_GROUPS: tuple[tuple[tuple[str, ...], Term], ...] = tuple(
    ((name,), _sweep_term(name)) for name in SWEEP_MEASURED
)


@dataclass(frozen=True)
class SweepLandscape(MockLandscape):
    """The ``sweep`` landscape: each knob's curve as the committed knob sweep measured it
    (:func:`sweep_curve`), effects multiplying, the same log deviation for every test.

    The default config scores :data:`SWEEP_DEFAULT_FITNESS` and is the optimum; a
    ``min_pipeline_buffer`` from 2 KiB up or ``batch_threshold = 1`` halves fitness, which
    is most of the shipped box. The mock runner adds the measured A/A noise.
    """

    name = "sweep"

    def _groups(self) -> tuple[tuple[tuple[str, ...], Term], ...]:
        return SWEEP_GROUPS

    def _base(self, shape: TestShape) -> float:
        return math.log(SWEEP_DEFAULT_FITNESS / 100.0)

    def _p99_extra(self, config: Mapping[str, Any], shape: TestShape) -> float:
        return 0.0


#: ``--mock-landscape`` name -> landscape class.
LANDSCAPES: dict[str, type[MockLandscape]] = {"interior": MockLandscape, "sweep": SweepLandscape}


def make_landscape(
    name: str, tests: tuple[str, ...] = DEFAULT_TESTS, weights: Mapping[str, float] | None = None
) -> MockLandscape:
    """The landscape called ``name``; raises ValueError naming the choices."""
    try:
        cls = LANDSCAPES[name]
    except KeyError:
        known = ", ".join(LANDSCAPES)
        raise ValueError(f"unknown mock landscape {name!r}; choose one of: {known}") from None
    return cls(tests=tests, weights=dict(weights or {}))
