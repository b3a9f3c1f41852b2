"""The finalize claim on SQLite: one claimant at a time, a dead one's claim taken over.

In process on a real SQLite file; the claimants are real processes (their identities
name the claim, and one of them dies).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tuner.processes import owner_id
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.study import FinalizeClaim, FinalizeRefused, claim_finalize, open_study, worker_id
from tuner.study import _finalize_claim as claims

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.timeout(120),
]


def test_one_claimant_at_a_time_and_a_dead_claim_is_taken_over(
    tuner_env: Path, make_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(make_spec())
    study = open_study(spec, open_storage(f"sqlite:///{tuner_env}/claim.db"), study_name="c")
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=100.0, params={}, distributions={}
        )
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        other_id = owner_id(other.pid)
        monkeypatch.setattr(claims, "worker_id", lambda: other_id)
        held = claim_finalize(study, 1)
        assert isinstance(held, FinalizeClaim) and held.owner == other_id
        monkeypatch.undo()

        refused = claim_finalize(study, 1)
        assert isinstance(refused, FinalizeRefused)
        assert refused.message.startswith(f"worker {other_id} is finalizing")
        assert refused.owner == other_id
    finally:
        other.kill()
        other.wait()

    # Its claimant died mid-finalize: the claim is free again.
    mine = claim_finalize(study, 1)
    assert isinstance(mine, FinalizeClaim) and mine.owner == worker_id()
    with mine:
        study.set_user_attr("finalized_at", 1)
    again = claim_finalize(study, 1)
    assert isinstance(again, FinalizeRefused)
    assert again.message == f"already finalized by worker {worker_id()} at 1 trials"
    # `tuner study finalize` may re-measure a finalized study.
    forced = claim_finalize(study, 1, force=True)
    assert isinstance(forced, FinalizeClaim)
    with forced:
        pass


def test_no_claim_while_a_search_trial_runs(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    study = open_study(spec, open_storage(f"sqlite:///{tuner_env}/claim.db"), study_name="c")
    running = study.ask()
    running.set_user_attr("worker", "elsewhere:1:1.00")
    refused = claim_finalize(study, 0)
    assert isinstance(refused, FinalizeRefused)
    assert "1 search trial(s) still RUNNING (worker elsewhere:1:1.00)" in refused.message
    study.tell(running, state=TrialState.FAIL)
    granted = claim_finalize(study, 0)
    assert isinstance(granted, FinalizeClaim)
    with granted:
        pass


def test_a_worker_that_measured_nothing_does_not_finalize_a_finalized_study_again(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    """A peer measured one more trial after the claim (finalized at 1, budget now 2): a
    worker started after the search ended refuses, naming the finalize; one that measured
    the new trial may re-finalize (the new trial may be the best)."""
    spec = load_spec(make_spec())
    study = open_study(spec, open_storage(f"sqlite:///{tuner_env}/again.db"), study_name="a")
    done = optuna.trial.create_trial(
        state=TrialState.COMPLETE, value=1.0, params={}, distributions={}
    )
    study.add_trial(done)
    first = claim_finalize(study, 1)
    assert isinstance(first, FinalizeClaim)
    with first:
        study.set_user_attr("finalized_at", 1)
    study.add_trial(done)
    late = claim_finalize(study, 2, measured_here=False)
    assert isinstance(late, FinalizeRefused)
    assert late.message == f"already finalized by worker {worker_id()} at 1 trials"
    peer = claim_finalize(study, 2, measured_here=True)
    assert isinstance(peer, FinalizeClaim)
    with peer:
        pass
