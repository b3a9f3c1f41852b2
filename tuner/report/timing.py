"""Where a study's wall-clock went: build, start, benchmark, other in-trial work, idle.

Runners report per-trial ``timings`` (build/start/benchmark seconds); the trial's own
datetimes say how long it really took. The difference is "other" (sampler, storage,
config files). Time between trials inside the study's span is "idle" (waiting for a
worker, interrupted runs). Finalist re-measurement happens after the search and is
counted from the finalists' own ``seconds``. When a runner reports more time than the
trial lasted (the mock runner simulates its timings), that trial's timings are scaled
down to its duration and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial

PHASES = ("build", "start", "benchmark")
CATEGORIES = (*PHASES, "other", "idle", "finalists")


@dataclass(frozen=True)
class TrialTime:
    """One finished trial's duration split into phases (seconds)."""

    number: int
    state: str
    seconds: float
    phases: dict[str, float]
    scaled: bool

    @property
    def other(self) -> float:
        return max(0.0, self.seconds - sum(self.phases.values()))


@dataclass(frozen=True)
class TimeBreakdown:
    """The study's wall-clock (first trial start to last trial end, plus finalists)."""

    wall_seconds: float
    totals: dict[str, float]
    trials: list[TrialTime] = field(default_factory=list)
    scaled_trials: int = 0
    reported_seconds: float = 0.0

    @property
    def search_seconds(self) -> float:
        return self.wall_seconds - self.totals.get("finalists", 0.0)


def breakdown(trials: Sequence[FrozenTrial], finalists: Sequence[Any] = ()) -> TimeBreakdown:
    """Split the study's wall-clock into :data:`CATEGORIES` from trial datetimes and timings."""
    finished = [
        t
        for t in trials
        if t.state.is_finished()
        and t.datetime_start is not None
        and t.datetime_complete is not None
    ]
    totals = dict.fromkeys(CATEGORIES, 0.0)
    times: list[TrialTime] = []
    scaled_count = 0
    reported_total = 0.0
    for t in sorted(finished, key=lambda t: t.number):
        assert t.datetime_start is not None and t.datetime_complete is not None
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        reported = _reported_phases(t.user_attrs.get("timings"))
        reported_sum = sum(reported.values())
        reported_total += reported_sum
        scaled = reported_sum > seconds + 1e-6
        factor = seconds / reported_sum if scaled and reported_sum > 0 else 1.0
        phases = {k: v * factor for k, v in reported.items()}
        scaled_count += scaled
        item = TrialTime(t.number, t.state.name, seconds, phases, scaled)
        times.append(item)
        for k, v in phases.items():
            totals[k] += v
        totals["other"] += item.other
    span = 0.0
    if finished:
        starts = [t.datetime_start for t in finished if t.datetime_start is not None]
        ends = [t.datetime_complete for t in finished if t.datetime_complete is not None]
        span = (max(ends) - min(starts)).total_seconds()
        busy = _union_seconds(
            [(t.datetime_start, t.datetime_complete) for t in finished]  # type: ignore[misc]
        )
        totals["idle"] = max(0.0, span - busy)
    for f in finalists:
        if isinstance(f, dict) and isinstance(f.get("seconds"), int | float):
            totals["finalists"] += float(f["seconds"])
    return TimeBreakdown(
        wall_seconds=span + totals["finalists"],
        totals=totals,
        trials=times,
        scaled_trials=scaled_count,
        reported_seconds=reported_total,
    )


def _reported_phases(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return dict.fromkeys(PHASES, 0.0)
    return {k: max(0.0, float(raw.get(k) or 0.0)) for k in PHASES}


def _union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    """Total length of the union of intervals (parallel workers overlap)."""
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def format_seconds(seconds: float) -> str:
    """``3h 04m``, ``12m 05s``, ``4.2 s``: short and readable."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{seconds:.1f} s"
