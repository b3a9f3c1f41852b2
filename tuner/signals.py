"""Interruption handling: turn SIGINT/SIGTERM into an exception, and leave no orphans.

The study loop runs inside :class:`InterruptGuard`. A signal raises :class:`Interrupted`
in the main thread, except inside ``guard.deferred()`` blocks (storage writes), where it
is held until the block ends so a trial is never half-written. After an interruption the
loop closes the runner and calls :func:`kill_descendants` as a safety net.

Runners that start processes record them in a :class:`PidFile` under the study dir, so a
run that follows a SIGKILL (where no cleanup could happen) kills leftover servers first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

#: Exit codes by convention 128 + signal number.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """The user or the system asked us to stop (SIGINT or SIGTERM).

    A BaseException like KeyboardInterrupt, so ``except Exception`` in a runner does not
    swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum), 128 + self.signum)


class InterruptGuard:
    """Installs SIGINT/SIGTERM handlers that raise Interrupted (or defer it)."""

    def __init__(self) -> None:
        self._depth = 0
        self._repeats = 0
        self.pending: int | None = None
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            # Already stopping: a second Ctrl-C must not abort the cleanup, but a user
            # pressing it a third time wants out now (children may be left; the next
            # run kills them from the pidfile).
            self._repeats += 1
            if self._repeats >= 2:
                os._exit(EXIT_CODES.get(signal.Signals(signum), 128 + signum))
            return
        if self._depth > 0:
            self.pending = signum
            return
        self.received = signum
        raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold signals until the block ends (for storage writes)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self.pending is not None and self.received is None:
                signum, self.pending = self.pending, None
                self.received = signum
                raise Interrupted(signum)


# ---------------------------------------------------------------------------- processes


def process_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid``, or None if it is gone.

    Together with the pid it names a process uniquely, so a reused pid is never killed.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None  # A zombie holds nothing; its parent reaps it.
    return int(fields[19])


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_map().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        p = queue.pop(0)
        found.append(p)
        queue.extend(children.get(p, []))
    return found


def kill_descendants(pid: int | None = None, *, timeout_s: float = 5.0) -> list[int]:
    """SIGTERM every descendant of ``pid`` (default: us), SIGKILL after ``timeout_s``."""
    root = os.getpid() if pid is None else pid
    victims = descendants(root)
    _terminate(victims, timeout_s)
    return victims


def _terminate(pids: list[int], timeout_s: float) -> None:
    for p in pids:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        _reap()
        alive = [p for p in alive if process_start_time(p) is not None]
        if alive:
            time.sleep(0.05)
    for p in alive:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    _reap()


def _reap() -> None:
    """Collect exited children so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


class PidFile:
    """Processes a runner started, one ``pid start_time`` line each.

    Runners call :meth:`add` after starting a server and :meth:`remove` after stopping
    it. The study loop calls :meth:`kill_leftovers` before its first trial.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        start = process_start_time(pid)
        if start is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(f"{pid} {start}\n")

    def remove(self, pid: int) -> None:
        entries = [e for e in self._entries() if e[0] != pid]
        self._write(entries)

    def kill_leftovers(self, timeout_s: float = 5.0) -> list[int]:
        """Kill recorded processes that still run (same pid and start time); clear the file."""
        alive = [pid for pid, start in self._entries() if process_start_time(pid) == start]
        for pid in alive:
            # Servers run in their own process group; take the whole group down.
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGTERM)
        _terminate(alive, timeout_s)
        self._write([])
        return alive

    def _entries(self) -> list[tuple[int, int]]:
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return []
        entries = []
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                entries.append((int(parts[0]), int(parts[1])))
        return entries

    def _write(self, entries: list[tuple[int, int]]) -> None:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.write_text("".join(f"{p} {s}\n" for p, s in entries))
