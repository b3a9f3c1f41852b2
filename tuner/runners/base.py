"""The runner interface: turn one candidate configuration into one measurement.

A runner builds (when needed), starts and benchmarks a candidate server against the
baseline. It never knows which sampler chose the candidate; the study loop never knows
how the runner gets its numbers. Everything crosses this boundary as the types below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Candidate:
    """One configuration to measure, split by when it takes effect.

    ``runtime`` holds dotted config-file keys (``response_pool.capacity``) written into
    the server's config file; ``build`` holds build-time params (features, profile, env)
    that select a binary or image.
    """

    runtime: dict[str, Any]
    build: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """Running state after each paired repetition, so the study can report and prune."""

    repetition: int
    fitness: float
    ci_low: float
    ci_high: float
    #: The most repetitions this measurement may take (0: unknown); the CI may stop it sooner.
    max_repetitions: int = 0


@dataclass(frozen=True)
class MemoryOutcome:
    """Memory of the workload's datasets loaded into a fresh candidate and baseline: bytes
    per key grown from an empty server (``used_memory`` and RSS), and their ratios."""

    keys: int
    candidate_used_per_key: float
    baseline_used_per_key: float
    candidate_rss_per_key: float
    baseline_rss_per_key: float
    #: Seconds spent flushing, loading and sampling both servers.
    seconds: float = 0.0

    @property
    def memory_ratio(self) -> float:
        """Candidate / baseline ``used_memory`` per key (lower is better); NaN if unusable."""
        return _ratio(self.candidate_used_per_key, self.baseline_used_per_key)

    @property
    def rss_ratio(self) -> float:
        """Candidate / baseline RSS growth per key; NaN when the baseline's RSS did not grow."""
        return _ratio(self.candidate_rss_per_key, self.baseline_rss_per_key)

    def to_dict(self) -> dict[str, float]:
        return {
            "keys": self.keys,
            "candidate_used_per_key": self.candidate_used_per_key,
            "baseline_used_per_key": self.baseline_used_per_key,
            "candidate_rss_per_key": self.candidate_rss_per_key,
            "baseline_rss_per_key": self.baseline_rss_per_key,
            "memory_ratio": self.memory_ratio,
            "rss_ratio": self.rss_ratio,
            "seconds": self.seconds,
        }


def _ratio(candidate: float, baseline: float) -> float:
    return candidate / baseline if baseline > 0 and candidate > 0 else float("nan")


@dataclass
class Measurement:
    """What a runner returns for one candidate.

    ``fitness`` is the weighted geometric mean of per-test median rps ratios x 100
    ("percent of the baseline"), with its bootstrap CI. ``p99_ratio`` is the matching
    geomean of p99 latency ratios (lower is better). ``timings`` splits the trial's wall
    clock into ``build``, ``start`` and ``benchmark`` seconds. ``detail`` is the full
    benchmark result as JSON-able data (every raw run kept); the study stores it apart
    from the user attrs so the dashboard's tables stay readable.
    """

    fitness: float
    ci_low: float
    ci_high: float
    p99_ratio: float
    per_test: dict[str, float]
    repetitions: int
    stop_reason: str
    timings: dict[str, float]
    build_tag: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: test -> (low, high) CI of its median rps ratio, at the workload's confidence.
    per_test_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Repetitions re-run because the baseline showed a disturbed machine (health guard).
    dropped_repetitions: int = 0
    #: Bytes per key of the spec's datasets (None when the workload names none).
    memory: MemoryOutcome | None = None


class TrialFailure(Exception):
    """A candidate that could not be measured: bad build, crash, start timeout, bench error.

    The study records it as a FAIL trial with ``reason`` and ``log_tail`` and goes on.
    """

    def __init__(self, reason: str, log_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


ProgressCallback = Callable[[Progress], None]


class Runner(Protocol):
    """Builds, starts and measures candidates. Implementations: mock, local, compose."""

    name: str

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        """Measure one candidate; ``repetitions`` overrides the workload's maximum
        (finalists use more). ``on_progress`` may raise to stop early (pruning).
        Raises TrialFailure when the candidate cannot be measured."""
        ...

    def close(self) -> None:
        """Stop everything this runner started (servers, containers). Idempotent."""
        ...
