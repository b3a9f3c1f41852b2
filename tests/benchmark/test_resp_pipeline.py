"""FLUSHALL and the prefill reach a strict RESP server that rejects stray empty lines.

The strict server is a few lines of Python on a real socket: it reads RESP arrays of
bulk strings only, answers ``-ERR protocol error`` to anything else (an empty line, an
inline command) and closes, as the third-party Rust server that ``redis-cli --pipe``
could not fill did.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmark.client import LocalClient
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.invocation import flushall, prefill
from benchmark.prefill import payload
from benchmark.redis8 import find_redis8_bin_dir
from benchmark.resp_pipeline import send_pipelined
from benchmark.workload import Workload

pytestmark = pytest.mark.timeout(60)


class StrictServer:
    """RESP arrays of bulk strings only; every command is recorded and answered."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.commands: list[list[str]] = []
        self.protocol_errors = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("strict", "127.0.0.1", self.port)

    def close(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self._session(conn, reader)

    def _session(self, conn: socket.socket, reader: object) -> None:
        assert hasattr(reader, "readline") and hasattr(reader, "read")
        while line := reader.readline():
            if not line.startswith(b"*"):
                self.protocol_errors += 1
                conn.sendall(b"-ERR protocol error\r\n")
                return
            args = []
            for _ in range(int(line[1:])):
                size = int(reader.readline()[1:])
                args.append(reader.read(size + 2)[:-2].decode())
            self.commands.append(args)
            name = args[0].upper()
            if name == "ECHO":
                conn.sendall(b"$%d\r\n%s\r\n" % (len(args[1]), args[1].encode()))
            elif name == "BOOM":
                conn.sendall(b"-ERR unknown command 'BOOM'\r\n")
            else:
                conn.sendall(b"+OK\r\n")


@pytest.fixture
def strict() -> Iterator[StrictServer]:
    server = StrictServer()
    yield server
    server.close()


def _local_client() -> LocalClient:
    directory = find_redis8_bin_dir()
    if directory is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but no Redis 8 (set REDIS8_BIN_DIR)")
        pytest.skip("no Redis 8")
    return LocalClient(directory, cpus=None, nice=None)


WORKLOAD = Workload.from_dict(
    {
        "tests": ["get", "lpop"],
        "pipelines": [1],
        "requests": 1500,
        "keyspace": 2500,
        "data_size": 8,
        "clients": 2,
        "duration_s": None,
    }
)


def test_flushall_and_prefill_reach_a_strict_server_exactly(strict: StrictServer) -> None:
    client = _local_client()
    prefill(client, strict.endpoint, WORKLOAD, "get", 1, 1500, flush=True)
    assert strict.protocol_errors == 0
    assert strict.commands[0] == ["FLUSHALL"]
    msets = strict.commands[1:]
    assert [c[0] for c in msets] == ["MSET"] * 3  # 2500 keys in batches of 1000
    keys = [k for c in msets for k in c[1::2]]
    assert keys == [f"key:{i:012d}" for i in range(2500)]
    # Nothing but the commands: no handshake, no closing ECHO.
    flushall(client, strict.endpoint)
    assert strict.commands[-1] == ["FLUSHALL"] and len(strict.commands) == 5
    assert strict.protocol_errors == 0


def test_redis_cli_pipe_is_what_strict_servers_reject(strict: StrictServer) -> None:
    """The defect: redis-cli --pipe's empty line draws -ERR protocol error."""
    directory = find_redis8_bin_dir()
    if directory is None or shutil.which(str(directory / "redis-cli")) is None:
        pytest.skip("no redis-cli 8")
    data = payload("get", keyspace=10, data_size=8, requests=0)
    subprocess.run(
        [str(directory / "redis-cli"), "-p", str(strict.port), "--pipe", "--pipe-timeout", "5"],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert strict.protocol_errors == 1


def test_error_replies_and_dead_servers_raise_naming_the_command(strict: StrictServer) -> None:
    with pytest.raises(BenchmarkError, match=r"BOOM x \.\.\. on strict@127\.0\.0\.1:\d+ replied -"):
        send_pipelined(strict.endpoint, [["SET", "a", "1"], ["BOOM", "x", "y"]])
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        dead = Endpoint("dead", "127.0.0.1", unused.getsockname()[1])
        with pytest.raises(BenchmarkError, match=r"pipelined commands to dead@.* failed after 0"):
            send_pipelined(dead, [["FLUSHALL"]], timeout=5)


def test_no_commands_opens_no_connection(tmp_path: Path) -> None:
    # Port 1 refuses connections: sending nothing must not even try.
    assert send_pipelined(Endpoint("none", "127.0.0.1", 1), []) == 0
