"""``tuner dashboard``: optuna-dashboard on the study storage (SQLite or Postgres).

The storage is opened through :func:`tuner.storage.open_storage`, so the dashboard gets
the same SQLite lock timeout as the study loop: a running study and the dashboard share
one file without "database is locked" failures. A missing SQLite file is an error here
rather than a new empty database (a typo in --storage should not look like "no studies").
"""

from __future__ import annotations

from pathlib import Path

from optuna.storages import BaseStorage

from tuner.storage import default_storage_url, normalise_url, open_storage, redact


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
    shown = redact(normalise_url(url or default_storage_url()))
    print(f"optuna-dashboard for {shown} on http://{host}:{port}/dashboard/", flush=True)
    try:
        run_server(storage, host=host, port=port)
    except OSError as exc:
        raise DashboardError(f"cannot listen on {host}:{port}: {exc}") from exc
