"""What a running study shows: a rich progress bar on a terminal, one line per trial.

The bar (trial i/N, elapsed, ETA, best so far with its CI, current repetition) appears
only when stderr is a terminal; the per-trial lines are printed either way (they are the
log of an unattended 10-hour run) unless ``quiet``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    TimeRemainingColumn,
)

from tuner.runners.base import Progress as RunnerProgress
from tuner.study import ProgressSink


class StudyProgress(ProgressSink):
    """Rich progress for :class:`tuner.study.StudyLoop`; use as a context manager."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True, log_path=False)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._best = "best: -"
        self._current = ""

    def __enter__(self) -> StudyProgress:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[best]}  {task.fields[current]}"),
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
        resumed = f" (resuming: {used} done)" if used else ""
        self.message(f"study {study.study_name}: {total} trials{resumed}")
        if self._bar is not None:
            self._task = self._bar.add_task(
                study.study_name, total=total, completed=used, best=self._best, current=""
            )

    def trial_started(self, number: int, config: Mapping[str, Any]) -> None:
        self._current = f"trial {number}: starting"
        self._refresh()

    def repetition(self, number: int, progress: RunnerProgress) -> None:
        self._current = (
            f"trial {number}: rep {progress.repetition} "
            f"{progress.fitness:.1f} [{progress.ci_low:.1f}, {progress.ci_high:.1f}]"
        )
        self._refresh()

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial, used: int) -> None:
        self._best = best_text(study)
        self._current = ""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=used, best=self._best, current="")
        self.message(trial_line(trial))

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.log(text, markup=False, highlight=False)
        else:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, best=self._best, current=self._current)


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
        text += f" reps {attrs.get('repetitions', '?')}"
        if attrs.get("retry_of") is not None:
            text += f" (retry of {attrs['retry_of']})"
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
