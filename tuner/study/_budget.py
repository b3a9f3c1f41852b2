"""Budget accounting: which trials use up the study's trial budget.

``trials`` counts COMPLETE and PRUNED trials plus FAIL trials whose runner failed (a
build error or crash cost real time), summed over every run and worker of the study.
Constraint rejections and interrupted or stale trials do not count: they never produced
a measurement.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.study._attrs import FAILURE_RUNNER


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Whether a finished trial used up one unit of the trial budget."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("failure_kind") == FAILURE_RUNNER


def budget_used(study: optuna.Study) -> int:
    """Trials so far that count toward the budget (all runs, all workers)."""
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
