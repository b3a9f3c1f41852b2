"""Data a test must find before it runs, so reads hit and pops pop.

redis-benchmark's own keys: ``-r N`` makes GET read ``key:%012d`` for 0 <= d < N, and
LPOP/RPOP, SPOP and ZPOPMIN pop from ``mylist``, ``myset`` and ``myzset``. An empty
structure would make those tests measure misses (nil replies), not the command.
LRANGE_* need no help: redis-benchmark runs an LPUSH pass first by itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

BATCH = 1000

POP_KEYS: dict[str, tuple[str, str]] = {
    "lpop": ("RPUSH", "mylist"),
    "rpop": ("RPUSH", "mylist"),
    "spop": ("SADD", "myset"),
    "zpopmin": ("ZADD", "myzset"),
}
"""Pop test -> (command that fills it, key redis-benchmark pops from)."""

SIZE_COMMAND = {"RPUSH": "LLEN", "SADD": "SCARD", "ZADD": "ZCARD"}


def resp(args: Sequence[str]) -> bytes:
    """One command in RESP, as ``redis-cli --pipe`` reads it."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _element(i: int) -> str:
    return f"element:{i:012d}"


def commands(test: str, *, keyspace: int, data_size: int, requests: int) -> Iterator[list[str]]:
    """The commands that prepare ``test``; none when it needs nothing."""
    value = "x" * data_size
    if test == "get":
        for start in range(0, keyspace, BATCH):
            cmd = ["MSET"]
            for i in range(start, min(start + BATCH, keyspace)):
                cmd += [f"key:{i:012d}", value]
            yield cmd
    elif test in POP_KEYS:
        fill, key = POP_KEYS[test]
        for start in range(0, requests, BATCH):
            cmd = [fill, key]
            for i in range(start, min(start + BATCH, requests)):
                if fill == "ZADD":
                    cmd += [str(i), _element(i)]
                elif fill == "SADD":
                    cmd.append(_element(i))
                else:
                    cmd.append(value)
            yield cmd


def payload(test: str, *, keyspace: int, data_size: int, requests: int) -> bytes:
    """RESP bytes for ``redis-cli --pipe``; empty when ``test`` needs no data."""
    return b"".join(
        resp(c) for c in commands(test, keyspace=keyspace, data_size=data_size, requests=requests)
    )
