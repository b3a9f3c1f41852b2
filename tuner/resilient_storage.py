"""An Optuna RDB storage that rides out a database outage instead of dying on it.

Optuna's ``RDBStorage`` raises on the first lost connection, as a ``StorageInternalError``
that blames "invalid data in the commit". Here every storage call is retried with backoff
while the database is unreachable, for up to ``outage_limit_s`` counted from the first
failure of the outage (one clock for all threads of the process). A worker blocked in
``tell`` keeps its measurement in memory and writes it once the database is back. Past the
limit, :class:`DatabaseOutage` names the database and how long it was gone.

After an outage, a worker does not fail peers' trials for stale heartbeats until one grace
period has passed: their heartbeats stopped because the database was down, not because
they died.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy
import sqlalchemy.exc
import sqlalchemy.orm
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

__all__ = [
    "OUTAGE_LIMIT_S",
    "DatabaseOutage",
    "OutageNotice",
    "ResilientRDBStorage",
    "connection_error",
]

#: Seconds a worker waits for its database to come back before it stops.
OUTAGE_LIMIT_S = 60.0
#: Pauses between attempts while the database is down (the last one repeats).
BACKOFF_S = (0.25, 0.5, 1.0, 2.0)

#: SQLSTATE classes of a server that is unreachable or busy: connection exception,
#: operator intervention (shutting down, starting up), insufficient resources.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "57", "53"})
DEADLOCK_STATES = frozenset({"40001", "40P01"})
#: Connect-time server answers that retrying cannot change (missing database or role,
#: bad password, no access rule).
PERMANENT_CONNECT_ERRORS = ("does not exist", "authentication failed", "no pg_hba.conf entry")

T = TypeVar("T")
OutageNotice = Callable[[str], None]


class DatabaseOutage(RuntimeError):
    """The database stayed unreachable for longer than the outage limit."""

    def __init__(self, url: str, down_s: float, limit_s: float, cause: BaseException) -> None:
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(
            f"database {url} unreachable for {down_s:.0f} s, longer than the "
            f"{limit_s:g} s outage limit (--db-outage-limit): {reason}. This worker stopped; "
            "finished trials are stored, the running one is re-queued: run the same command "
            "again once the database is back"
        )
        self.url = url
        self.down_s = down_s
        self.limit_s = limit_s
        self.reason = reason


def connection_error(exc: BaseException | None) -> BaseException | None:
    """The driver error in ``exc``'s chain when it says the database is unreachable, else None.

    Optuna wraps SQLAlchemy errors in ``StorageInternalError``; the cause is kept as
    ``__cause__``. Transient: a refused or dropped connection (no SQLSTATE, or class 08), a
    server shutting down, starting up or out of connections (57, 53), a deadlock, and
    SQLite's "database is locked". A missing database, bad credentials or invalid data are
    not, and are raised at once.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlalchemy.exc.DisconnectionError):
            return exc
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and _transient(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _transient(exc: sqlalchemy.exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        text = str(exc.orig).lower()
        return "locked" in text or "busy" in text
    # A refused login is not an outage, though psycopg reports it without a SQLSTATE.
    if any(text in str(exc.orig) for text in PERMANENT_CONNECT_ERRORS):
        return False
    # psycopg 3 names it sqlstate, psycopg2 pgcode; None: the client could not connect.
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state is None or state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in DEADLOCK_STATES


class _OutageClock:
    """When the current outage began and when the last one ended, shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.recovered_at: float | None = None

    def failed(self) -> tuple[float, bool]:
        """Seconds the database has been down, and whether this failure began the outage."""
        now = time.monotonic()
        with self._lock:
            began = self.down_since is None
            if self.down_since is None:
                self.down_since = now
            return now - self.down_since, began

    def succeeded(self) -> float | None:
        """End the outage, if one was on; returns how long it lasted."""
        if self.down_since is None:  # the common case, without taking the lock
            return None
        now = time.monotonic()
        with self._lock:
            if self.down_since is None:
                return None
            lasted = now - self.down_since
            self.down_since = None
            self.recovered_at = now
            return lasted

    def recovered_within(self, seconds: float) -> bool:
        return self.recovered_at is not None and time.monotonic() - self.recovered_at < seconds


class ResilientRDBStorage(RDBStorage):
    """``RDBStorage`` whose calls wait out a database outage of up to ``outage_limit_s``.

    ``on_outage`` (settable later) hears when an outage begins and ends, for the progress
    display. Optuna still wraps it in its ``_CachedStorage``, as it does any RDBStorage.
    """

    def __init__(
        self,
        url: str,
        *,
        outage_limit_s: float = OUTAGE_LIMIT_S,
        on_outage: OutageNotice | None = None,
        display_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.outage_limit_s = outage_limit_s
        self.on_outage = on_outage
        self.display_url = display_url or url
        #: Called with the DatabaseOutage before it is raised; it may raise its own error
        #: instead (the dashboard answers 503).
        self.on_give_up: Callable[[DatabaseOutage], None] | None = None
        self._outage = _OutageClock()
        #: study id -> {trial id: when first seen RUNNING without a heartbeat}
        self._silent_since: dict[int, dict[int, float]] = {}
        super().__init__(url, **kwargs)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_outage", None)
        state.pop("_silent_since", None)
        state.pop("on_outage", None)
        state.pop("on_give_up", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._outage = _OutageClock()
        self._silent_since = {}
        self.on_outage = None
        self.on_give_up = None

    def _retry(self, call: Callable[[], T]) -> T:
        """Run ``call``; while the database is unreachable, retry until the outage limit."""
        attempt = 0
        while True:
            try:
                result = call()
            except DatabaseOutage:
                raise
            except Exception as exc:
                cause = connection_error(exc)
                if cause is None:
                    raise
                down_s, began = self._outage.failed()
                if down_s >= self.outage_limit_s:
                    outage = DatabaseOutage(self.display_url, down_s, self.outage_limit_s, cause)
                    break
                if began:
                    self._notify(
                        f"database {self.display_url} unreachable: retrying for up to "
                        f"{self.outage_limit_s:g} s ({_first_line(cause)})"
                    )
                pause = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                time.sleep(min(pause, max(self.outage_limit_s - down_s, 0.0) + 0.01))
                attempt += 1
                continue
            lasted = self._outage.succeeded()
            if lasted is not None:
                self._notify(f"database {self.display_url} is back after {lasted:.0f} s")
            return result
        # Out of the except block, so a replacement error chains to no driver error.
        if self.on_give_up is not None:
            self.on_give_up(outage)
        raise outage

    def _notify(self, message: str) -> None:
        if self.on_outage is not None:
            with contextlib.suppress(Exception):  # a display problem must not stop retries
                self.on_outage(message)

    # ------------------------------------------------------------ calls with special cases

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Finish a trial; a retry after a commit whose reply was lost finds it written."""
        attempts = 0

        def once() -> bool:
            nonlocal attempts
            attempts += 1
            try:
                return RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except UpdateFinishedTrialError:
                if attempts > 1 and self._holds(trial_id, state, values):
                    return True
                raise

        return self._retry(once)

    def set_trial_attrs(
        self,
        trial_id: int,
        user_attrs: Mapping[str, Any],
        system_attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Write several user (and system) attrs of a running trial in one transaction.

        Optuna writes one attr per transaction; a measured trial carries a dozen. Each
        write is an upsert, so a retry after a lost reply writes the same rows again.
        """

        def once() -> None:
            with _create_scoped_session(self.scoped_session, True) as session:
                for key, value in user_attrs.items():
                    self._set_trial_attr_without_commit(
                        session, models.TrialUserAttributeModel, trial_id, key, value
                    )
                for key, value in (system_attrs or {}).items():
                    self._set_trial_attr_without_commit(
                        session, models.TrialSystemAttributeModel, trial_id, key, value
                    )

        self._retry(once)

    def _holds(self, trial_id: int, state: TrialState, values: Sequence[float] | None) -> bool:
        trial = RDBStorage.get_trial(self, trial_id)
        return trial.state == state and (values is None or trial.values == list(values))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Stale trials, and orphans: RUNNING trials that never beat, seen for a grace.

        An orphan is left when the database wrote a new trial (or took a queued one) but
        the reply was lost: the retried call makes another, and the first never gets a
        heartbeat, which Optuna alone would never reap. This process's monotonic clock
        times it (the trial's start is another host's clock). Right after an outage,
        nothing is stale: peers get one grace period to beat again.
        """
        interval = self.heartbeat_interval or 0
        grace = self.grace_period if self.grace_period is not None else 2 * interval
        stale, silent = self._retry(lambda: self._stale_and_silent(study_id, grace))
        now = time.monotonic()
        seen = self._silent_since.setdefault(study_id, {})
        for trial_id in [t for t in seen if t not in silent]:
            del seen[trial_id]
        orphans = [t for t in silent if now - seen.setdefault(t, now) > grace]
        # Checked after the call: a call that waited out the outage ends it just now.
        if self._outage.recovered_within(grace):
            return []
        return stale + orphans

    def _stale_and_silent(self, study_id: int, grace: float) -> tuple[list[int], list[int]]:
        """RUNNING trials whose heartbeat is older than ``grace``, and those with none."""
        with _create_scoped_session(self.scoped_session, True) as session:
            now = session.execute(sqlalchemy.func.now()).scalar()
            assert now is not None
            now = now.replace(tzinfo=None)  # as Optuna compares heartbeats (naive)
            running = (
                session.query(models.TrialModel)
                .options(sqlalchemy.orm.selectinload(models.TrialModel.heartbeats))
                .filter(models.TrialModel.state == TrialState.RUNNING)
                .filter(models.TrialModel.study_id == study_id)
                .all()
            )
            stale, silent = [], []
            for trial in running:
                if not trial.heartbeats:
                    silent.append(trial.trial_id)
                elif now - trial.heartbeats[0].heartbeat > timedelta(seconds=grace):
                    stale.append(trial.trial_id)
            return stale, silent


class _LostConnectionNote(logging.Filter):
    """Drops Optuna's "Caught an error from sqlalchemy ... Falling back" warning when the
    error is a lost connection: the retry here handles it, and the SQL dump misleads."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("Falling back to a slower alternative" in text and "OperationalError" in text)


logging.getLogger("optuna.storages._rdb.storage").addFilter(_LostConnectionNote())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _retrying(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> T:
        return self._retry(lambda: method(self, *args, **kwargs))

    return call


# Every storage call Optuna makes, directly or through its _CachedStorage (which calls the
# private ones). Each is one database transaction, so a retry repeats it whole.
_RETRIED = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "_create_new_trial",
    "set_trial_param",
    "_set_trial_param",
    "get_trial_param",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "_get_trials",
    "get_best_trial",
    "_get_best_trial_id",
    "record_heartbeat",
    "get_current_version",  # optuna-dashboard checks the schema before each request
)
for _name in _RETRIED:
    setattr(ResilientRDBStorage, _name, _retrying(getattr(RDBStorage, _name)))
