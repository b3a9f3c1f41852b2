"""SCAN's guarantee under deletes and expiry, SSCAN/HSCAN/ZSCAN replies, and bounded glob patterns.

Every test runs against Redis 8.0 and against our server (16 partitions by default; SCAN also
with one), so the expectations are Redis's own behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import RunningServer, start_ours, start_redis8
from tests.server.resp import Error, RespClient, encode_command
from tests.server.scan_churn import CASES, scan_under_churn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SERVERS = ("redis8", "ours")
# `*a*a*...*a*b` against 60 `a`s: C(60, 25) ways to split without Redis's skipLongerMatches.
PATHOLOGICAL = "*a" * 25 + "*b"
PATTERN_TIMEOUT_S = 10.0


def _start(name: str, tmp: Path) -> RunningServer:
    if name == "redis8":
        return start_redis8(tmp)
    config: Path | None = None
    if name == "ours-1shard":
        config = tmp / "perf.toml"
        config.write_text("num_shards = 1\n")
    return start_ours(tmp, config)


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = _start(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = _start("ours-1shard", tmp_path_factory.mktemp("ours-1shard"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[RespClient]:
    with server.client(timeout=30) as c:
        c.execute("FLUSHALL")
        yield c


@pytest.mark.parametrize(("command", "mode"), CASES, ids=[f"{c}-{m}" for c, m in CASES])
def test_scan_returns_every_stable_element_while_others_go(
    client: RespClient, command: str, mode: str
) -> None:
    result = scan_under_churn(client, command, mode, stable_n=5000, doomed_n=5000)
    assert result.removed == 5000, f"the scan ended before all doomed elements went: {result}"
    assert result.missing == 0, f"{result.missing} of 5000 stable elements never returned: {result}"
    assert result.phantoms == 0, result


@pytest.mark.parametrize("mode", ["del", "expire"])
def test_scan_guarantee_with_one_partition(one_shard: RunningServer, mode: str) -> None:
    """The cursor encodes partition and bucket; with one partition it is the bucket alone."""
    with one_shard.client(timeout=30) as client:
        result = scan_under_churn(client, "SCAN", mode, stable_n=5000, doomed_n=5000)
    assert (result.removed, result.missing, result.phantoms) == (5000, 0, 0), result


def _page(reply: object) -> tuple[bytes, list[bytes]]:
    assert isinstance(reply, list) and len(reply) == 2, reply
    cursor, items = reply
    assert isinstance(cursor, bytes) and isinstance(items, list), reply
    return cursor, items


def test_small_collections_come_back_whole(client: RespClient) -> None:
    client.execute("SADD", "s", "a", "b", "c")
    client.execute("HSET", "h", "f1", "v1", "f2", "v2")
    client.execute("ZADD", "z", "0.1", "a", "3", "b", "1e20", "c", "inf", "d")
    assert sorted(_page(client.execute("SSCAN", "s", "0", "COUNT", "1"))[1]) == [b"a", b"b", b"c"]
    cursor, items = _page(client.execute("HSCAN", "h", "0", "COUNT", "1"))
    assert cursor == b"0" and dict(zip(items[::2], items[1::2], strict=True)) == {
        b"f1": b"v1",
        b"f2": b"v2",
    }
    assert _page(client.execute("HSCAN", "h", "0", "NOVALUES", "MATCH", "*2")) == (b"0", [b"f2"])
    # A listpack zset: whole, in score order, scores as stored.
    assert client.execute("ZSCAN", "z", "0") == [
        b"0",
        [b"a", b"0.1", b"b", b"3", b"c", b"1e+20", b"d", b"inf"],
    ]


def test_big_zset_pages_with_skiplist_scores(client: RespClient) -> None:
    """Past 128 members Redis holds a skiplist: ZSCAN pages it and prints scores with %.17g."""
    client.execute("ZADD", "z", *[x for i in range(200) for x in (f"{i}.1", f"m{i}")])
    scores: dict[bytes, bytes] = {}
    cursor, calls = b"0", 0
    while calls < 1000:
        cursor, items = _page(client.execute("ZSCAN", "z", cursor, "MATCH", "m1?"))
        calls += 1
        scores.update(zip(items[::2], items[1::2], strict=True))
        if cursor == b"0":
            break
    assert calls > 1
    assert scores == {b"m%d" % i: b"%.17g" % (i + 0.1) for i in range(10, 20)}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("SCAN", "abc"), Error(b"ERR invalid cursor")),
        (("SCAN", "-1"), Error(b"ERR invalid cursor")),
        (("SCAN", "18446744073709551616"), Error(b"ERR invalid cursor")),
        (("SCAN", "0", "COUNT", "0"), Error(b"ERR syntax error")),
        (("SCAN", "0", "COUNT", "x"), Error(b"ERR value is not an integer or out of range")),
        (("SCAN", "0", "MATCH"), Error(b"ERR syntax error")),
        (("SCAN", "0", "NOVALUES"), Error(b"ERR NOVALUES option can only be used in HSCAN")),
        (("SSCAN", "s", "0", "NOVALUES"), Error(b"ERR NOVALUES option can only be used in HSCAN")),
        (("ZSCAN", "z", "0", "TYPE", "string"), Error(b"ERR syntax error")),
        (("SSCAN", "nokey", "abc"), Error(b"ERR invalid cursor")),
        (("SSCAN", "nokey", "0", "bogus"), [b"0", []]),
        (
            ("HSCAN", "str", "0"),
            Error(b"WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        (("SCAN", "0", "TYPE", "nosuchtype"), [b"0", []]),
        (("SCAN", " 0", "TYPE", "STRING", "COUNT", "1000"), [b"0", [b"str"]]),
    ],
)
def test_scan_arguments_like_redis(
    client: RespClient, args: tuple[str, ...], expected: object
) -> None:
    client.execute("SET", "str", "x")
    client.execute("SADD", "s", "a")
    client.execute("ZADD", "z", "1", "a")
    assert client.execute(*args) == expected


@pytest.mark.parametrize("command", ["KEYS", "SCAN", "SSCAN", "HSCAN", "ZSCAN"])
def test_pathological_pattern_is_bounded(client: RespClient, command: str) -> None:
    subject = "a" * 60
    client.execute("SET", subject, "x")
    client.execute("SADD", "s", subject)
    client.execute("HSET", "h", subject, "x")
    client.execute("ZADD", "z", "1", subject)
    args = {
        "KEYS": ("KEYS", PATHOLOGICAL),
        "SCAN": ("SCAN", "0", "MATCH", PATHOLOGICAL, "COUNT", "1000"),
        "SSCAN": ("SSCAN", "s", "0", "MATCH", PATHOLOGICAL),
        "HSCAN": ("HSCAN", "h", "0", "MATCH", PATHOLOGICAL),
        "ZSCAN": ("ZSCAN", "z", "0", "MATCH", PATHOLOGICAL),
    }[command]
    start = time.monotonic()
    client.send_raw(encode_command(args))
    reply = client.read_reply(timeout=PATTERN_TIMEOUT_S)
    elapsed = time.monotonic() - start
    assert reply in ([], [b"0", []]), reply
    assert elapsed < PATTERN_TIMEOUT_S
    # The same shape with a `b` at the end does match.
    client.execute("SET", subject + "b", "x")
    assert client.execute("KEYS", PATHOLOGICAL) == [(subject + "b").encode()]
