"""How ``python -m benchmark`` shows a PairedRun: one rich bar on a terminal, else one line
per repetition on stderr. PairedRun itself draws nothing; it reports each repetition
through its ``on_repetition`` callback, and a caller such as the tuner renders it in its
own display instead."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from benchmark.result import RepetitionUpdate

__all__ = ["RepetitionDisplay", "repetition_text"]


def repetition_text(update: RepetitionUpdate) -> str:
    """``rep 3: fitness 100.2% ±4.1% at 21s (of up to 30)``: the running estimate, its CI."""
    of = f" (of up to {update.max_repetitions})" if update.max_repetitions else ""
    return (
        f"rep {update.repetition}: fitness {update.fitness:.1f}% "
        f"±{update.half_width_pct:.1f}% at {update.seconds:.0f}s{of}"
    )


class RepetitionDisplay:
    """Context manager and ``on_repetition`` callback for one PairedRun."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RepetitionDisplay:
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("reps"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("warm-up", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __call__(self, update: RepetitionUpdate) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=update.repetition,
                total=update.max_repetitions or None,
                description=f"fitness {update.fitness:.1f}% ±{update.half_width_pct:.1f}%",
            )
        else:
            print(repetition_text(update), file=sys.stderr, flush=True)
