"""Which worker process runs a trial: the ``worker`` id recorded on every trial."""

from __future__ import annotations

import os
import socket

from tuner.signals import process_start_time


def worker_id() -> str:
    """``host:pid:start_time`` of this process; lets a later run spot a dead worker."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid)}"
