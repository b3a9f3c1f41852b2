"""DOCKER_HOST is honoured: the runner's SDK calls, builds and execs all go to that engine.

A TCP-to-unix-socket forwarder stands in for a remote benchmark machine's engine
(``DOCKER_HOST=tcp://127.0.0.1:PORT``); it counts the connections that pass through it.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tuner.runners.base import Candidate
from tuner.runners.compose import ComposeRunner
from tuner.spec import load_spec

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.timeout(900)]

DOCKER_SOCKET = "/var/run/docker.sock"


class EngineForwarder:
    """Listens on a loopback TCP port and pipes every connection to the local engine socket."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(DOCKER_SOCKET)
            for src, dst in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        # Pass a half-close on: `docker exec -i` closes its write side after stdin's EOF
        # and still reads the output.
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


@pytest.fixture
def remote_engine(docker_engine: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineForwarder]:
    if not Path(DOCKER_SOCKET).exists():
        pytest.skip(f"the engine does not listen on {DOCKER_SOCKET}")
    forwarder = EngineForwarder()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{forwarder.port}")
    try:
        yield forwarder
    finally:
        forwarder.close()


def test_runner_uses_the_engine_docker_host_names(
    remote_engine: EngineForwarder, compose_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = load_spec(compose_spec())
    runtime, build = spec.split(spec.defaults())
    runner = ComposeRunner(spec, work_dir=tmp_path / "work")
    assert runner.config_transport == "copy"  # not a local socket: no bind mounts
    try:
        before = remote_engine.connections
        m = runner.evaluate(Candidate(runtime=runtime, build=build))
    finally:
        runner.close()
    assert math.isfinite(m.fitness) and m.repetitions == 2
    # Every PING, redis-benchmark and redis-cli run is a `docker exec` through the forwarder.
    execs = sum(1 for r in m.detail["runs"]) if "runs" in m.detail else 0
    assert remote_engine.connections - before > max(execs, 10)
    assert m.detail["engine"] == f"tcp://127.0.0.1:{remote_engine.port}"
