"""A server under test as a local process: pinned, on a free port, killed as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from benchmark.endpoint import Endpoint
from benchmark.errors import ServerStartError
from benchmark.pinning import DEFAULT_NICE, DEFAULT_SERVER_CPUS, nice_prefix, taskset_prefix

PING = b"*1\r\n$4\r\nPING\r\n"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a RESP server at host:port replies +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(PING)
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ServerProcess:
    """Start ``argv`` (``{port}`` is replaced by the chosen port) pinned to ``cpus``, at
    niceness ``nice`` (see benchmark.pinning.DEFAULT_NICE).

    The process leads its own session, so stop() kills it and anything it spawned.
    Output goes to a log file whose tail explains crashes and start timeouts.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str = "server",
        cpus: str | None = DEFAULT_SERVER_CPUS,
        nice: int | None = DEFAULT_NICE,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        ready_timeout: float = 30.0,
        log_path: str | Path | None = None,
    ) -> None:
        if not argv:
            raise ValueError("ServerProcess needs a non-empty argv")
        self.name = name
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.cpus = cpus
        self.nice = nice
        self.env = dict(env) if env is not None else None
        self.cwd = str(cwd) if cwd is not None else None
        self.ready_timeout = ready_timeout
        self._own_log = log_path is None
        if log_path is None:
            fd, temp = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
            os.close(fd)
            log_path = temp
        self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False

    @property
    def endpoint(self) -> Endpoint:
        pid = self._proc.pid if self._proc is not None else None
        return Endpoint(self.name, self.host, self.port, pid)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has ended, else None."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def crashed(self) -> bool:
        """The process ended without stop() being asked for."""
        return self._proc is not None and not self._stopping and self._proc.poll() is not None

    def start(self) -> ServerProcess:
        """Launch and wait until it answers PING; raises ServerStartError with the log tail."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        full = [*nice_prefix(self.nice), *taskset_prefix(self.cpus), *self.argv]
        env = {**os.environ, **self.env} if self.env is not None else None
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    full,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServerStartError(
                    f"{self.name}: cannot start {self.argv[0]}: {exc}", argv=full
                ) from None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with status {self._proc.returncode} before answering PING",
                    log_tail=self.log_tail(),
                    argv=full,
                )
            if answers_ping(self.host, self.port, timeout=0.5):
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise ServerStartError(
            f"{self.name} did not answer PING on {self.host}:{self.port} within "
            f"{self.ready_timeout:.0f}s",
            log_tail=tail,
            argv=full,
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; idempotent."""
        proc = self._proc
        if proc is None:
            return
        self._stopping = True
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        else:
            # The leader is gone; children it left in the group still must go.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cleanup(self) -> None:
        """Stop and delete a log file this object created."""
        self.stop()
        if self._own_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
