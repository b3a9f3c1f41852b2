"""UNLINK and FLUSHALL ASYNC answer at once and free in the background, on both servers.

The reference is DEL of the same data (synchronous in both: Redis 8.0's lazyfree-lazy-user-del
is no). Freeing a set of 1M members takes tens to hundreds of milliseconds; handing it to a
freeing thread takes microseconds, so a bound of a quarter of the DEL time leaves a wide margin
for a noisy machine and still fails a server that frees inline.
"""

from __future__ import annotations

import time

import pytest

from tests.server.conftest import RunningServer
from tests.server.resp import RespClient, Simple

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MEMBERS = 1_000_000
ATTEMPTS = 3


@pytest.fixture(params=["redis8", "ours"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def sadd_payload() -> bytes:
    head = b"*%d\r\n$4\r\nSADD\r\n$3\r\nbig\r\n" % (MEMBERS + 2)
    return head + (b"$8\r\n%08d\r\n" * MEMBERS) % tuple(range(MEMBERS))


def _load(client: RespClient, payload: bytes) -> None:
    assert client.send_and_read(payload, 1, timeout=120) == [MEMBERS]
    assert client.execute("SET", "small", "v") == Simple(b"OK")


def _timed(client: RespClient, *command: str) -> tuple[object, float]:
    started = time.perf_counter()
    reply = client.execute(*command)
    return reply, time.perf_counter() - started


def test_unlink_and_flushall_async_answer_before_the_freeing(
    server: RunningServer, sadd_payload: bytes
) -> None:
    with server.client(timeout=120) as client:
        client.execute("FLUSHALL")
        _load(client, sadd_payload)
        deleted, del_s = _timed(client, "DEL", "big")
        assert deleted == 1
        # Up to ATTEMPTS tries each: one scheduler stall on a busy machine can make a single
        # timing slow, while a server that frees inline is slow every time.
        for _ in range(ATTEMPTS):
            _load(client, sadd_payload)
            unlinked, unlink_s = _timed(client, "UNLINK", "big", "small")
            assert unlinked == 2
            assert client.execute("EXISTS", "big", "small") == 0
            if unlink_s < del_s / 4:
                break
        for _ in range(ATTEMPTS):
            _load(client, sadd_payload)
            flushed, flush_s = _timed(client, "FLUSHALL", "ASYNC")
            assert flushed == Simple(b"OK")
            assert client.execute("DBSIZE") == 0
            if flush_s < del_s / 4:
                break
        assert client.execute("SCARD", "big") == 0
        assert client.execute("SET", "after", "x") == Simple(b"OK")
        assert client.execute("GET", "after") == b"x"
        client.execute("FLUSHALL")
    print(
        f"[lazy-free] {server.name}: DEL {del_s:.4f}s UNLINK {unlink_s:.4f}s ASYNC {flush_s:.4f}s"
    )
    assert unlink_s < del_s / 4, f"{server.name}: UNLINK {unlink_s:.4f}s, DEL {del_s:.4f}s"
    assert flush_s < del_s / 4, f"{server.name}: FLUSHALL ASYNC {flush_s:.4f}s, DEL {del_s:.4f}s"
    assert server.alive()
