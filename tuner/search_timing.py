"""Where a study's time went: seconds per trial, how fast racing stopped the clearly worse
candidates, when the search first came within reach of its final best, and finalize."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = ["SearchTiming", "search_timing"]


@dataclass(frozen=True)
class SearchTiming:
    """Wall-clock figures of one study's search and finalize (seconds; None when unknown)."""

    measured: int
    """Trials that ran a measurement to its end: COMPLETE or PRUNED, with both timestamps."""
    median_s: float | None
    median_complete_s: float | None
    median_raced_out_s: float | None
    search_s: float | None
    """First trial's start to the last trial's end."""
    final_best: float | None
    within_pct: float
    reached_at: int | None
    """Number of the first trial after which the best-so-far fitness was within
    ``within_pct`` percent of ``final_best``."""
    finalize_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for ``tuner study show``."""
        parts = [f"{self.measured} trials measured"]
        if self.median_s is not None:
            each = f"median {self.median_s:.0f} s each"
            kinds = [
                f"{label} {value:.0f} s"
                for label, value in (
                    ("complete", self.median_complete_s),
                    ("raced out", self.median_raced_out_s),
                )
                if value is not None
            ]
            parts.append(each + (f" ({', '.join(kinds)})" if kinds else ""))
        if self.search_s is not None:
            parts.append(f"search {_duration(self.search_s)}")
        if self.reached_at is not None and self.final_best is not None:
            parts.append(
                f"best-so-far within {self.within_pct:g}% of the final search best "
                f"({self.final_best:.1f}) from trial {self.reached_at}"
            )
        if self.finalize_s is not None:
            parts.append(f"finalize {_duration(self.finalize_s)}")
        return "time: " + "; ".join(parts)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _seconds(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def search_timing(
    trials: Sequence[FrozenTrial],
    finalists: Sequence[Mapping[str, Any]] = (),
    within_pct: float = 1.0,
) -> SearchTiming:
    """The figures for ``trials`` (one study's) and its stored ``finalists`` entries.

    A raced-out trial is a PRUNED one with a ``raced_out`` user attr. The final best is the
    highest search fitness (the first objective) of a COMPLETE trial, as the sampler saw it.
    """
    measured = [
        t
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and _seconds(t) is not None
    ]
    durations = [s for t in measured if (s := _seconds(t)) is not None]
    complete = [t for t in measured if t.state == TrialState.COMPLETE]
    raced = [t for t in measured if "raced_out" in t.user_attrs]
    starts = [t.datetime_start for t in measured if t.datetime_start is not None]
    ends = [t.datetime_complete for t in measured if t.datetime_complete is not None]
    final_best = max((t.values[0] for t in complete if t.values), default=None)
    reached_at = None
    if final_best is not None:
        best = float("-inf")
        for trial in sorted(complete, key=lambda t: t.number):
            best = max(best, trial.values[0])
            if best >= final_best * (1.0 - within_pct / 100.0):
                reached_at = trial.number
                break
    round_seconds = [
        float(r["seconds"])
        for entry in finalists
        for r in entry.get("rounds", [])
        if isinstance(r, Mapping) and isinstance(r.get("seconds"), int | float)
    ]
    return SearchTiming(
        measured=len(measured),
        median_s=_median(durations),
        median_complete_s=_median([s for t in complete if (s := _seconds(t)) is not None]),
        median_raced_out_s=_median([s for t in raced if (s := _seconds(t)) is not None]),
        search_s=(max(ends) - min(starts)).total_seconds() if starts and ends else None,
        final_best=final_best,
        within_pct=within_pct,
        reached_at=reached_at,
        finalize_s=sum(round_seconds) if round_seconds else None,
    )
