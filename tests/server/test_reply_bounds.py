"""Replies whose size comes from an argument are bounded by ``buffers.max_reply_size``.

``SRANDMEMBER key -N`` answers N random members, so a client picks the reply's size. Redis 8.0
accepts any N down to -LONG_MAX and builds the reply until memory runs out (checked by hand:
``SRANDMEMBER s -9223372036854775807`` on a one-member set took 14 GB in 30 s before it was
killed), so that case is not run against it here; only its range check is compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import RunningServer, start_ours
from tests.server.resp import Error

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RSS_GROWTH_LIMIT_KB = 64 * 1024


@pytest.fixture(params=["redis8", "ours"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def small_budget(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("reply-budget")
    config = tmp / "perf_config.toml"
    config.write_text("[buffers]\nmax_reply_size = 65536\n")
    server = start_ours(tmp, config)
    try:
        yield server
    finally:
        server.stop()


def test_srandmember_count_range_check_matches_redis(server: RunningServer) -> None:
    with server.client() as client:
        client.execute("DEL", "s")
        assert client.execute("SADD", "s", "a") == 1
        assert client.execute("SRANDMEMBER", "s", "-9223372036854775808") == Error(
            b"ERR value is out of range, value must between -9223372036854775807 and "
            b"9223372036854775807"
        )
        assert client.execute("SRANDMEMBER", "missing", "-9223372036854775807") == []
        client.execute("DEL", "s")


def test_srandmember_with_a_huge_negative_count_is_an_error_not_an_oom(
    ours: RunningServer,
) -> None:
    with ours.client(timeout=20) as client:
        assert client.execute("SADD", "huge", "a", "b") == 2
        before = ours.rss_kb()
        for count in ("-4000000000000000000", "-9223372036854775807", "-200000000"):
            assert client.execute("SRANDMEMBER", "huge", count) == Error(
                b"ERR reply exceeds buffers.max_reply_size (536870912 bytes)"
            ), count
        assert ours.rss_kb() - before < RSS_GROWTH_LIMIT_KB
        reply = client.execute("SRANDMEMBER", "huge", "-1000")
        assert isinstance(reply, list) and len(reply) == 1000
        assert set(reply) == {b"a", b"b"}
        client.execute("DEL", "huge")


def test_a_reply_that_grows_past_the_configured_limit_is_refused(
    small_budget: RunningServer,
) -> None:
    member = "m" * 100
    with small_budget.client() as client:
        assert client.execute("SADD", "s", member) == 1
        # 500 elements of 108 bytes fit in 64 KiB; 1000 do not, though 1000 minimal ones would.
        assert client.execute("SRANDMEMBER", "s", "-500") == [member.encode()] * 500
        assert client.execute("SRANDMEMBER", "s", "-1000") == Error(
            b"ERR reply exceeds buffers.max_reply_size (65536 bytes)"
        )
        assert client.execute("SCARD", "s") == 1
        assert client.execute("CONFIG", "GET", "buffers.max_reply_size") == [
            b"buffers.max_reply_size",
            b"65536",
        ]
