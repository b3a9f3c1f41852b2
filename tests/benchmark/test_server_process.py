"""ServerProcess against real processes: pinning, readiness, crashes, group kill."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from benchmark.errors import ServerStartError
from benchmark.pinning import parse_cpu_list, taskset_prefix
from benchmark.redis8 import redis_server_argv
from benchmark.server_process import ServerProcess, answers_ping, free_port

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_redis8_starts_pinned_on_a_free_port_and_stops(
    redis8_bin_dir: Path, cpu_sets: tuple[str | None, str | None]
) -> None:
    server = ServerProcess(redis_server_argv(redis8_bin_dir), name="base", cpus=cpu_sets[0])
    with server:
        endpoint = server.endpoint
        assert endpoint.name == "base" and endpoint.pid is not None
        assert answers_ping(endpoint.host, endpoint.port)
        if cpu_sets[0] is not None:
            status = Path(f"/proc/{endpoint.pid}/status").read_text()
            allowed = next(x for x in status.splitlines() if x.startswith("Cpus_allowed_list"))
            assert parse_cpu_list(allowed.split(":")[1].strip()) == parse_cpu_list(cpu_sets[0])
        assert server.returncode is None and not server.crashed
    assert not answers_ping(endpoint.host, endpoint.port)
    assert not server.crashed
    server.cleanup()


def test_exit_before_ready_raises_with_log_tail() -> None:
    argv = [sys.executable, "-c", "import sys; print('config rejected: bogus'); sys.exit(3)"]
    server = ServerProcess(argv, name="cand", cpus=None, ready_timeout=10)
    with pytest.raises(ServerStartError, match="exited with status 3") as info:
        server.start()
    assert "config rejected: bogus" in info.value.log_tail
    server.cleanup()


def test_start_timeout_kills_the_whole_group() -> None:
    # The server spawns a child and never listens: both must be gone after the timeout.
    script = (
        "import subprocess, time; p = subprocess.Popen(['sleep', '60']); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    server = ServerProcess([sys.executable, "-c", script], cpus=None, ready_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="did not answer PING"):
        server.start()
    assert time.monotonic() - started < 10
    child = int(server.log_tail().split()[0])
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert server.pid is not None and not _alive(server.pid)
    server.cleanup()


def test_crash_is_detected(redis8_bin_dir: Path) -> None:
    server = ServerProcess(redis_server_argv(redis8_bin_dir), cpus=None)
    server.start()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while server.returncode is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.crashed and server.returncode == -signal.SIGKILL
    server.cleanup()


def test_port_placeholder_is_filled() -> None:
    port = free_port()
    server = ServerProcess(["x", "--port", "{port}"], port=port)
    assert server.argv == ["x", "--port", str(port)]


def test_pinning_to_a_missing_cpu_warns_and_does_not_pin() -> None:
    with pytest.warns(RuntimeWarning, match="not pinning"):
        assert taskset_prefix("4095") == []
