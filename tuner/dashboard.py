"""``tuner dashboard``: optuna-dashboard on the study storage (SQLite or Postgres).

The storage is opened through :func:`tuner.storage.open_storage`, so the dashboard gets
the same SQLite lock timeout as the study loop: a running study and the dashboard share
one file without "database is locked" failures. A missing SQLite file is an error here
rather than a new empty database (a typo in --storage should not look like "no studies").

When the database drops while it serves, the dashboard keeps serving: it says so in one
line when the outage begins and when it ends, and past the outage limit each request is
answered 503 naming the database (no traceback per request).
"""

from __future__ import annotations

import sys
from pathlib import Path

from optuna.storages import BaseStorage

from tuner.resilient_storage import DatabaseOutage, ResilientRDBStorage
from tuner.storage import default_storage_url, normalise_url, open_storage, redact

__all__ = ["DashboardError", "dashboard_storage", "serve"]


class DashboardError(RuntimeError):
    """The dashboard cannot start; the message says why."""


def dashboard_storage(url: str | None) -> BaseStorage:
    """Open ``url`` (default: $TUNER_STORAGE or studies/tuner.db) for reading by the dashboard."""
    url = normalise_url(url or default_storage_url())
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:" and not Path(path).is_file():
            raise DashboardError(
                f"no study database at {path}; run `tuner study run` first or pass "
                "--storage sqlite:///PATH or postgresql://..."
            )
    # No heartbeat: the dashboard only reads, and must never fail a running trial.
    return open_storage(url, heartbeat_interval=None)


def serve(url: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard until interrupted (blocks)."""
    from optuna_dashboard import run_server

    storage = dashboard_storage(url)
    if isinstance(storage, ResilientRDBStorage):
        _answer_outages(storage)
    shown = redact(normalise_url(url or default_storage_url()))
    print(f"optuna-dashboard for {shown} on http://{host}:{port}/dashboard/", flush=True)
    try:
        run_server(storage, host=host, port=port)
    except OSError as exc:
        raise DashboardError(f"cannot listen on {host}:{port}: {exc}") from exc


def _answer_outages(storage: ResilientRDBStorage) -> None:
    """One line when an outage begins and ends; past the limit, requests get a 503."""
    from bottle import HTTPError

    def say(message: str) -> None:
        print(f"dashboard: {message}", file=sys.stderr, flush=True)

    def answer_503(outage: DatabaseOutage) -> None:
        # optuna-dashboard's views answer an HTTPError with its status, without a traceback.
        raise HTTPError(503, f"database {outage.url} unreachable: {outage.reason}")

    storage.on_outage = say
    storage.on_give_up = answer_503
