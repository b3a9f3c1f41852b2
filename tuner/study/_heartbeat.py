"""Heartbeats of a running trial, so peers can tell a live worker from a dead one."""

from __future__ import annotations

import contextlib
import threading

from optuna.storages import BaseStorage


def heartbeat_interval(storage: BaseStorage) -> int | None:
    """The storage's heartbeat interval in seconds, or None when it keeps no heartbeats."""
    interval: int | None = getattr(storage, "get_heartbeat_interval", lambda: None)()
    return interval


def record_heartbeat(storage: BaseStorage, trial_id: int) -> None:
    """Record one heartbeat of a running trial now (no-op without heartbeats)."""
    if heartbeat_interval(storage):
        storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]


class Heartbeat:
    """Records a trial's heartbeat every interval while it runs (ask/tell has none)."""

    def __init__(self, storage: BaseStorage, trial_id: int, *, beat_now: bool = True) -> None:
        """Start beating; ``beat_now=False`` when the caller has just recorded a beat."""
        self._storage = storage
        self._trial_id = trial_id
        self._stop = threading.Event()
        interval = heartbeat_interval(storage)
        self._thread: threading.Thread | None = None
        if interval:
            if beat_now:
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)
            self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            # A missed beat only risks a later retry of this trial.
            with contextlib.suppress(Exception):
                self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
