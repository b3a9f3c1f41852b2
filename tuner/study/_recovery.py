"""Recovery of dead workers' trials: fail them and queue their params again."""

from __future__ import annotations

import copy
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from tuner.processes import owner_alive
from tuner.study._attrs import FAILURE_INTERRUPTED, failure_attrs, write_trial_attrs

#: A candidate interrupted or orphaned this many times is not re-queued again.
MAX_RETRIES = 3


#: User attrs of a queued trial that describe the queued config, not one run of it.
_QUEUED_ATTRS = ("source", "retry_of", "retry_reason")


def requeue(study: optuna.Study, trial: FrozenTrial, reason: str = "") -> None:
    """Queue ``trial``'s params again (it was interrupted or its worker died)."""
    params = _params_of(trial)
    if not params:
        return
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRIES:
        return
    user_attrs: dict[str, Any] = {"retry_of": trial.number}
    if reason:
        user_attrs["retry_reason"] = reason
    _enqueue(study, params, user_attrs, {"failed_trial": history[0], "retry_history": history})


def requeue_unrun(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a config again that was taken from the queue but never run (budget race).

    It keeps its queue attrs and retry history: it was not a retry of its own.
    """
    params = _params_of(trial)
    if not params:
        return  # A sampler's candidate: the sampler proposes again.
    user_attrs = {k: trial.user_attrs[k] for k in _QUEUED_ATTRS if k in trial.user_attrs}
    history = {k: trial.system_attrs.get(k) for k in ("failed_trial", "retry_history")}
    _enqueue(study, params, user_attrs, {k: v for k, v in history.items() if v is not None})


def _params_of(trial: FrozenTrial) -> dict[str, Any]:
    """The config a trial ran or was queued to run (params, else its queued fixed params)."""
    return dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})


def _enqueue(
    study: optuna.Study,
    params: dict[str, Any],
    user_attrs: dict[str, Any],
    system_attrs: dict[str, Any],
) -> None:
    """What ``Study.enqueue_trial`` does (a WAITING trial with ``fixed_params``), plus attrs.

    By ``fixed_params``, as Optuna queues configs, so every path that takes a queued
    trial (including the budget race's put-back) sees its config.
    """
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            user_attrs=user_attrs,
            system_attrs={**system_attrs, "fixed_params": params},
        )
    )


def on_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: a trial whose worker went silent was failed; retry it.

    Optuna has already finished the trial, so its own attrs cannot change any more; the
    reason goes on the retry (``retry_reason``).
    """
    requeue(study, trial, "worker stopped sending heartbeats")


def reap_dead_workers(study: optuna.Study) -> list[int]:
    """Fail and re-queue trials of dead workers: silent heartbeats, or gone on this host."""
    fail_stale_trials(study)
    return fail_dead_workers(study)


def fail_stale_trials(study: optuna.Study) -> bool:
    """Optuna's ``fail_stale_trials`` (each stale trial failed, then re-queued by the
    stale-trial callback), saying whether any trial was failed."""
    storage = study._storage
    if not isinstance(storage, BaseHeartbeat) or not is_heartbeat_enabled(storage):
        return False
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # a peer failed it first
    callback = storage.get_heartbeat_stale_trial_callback()
    if callback is not None:
        for trial_id in failed:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return bool(failed)


def fail_dead_workers(study: optuna.Study, running: list[FrozenTrial] | None = None) -> list[int]:
    """Fail RUNNING trials whose worker on this host is gone, and re-queue them.

    Heartbeats catch this too, but only after the grace period; a pid check on the same
    host is immediate, so a run restarted right after a SIGKILL resumes cleanly.
    ``running``: the study's RUNNING trials when just read (else read here).
    """
    failed = []
    if running is None:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        worker = str(trial.user_attrs.get("worker", ""))
        if not worker or owner_alive(worker) is not False:
            continue  # Still running (a peer on this machine), or on another host.
        storage = study._storage
        reason = f"worker {worker} died mid-trial"
        try:
            write_trial_attrs(storage, trial._trial_id, failure_attrs(FAILURE_INTERRUPTED, reason))
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        requeue(study, storage.get_trial(trial._trial_id), reason)
    return failed
