"""A database outage during finalize: the claim survives it, so no second worker finalizes.

PostgreSQL's advisory lock dies with the finalizer's connection, so a restart frees it
while the finalizer (riding out the outage) goes on. The claim row is a lease the
finalizer renews: a peer that gets the lock afterwards still refuses while it is renewed,
and takes over once it is not. A real cluster of this module's own is restarted
(``pg_ctl -m immediate``); the claimants are in this process, one named as a worker on
another host (whose liveness this host cannot check).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.postgres_fixture import PostgresCluster, postgres_cluster
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.study import FinalizeClaim, FinalizeRefused, claim_finalize, open_study, worker_id
from tuner.study import _finalize_claim as claims

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.timeout(240),
]

#: The lease: renewed every second, void after 3 s unrenewed.
HEARTBEAT_S, GRACE_S = 1, 3
ELSEWHERE = "elsewhere:1:1.00"


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster for this module alone: restarting it must not disturb any other test."""
    with postgres_cluster() as cluster:
        yield cluster


def _study(url: str, name: str) -> optuna.Study:
    storage = open_storage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    study = open_study(load_spec(None), storage, study_name=name)
    study.add_trial(
        optuna.trial.create_trial(state=TrialState.COMPLETE, value=1.0, params={}, distributions={})
    )
    return study


def _claim_as(
    owner: str, study: optuna.Study, monkeypatch: pytest.MonkeyPatch
) -> FinalizeClaim | FinalizeRefused:
    with monkeypatch.context() as patch:
        patch.setattr(claims, "worker_id", lambda: owner)
        return claim_finalize(study, 1)


def test_a_restart_during_finalize_does_not_let_a_peer_finalize_too(
    own_cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    url = own_cluster.create_database("finalize_outage")
    study = _study(url, "f")
    held = _claim_as(ELSEWHERE, study, monkeypatch)
    assert isinstance(held, FinalizeClaim)

    own_cluster.stop()  # every connection dropped: the held advisory lock is gone
    time.sleep(2)
    assert own_cluster.start().returncode == 0
    time.sleep(2 * HEARTBEAT_S + 1)  # the finalizer renews its lease on a new connection

    # Before the lease, a peer that got the freed lock took this "running" row for a dead
    # claim and finalized a second time.
    peer = claim_finalize(study, 1)
    assert isinstance(peer, FinalizeRefused), "a second worker took the finalize claim"
    assert peer.message.startswith(f"worker {ELSEWHERE} is finalizing")

    with held:  # the finalizer ends: its release writes "done" despite its lost connection
        study.set_user_attr("finalized_at", 1)
    after = claim_finalize(study, 1)
    assert isinstance(after, FinalizeRefused)
    assert after.message == f"already finalized by worker {ELSEWHERE} at 1 trials"


def test_a_claim_no_longer_renewed_is_taken_over_after_the_lease(
    own_cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    url = own_cluster.create_database("finalize_lease")
    study = _study(url, "g")
    dead = _claim_as(ELSEWHERE, study, monkeypatch)
    assert isinstance(dead, FinalizeClaim)
    dead.stop_renewing()  # its host died: no renewals, and its connection (lock) is gone
    stopped = time.monotonic()
    own_cluster.stop()
    assert own_cluster.start().returncode == 0

    deadline = time.monotonic() + 60
    while not isinstance(mine := claim_finalize(study, 1), FinalizeClaim):
        assert mine.message.startswith(f"worker {ELSEWHERE} is finalizing"), mine.message
        assert time.monotonic() < deadline, f"never taken over: {mine.message}"
        time.sleep(0.5)
    # Not before the lease ran out (its last renewal was at most one interval earlier).
    assert time.monotonic() - stopped >= GRACE_S - HEARTBEAT_S
    assert mine.owner == worker_id()
    with mine:
        pass
