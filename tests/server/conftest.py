"""Fixtures that start real Redis 8.0 and redis-server-optimized on free loopback ports.

Both always die with their whole process group. A missing binary skips, unless
REQUIRE_REAL_SERVERS=1 (CI), where it fails. RSO_SUBJECT=redis makes the "server under test" a
second Redis 8 so the differential harness itself can be checked Redis-vs-Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmark.redis8 import CACHE_BIN_DIR
from tests.server.resp import RespClient, Simple

REPO = Path(__file__).resolve().parents[2]
REDIS8_CACHE = CACHE_BIN_DIR  # `.ci/install redis8`, under $REDISEVOLVE_CACHE
SERVER_BIN = REPO / "server" / "target" / "release" / "redis-server-optimized"
ARTIFACTS = REPO / "artifacts"


def require_or_skip(reason: str) -> None:
    """Skip with `reason`, or fail when CI demands the real servers."""
    if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {reason}")
    pytest.skip(reason)


def redis8_tool(name: str) -> Path | None:
    """Locate a Redis 8 binary: $REDIS8_BIN_DIR, then the `.ci/install redis8` cache, then PATH."""
    candidates = []
    if os.environ.get("REDIS8_BIN_DIR"):
        candidates.append(Path(os.environ["REDIS8_BIN_DIR"]) / name)
    candidates.append(REDIS8_CACHE / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK) and _is_redis8(path):
            return path
    return None


def _is_redis8(path: Path) -> bool:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return " v=8." in out or out.startswith("redis-cli 8.") or "redis-benchmark 8." in out


def require_redis8_tool(name: str) -> Path:
    path = redis8_tool(name)
    if path is None:
        require_or_skip(
            f"Redis 8 {name} not found (REDIS8_BIN_DIR, {REDIS8_CACHE}, PATH); "
            "run `bash .ci/install redis8`"
        )
        raise AssertionError("unreachable")
    return path


def server_binary() -> Path | None:
    """The release binary of our server ($RSO_SERVER_BIN overrides)."""
    path = Path(os.environ.get("RSO_SERVER_BIN", SERVER_BIN))
    return path if path.is_file() and os.access(path, os.X_OK) else None


def require_server_binary() -> Path:
    path = server_binary()
    if path is None:
        require_or_skip(
            f"server binary {os.environ.get('RSO_SERVER_BIN', SERVER_BIN)} missing; build it with "
            "`cargo build --release --manifest-path server/Cargo.toml`"
        )
        raise AssertionError("unreachable")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    """A server process in its own process group, answering on 127.0.0.1:port."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout: float = 20.0) -> RunningServer:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before answering PING:\n"
                    f"{self.log_tail()}"
                )
            try:
                with RespClient("127.0.0.1", self.port, timeout=2) as client:
                    if client.execute("PING") == Simple(b"PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer PING in {ready_timeout}s:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def client(self, timeout: float = 10.0) -> RespClient:
        return RespClient("127.0.0.1", self.port, timeout=timeout)

    def open_fds(self) -> int:
        """Number of file descriptors the server process holds (sockets included)."""
        return len(list(Path(f"/proc/{self.pid}/fd").iterdir()))

    def rss_kb(self) -> int:
        """Resident set size of the server process (VmRSS, kB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("VmRSS not found")


def start_redis8(tmp: Path, extra: Sequence[str] = ()) -> RunningServer:
    binary = require_redis8_tool("redis-server")
    port = free_port()
    argv = [
        str(binary),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp),
        "--protected-mode",
        "no",
        *extra,
    ]
    return RunningServer("redis8", argv, port, tmp / f"redis8-{port}.log").start()


def start_ours(tmp: Path, config: Path | None = None) -> RunningServer:
    """Our server, or a second Redis 8 when RSO_SUBJECT=redis (harness self-check)."""
    if os.environ.get("RSO_SUBJECT") == "redis":
        return start_redis8(tmp)
    binary = require_server_binary()
    port = free_port()
    argv = [str(binary), "--port", str(port), "--bind", "127.0.0.1"]
    if config is not None:
        argv += ["--config", str(config)]
    return RunningServer("ours", argv, port, tmp / f"ours-{port}.log").start()


@pytest.fixture(scope="module")
def redis8(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_redis8(tmp_path_factory.mktemp("redis8"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_ours(tmp_path_factory.mktemp("ours"))
    try:
        yield server
    finally:
        server.stop()
