"""Which worker process runs a trial: the ``worker`` id recorded on every trial."""

from __future__ import annotations

from tuner.processes import owner_id


def worker_id() -> str:
    """``host:pid:start`` of this process; lets a later run spot a dead worker."""
    return owner_id()
