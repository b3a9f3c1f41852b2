"""What a paired measurement produced: every raw run, per-test statistics and the fitness."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from rich import box
from rich.table import Table

CANDIDATE = "candidate"
BASELINE = "baseline"


@dataclass(frozen=True)
class RawRun:
    """One redis-benchmark invocation. ``repetition`` is 0 for the discarded warm-up."""

    role: str
    server: str
    test: str
    pipeline: int
    unit: str
    repetition: int
    phase: str
    requests: int
    rps: float
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    seconds: float
    prefill_seconds: float
    started_s: float
    """Seconds since the measurement began, so drift and ordering can be inspected."""


@dataclass(frozen=True)
class TestStats:
    """One unit (test@pipeline): ratios are candidate / baseline (rps: >1 is faster;
    latency: <1 is faster); medians over repetitions, CI from the joint bootstrap."""

    name: str
    weight: float
    median_ratio: float
    ci_low: float
    ci_high: float
    p50_ratio: float | None
    p99_ratio: float | None
    candidate_rps: float
    baseline_rps: float
    ratios: tuple[float, ...]


@dataclass(frozen=True)
class RepetitionUpdate:
    """Running state after each repetition; a callback may raise to abort (pruning)."""

    repetition: int
    fitness: float
    ci_low: float
    ci_high: float
    half_width_pct: float
    per_test: dict[str, float]
    seconds: float
    #: The most repetitions this run may take (it may stop earlier on the CI target).
    max_repetitions: int = 0


@dataclass
class PairedResult:
    """A paired, repeated comparison of a candidate against a baseline.

    ``fitness`` is percent of the baseline (weighted geomean of per-test median rps
    ratios x 100) with its bootstrap CI ``ci_low``..``ci_high`` at ``confidence``.
    ``p99_ratio`` is the same geomean of per-test median p99 latency ratios (lower is
    better; None when the tool printed no latencies). ``rss`` holds each role's peak
    resident memory in bytes seen after runs (None when unreadable).
    """

    fitness: float
    ci_low: float
    ci_high: float
    confidence: float
    half_width_pct: float
    p99_ratio: float | None
    per_test: dict[str, TestStats]
    repetitions: int
    stop_reason: str
    """``ci_target`` or ``max_repetitions`` (``time_budget`` only when given max_seconds)."""
    seconds: float
    baseline_version: str | None
    candidate_version: str | None
    rss: dict[str, int | None]
    runs: list[RawRun]
    workload: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    #: Repetitions re-run because the baseline's own throughput showed a disturbed machine
    #: (their runs are kept with phase "disturbed"; see PairedRun).
    dropped_repetitions: int = 0

    def per_test_ratios(self) -> dict[str, float]:
        """name -> median rps ratio, the shape the study's trial attributes use."""
        return {name: s.median_ratio for name, s in self.per_test.items()}

    def per_test_cis(self) -> dict[str, tuple[float, float]]:
        """name -> (low, high) CI of the median rps ratio."""
        return {name: (s.ci_low, s.ci_high) for name, s in self.per_test.items()}

    def rps_cv(self) -> dict[str, dict[str, float]]:
        """unit -> role -> coefficient of variation of its rps over the counted
        repetitions: how repeatable each server is, run to run (NaN under 2 runs)."""
        out: dict[str, dict[str, float]] = {}
        for unit in self.per_test:
            out[unit] = {}
            for role in (CANDIDATE, BASELINE):
                rps = [
                    r.rps for r in self.runs if r.unit == unit and r.role == role
                    and r.phase == "measure"
                ]  # fmt: skip
                mean = statistics.fmean(rps) if rps else math.nan
                ok = len(rps) >= 2 and mean > 0
                out[unit][role] = statistics.stdev(rps) / mean if ok else math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_test"] = {name: asdict(s) for name, s in self.per_test.items()}
        return _finite(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> Table:
        """Per-test ratios with CIs; the caption carries the fitness line."""
        pct = f"{self.confidence * 100:g}%"
        table = Table(
            title=(
                f"candidate ({self.candidate_version or '?'}) vs baseline "
                f"({self.baseline_version or '?'}), {self.repetitions} paired repetitions"
            ),
            caption=(
                f"fitness {self.fitness:.1f}% of baseline, {pct} CI "
                f"[{self.ci_low:.1f}, {self.ci_high:.1f}] (±{self.half_width_pct:.1f}%), "
                f"stop: {self.stop_reason}, {self.seconds:.0f}s"
                + (" (CIs from under 5 repetitions are too narrow)" if self.repetitions < 5 else "")
            ),
            box=box.SIMPLE_HEAD,
        )
        weighted = any(s.weight != 1.0 for s in self.per_test.values())
        table.add_column("test", no_wrap=True)
        if weighted:
            table.add_column("weight", justify="right")
        table.add_column("cand rps", justify="right", no_wrap=True)
        table.add_column("base rps", justify="right", no_wrap=True)
        table.add_column("ratio", justify="right")
        table.add_column(f"{pct} CI", justify="right", no_wrap=True)
        table.add_column("p50 ratio", justify="right")
        table.add_column("p99 ratio", justify="right")
        for s in self.per_test.values():
            table.add_row(
                s.name,
                *([f"{s.weight:g}"] if weighted else []),
                f"{s.candidate_rps:,.0f}",
                f"{s.baseline_rps:,.0f}",
                f"{s.median_ratio:.3f}",
                f"{s.ci_low:.3f}-{s.ci_high:.3f}",
                _opt(s.p50_ratio),
                _opt(s.p99_ratio),
            )
        return table


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: they become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
