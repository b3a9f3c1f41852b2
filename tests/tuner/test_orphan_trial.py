"""A trial orphaned by a lost reply is reaped, so it neither hangs the study nor counts.

The database wrote the new trial but its reply was lost (a dropped connection): the
storage's retry creates a second trial, and the first stays RUNNING without a heartbeat,
which Optuna's heartbeat reaping never fails. Here the lost reply is real in all but the
network: the first create commits, then the call raises the driver's connection error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from tuner import resilient_storage
from tuner.resilient_storage import ResilientRDBStorage
from tuner.runners.mock import MockRunner
from tuner.signals import InterruptGuard
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.study import RunOptions, StudyLoop, on_stale_trial, open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.timeout(120),
]
HEARTBEAT_S, GRACE_S = 1, 2


@pytest.fixture
def lost_first_create_reply(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The first new RUNNING trial commits, then its reply is lost; yields the trial ids made."""
    calls: list[int] = []
    create = RDBStorage._create_new_trial

    def lossy(self: ResilientRDBStorage, study_id: int, template_trial: Any = None) -> Any:
        created = create(self, study_id, template_trial)
        if template_trial is not None:
            return created  # a queued config (add_trial), not a new RUNNING trial
        calls.append(created._trial_id)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError(
                "INSERT INTO trials", {}, Exception("server closed the connection unexpectedly")
            )
        return created

    monkeypatch.setattr(resilient_storage, "BACKOFF_S", (0.01,))
    monkeypatch.setattr(
        ResilientRDBStorage, "_create_new_trial", resilient_storage._retrying(lossy)
    )
    yield calls


def test_an_orphan_of_a_lost_create_reply_is_failed_and_the_study_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lost_first_create_reply: list[int]
) -> None:
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    spec = load_spec(None)
    storage = open_storage(
        f"sqlite:///{tmp_path}/orphan.db",
        heartbeat_interval=HEARTBEAT_S,
        grace_period=GRACE_S,
        on_stale_trial=on_stale_trial,
    )
    study = open_study(spec, storage, study_name="orphan", seed=0)
    runner = MockRunner(spec, seed=0, delay_s=0.0)
    with InterruptGuard() as guard:
        # Before the orphan was reaped, it held the last budget slot RUNNING for ever.
        summary = StudyLoop(study, spec, runner, guard).run(RunOptions(trials=3))
    runner.close()

    assert len(lost_first_create_reply) >= 2, "the lost reply was not retried"
    orphan = study._storage.get_trial(lost_first_create_reply[0])
    assert orphan.state == TrialState.FAIL
    assert "worker" not in orphan.user_attrs  # no worker ever ran it
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert summary.budget_used == 3
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 3
