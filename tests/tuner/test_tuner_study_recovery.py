"""Trials a worker leaves behind are never lost: an interrupted ask, a retry in the budget race.

In process, on a real SQLite storage with heartbeats, with the mock runner (these tests are
about the trial bookkeeping, not about measuring).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tuner.runners import make_runner
from tuner.signals import Interrupted, InterruptGuard
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.study import (
    FAILURE_BUDGET,
    FAILURE_INTERRUPTED,
    RunOptions,
    StudyLoop,
    budget_used,
    on_stale_trial,
    open_study,
    requeue,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.timeout(120),
]


def _open(tuner_env: Path, make_spec: Callable[..., Path]) -> tuple[Any, optuna.Study, str]:
    def no_racing(data: dict[str, Any]) -> None:
        # Bookkeeping, not decisions: racing would prune a trial that these tests count as done.
        data["objective"]["pruner"] = "none"

    spec = load_spec(make_spec(edit=no_racing))
    path = tuner_env / "recovery.db"
    storage = open_storage(
        f"sqlite:///{path}", heartbeat_interval=1, grace_period=2, on_stale_trial=on_stale_trial
    )
    return spec, open_study(spec, storage, study_name="t"), str(path)


def _queued(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def test_a_signal_during_ask_fails_and_requeues_the_trial(
    tuner_env: Path, make_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, study, path = _open(tuner_env, make_spec)
    real_ask = study.ask

    def ask_then_sigterm(*args: Any, **kwargs: Any) -> optuna.Trial:
        trial = real_ask(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # held by the guard until the ask is written
        return trial

    monkeypatch.setattr(study, "ask", ask_then_sigterm)
    runner = make_runner("mock", spec, seed=0)
    with InterruptGuard() as guard, pytest.raises(Interrupted):
        StudyLoop(study, spec, runner, guard).run(RunOptions(trials=2))
    monkeypatch.undo()

    (first, retry) = study.get_trials(deepcopy=False)
    # Never left RUNNING: failed as interrupted, and its queued config (the default)
    # queued again.
    assert first.state == TrialState.FAIL, first.state
    assert first.user_attrs["failure_kind"] == FAILURE_INTERRUPTED
    assert retry.state == TrialState.WAITING
    assert retry.system_attrs["fixed_params"] == spec.defaults()
    assert retry.user_attrs["retry_of"] == first.number
    # Its heartbeat was recorded at once, so a peer on another host could reap it had
    # this worker died there instead.
    with sqlite3.connect(path) as db:
        beats = {row[0] for row in db.execute("SELECT trial_id FROM trial_heartbeats")}
    assert first._trial_id in beats

    with InterruptGuard() as guard:
        StudyLoop(study, spec, make_runner("mock", spec, seed=0), guard).run(RunOptions(trials=2))
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert budget_used(study) == 2 and len(done) == 2
    assert any(t.params == spec.defaults() and t.user_attrs["retry_of"] == 0 for t in done)


@pytest.mark.parametrize("queued", ["retry", "default"])
def test_a_queued_config_survives_the_budget_race(
    tuner_env: Path, make_spec: Callable[..., Path], queued: str
) -> None:
    spec, study, _ = _open(tuner_env, make_spec)
    study.set_user_attr("default_enqueued", True)
    # A peer on another host holds the last budget slot (its trial has the lower number).
    peer = study.ask()
    peer.set_user_attr("worker", "elsewhere:1:1.00")
    if queued == "retry":
        # A dead worker's trial, failed and re-queued with its params.
        dead = study.ask()
        params = {p.name: suggest(dead, p) for p in spec.params}
        study.tell(dead, state=TrialState.FAIL)
        requeue(study, study._storage.get_trial(dead._trial_id), "worker died")
    else:
        params = spec.defaults()
        study.enqueue_trial(params, user_attrs={"source": "default"})
    loop = StudyLoop(study, spec, make_runner("mock", spec, seed=0), InterruptGuard())

    # This worker takes the queued config, finds the budget full and gives it back.
    assert loop._ask(budget=1) is None
    refused = [t for t in study.get_trials() if t.user_attrs.get("failure_kind") == FAILURE_BUDGET]
    assert len(refused) == 1
    (back,) = _queued(study)
    assert back.system_attrs["fixed_params"] == params
    if queued == "retry":
        assert back.user_attrs["retry_of"] == dead.number
    else:
        assert back.user_attrs["source"] == "default"

    # The peer fails; the config runs after all.
    study.tell(peer, state=TrialState.FAIL)
    with InterruptGuard() as guard:
        StudyLoop(study, spec, make_runner("mock", spec, seed=0), guard).run(RunOptions(trials=1))
    (done,) = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert done.params == params
