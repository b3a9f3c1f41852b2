"""INFO tells the truth: hit/miss/error counters equal Redis 8.0's after the same commands,
ops/sec follows the load, and INFO's cost does not grow with the data."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from tests.server.conftest import RunningServer
from tests.server.resp import Arg, RespClient, Simple, encode_command

pytestmark = pytest.mark.timeout(180)

# Reads (counted as hits or misses), writes (not counted) and errors, over every family.
SEQUENCE: list[tuple[Arg, ...]] = [
    ("SET", "s", "v"),
    ("GET", "s"),
    ("GET", "nope"),
    ("MGET", "s", "nope", "s"),
    ("EXISTS", "s", "nope"),
    ("TYPE", "s"),
    ("TTL", "nope"),
    ("PTTL", "s"),
    ("EXPIRETIME", "s"),
    ("STRLEN", "s"),
    ("GETRANGE", "s", "0", "1"),
    ("SET", "s", "w", "GET"),
    ("SET", "s", "x"),
    ("SETNX", "s", "y"),
    ("GETSET", "s", "z"),
    ("GETDEL", "nope"),
    ("INCR", "n"),
    ("APPEND", "s", "a"),
    ("EXPIRE", "s", "100"),
    ("PERSIST", "s"),
    ("RPUSH", "l", "a", "b"),
    ("LLEN", "l"),
    ("LRANGE", "l", "0", "-1"),
    ("LINDEX", "nope", "0"),
    ("LPOP", "nope"),
    ("LSET", "l", "0", "c"),
    ("SADD", "set", "a", "b"),
    ("SISMEMBER", "set", "a"),
    ("SMEMBERS", "nope"),
    ("SCARD", "set"),
    ("SINTER", "set", "nope"),
    ("SUNIONSTORE", "dst", "set", "nope"),
    ("SRANDMEMBER", "set"),
    ("SSCAN", "set", "0"),
    ("HSCAN", "nope", "0"),
    ("ZSCAN", "z", "0"),
    ("SCAN", "0"),
    ("SREM", "set", "zz"),
    ("HSET", "h", "f", "1"),
    ("HGET", "h", "f"),
    ("HGETALL", "nope"),
    ("HDEL", "h", "zz"),
    ("HINCRBY", "h", "f", "2"),
    ("ZADD", "z", "1", "a"),
    ("ZSCORE", "z", "a"),
    ("ZRANGE", "nope", "0", "-1"),
    ("ZCARD", "z"),
    ("ZREM", "z", "zz"),
    ("XADD", "x", "*", "f", "v"),
    ("XLEN", "x"),
    ("XRANGE", "nope", "-", "+"),
    ("RENAME", "n", "n2"),
    ("DEL", "n2", "nope"),
    ("KEYS", "*"),
    ("DBSIZE",),
    # errors: WRONGTYPE on a read (still a hit), syntax, arity, unknown command, not an integer
    ("GET", "l"),
    ("LLEN", "s"),
    ("INCR", "s"),
    ("SET", "s", "v", "BOGUS"),
    ("GET",),
    ("NOSUCHCOMMAND",),
    ("RENAME", "nope", "x"),
    # MULTI: a queued arity error aborts EXEC (two errors); nested errors in EXEC count too
    ("MULTI",),
    ("SET", "q"),
    ("EXEC",),
    ("MULTI",),
    ("GET", "s"),
    ("LPUSH", "s", "x"),
    ("GET", "nope"),
    ("EXEC",),
]


def run_sequence(server: RunningServer) -> dict[str, int]:
    """FLUSHALL + RESETSTAT, the sequence, a protocol error, a lazily expired key; INFO stats."""
    with server.client() as c:
        assert c.execute("FLUSHALL") is not None
        assert c.execute("CONFIG", "RESETSTAT") is not None
        for cmd in SEQUENCE:
            c.execute(*cmd)
        # A key whose TTL ended: the read deletes it (expired_keys) and misses.
        c.execute("SET", "e", "v", "PX", "1")
        time.sleep(0.05)
        c.execute("GET", "e")
    with server.client() as bad:
        bad.send_raw(b"*1\r\n$-5\r\n")
        assert bad.is_closed_by_peer()
    with server.client() as c:
        return info_fields(c, "stats")


def info_fields(client: RespClient, section: str) -> dict[str, int]:
    text = client.execute("INFO", section)
    assert isinstance(text, bytes), text
    fields: dict[str, int] = {}
    for line in text.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and value.lstrip("-").isdigit():
            fields[key] = int(value)
    return fields


def test_hits_misses_and_errors_equal_redis8(ours: RunningServer, redis8: RunningServer) -> None:
    theirs = run_sequence(redis8)
    mine = run_sequence(ours)
    names = ["keyspace_hits", "keyspace_misses", "total_error_replies", "expired_keys"]
    assert {n: mine.get(n) for n in names} == {n: theirs[n] for n in names}
    # The sequence really exercises every counter (the comparison is not 0 == 0).
    assert all(theirs[n] > 0 for n in names), theirs


def _flood(port: int, stop: threading.Event) -> None:
    batch = encode_command(("PING",)) * 200
    with RespClient("127.0.0.1", port, timeout=20) as c:
        while not stop.is_set():
            c.send_raw(batch)
            c.read_replies(200)


@pytest.mark.parametrize("which", ["ours", "redis8"])
def test_instantaneous_ops_per_sec_follows_the_load(
    which: str, request: pytest.FixtureRequest
) -> None:
    server: RunningServer = request.getfixturevalue(which)
    stop = threading.Event()
    loader = threading.Thread(target=_flood, args=(server.port, stop), daemon=True)
    loader.start()
    try:
        time.sleep(2.0)  # 16 samples of 100 ms fill in 1.6 s
        with server.client() as c:
            busy = info_fields(c, "stats")["instantaneous_ops_per_sec"]
    finally:
        stop.set()
        loader.join(timeout=20)
    # Even a loaded 2-core machine runs far more than 1,000 pipelined PINGs per second.
    assert busy > 1000, busy
    time.sleep(2.0)
    with server.client() as c:
        idle = info_fields(c, "stats")["instantaneous_ops_per_sec"]
    assert idle < 50, idle  # only our own INFO


def _load_keys(client: RespClient, count: int) -> None:
    """MSETs of 1,000 keys each, encoded by hand (encode_command would dominate the test)."""
    per_command = 1000
    value = b"$16\r\n0123456789abcdef\r\n"
    chunks = []
    for start in range(0, count, per_command):
        n = min(per_command, count - start)
        parts = [b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * n)]
        for i in range(start, start + n):
            key = b"key:%d" % i
            parts.append(b"$%d\r\n%s\r\n%s" % (len(key), key, value))
        chunks.append(b"".join(parts))
    replies = client.send_and_read(b"".join(chunks), len(chunks), timeout=120)
    assert all(r == Simple(b"OK") for r in replies)


def _info_ms(client: RespClient, rounds: int = 15) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        client.execute("INFO")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def test_info_cost_does_not_grow_with_a_million_keys(ours: RunningServer) -> None:
    with ours.client(timeout=120) as c:
        c.execute("FLUSHALL")
        empty_ms = _info_ms(c)
        empty_mem = info_fields(c, "memory")["used_memory"]
        _load_keys(c, 1_000_000)
        full_ms = _info_ms(c)
        full = info_fields(c, "memory")
        keyspace = c.execute("INFO", "keyspace")
        assert isinstance(keyspace, bytes) and b"db0:keys=1000000," in keyspace
        c.execute("FLUSHALL")
        flushed_mem = info_fields(c, "memory")["used_memory"]
    # Walking 1M entries under every lock took well over 10 ms; counters take microseconds.
    # The margin (5 ms on the median of 15) absorbs a loaded machine.
    assert full_ms < empty_ms + 5.0, (empty_ms, full_ms)
    # used_memory is the allocator's live bytes: 1M keys of 16-byte values are > 40 MB, and
    # they are given back by FLUSHALL.
    assert full["used_memory"] > empty_mem + 40_000_000, (empty_mem, full)
    assert flushed_mem < empty_mem + 20_000_000, (empty_mem, flushed_mem)
