"""Measure two configs of one target head to head: the ratio B/A with its CI.

Both configs are measured in interleaved rounds (A, B, then B, A, ...): every measurement
is a fresh start of the candidate and of its baseline (the runner restarts them), so
machine drift hits both alike and restart-to-restart differences show up between rounds.
Each round gives one paired estimate of log(B/A): the difference of the two configs'
log fitness (each a ratio to a baseline measured beside it), with the variance of both
measurements. The rounds are pooled with a random-effects model (DerSimonian-Laird), so
a spread between rounds larger than their own CIs explain widens the pooled CI instead
of being averaged away. Per-test ratios are pooled the same way.

``tuner compare`` and ``tuner study verify`` print what :func:`measure_head_to_head`
returns; it knows nothing of the CLI.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from tuner.runners.base import Candidate, Measurement, Runner
from tuner.study import measurement_fields

__all__ = [
    "MIN_ROUND_REPETITIONS",
    "Contender",
    "HeadToHead",
    "Ratio",
    "measure_head_to_head",
    "pool_ratios",
]

#: A round needs a CI of its own, so at least this many paired repetitions per measurement.
MIN_ROUND_REPETITIONS = 3


@dataclass(frozen=True)
class Contender:
    """One side of the comparison: a label and the config (runtime and build params)."""

    label: str
    runtime: dict[str, Any]
    build: dict[str, Any] = field(default_factory=dict)

    def candidate(self) -> Candidate:
        return Candidate(dict(self.runtime), dict(self.build))


@dataclass(frozen=True)
class Ratio:
    """A pooled ratio B/A with its CI; ``tau`` is the between-round spread (log scale)."""

    value: float
    ci_low: float
    ci_high: float
    tau: float = 0.0

    def contains(self, x: float) -> bool:
        return self.ci_low <= x <= self.ci_high

    def to_dict(self) -> dict[str, float]:
        return {
            "ratio": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "tau": self.tau,
        }


@dataclass
class HeadToHead:
    """What a head-to-head measurement found: B/A overall and per test, and every round."""

    a: Contender
    b: Contender
    ratio: Ratio
    per_test: dict[str, Ratio]
    confidence: float
    #: One dict per round: ``order`` (labels in run order), ``a`` and ``b`` measurement fields.
    rounds: list[dict[str, Any]]
    seconds: float

    @property
    def repetitions(self) -> tuple[int, int]:
        """Paired repetitions of A and of B over all rounds."""
        return (
            sum(r["a"]["repetitions"] for r in self.rounds),
            sum(r["b"]["repetitions"] for r in self.rounds),
        )

    def verdict(self) -> str:
        """One line: which is faster, by how much, or that no difference was detected."""
        r = self.ratio
        ci = f"{self.confidence:.0%} CI {r.ci_low:.3f} - {r.ci_high:.3f}"
        if r.ci_low > 1.0:
            return f"{self.b.label} is faster than {self.a.label}: x{r.value:.3f} ({ci})"
        if r.ci_high < 1.0:
            return f"{self.b.label} is slower than {self.a.label}: x{r.value:.3f} ({ci})"
        return (
            f"no difference detected between {self.b.label} and {self.a.label}: "
            f"x{r.value:.3f} ({ci})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": {"label": self.a.label, "config": self.a.runtime, "build": self.a.build},
            "b": {"label": self.b.label, "config": self.b.runtime, "build": self.b.build},
            "ratio": self.ratio.to_dict(),
            "per_test": {t: r.to_dict() for t, r in self.per_test.items()},
            "confidence": self.confidence,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "verdict": self.verdict(),
        }


def measure_head_to_head(
    runner: Runner,
    a: Contender,
    b: Contender,
    *,
    rounds: int = 3,
    repetitions: int = 5,
    confidence: float = 0.95,
    measured_confidence: float | None = None,
    message: Callable[[str], None] | None = None,
) -> HeadToHead:
    """Measure ``a`` and ``b`` in ``rounds`` interleaved rounds of up to ``repetitions``
    paired repetitions each (the runner may stop a measurement at its CI target, never
    below :data:`MIN_ROUND_REPETITIONS`) and pool B/A across rounds into a ``confidence``
    CI. ``measured_confidence`` is the level of the runner's own CIs (the workload's
    confidence; default ``confidence``): it turns their widths into standard errors.

    Raises ValueError on a bad round count or repetition count; the runner's
    TrialFailure (a config the server refuses, a crash) propagates.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if repetitions < MIN_ROUND_REPETITIONS:
        raise ValueError(
            f"repetitions must be at least {MIN_ROUND_REPETITIONS} per round "
            f"(a round needs its own CI), got {repetitions}"
        )
    say = message or (lambda _text: None)
    started = time.monotonic()
    done: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        # Alternate who goes first, so neither always meets the warmer (or drifting) machine.
        order = (("a", a), ("b", b)) if number % 2 else (("b", b), ("a", a))
        measured: dict[str, Any] = {"round": number, "order": [c.label for _, c in order]}
        for side, contender in order:
            say(f"round {number}/{rounds}: {contender.label}")
            m = runner.evaluate(contender.candidate(), repetitions=repetitions)
            measured[side] = measurement_fields(m)
            say(f"round {number}/{rounds}: {contender.label} {_describe(m)}")
        done.append(measured)
    tests = list(done[0]["a"]["per_test"])
    ratio = pool_ratios(
        [(r["a"]["fitness"], _ci(r["a"])) for r in done],
        [(r["b"]["fitness"], _ci(r["b"])) for r in done],
        confidence,
        measured_confidence,
    )
    per_test = {}
    for t in tests:
        a_side = [(r["a"]["per_test"][t], _test_ci(r["a"], t)) for r in done]
        b_side = [(r["b"]["per_test"][t], _test_ci(r["b"], t)) for r in done]
        per_test[t] = pool_ratios(a_side, b_side, confidence, measured_confidence)
    return HeadToHead(a, b, ratio, per_test, confidence, done, time.monotonic() - started)


Estimate = tuple[float, tuple[float, float]]


def pool_ratios(
    a: Sequence[Estimate],
    b: Sequence[Estimate],
    confidence: float,
    measured_confidence: float | None = None,
) -> Ratio:
    """B/A pooled over rounds: per round log(b) - log(a), variance from both CIs (each
    CI's half-width on the log scale over the z of ``measured_confidence``);
    DerSimonian-Laird random effects; the result's CI at ``confidence``.

    A round whose CI is missing (NaN) or empty borrows the largest variance among the
    others, so it counts without claiming precision it does not have.
    """
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    z_in = NormalDist().inv_cdf(0.5 + (measured_confidence or confidence) / 2)
    diffs, variances = [], []
    for (fa, ca), (fb, cb) in zip(a, b, strict=True):
        diffs.append(math.log(fb) - math.log(fa))
        variances.append(_log_variance(fa, ca, z_in) + _log_variance(fb, cb, z_in))
    known = [v for v in variances if math.isfinite(v) and v > 0]
    fallback = max(known) if known else 0.1**2
    variances = [v if math.isfinite(v) and v > 0 else fallback for v in variances]
    center, se, tau2 = _random_effects(diffs, variances)
    return Ratio(
        value=math.exp(center),
        ci_low=math.exp(center - z * se),
        ci_high=math.exp(center + z * se),
        tau=math.sqrt(tau2),
    )


def _random_effects(
    estimates: Sequence[float], variances: Sequence[float]
) -> tuple[float, float, float]:
    """DerSimonian-Laird: (pooled estimate, its standard error, between-round variance)."""
    weights = [1.0 / v for v in variances]
    total = sum(weights)
    fixed = sum(w * x for w, x in zip(weights, estimates, strict=True)) / total
    q = sum(w * (x - fixed) ** 2 for w, x in zip(weights, estimates, strict=True))
    scale = total - sum(w * w for w in weights) / total
    tau2 = max(0.0, (q - (len(estimates) - 1)) / scale) if scale > 0 else 0.0
    star = [1.0 / (v + tau2) for v in variances]
    center = sum(w * x for w, x in zip(star, estimates, strict=True)) / sum(star)
    return center, 1.0 / math.sqrt(sum(star)), tau2


def _log_variance(value: float, ci: tuple[float, float], z: float) -> float:
    low, high = ci
    if not all(math.isfinite(x) and x > 0 for x in (value, low, high)) or high <= low:
        return math.nan
    return ((math.log(high) - math.log(low)) / (2 * z)) ** 2


def _ci(fields: Mapping[str, Any]) -> tuple[float, float]:
    return float(fields["ci_low"]), float(fields["ci_high"])


def _test_ci(fields: Mapping[str, Any], test: str) -> tuple[float, float]:
    ci = fields.get("per_test_ci", {}).get(test)
    return (float(ci[0]), float(ci[1])) if ci else (math.nan, math.nan)


def _describe(m: Measurement) -> str:
    return (
        f"fitness {m.fitness:.1f} [{m.ci_low:.1f}, {m.ci_high:.1f}], "
        f"{m.repetitions} reps ({m.stop_reason})"
    )
