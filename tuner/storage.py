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
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_STORAGE_URL = "sqlite:///studies/tuner.db"
#: Seconds between heartbeats of a running trial, and after which a silent trial is stale.
HEARTBEAT_INTERVAL_S = 30
GRACE_PERIOD_S = 120
CREATE_ATTEMPTS = 5

StaleTrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class StorageError(RuntimeError):
    """The storage URL cannot be opened; the message says which URL and why."""


def default_storage_url() -> str:
    """``$TUNER_STORAGE``, else ``sqlite:///studies/tuner.db`` (relative to the cwd)."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE_URL


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
) -> BaseStorage:
    """Open (creating if needed) the RDB storage at ``url``; default from default_storage_url.

    SQLite files get their parent directory created and a generous lock timeout, since
    several workers and the dashboard may share one file.
    """
    url = normalise_url(url or default_storage_url())
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif "://" not in url:
        raise StorageError(
            f"storage {url!r}: expected a database URL like sqlite:///studies/tuner.db "
            "or postgresql://user@host/db"
        )
    kwargs: dict[str, Any] = {}
    if heartbeat_interval is not None:
        kwargs = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": on_stale_trial,
        }
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                # Heartbeats are "experimental" in Optuna; we rely on them deliberately.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except Exception as exc:  # sqlalchemy/driver errors come in many classes
            # Workers starting together race to create the schema; the loser's retry
            # finds the tables the winner made.
            if attempt + 1 == CREATE_ATTEMPTS:
                raise StorageError(f"storage {redact(url)}: cannot open: {exc}") from exc
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
    raise AssertionError("unreachable")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
