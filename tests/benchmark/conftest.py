"""Fixtures for benchmark/ tests: Redis 8 binaries and pinned Redis 8 servers.

A missing Redis 8 skips the real-server tests, unless REQUIRE_REAL_SERVERS=1 (CI), where
it fails them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmark.client import LocalClient
from benchmark.pinning import default_cpu_sets
from benchmark.redis8 import find_redis8_bin_dir, redis_server_argv
from benchmark.server_process import ServerProcess

DATA = Path(__file__).resolve().parents[1] / "data" / "redis_benchmark"


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``, or fail when CI demands real servers."""
    if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis8_bin_dir() -> Path:
    found = find_redis8_bin_dir()
    if found is None:
        require_or_skip(
            "Redis 8 not found (REDIS8_BIN_DIR, /var/cache/redisevolve-ci/redis-8.0.2/bin, PATH); "
            "run `bash .ci/install redis8`"
        )
    assert found is not None
    return found


@pytest.fixture(scope="session")
def cpu_sets() -> tuple[str | None, str | None]:
    return default_cpu_sets()


@pytest.fixture
def redis8(
    redis8_bin_dir: Path, cpu_sets: tuple[str | None, str | None]
) -> Iterator[ServerProcess]:
    server = ServerProcess(redis_server_argv(redis8_bin_dir), name="redis8", cpus=cpu_sets[0])
    with server:
        yield server
    server.cleanup()


@pytest.fixture
def client(redis8_bin_dir: Path, cpu_sets: tuple[str | None, str | None]) -> LocalClient:
    return LocalClient(redis8_bin_dir, cpus=cpu_sets[1])
