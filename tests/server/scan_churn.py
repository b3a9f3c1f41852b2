"""SCAN, SSCAN, HSCAN and ZSCAN while as many other elements are deleted or expire meanwhile.

Redis guarantees that an element present for the whole iteration is returned. `scan_under_churn`
counts the stable elements a server never returned; `python -m tests.server.scan_churn` prints
that count for Redis 8.0 and for our server (RSO_SERVER_BIN selects the binary, so the figure
before a fix can be measured with an old build).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.server.resp import Error, Reply, RespClient

__all__ = ["CASES", "ChurnResult", "scan_under_churn"]

# (command, how the other elements go away while the scan runs)
CASES: tuple[tuple[str, str], ...] = (
    ("SCAN", "del"),
    ("SCAN", "expire"),
    ("SSCAN", "del"),
    ("HSCAN", "del"),
    ("ZSCAN", "del"),
    ("ZSCAN", "pop"),
)
SCAN_MAX_CALLS = 20_000
EXPIRE_WAIT_S = 0.0012


@dataclass(frozen=True)
class ChurnResult:
    """One iteration: how many stable elements it should return and how many it missed."""

    command: str
    mode: str
    stable: int
    removed: int
    calls: int
    missing: int
    phantoms: int


def _fill(client: RespClient, command: str, stable: list[bytes], doomed: list[bytes]) -> None:
    client.execute("FLUSHALL")
    # Interleaved, so a table that fills holes by moving its last entry moves stable ones too.
    n = min(len(stable), len(doomed))
    everything = [x for pair in zip(stable[:n], doomed[:n], strict=True) for x in pair]
    everything += stable[n:] + doomed[n:]
    chunk = 1000
    for start in range(0, len(everything), chunk):
        names = everything[start : start + chunk]
        if command == "SCAN":
            args: list[bytes] = [x for n in names for x in (n, b"v")]
            reply = client.execute("MSET", *args)
        elif command == "SSCAN":
            reply = client.execute("SADD", "coll", *names)
        elif command == "HSCAN":
            reply = client.execute("HSET", "coll", *[x for n in names for x in (n, b"v" + n)])
        else:
            # Doomed members score below the stable ones, so ZPOPMIN takes only doomed members.
            scores = [b"1" if n.startswith(b"doomed") else b"2" for n in names]
            reply = client.execute(
                "ZADD", "coll", *[x for s, n in zip(scores, names, strict=True) for x in (s, n)]
            )
        if isinstance(reply, Error):
            raise RuntimeError(f"filling for {command} failed: {reply!r}")


def _remove(client: RespClient, command: str, mode: str, batch: list[bytes]) -> None:
    if not batch:
        return
    if mode == "expire":
        # Expire the batch in 1 ms, then touch it so the server really removes the keys (and
        # its active expiry cycle removes what the touch misses).
        client.pipeline([("PEXPIRE", n, 1) for n in batch])
        time.sleep(EXPIRE_WAIT_S)
        client.execute("EXISTS", *batch)
    elif mode == "pop":
        client.execute("ZPOPMIN", "coll", len(batch))
    elif command == "SCAN":
        client.execute("DEL", *batch)
    else:
        remove = {"SSCAN": "SREM", "HSCAN": "HDEL", "ZSCAN": "ZREM"}[command]
        client.execute(remove, "coll", *batch)


def _elements(command: str, items: list[Reply]) -> list[Reply]:
    """Names from one reply page (HSCAN and ZSCAN pages alternate name and value)."""
    return items[::2] if command in ("HSCAN", "ZSCAN") else items


def scan_under_churn(
    client: RespClient,
    command: str,
    mode: str,
    stable_n: int = 5000,
    doomed_n: int = 5000,
    per_call: int = 10,
) -> ChurnResult:
    """Fill, then iterate `command` to the end, removing `per_call` doomed elements after each
    call; returns how many stable elements the iteration never returned."""
    stable = [b"stable:%d" % i for i in range(stable_n)]
    doomed = [b"doomed:%d" % i for i in range(doomed_n)]
    _fill(client, command, stable, doomed)
    random.Random(9).shuffle(doomed)  # removed in an order unrelated to insertion
    prefix: tuple[str, ...] = () if command == "SCAN" else ("coll",)
    seen: set[bytes] = set()
    cursor, calls, removed = b"0", 0, 0
    while calls < SCAN_MAX_CALLS:
        reply = client.execute(command, *prefix, cursor)
        calls += 1
        if not (
            isinstance(reply, list)
            and len(reply) == 2
            and isinstance(reply[0], bytes)
            and isinstance(reply[1], list)
        ):
            raise RuntimeError(f"{command} replied {reply!r}")
        cursor = reply[0]
        seen.update(x for x in _elements(command, reply[1]) if isinstance(x, bytes))
        batch = doomed[removed : removed + per_call]
        _remove(client, command, mode, batch)
        removed += len(batch)
        if cursor == b"0":
            break
    else:
        raise RuntimeError(f"{command} did not finish within {SCAN_MAX_CALLS} calls")
    known = set(stable) | set(doomed)
    return ChurnResult(
        command=command,
        mode=mode,
        stable=stable_n,
        removed=removed,
        calls=calls,
        missing=sum(1 for s in stable if s not in seen),
        phantoms=len(seen - known),
    )


def main() -> None:
    from tests.server.conftest import start_ours, start_redis8

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stable", type=int, default=5000)
    parser.add_argument("--doomed", type=int, default=5000)
    parser.add_argument("--config", type=Path, help="our server's perf config (e.g. num_shards)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = [start_redis8(Path(tmp)), start_ours(Path(tmp), args.config)]
        try:
            print(f"{'command':7} {'mode':6} {'stable':>6} {'removed':>7} ", end="")
            print(" ".join(f"{s.name + ' missing':>15}" for s in servers))
            for command, mode in CASES:
                row = []
                for server in servers:
                    with server.client(timeout=30) as client:
                        try:
                            r = scan_under_churn(client, command, mode, args.stable, args.doomed)
                            row.append((str(r.missing), r.removed))
                        except RuntimeError as exc:
                            row.append((f"error: {str(exc)[:40]}", 0))
                removed = max(r for _, r in row)
                print(f"{command:7} {mode:6} {args.stable:>6} {removed:>7} ", end="")
                print(" ".join(f"{m:>15}" for m, _ in row))
        finally:
            for s in servers:
                s.stop()


if __name__ == "__main__":
    main()
