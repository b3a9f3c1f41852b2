"""Interruption handling: turn SIGINT/SIGTERM into an exception, and leave no orphans.

The study loop runs inside :class:`InterruptGuard`. A signal raises :class:`Interrupted`
in the main thread, except inside ``guard.deferred()`` blocks (storage writes), where it
is held until the block ends so a trial is never half-written. After an interruption the
loop closes the runner and calls tuner.processes.kill_descendants as a safety net.

Runners that start processes record them in a per-worker tuner.pid_records.PidFile, so a
run that follows a SIGKILL (where no cleanup could happen) kills that run's servers first;
tuner.processes holds the process identity and clean-up helpers.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
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
            # run kills them from the dead run's pid record).
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
