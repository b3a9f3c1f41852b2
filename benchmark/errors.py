"""Errors raised by the measurement package."""

from __future__ import annotations

from collections.abc import Sequence


class BenchmarkError(Exception):
    """A measurement that could not be taken: the tool failed, erred or reported no throughput.

    ``stderr`` (and ``stdout``) hold what the tool printed, so a failed trial carries its cause.
    """

    def __init__(
        self,
        message: str,
        *,
        stderr: str = "",
        stdout: str = "",
        argv: Sequence[str] = (),
    ) -> None:
        detail = message
        if stderr.strip():
            detail += f"\n--- stderr ---\n{stderr.strip()[-4000:]}"
        super().__init__(detail)
        self.message = message
        self.stderr = stderr
        self.stdout = stdout
        self.argv = tuple(argv)


class ServerStartError(BenchmarkError):
    """A server process that exited or never answered PING; ``log_tail`` holds its output."""

    def __init__(self, message: str, *, log_tail: str = "", argv: Sequence[str] = ()) -> None:
        super().__init__(message, stderr=log_tail, argv=argv)
        self.log_tail = log_tail
