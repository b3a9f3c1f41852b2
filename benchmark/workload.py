"""What to measure: the redis-benchmark tests, pipelines and repetition policy of a study."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

SUITE_TESTS: tuple[str, ...] = (
    "ping_inline",
    "ping_mbulk",
    "set",
    "get",
    "incr",
    "lpush",
    "rpush",
    "lpop",
    "rpop",
    "sadd",
    "hset",
    "spop",
    "zadd",
    "zpopmin",
    "lrange_100",
    "lrange_300",
    "lrange_500",
    "lrange_600",
    "mset",
    "xadd",
)
"""redis-benchmark's default suite, each name accepted by ``-t`` on its own."""


DEFAULT_DURATION_S = 1.0


class WorkloadError(ValueError):
    """A workload spec that cannot be measured; the message starts with ``workload.<field>``."""


def unit_name(test: str, pipeline: int) -> str:
    """Name of one (test, pipeline) measurement unit, e.g. ``SET@P16`` (weights use it)."""
    return f"{test.upper()}@P{pipeline}"


@dataclass(frozen=True)
class Workload:
    """One paired measurement's workload and its repetition policy.

    Exactly one of ``requests`` (per run) and ``duration_s`` (per run, calibrated into a
    request count on the warm-up run) is set; with neither, ``duration_s`` is 1 second.
    ``weights`` maps unit names (``SET@P16``) to fitness weights, 1.0 for any unit not named.
    ``target_ci_pct`` is the fitness CI half-width, as a percentage of the fitness, at which
    repetitions stop.
    """

    tests: tuple[str, ...] = ("set", "get")
    pipelines: tuple[int, ...] = (1, 16)
    clients: int = 50
    data_size: int = 64
    keyspace: int = 100_000
    threads: int | None = None
    requests: int | None = None
    duration_s: float | None = None
    weights: Mapping[str, float] = field(default_factory=dict)
    warmup: bool = True
    prefill: bool = True
    min_repetitions: int = 5
    max_repetitions: int = 20
    target_ci_pct: float = 2.0
    confidence: float = 0.95
    #: Machine-health guard: a repetition whose baseline throughput (geomean over units of
    #: each unit's rps over its running median) falls below this fraction is re-run, not
    #: counted. 0 turns the guard off.
    health_threshold: float = 0.5
    #: The most repetitions a measurement drops as disturbed; later ones count.
    max_dropped: int = 3

    def __post_init__(self) -> None:
        if self.requests is None and self.duration_s is None:
            object.__setattr__(self, "duration_s", DEFAULT_DURATION_S)
        _validate(self)

    def __hash__(self) -> int:
        # The weights mapping is not hashable itself; its sorted items are.
        values = [getattr(self, f.name) for f in fields(self) if f.name != "weights"]
        return hash((*values, tuple(sorted(self.weights.items()))))

    @property
    def units(self) -> tuple[tuple[str, int], ...]:
        """Every (test, pipeline) pair measured in each repetition, pipelines outermost."""
        return tuple((test, p) for p in self.pipelines for test in self.tests)

    @property
    def unit_names(self) -> tuple[str, ...]:
        return tuple(unit_name(t, p) for t, p in self.units)

    def weight(self, unit: str) -> float:
        """Fitness weight of a unit (1.0 unless the spec names it)."""
        return float(self.weights.get(unit, 1.0))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        """Build from a spec's ``[workload]`` table; unknown keys and bad values raise."""
        if not isinstance(data, Mapping):
            raise WorkloadError(f"workload: expected a table, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WorkloadError(
                f"workload.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})"
            )
        kwargs: dict[str, Any] = dict(data)
        for name in ("tests", "pipelines"):
            if name in kwargs:
                value = kwargs[name]
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                if not isinstance(value, list | tuple):
                    raise WorkloadError(f"workload.{name}: expected a list, got {value!r}")
                if name == "tests":
                    value = [v.lower() if isinstance(v, str) else v for v in value]
                kwargs[name] = tuple(value)
        if "weights" in kwargs:
            if not isinstance(kwargs["weights"], Mapping):
                raise WorkloadError(
                    f"workload.weights: expected a table, got {kwargs['weights']!r}"
                )
            kwargs["weights"] = dict(kwargs["weights"])
        return cls(**kwargs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_int(w: Workload, name: str, *, optional: bool = False) -> None:
    value = getattr(w, name)
    if value is None and optional:
        return
    if not _is_int(value) or value < 1:
        raise WorkloadError(f"workload.{name}: expected a positive integer, got {value!r}")


def _validate(w: Workload) -> None:
    if not isinstance(w.tests, tuple) or not w.tests:
        raise WorkloadError(f"workload.tests: expected a non-empty list, got {w.tests!r}")
    for test in w.tests:
        if not isinstance(test, str) or test.lower() != test or test not in SUITE_TESTS:
            raise WorkloadError(
                f"workload.tests: unknown test {test!r} (known: {', '.join(SUITE_TESTS)})"
            )
    if len(set(w.tests)) != len(w.tests):
        raise WorkloadError(f"workload.tests: duplicate test in {list(w.tests)}")
    if not isinstance(w.pipelines, tuple) or not w.pipelines:
        raise WorkloadError(f"workload.pipelines: expected a non-empty list, got {w.pipelines!r}")
    for p in w.pipelines:
        if not _is_int(p) or p < 1:
            raise WorkloadError(f"workload.pipelines: expected positive integers, got {p!r}")
    if len(set(w.pipelines)) != len(w.pipelines):
        raise WorkloadError(f"workload.pipelines: duplicate pipeline in {list(w.pipelines)}")
    for name in ("clients", "data_size", "keyspace", "min_repetitions", "max_repetitions"):
        _positive_int(w, name)
    _positive_int(w, "threads", optional=True)
    _positive_int(w, "requests", optional=True)
    if (w.requests is None) == (w.duration_s is None):
        raise WorkloadError(
            "workload.requests: set exactly one of requests and duration_s "
            f"(got requests={w.requests!r}, duration_s={w.duration_s!r})"
        )
    if w.duration_s is not None and (
        not _is_number(w.duration_s) or not math.isfinite(w.duration_s) or w.duration_s <= 0
    ):
        raise WorkloadError(f"workload.duration_s: expected seconds > 0, got {w.duration_s!r}")
    if w.min_repetitions < 2:
        raise WorkloadError(
            f"workload.min_repetitions: at least 2 are needed for a CI, got {w.min_repetitions}"
        )
    if w.max_repetitions < w.min_repetitions:
        raise WorkloadError(
            f"workload.max_repetitions: {w.max_repetitions} is below "
            f"min_repetitions {w.min_repetitions}"
        )
    if not _is_number(w.target_ci_pct) or not w.target_ci_pct > 0:
        raise WorkloadError(
            f"workload.target_ci_pct: expected a percentage > 0, got {w.target_ci_pct!r}"
        )
    if not _is_number(w.confidence) or not 0.5 <= w.confidence < 1:
        raise WorkloadError(f"workload.confidence: expected 0.5 <= c < 1, got {w.confidence!r}")
    if not _is_number(w.health_threshold) or not 0 <= w.health_threshold < 1:
        raise WorkloadError(
            "workload.health_threshold: expected a fraction 0 <= t < 1 of the baseline's "
            f"running median (0: no guard), got {w.health_threshold!r}"
        )
    if not _is_int(w.max_dropped) or w.max_dropped < 0:
        raise WorkloadError(
            f"workload.max_dropped: expected an integer >= 0, got {w.max_dropped!r}"
        )
    for flag in ("warmup", "prefill"):
        if not isinstance(getattr(w, flag), bool):
            raise WorkloadError(
                f"workload.{flag}: expected true or false, got {getattr(w, flag)!r}"
            )
    names = set(w.unit_names)
    for key, value in w.weights.items():
        if key not in names:
            raise WorkloadError(
                f"workload.weights: {key!r} names no measured unit "
                f"(units: {', '.join(sorted(names))})"
            )
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise WorkloadError(f"workload.weights: {key!r} needs a weight >= 0, got {value!r}")
    if sum(w.weight(u) for u in names) <= 0:
        raise WorkloadError("workload.weights: all weights are zero")
