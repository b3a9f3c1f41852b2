"""Recovery of dead workers' trials: fail them and queue their params again."""

from __future__ import annotations

import socket
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.signals import process_start_time
from tuner.study._attrs import FAILURE_INTERRUPTED

#: A candidate interrupted or orphaned this many times is not re-queued again.
MAX_RETRIES = 3


def requeue(study: optuna.Study, trial: FrozenTrial, reason: str = "") -> None:
    """Queue ``trial``'s params again (it was interrupted or its worker died)."""
    if not trial.params:
        return
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRIES:
        return
    distributions: dict[str, BaseDistribution] = dict(trial.distributions)
    user_attrs: dict[str, Any] = {"retry_of": trial.number}
    if reason:
        user_attrs["retry_reason"] = reason
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=distributions,
            user_attrs=user_attrs,
            system_attrs={"failed_trial": history[0], "retry_history": history},
        )
    )


def on_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: a trial whose worker went silent was failed; retry it.

    Optuna has already finished the trial, so its own attrs cannot change any more; the
    reason goes on the retry (``retry_reason``).
    """
    requeue(study, trial, "worker stopped sending heartbeats")


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Fail RUNNING trials whose worker on this host is gone, and re-queue them.

    Heartbeats catch this too, but only after the grace period; a pid check on the same
    host is immediate, so a run restarted right after a SIGKILL resumes cleanly.
    """
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        parts = worker.split(":")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if str(process_start_time(int(parts[1]))) == parts[2]:
            continue  # Still running (another worker on this machine).
        storage = study._storage
        try:
            storage.set_trial_user_attr(trial._trial_id, "failure_kind", FAILURE_INTERRUPTED)
            storage.set_trial_user_attr(
                trial._trial_id, "failure_reason", f"worker {worker} died mid-trial"
            )
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        requeue(study, storage.get_trial(trial._trial_id), f"worker {worker} died mid-trial")
    return failed
