"""Where studies live: an Optuna RDB storage (SQLite by default, Postgres for teams).

Heartbeats are on by default, so a trial whose process died (SIGKILL, power loss) is
marked FAIL once its heartbeat is older than the grace period, and re-queued by the
callback the study loop passes in.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from tuner.resilient_storage import (
    OUTAGE_LIMIT_S,
    OutageNotice,
    ResilientRDBStorage,
    connection_error,
)

STORAGE_ENV = "TUNER_STORAGE"
#: Seconds to wait out a database outage (default OUTAGE_LIMIT_S) before a command stops.
OUTAGE_LIMIT_ENV = "TUNER_DB_OUTAGE_LIMIT"
DEFAULT_STORAGE_URL = "sqlite:///studies/tuner.db"
#: Seconds between heartbeats of a running trial, and after which a silent trial is stale.
HEARTBEAT_INTERVAL_S = 30
GRACE_PERIOD_S = 120
CREATE_ATTEMPTS = 5

StaleTrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class StorageError(RuntimeError):
    """The storage URL cannot be opened; the message says which URL and why."""


class StorageUnreachable(StorageError):
    """The database server did not answer (down, restarting, wrong host or port)."""


def default_storage_url() -> str:
    """``$TUNER_STORAGE``, else ``sqlite:///studies/tuner.db`` (relative to the cwd)."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE_URL


def default_outage_limit() -> float:
    """``$TUNER_DB_OUTAGE_LIMIT`` seconds, else 60."""
    raw = os.environ.get(OUTAGE_LIMIT_ENV)
    if not raw:
        return OUTAGE_LIMIT_S
    try:
        limit = float(raw)
    except ValueError:
        raise StorageError(f"${OUTAGE_LIMIT_ENV}={raw!r}: expected seconds, e.g. 60") from None
    if limit < 0:
        raise StorageError(f"${OUTAGE_LIMIT_ENV}={raw!r}: must not be negative")
    return limit


def normalise_url(url: str) -> str:
    """Use the installed psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def open_storage(
    url: str | None = None,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = GRACE_PERIOD_S,
    on_stale_trial: StaleTrialCallback | None = None,
    outage_limit_s: float | None = None,
    on_outage: OutageNotice | None = None,
    wait_to_open: bool = False,
) -> ResilientRDBStorage:
    """Open (creating if needed) the RDB storage at ``url``; default from default_storage_url.

    SQLite files get their parent directory created and a generous lock timeout, since
    several workers and the dashboard may share one file. Every call waits out a database
    outage of up to ``outage_limit_s`` (default ``$TUNER_DB_OUTAGE_LIMIT`` or 60 s), opening
    included with ``wait_to_open`` (workers; elsewhere a wrong host or port should fail at
    once); ``on_outage`` hears when one begins and ends (see tuner.resilient_storage).
    """
    url = normalise_url(url or default_storage_url())
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif url.startswith("postgresql"):
        # After a server restart, pooled connections are dead: test each on checkout. A
        # network partition must fail a connect in bounded time, not the kernel's minutes.
        engine_kwargs["pool_pre_ping"] = True
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    elif "://" not in url:
        raise StorageError(
            f"storage {url!r}: expected a database URL like sqlite:///studies/tuner.db "
            "or postgresql://user@host/db"
        )
    limit = outage_limit_s if outage_limit_s is not None else default_outage_limit()
    kwargs: dict[str, Any] = {}
    if heartbeat_interval is not None:
        kwargs = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": on_stale_trial,
        }
    opened = time.monotonic()
    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():
                # Heartbeats are "experimental" in Optuna; we rely on them deliberately.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = ResilientRDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    outage_limit_s=limit,
                    on_outage=on_outage,
                    display_url=redact(url),
                    **kwargs,
                )
            if url.startswith("sqlite:///") and ":memory:" not in url:
                use_wal(storage.engine)
            return storage
        except Exception as exc:  # sqlalchemy/driver errors come in many classes
            attempt += 1
            down_s = time.monotonic() - opened
            if wait_to_open and connection_error(exc) is not None and down_s < limit:
                # The database is down (restarting?): wait for it as a running worker would.
                if attempt == 1 and on_outage is not None:
                    on_outage(f"database {redact(url)} unreachable: retrying for up to {limit:g} s")
                time.sleep(min(2.0, 0.25 * attempt))
                continue
            # Workers starting together race to create the schema; the loser's retry
            # finds the tables the winner made.
            if connection_error(exc) is not None:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise StorageUnreachable(
                    f"database {redact(url)} unreachable, cannot open: {reason}. Nothing was "
                    "changed: "
                    "run the same command again once the database is back"
                ) from exc
            if attempt >= CREATE_ATTEMPTS:
                raise StorageError(f"storage {redact(url)}: cannot open: {exc}") from exc
            time.sleep(0.2 * attempt + random.random() * 0.2)


def use_wal(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit no longer waits for fsync.

    A trial is some 60 small transactions (params, attrs, intermediate values, tell); with
    the default rollback journal each one fsyncs, which made the tuner's own cost about
    1-2 s per trial on a busy disk (see ``python -m tuner.scale``). WAL stays consistent
    after a crash and may lose only the last commits on power loss; readers (the
    dashboard) no longer block writers. WAL needs a local file system, not NFS.
    """

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened while creating the tables get the pragmas too


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
