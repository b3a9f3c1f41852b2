"""What a running study shows: one rich display on a terminal, one line per trial.

The display has two rows of one ``rich.progress.Progress``: the study (trials done of the
budget, elapsed, an ETA from the measured trial times, the incumbent with its CI) and the
current trial (its repetition of the most it may take, and the running estimate with its
CI). The benchmark draws nothing itself; its per-repetition reports arrive here through
the runner's ``on_progress``. Per-trial lines (with the same done/elapsed/ETA) are printed
either way, as the log of an unattended 10-hour run, unless ``quiet``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tuner.runners.base import Progress as RunnerProgress
from tuner.spec import stored_fitness_unit
from tuner.study import ProgressSink, counts_toward_budget

__all__ = ["StudyProgress", "best_text", "eta_seconds", "format_seconds", "trial_line"]


def eta_seconds(durations: Sequence[float], remaining: int) -> float | None:
    """Seconds left for ``remaining`` trials at the median measured trial time; None before
    any trial was timed. The median, because one long build must not swing the estimate."""
    if remaining <= 0:
        return 0.0
    if not durations:
        return None
    return statistics.median(durations) * remaining


def format_seconds(seconds: float | None) -> str:
    """``1h02m``, ``4m05s``, ``12s``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def trial_seconds(trials: Sequence[FrozenTrial]) -> list[float]:
    """Wall-clock seconds of the finished trials that count toward the budget."""
    return [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if counts_toward_budget(t) and t.datetime_start and t.datetime_complete
    ]


class StudyProgress(ProgressSink):
    """Rich progress for :class:`tuner.study.StudyLoop`; use as a context manager."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True, log_path=False)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self._bar: Progress | None = None
        self._study_task: TaskID | None = None
        self._trial_task: TaskID | None = None
        self._best = "best: -"
        self._started = time.monotonic()
        self._trial_started = self._started
        self._durations: list[float] = []
        self._used = 0
        self._total = 0

    def __enter__(self) -> StudyProgress:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=False,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    # ProgressSink -------------------------------------------------------------------

    def study_started(self, study: optuna.Study, used: int, total: int) -> None:
        self._best = best_text(study)
        self._started = time.monotonic()
        self._used, self._total = used, total
        # Earlier runs' trial times give a resumed study an ETA from its first line.
        self._durations = trial_seconds(study.get_trials(deepcopy=False))
        resumed = f" (resuming: {used} done)" if used else ""
        unit = stored_fitness_unit(study.user_attrs.get("spec"))
        self.message(f"study {study.study_name}: {total} trials{resumed}; fitness in {unit}")
        if self._bar is not None:
            self._study_task = self._bar.add_task(
                study.study_name, total=total, completed=used, info=self._study_info()
            )

    def trial_started(self, number: int, config: Mapping[str, Any]) -> None:
        self._trial_started = time.monotonic()
        if self._bar is None:
            return
        if self._trial_task is not None:
            self._bar.remove_task(self._trial_task)
        self._trial_task = self._bar.add_task(
            f"trial {number}", total=None, info="building, starting, warming up"
        )

    def repetition(self, number: int, progress: RunnerProgress) -> None:
        if self._bar is None or self._trial_task is None:
            return
        self._bar.update(
            self._trial_task,
            completed=progress.repetition,
            total=progress.max_repetitions or None,
            info=f"reps  running estimate {estimate_text(progress)}",
        )
        self._refresh_study()

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial, used: int) -> None:
        self._best = best_text(study)
        if counts_toward_budget(trial):
            self._durations.append(time.monotonic() - self._trial_started)
        self._used = used
        if self._bar is not None:
            if self._trial_task is not None:
                self._bar.remove_task(self._trial_task)
                self._trial_task = None
            if self._study_task is not None:
                self._bar.update(self._study_task, completed=used)
            self._refresh_study()
        self.message(f"{trial_line(trial)}  [{self._where()}]")

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.log(text, markup=False, highlight=False)
        else:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    # internals ----------------------------------------------------------------------

    def eta(self) -> float | None:
        """Seconds left for the rest of the budget, from the measured trial times."""
        return eta_seconds(self._durations, self._total - self._used)

    def _where(self) -> str:
        elapsed = format_seconds(time.monotonic() - self._started)
        eta = format_seconds(self.eta())
        return f"{self._used}/{self._total} trials, {elapsed} elapsed, ETA {eta}"

    def _study_info(self) -> str:
        return f"trials  ETA {format_seconds(self.eta())}  {self._best}"

    def _refresh_study(self) -> None:
        if self._bar is not None and self._study_task is not None:
            self._bar.update(self._study_task, info=self._study_info())


def estimate_text(progress: RunnerProgress) -> str:
    """``101.2 [97.0, 104.1]``; the CI is NaN at the first repetition."""
    if math.isnan(progress.ci_low):
        return f"{progress.fitness:.1f} [CI from rep 2]"
    return f"{progress.fitness:.1f} [{progress.ci_low:.1f}, {progress.ci_high:.1f}]"


def trial_line(trial: FrozenTrial) -> str:
    """One line for a finished trial: state, fitness with CI, p99 ratio, reason."""
    attrs = trial.user_attrs
    head = f"trial {trial.number:>4} {trial.state.name:<8}"
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and "fitness" in attrs:
        text = (
            f"{head} fitness {attrs['fitness']:6.1f} "
            f"[{attrs.get('fitness_ci_low', float('nan')):.1f}, "
            f"{attrs.get('fitness_ci_high', float('nan')):.1f}]"
        )
        if "p99_ratio" in attrs:
            text += f" p99x {attrs['p99_ratio']:.2f}"
        if "memory_ratio" in attrs:
            text += f" memx {attrs['memory_ratio']:.2f} rssx {attrs.get('rss_ratio', math.nan):.2f}"
        text += f" reps {attrs.get('repetitions', '?')}"
        if attrs.get("dropped_repetitions"):
            text += f" (+{attrs['dropped_repetitions']} dropped: machine disturbed)"
        if attrs.get("retry_of") is not None:
            text += f" (retry of {attrs['retry_of']})"
        raced = attrs.get("raced_out")
        if isinstance(raced, dict):
            text += (
                f" raced out: upper bound {raced['upper_bound']:.1f} < incumbent "
                f"#{raced['incumbent_trial']} {raced['incumbent_fitness']:.1f}"
            )
        return text
    return f"{head} {attrs.get('failure_reason', '')}"


def best_text(study: optuna.Study) -> str:
    """``best 112.3 [108.0, 116.1] (#42)`` for single-objective studies; front size else."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return "best: -"
    if len(study.directions) > 1:
        return f"Pareto front: {len(study.best_trials)}"
    best = max(complete, key=lambda t: t.values[0])
    a = best.user_attrs
    return (
        f"best {best.values[0]:.1f} [{a.get('fitness_ci_low', float('nan')):.1f}, "
        f"{a.get('fitness_ci_high', float('nan')):.1f}] (#{best.number})"
    )
