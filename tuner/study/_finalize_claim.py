"""Who finalizes a study: one claim per study, taken through the storage.

Every worker that stops (budget or timeout) asks for the claim; exactly one gets it,
and only once no search trial is RUNNING. The claim row (table ``tuner_finalize_claims``)
names the claimant and says whether it finished, so the others can say who finalized.
Mutual exclusion comes from the database itself:

- PostgreSQL: a session-level advisory lock, held while finalize runs. It dies with the
  connection, so it alone cannot survive a database outage: the lock is gone once the
  server restarts, while the finalizer (riding out the outage) goes on. So the claim row
  is also a lease, renewed by the finalizer every heartbeat interval (in the server's
  clock): a peer that gets the lock still refuses while the row's owner renews it, and
  takes over once the owner is gone on this host or silent for a grace period.
- SQLite: an IMMEDIATE transaction that reads and writes the claim row at once. SQLite
  is one host, so a claimant that died is spotted by its process identity.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from sqlalchemy import Connection, Engine, text

from tuner.processes import owner_alive
from tuner.study._workers import worker_id

__all__ = [
    "CLAIM_TABLE",
    "FinalizeClaim",
    "FinalizeRefused",
    "claim_finalize",
    "wait_for_running_trials",
]

CLAIM_TABLE = "tuner_finalize_claims"
#: Two-key advisory lock: this class id, then the study id.
_LOCK_CLASS = 0x7E5E
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {CLAIM_TABLE} (study_id INTEGER PRIMARY KEY, "
    "owner VARCHAR(512) NOT NULL, budget_used INTEGER NOT NULL, state VARCHAR(16) NOT NULL, "
    "claimed_at DOUBLE PRECISION NOT NULL)"
)
_SELECT = f"SELECT owner, budget_used, state, claimed_at FROM {CLAIM_TABLE} WHERE study_id = :s"
_UPSERT = (
    f"INSERT INTO {CLAIM_TABLE} (study_id, owner, budget_used, state, claimed_at) "
    "VALUES (:s, :owner, :used, :state, :at) ON CONFLICT (study_id) DO UPDATE SET "
    "owner = excluded.owner, budget_used = excluded.budget_used, state = excluded.state, "
    "claimed_at = excluded.claimed_at"
)
_SET_STATE = f"UPDATE {CLAIM_TABLE} SET state = :state WHERE study_id = :s AND owner = :owner"
_RENEW = (
    f"UPDATE {CLAIM_TABLE} SET claimed_at = EXTRACT(EPOCH FROM now()) "
    "WHERE study_id = :s AND owner = :owner AND state = 'running'"
)
#: Lease of a Postgres claim without storage heartbeats: renewed this often, void after.
DEFAULT_RENEW_S = 30.0
DEFAULT_LEASE_S = 120.0


@dataclass(frozen=True)
class FinalizeRefused:
    """This worker must not finalize; ``message`` says why and who does (or did)."""

    message: str
    owner: str | None = None


@dataclass(frozen=True)
class _Row:
    owner: str
    budget_used: int
    state: str  # "running" | "done" | "failed"
    claimed_at: float


@dataclass(frozen=True)
class _Request:
    """Who asks to finalize which study, at what budget, and on what terms."""

    study: optuna.Study
    used: int
    me: str
    force: bool
    #: False for a worker that measured no trial this run (see :func:`claim_finalize`).
    measured_here: bool

    @property
    def study_id(self) -> int:
        return self.study._study_id


class FinalizeClaim:
    """The held claim. As a context manager: marked done on success, failed on an error."""

    def __init__(
        self,
        release: Callable[[str], None],
        owner: str,
        renew: Callable[[], None] | None = None,
        renew_s: float = DEFAULT_RENEW_S,
    ) -> None:
        self._release = release
        self.owner = owner
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        if renew is not None:
            self._renewer = threading.Thread(target=self._renew, args=(renew, renew_s), daemon=True)
            self._renewer.start()

    def _renew(self, renew: Callable[[], None], every_s: float) -> None:
        while not self._stop.wait(every_s):
            # A missed renewal (the database is down) only risks a takeover after the lease.
            with contextlib.suppress(Exception):
                renew()

    def stop_renewing(self) -> None:
        """Stop renewing the lease (on release, or to stand in for a dead owner in tests)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)

    def __enter__(self) -> FinalizeClaim:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_renewing()
        self._release("done" if kind is None else "failed")


def claim_finalize(
    study: optuna.Study, used: int, *, force: bool = False, measured_here: bool = True
) -> FinalizeClaim | FinalizeRefused:
    """Claim the right to finalize ``study`` at ``used`` budget trials.

    Refused while another live worker finalizes, when the study was already finalized at
    this budget (or at all, for a worker that measured no trial: ``measured_here`` False,
    as a worker started after the search ended), or (unless ``force``, as ``tuner study
    finalize`` asks) while a search trial is RUNNING.
    """
    request = _Request(study, used, worker_id(), force, measured_here)
    engine = _engine(study._storage)
    if engine is None or engine.dialect.name not in ("postgresql", "sqlite"):
        return _check(request, None) or FinalizeClaim(lambda state: None, request.me)
    if engine.dialect.name == "postgresql":
        return _claim_postgres(engine, request)
    return _claim_sqlite(engine, request)


def _engine(storage: BaseStorage) -> Engine | None:
    """The SQLAlchemy engine of an RDB storage (Optuna may wrap it in a cache)."""
    for candidate in (storage, getattr(storage, "_backend", None)):
        engine = getattr(candidate, "engine", None)
        if isinstance(engine, Engine):
            return engine
    return None


def _claim_live(row: _Row, locked: bool, lease: tuple[float, float] | None) -> bool:
    """Whether another worker's "running" claim still holds.

    Its owner gone on this host: void. Without the lock (SQLite): live otherwise. With the
    Postgres lock and ``lease`` (server now, lease seconds): live while renewed within the
    lease, since an outage drops the lock but not the finalizer.
    """
    if owner_alive(row.owner) is False:
        return False
    if not locked:
        return True
    if lease is None:
        return False
    now, lease_s = lease
    return now - row.claimed_at <= lease_s


def _check(
    request: _Request,
    row: _Row | None,
    locked: bool = False,
    lease: tuple[float, float] | None = None,
) -> FinalizeRefused | None:
    """Why this worker may not take the claim now, or None.

    ``locked``: this worker holds the study's lock; ``lease``: see :func:`_claim_live`.
    Without ``request.measured_here`` a finalized study is not finalized again by a worker
    that added nothing (a peer may have measured a trial after the claim; `tuner study
    finalize` re-measures on request).
    """
    study, used = request.study, request.used
    claimed = row is not None and row.state == "running" and row.owner != request.me
    if row is not None and claimed and _claim_live(row, locked, lease):
        since = time.strftime("%H:%M:%S UTC", time.gmtime(row.claimed_at))
        return FinalizeRefused(f"worker {row.owner} is finalizing (since {since})", row.owner)
    if request.force:
        return None
    finalized_at = study.user_attrs.get("finalized_at")
    done_at = row.budget_used if row is not None and row.state == "done" else None
    if row is None and isinstance(finalized_at, int):
        done_at = finalized_at
    if done_at is not None and (done_at == used or not request.measured_here):
        owner = row.owner if row is not None else None
        by = f" by worker {owner}" if owner else ""
        return FinalizeRefused(f"already finalized{by} at {done_at} trials", owner)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if running:
        workers = sorted({str(t.user_attrs.get("worker", "?")) for t in running})
        return FinalizeRefused(
            f"{len(running)} search trial(s) still RUNNING (worker {', '.join(workers)}): "
            "the last worker to stop finalizes"
        )
    return None


def _row(found: Any) -> _Row | None:
    if found is None:
        return None
    owner, used, state, at = tuple(found)
    return _Row(str(owner), int(used), str(state), float(at))


def _lease_of(storage: BaseStorage) -> tuple[float, float]:
    """How often a Postgres claim is renewed, and after how long unrenewed it is void:
    the storage's heartbeat interval and grace period (30 s and 120 s without them)."""
    backend = getattr(storage, "_backend", storage)
    interval = getattr(backend, "heartbeat_interval", None)
    if not interval:
        return DEFAULT_RENEW_S, DEFAULT_LEASE_S
    grace = getattr(backend, "grace_period", None)
    return float(interval), float(grace if grace is not None else 2 * interval)


def _retrying(storage: BaseStorage) -> Callable[[Callable[[], Any]], Any]:
    """The storage's outage retry (ResilientRDBStorage._retry), else a plain call."""
    backend = getattr(storage, "_backend", storage)
    retry: Callable[[Callable[[], Any]], Any] | None = getattr(backend, "_retry", None)
    return retry if retry is not None else (lambda call: call())


def _claim_postgres(engine: Engine, request: _Request) -> FinalizeClaim | FinalizeRefused:
    renew_s, lease_s = _lease_of(request.study._storage)
    retry = _retrying(request.study._storage)
    # One attempt per connection: a connection lost mid-claim drops its lock with it.
    conn, refused = retry(lambda: _pg_try_claim(engine, request, lease_s))
    if refused is not None:
        return refused
    key = {"c": _LOCK_CLASS, "s": request.study_id}
    params = {"s": request.study_id, "owner": request.me}

    def renew() -> None:
        with engine.connect() as fresh:
            fresh.execute(text(_RENEW), params)
            fresh.commit()

    def release(state: str) -> None:
        def mark() -> None:
            with engine.connect() as fresh:
                fresh.execute(text(_SET_STATE), {**params, "state": state})
                fresh.commit()

        try:
            retry(mark)  # on a fresh connection: the claim's own may have died in an outage
        finally:
            with contextlib.suppress(Exception):  # a dead connection has lost its lock already
                conn.execute(text("SELECT pg_advisory_unlock(:c, :s)"), key)
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()

    return FinalizeClaim(release, request.me, renew, renew_s)


def _pg_try_claim(
    engine: Engine, request: _Request, lease_s: float
) -> tuple[Connection, FinalizeRefused | None]:
    """Take the lock and the claim row on a new connection (kept open while it is held)."""
    conn = engine.connect()
    study_id = request.study_id
    key = {"c": _LOCK_CLASS, "s": study_id}
    try:
        locked = conn.execute(text("SELECT pg_try_advisory_lock(:c, :s)"), key).scalar()
        conn.commit()
        if not locked:
            owner = _pg_holder(conn, study_id)
            who = f"worker {owner}" if owner else "another worker"
            refused: FinalizeRefused | None = FinalizeRefused(
                f"{who} is finalizing (it holds the study's lock)", owner
            )
        else:
            _pg_ensure_table(conn)
            now = float(conn.execute(text("SELECT EXTRACT(EPOCH FROM now())")).scalar_one())
            conn.rollback()
            row = _pg_row(conn, study_id)
            refused = _check(request, row, locked=True, lease=(now, lease_s))
            if refused is None:
                params = {
                    "s": study_id,
                    "owner": request.me,
                    "used": request.used,
                    "state": "running",
                }
                conn.execute(text(_UPSERT), {**params, "at": now})
                conn.commit()
            else:
                conn.execute(text("SELECT pg_advisory_unlock(:c, :s)"), key)
                conn.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.close()  # closing the session releases the advisory lock
        raise
    if refused is not None:
        conn.close()
    return conn, refused


def _pg_ensure_table(conn: Connection) -> None:
    try:
        conn.execute(text(_CREATE))
        conn.commit()
    except Exception:
        # Two studies' finalizers creating the table at once: the loser finds it made.
        conn.rollback()
        conn.execute(text(_CREATE))
        conn.commit()


def _pg_holder(conn: Connection, study_id: int, wait_s: float = 5.0) -> str | None:
    """Who holds the lock: its claim row, which it writes just after taking the lock."""
    deadline = time.monotonic() + wait_s
    while True:
        row = _pg_row(conn, study_id)
        if row is not None and row.state == "running":
            return row.owner
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def _pg_row(conn: Connection, study_id: int) -> _Row | None:
    try:
        found = conn.execute(text(_SELECT), {"s": study_id}).first()
    except Exception:
        found = None  # no claim table yet
    conn.rollback()
    return _row(found)


def _claim_sqlite(engine: Engine, request: _Request) -> FinalizeClaim | FinalizeRefused:
    path = engine.url.database
    study_id, me = request.study_id, request.me
    if not path or path == ":memory:":
        return _check(request, None) or FinalizeClaim(lambda state: None, me)

    def transaction(
        work: Callable[[sqlite3.Connection], FinalizeRefused | None],
    ) -> FinalizeRefused | None:
        """Run ``work`` holding the database's write lock (BEGIN IMMEDIATE)."""
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        try:
            conn.execute(_CREATE)
            conn.execute("BEGIN IMMEDIATE")  # the write lock: one claimant at a time
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()

    def take(conn: sqlite3.Connection) -> FinalizeRefused | None:
        row = _row(conn.execute(_SELECT, {"s": study_id}).fetchone())
        refused = _check(request, row)
        if refused is None:
            params: Mapping[str, Any] = {"s": study_id, "owner": me, "used": request.used}
            conn.execute(_UPSERT, {**params, "state": "running", "at": time.time()})
        return refused

    refused = transaction(take)
    if refused is not None:
        return refused

    def release(state: str) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            conn.execute(_SET_STATE, {"s": study_id, "owner": me, "state": state})

        transaction(mark)

    return FinalizeClaim(release, me)


def wait_for_running_trials(
    study: optuna.Study, reap: Callable[[], None], poll_s: float
) -> list[str]:
    """Wait, for about two trials' time at most, until no search trial is RUNNING.

    Workers that reach ``--timeout`` together each stop after their own trial; waiting a
    little for the peers lets them all see the search end, so one finalizes and the
    others can say who. ``reap`` fails trials of dead workers, so a killed peer does not
    hold this up. Returns the workers whose trials still run (they finalize later).
    """
    deadline = time.monotonic() + max(10.0, 2 * _typical_trial_s(study))
    while True:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running or time.monotonic() >= deadline:
            return sorted({str(t.user_attrs.get("worker", "?")) for t in running})
        time.sleep(poll_s)
        reap()


def _typical_trial_s(study: optuna.Study) -> float:
    """Median seconds of the study's COMPLETE trials (60 when there are none)."""
    spans = sorted(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.datetime_complete is not None and t.datetime_start is not None
    )
    return spans[len(spans) // 2] if spans else 60.0
