"""Every suite test against real Redis 8.0: a nonzero rate from a correctly prepared server,
and failures surfaced with redis-benchmark's own stderr."""

from __future__ import annotations

import pytest

from benchmark.client import LocalClient
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.invocation import check_not_exhausted, cli_command, flushall, prefill, run_test
from benchmark.server_info import rss_bytes, server_version
from benchmark.server_process import ServerProcess, free_port
from benchmark.workload import SUITE_TESTS, Workload

pytestmark = pytest.mark.integration

SMALL = Workload(tests=SUITE_TESTS, pipelines=(1, 16), keyspace=2000, requests=3000)


@pytest.mark.parametrize("pipeline", [1, 16])
def test_every_suite_test_reports_a_rate(
    redis8: ServerProcess, client: LocalClient, pipeline: int
) -> None:
    endpoint = redis8.endpoint
    for test in SUITE_TESTS:
        flushall(client, endpoint)
        prefill(client, endpoint, SMALL, test, pipeline, SMALL.requests or 0)
        row, seconds = run_test(client, endpoint, SMALL, test, pipeline, 3000, timeout=60)
        assert row.key == test and row.rps > 0 and seconds > 0
        assert row.p99_ms is not None
        check_not_exhausted(client, endpoint, test)


def _stat(client: LocalClient, endpoint: Endpoint, name: str) -> int:
    text = cli_command(client, endpoint, "INFO", "stats")
    line = next(x for x in text.splitlines() if x.startswith(name + ":"))
    return int(line.split(":")[1])


def test_get_after_prefill_measures_hits_only(redis8: ServerProcess, client: LocalClient) -> None:
    endpoint = redis8.endpoint
    flushall(client, endpoint)
    prefill(client, endpoint, SMALL, "get", 1, 3000)
    assert cli_command(client, endpoint, "DBSIZE").strip() == str(SMALL.keyspace)
    cli_command(client, endpoint, "CONFIG", "RESETSTAT")
    run_test(client, endpoint, SMALL, "get", 16, 20000, timeout=60)
    assert _stat(client, endpoint, "keyspace_misses") == 0
    assert _stat(client, endpoint, "keyspace_hits") >= 20000


def test_get_without_prefill_would_measure_misses(
    redis8: ServerProcess, client: LocalClient
) -> None:
    """The check above can fail: with no data every GET is a miss."""
    endpoint = redis8.endpoint
    flushall(client, endpoint)
    cli_command(client, endpoint, "CONFIG", "RESETSTAT")
    run_test(client, endpoint, SMALL, "get", 16, 5000, timeout=60)
    assert _stat(client, endpoint, "keyspace_misses") >= 5000


def test_pop_without_prefill_is_caught(redis8: ServerProcess, client: LocalClient) -> None:
    endpoint = redis8.endpoint
    flushall(client, endpoint)
    run_test(client, endpoint, SMALL, "spop", 1, 2000, timeout=60)
    with pytest.raises(BenchmarkError, match="emptied myset"):
        check_not_exhausted(client, endpoint, "spop")


def test_error_reply_is_an_error_with_stderr(redis8: ServerProcess, client: LocalClient) -> None:
    endpoint = redis8.endpoint
    flushall(client, endpoint)
    cli_command(client, endpoint, "SET", "mylist", "a-string")
    with pytest.raises(BenchmarkError, match="exited with status") as info:
        run_test(client, endpoint, SMALL, "lpop", 1, 2000, timeout=60)
    assert "WRONGTYPE" in info.value.stderr


def test_dead_server_is_an_error_with_stderr(client: LocalClient) -> None:
    endpoint = Endpoint("gone", "127.0.0.1", free_port())
    with pytest.raises(BenchmarkError) as info:
        run_test(client, endpoint, SMALL, "set", 1, 1000, timeout=30)
    assert "Connection refused" in info.value.stderr
    with pytest.raises(BenchmarkError, match="FLUSHALL"):
        flushall(client, endpoint)


def test_version_and_rss(redis8: ServerProcess, client: LocalClient) -> None:
    assert server_version(client, redis8.endpoint) == "redis 8.0.2"
    rss = rss_bytes(client, redis8.endpoint)
    assert rss is not None and 1_000_000 < rss < 1_000_000_000
    no_pid = Endpoint("x", redis8.endpoint.host, redis8.endpoint.port)
    rss_info = rss_bytes(client, no_pid)  # via INFO memory
    assert rss_info is not None and rss_info > 1_000_000
