"""What the loop and finalize tell the user; tuner.progress implements it with rich."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tuner.runners.base import Progress


class ProgressSink:
    """Receives the study's progress; every method is a no-op here."""

    def study_started(self, study: optuna.Study, used: int, total: int) -> None: ...

    def trial_started(self, number: int, config: Mapping[str, Any]) -> None: ...

    def repetition(self, number: int, progress: Progress) -> None: ...

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial, used: int) -> None: ...

    def message(self, text: str) -> None: ...


ProgressFactory = Callable[[], ProgressSink]
