"""Process identity and clean-up, built on psutil.

A pid alone is not a process: the kernel reuses pids. A pid with its start time names
one process for good, so a recorded server, a dead worker's trial or a tuner owning
containers is never mistaken for a newer process that got the same pid.
``owner_id()`` (``host:pid:start``) is that identity for a tuner process, as recorded on
trials, container labels and per-worker pid records.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass

import psutil

__all__ = [
    "ProcessId",
    "descendants",
    "kill_descendants",
    "owner_alive",
    "owner_id",
    "terminate",
]


@dataclass(frozen=True)
class ProcessId:
    """One process: its pid and start time (psutil's ``create_time``, 2 decimals)."""

    pid: int
    started: str

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        """The running process ``pid``, or None when it is gone (or a zombie)."""
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None  # A zombie holds nothing; its parent reaps it.
            return cls(pid, f"{proc.create_time():.2f}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
            return None

    @classmethod
    def parse(cls, text: str) -> ProcessId | None:
        """``PID:START`` as :meth:`__str__` writes it, or None when malformed."""
        pid, sep, started = text.strip().partition(":")
        return cls(int(pid), started) if sep and pid.isdigit() and started else None

    def alive(self) -> bool:
        """Whether this very process still runs (same pid, same start time)."""
        return ProcessId.of(self.pid) == self

    def __str__(self) -> str:
        return f"{self.pid}:{self.started}"


def owner_id(pid: int | None = None) -> str:
    """``host:pid:start`` of a tuner process: unique, and checkable for liveness."""
    pid = os.getpid() if pid is None else pid
    me = ProcessId.of(pid)
    return f"{socket.gethostname()}:{me if me is not None else f'{pid}:gone'}"


def owner_alive(owner: str) -> bool | None:
    """Whether the tuner process ``owner`` still runs; None when it ran on another host."""
    host, sep, rest = owner.partition(":")
    ident = ProcessId.parse(rest) if sep else None
    if ident is None:
        return False
    if host != socket.gethostname():
        return None
    return ident.alive()


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, children first."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_descendants(pid: int | None = None, *, timeout_s: float = 5.0) -> list[int]:
    """SIGTERM every descendant of ``pid`` (default: us), SIGKILL after ``timeout_s``."""
    victims = [i for i in map(ProcessId.of, descendants(os.getpid() if pid is None else pid)) if i]
    terminate(victims, timeout_s)
    return [v.pid for v in victims]


def terminate(victims: list[ProcessId], timeout_s: float) -> None:
    """SIGTERM each process (its whole group if it leads one), SIGKILL after ``timeout_s``.

    Identities are checked before every signal, so a pid reused meanwhile is left alone.
    """
    for victim in victims:
        if not victim.alive():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(victim.pid) == victim.pid:
                # Servers run in their own process group; take the whole group down.
                os.killpg(victim.pid, signal.SIGTERM)
            os.kill(victim.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    alive = list(victims)
    while alive and time.monotonic() < deadline:
        _reap()
        alive = [v for v in alive if v.alive()]
        if alive:
            time.sleep(0.05)
    for victim in alive:
        with contextlib.suppress(OSError):
            if victim.alive():
                os.kill(victim.pid, signal.SIGKILL)
    _reap()


def _reap() -> None:
    """Collect exited children so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
