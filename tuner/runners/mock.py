"""The mock runner: measures candidates on :class:`MockLandscape` with realistic noise.

For tests and demos: a study behaves like a real one (repetitions, progress, a CI that
shrinks, pruning, failures, build caching) but finishes in seconds. The mock only makes
raw noisy paired ratios; benchmark.stats judges them exactly as it judges a real
PairedRun (same estimates, CIs and stop floor). The noise model
follows the A/A measurements on the project machine: per-pair rps ratios with CV 7%
at P=1 and 13% at P=16, occasional interference outliers, and a small per-trial bias
that no amount of repetition removes. With a ``[workload.dataset]`` in the spec it
reports memory per key too, from the landscape's memory model
(:meth:`MockLandscape.memory_ratio`: the reply pool trades memory for throughput).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from benchmark import stats
from tuner.runners.base import (
    Candidate,
    Measurement,
    MemoryOutcome,
    Progress,
    ProgressCallback,
    TrialFailure,
)
from tuner.runners.landscape import DEFAULT_TESTS, MockLandscape, TestShape, make_landscape

#: Per-repetition sleep in seconds when ``delay_s`` is not given (kill tests use it).
DELAY_ENV = "TUNER_MOCK_DELAY"
#: Crash values when ``crash_values`` is not given, e.g.
#: ``batching.batch_threshold=4096,2048;threads=4`` (CLI-level failure demos and tests).
CRASH_ENV = "TUNER_MOCK_CRASH"

# Simulated wall-clock seconds reported in Measurement.timings (nothing sleeps for them).
_BUILD_SECONDS = 75.0
_START_SECONDS = 0.4
_REPETITION_SECONDS = 9.0

FailurePredicate = Callable[[Mapping[str, Any]], str | None]

#: The real server's hard limits per runtime knob, (min, max) as in KNOBS of
#: server/src/config.rs (a test keeps the two in step). The server refuses to start on a
#: value outside them; so does the mock. Knobs not listed here are not checked.
SERVER_RANGES: dict[str, tuple[int, int]] = {
    "num_shards": (1, 1024),
    "threads": (1, 64),
    "response_pool.capacity": (0, 65536),
    "response_pool.buffer_size": (64, 16_777_216),
    "buffers.read_size": (512, 16_777_216),
    "buffers.max_size": (65536, 4_294_967_296),
    "buffers.max_reply_size": (65536, 4_294_967_296),
    "batching.min_pipeline_buffer": (0, 16_777_216),
    "batching.batch_threshold": (1, 65536),
    "encoding.set_max_intset_entries": (0, 1_073_741_824),
    "encoding.set_max_listpack_entries": (0, 1_073_741_824),
    "encoding.set_max_listpack_value": (0, 1_073_741_824),
    "encoding.hash_max_listpack_entries": (0, 1_073_741_824),
    "encoding.hash_max_listpack_value": (0, 1_073_741_824),
    "encoding.zset_max_listpack_entries": (0, 1_073_741_824),
    "encoding.zset_max_listpack_value": (0, 1_073_741_824),
}


def build_tag(build: Mapping[str, Any]) -> str:
    """Stable short tag of the build-time params (same scheme as the build cache)."""
    canonical = json.dumps(dict(sorted(build.items())), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _config_key(config: Mapping[str, Any]) -> int:
    canonical = json.dumps(dict(sorted(config.items())), sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "little")


class MockRunner:
    """Runner over a synthetic landscape; see the module docstring for the noise model.

    ``spec`` (a parsed StudySpec, optional) supplies the workload: tests x pipelines,
    weights, min/max repetitions, CI target and confidence. ``crash_values`` maps a
    dotted param to values that "crash the server" (TrialFailure); ``fail_when`` is a
    predicate returning a failure reason or None. Like the real server, a config with a
    knob outside the server's range (:data:`SERVER_RANGES`) is rejected at start.
    ``landscape`` is a landscape or its name (``interior``, the default, or ``sweep``).
    """

    name = "mock"

    def __init__(
        self,
        spec: Any = None,
        *,
        seed: int = 0,
        delay_s: float | None = None,
        noise: float = 1.0,
        crash_values: Mapping[str, Collection[Any]] | None = None,
        fail_when: FailurePredicate | None = None,
        landscape: MockLandscape | str | None = None,
    ) -> None:
        workload = getattr(spec, "workload", None)
        #: Memory is "measured" (from the landscape) only when the spec names a dataset.
        self.datasets = tuple(getattr(spec, "datasets", ()) or ())
        self.tests = _tests_of(workload)
        self.weights = dict(getattr(workload, "weights", None) or {})
        if isinstance(landscape, str):  # a name of tuner.runners.landscape.LANDSCAPES
            landscape = make_landscape(landscape, self.tests, self.weights)
        self.landscape = landscape or MockLandscape(tests=self.tests, weights=self.weights)
        self.min_repetitions = int(getattr(workload, "min_repetitions", None) or 3)
        self.max_repetitions = int(getattr(workload, "max_repetitions", None) or 10)
        self.target_ci_pct = float(getattr(workload, "target_ci_pct", None) or 3.0)
        self.confidence = float(getattr(workload, "confidence", None) or 0.95)
        self.seed = seed
        if delay_s is None:
            delay_s = float(os.environ.get(DELAY_ENV, "0") or 0)
        self.delay_s = delay_s
        self.noise = noise
        if crash_values is None:
            crash_values = parse_crash_values(os.environ.get(CRASH_ENV, ""))
        self.crash_values = {k: {str(x) for x in v} for k, v in crash_values.items()}
        self.fail_when = fail_when
        self._built: set[str] = set()
        self._evaluations: dict[int, int] = {}
        self.closed = False

    # --- Runner protocol -------------------------------------------------------------

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        """Simulate build (when the build params are new), start and paired repetitions."""
        config = {**candidate.runtime, **{_build_key(k): v for k, v in candidate.build.items()}}
        tag = build_tag(candidate.build)
        timings = {"build": 0.0, "start": _START_SECONDS, "benchmark": 0.0}
        if tag not in self._built:
            timings["build"] = _BUILD_SECONDS
            self._built.add(tag)
        self._check_failure(config)

        key = _config_key(config)
        visit = self._evaluations.get(key, 0)
        self._evaluations[key] = visit + 1
        rng = np.random.default_rng([self.seed, key, visit])

        limit = repetitions or self.max_repetitions
        # The same stop floor as PairedRun: no CI stop before the order statistics can cover.
        floor = max(min(self.min_repetitions, limit), stats.min_repetitions_for(self.confidence))
        true_log = np.array([self.landscape.log_ratio(config, t) for t in self.tests])
        sigma = np.array([_pair_sigma(TestShape.parse(t)) for t in self.tests]) * self.noise
        weights = [float(self.weights.get(t, 1.0)) for t in self.tests]
        bias = rng.normal(0.0, 0.01 * self.noise)
        p99_true = math.log(self.landscape.p99_ratio(config))

        log_ratios: list[np.ndarray] = []
        log_p99: list[float] = []
        stop_reason = "max_repetitions"
        boot: stats.Bootstrap | None = None
        for rep in range(1, limit + 1):
            if self.delay_s > 0:
                time.sleep(self.delay_s)
            log_ratios.append(true_log + bias + rng.normal(0.0, sigma) + self._outliers(rng, sigma))
            log_p99.append(p99_true - bias + rng.normal(0.0, 0.15 * self.noise))
            timings["benchmark"] += _REPETITION_SECONDS
            boot = stats.bootstrap(
                np.exp(np.array(log_ratios)), weights, confidence=self.confidence, rng=rng
            )
            first = rep == 1  # Like PairedRun: one repetition has no CI.
            low = math.nan if first else boot.fitness_low
            high = math.nan if first else boot.fitness_high
            if on_progress is not None:
                on_progress(Progress(rep, boot.fitness, low, high, limit))
            if rep >= floor and not first and boot.half_width_pct <= self.target_ci_pct:
                stop_reason = "ci_target"
                break

        assert boot is not None
        runs = np.array(log_ratios)
        n = runs.shape[0]
        per_test = dict(zip(self.tests, boot.unit_median, strict=True))
        per_test_ci = {
            t: (boot.unit_low[i], boot.unit_high[i]) if n > 1 else (math.nan, math.nan)
            for i, t in enumerate(self.tests)
        }
        return Measurement(
            fitness=boot.fitness,
            ci_low=boot.fitness_low if n > 1 else math.nan,
            ci_high=boot.fitness_high if n > 1 else math.nan,
            p99_ratio=float(math.exp(np.median(log_p99))),
            per_test=per_test,
            per_test_ci=per_test_ci,
            repetitions=len(log_ratios),
            stop_reason=stop_reason,
            timings=timings,
            build_tag=tag,
            memory=self._memory(config, rng),
            detail={
                "runner": "mock",
                "true_fitness": self.landscape.fitness(config),
                "runs": [
                    {t: float(math.exp(r[i])) for i, t in enumerate(self.tests)} for r in runs
                ],
            },
        )

    def close(self) -> None:
        """Nothing runs outside this process; kept for the Runner protocol."""
        self.closed = True

    # --- internals -------------------------------------------------------------------

    def _check_failure(self, config: Mapping[str, Any]) -> None:
        for name, (low, high) in SERVER_RANGES.items():
            value = config.get(name)
            if value is not None and not low <= value <= high:
                # The real server's message (server/src/config.rs, Config::parse).
                raise TrialFailure(
                    "server exited at start: invalid config",
                    f"invalid config: perf_config.toml: {name} = {value} is out of range "
                    f"(allowed: {low} to {high})",
                )
        for name, values in self.crash_values.items():
            if name in config and str(config[name]) in values:
                raise TrialFailure(
                    "server crashed during benchmark",
                    f"thread 'shard-0' panicked: mock crash at {name} = {config[name]!r}\n"
                    "note: run with `RUST_BACKTRACE=1` for a backtrace",
                )
        if self.fail_when is not None:
            failure = self.fail_when(config)
            if failure:
                raise TrialFailure(failure, f"mock failure: {failure}")

    def _memory(self, config: Mapping[str, Any], rng: np.random.Generator) -> MemoryOutcome | None:
        """Bytes per key from the landscape's memory model: ``used_memory`` almost exact
        (0.3% noise), RSS noisier (3%), as loading the same data twice shows."""
        if not self.datasets:
            return None
        keys = sum(d.keys for d in self.datasets)
        base_used = float(sum(d.keys * d.elements * (d.value_size + 16) for d in self.datasets))
        base_used /= keys
        ratio = self.landscape.memory_ratio(config) * math.exp(rng.normal(0.0, 0.003 * self.noise))
        rss = ratio * math.exp(rng.normal(0.0, 0.03 * self.noise))
        base_rss = base_used * 1.1
        return MemoryOutcome(keys, ratio * base_used, base_used, rss * base_rss, base_rss)

    def _outliers(self, rng: np.random.Generator, sigma: np.ndarray) -> np.ndarray:
        """About 3% of pairs hit interference from other work on the host (ratio 0.55-0.85)."""
        hit = rng.random(sigma.shape) < 0.03 * min(self.noise, 1.0)
        return np.where(hit, np.log(rng.uniform(0.55, 0.85, sigma.shape)), 0.0)


def parse_crash_values(text: str) -> dict[str, list[str]]:
    """``"a=1,2;b=x"`` -> ``{"a": ["1", "2"], "b": ["x"]}``; raises ValueError naming the part."""
    result: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"{CRASH_ENV}: {part!r} is not name=value[,value...]")
        result[name.strip()] = [v.strip() for v in values.split(",")]
    return result


def _build_key(name: str) -> str:
    return name if name.startswith("build.") else f"build.{name}"


def _pair_sigma(shape: TestShape) -> float:
    # Measured A/A CV: about 7% at P=1 and 13% at P=16 per pair.
    return 0.07 + 0.06 * shape.pipelined


def _tests_of(workload: Any) -> tuple[str, ...]:
    if workload is None:
        return DEFAULT_TESTS
    tests = getattr(workload, "tests", None) or ("set", "get")
    pipelines = getattr(workload, "pipelines", None) or (1, 16)
    return tuple(f"{t.upper()}@P{p}" for p in pipelines for t in tests)
