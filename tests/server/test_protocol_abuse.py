"""Bad input never crashes the server, hurts other clients, or grows memory without bound.

Each abuse runs against Redis 8.0 and our server alike (so the expectations are Redis's own),
while a well-behaved client stays connected and must still get correct answers afterwards.
Resident memory (VmRSS) is read before and after and written to artifacts/server-abuse-rss.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.server.conftest import ARTIFACTS, RunningServer, start_ours, start_redis8
from tests.server.resp import Error, RespClient, Simple, encode_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RSS_GROWTH_LIMIT_KB = 64 * 1024
CANARY = ("abuse:canary", "still-here")
RSS_RECORD: dict[str, dict[str, dict[str, int]]] = {}


@pytest.fixture(scope="module", params=["redis8", "ours"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp(f"abuse-{request.param}")
    server = start_redis8(tmp) if request.param == "redis8" else start_ours(tmp)
    server.name = request.param
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def watcher(target: RunningServer) -> Iterator[RespClient]:
    """A well-behaved client connected for the whole module."""
    with target.client() as client:
        assert client.execute("SET", *CANARY) == Simple(b"OK")
        yield client


def assert_healthy(target: RunningServer, watcher: RespClient) -> None:
    """The server lives and both the long-lived client and a new one get correct answers."""
    assert target.alive(), f"{target.name} died:\n{target.log_tail()}"
    assert watcher.execute("PING") == Simple(b"PONG")
    assert watcher.execute("GET", CANARY[0]) == CANARY[1].encode()
    with target.client() as fresh:
        assert fresh.execute("PING") == Simple(b"PONG")
        assert fresh.execute("ECHO", "x" * 1000) == b"x" * 1000


class RssProbe:
    """VmRSS before and after one abuse, recorded per server for the artifact."""

    def __init__(self, target: RunningServer, label: str) -> None:
        self.target, self.label = target, label

    def __enter__(self) -> RssProbe:
        self.before = self.target.rss_kb()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None or not self.target.alive():
            return
        time.sleep(0.2)  # let the server finish freeing connection buffers
        after = self.target.rss_kb()
        RSS_RECORD.setdefault(self.target.name, {})[self.label] = {
            "before_kb": self.before,
            "after_kb": after,
            "growth_kb": after - self.before,
        }
        print(f"\n[rss] {self.target.name} {self.label}: {self.before} kB -> {after} kB")
        _write_rss_artifact()
        assert after - self.before < RSS_GROWTH_LIMIT_KB, (
            f"{self.target.name} RSS grew {after - self.before} kB during {self.label}"
        )


def _write_rss_artifact() -> None:
    """Per-abuse numbers plus, per server, the first `before` and the last `after`."""
    out: dict[str, object] = {}
    for server, probes in RSS_RECORD.items():
        first, last = next(iter(probes.values())), list(probes.values())[-1]
        overall = {"before_kb": first["before_kb"], "after_kb": last["after_kb"]}
        out[server] = {"overall": overall, "probes": probes}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "server-abuse-rss.json").write_text(json.dumps(out, indent=2) + "\n")


def exchange(port: int, data: bytes, wait: float = 1.0) -> tuple[bytes, bool]:
    """Send raw bytes; return what came back and whether the server closed within `wait`."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        # Closed while we wrote: whatever it sent first is still readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        received = b""
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return received, False
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk


# Malformed requests where Redis answers deterministically: ours must send the same bytes and
# close (or keep open) the connection just as Redis does.
MALFORMED = {
    "non-numeric bulk length": b"*1\r\n$abc\r\n",
    "non-numeric multibulk length": b"*abc\r\n",
    "negative bulk length": b"*2\r\n$-3\r\n",
    "null bulk inside a request": b"*1\r\n$-1\r\n",
    "1 GB declared bulk": b"*1\r\n$1073741824\r\nabc",
    "bulk over 512 MB": b"*1\r\n$536870913\r\n",
    "multibulk count over INT_MAX": b"*2147483648\r\n",
    "simple string inside a request": b"*1\r\n+PING\r\n",
    "integer inside a request": b"*2\r\n$4\r\nECHO\r\n:1\r\n",
    "empty and negative multibulk are ignored": b"*0\r\n*-5\r\n*1\r\n$4\r\nPING\r\n",
    "blank lines are ignored": b"\r\n\r\n*1\r\n$4\r\nPING\r\n",
    "inline commands": b"PING\r\nSET inl v\r\nGET inl\r\nPING  hello \r\n",
    "inline unbalanced quotes": b'SET a "b c\r\n',
    "inline quoted arguments": b"SET q \"a b\\r\\n\"\r\nGET q\r\nECHO 'x y'\r\n",
    "inline hex escape and tab": b'ECHO "\\x41\\x4a"\tx\r\nECHO "\\x41\\x4a"\r\n',
    "inline line over 64 KiB": b"ECHO " + b"v" * 200_000 + b"\r\n",
    "array inside a request": b"*2\r\n*1\r\n$4\r\nPING\r\n",
    "bulk length with plus sign": b"*1\r\n$+4\r\nPING\r\n",
    "bulk length with leading zero": b"*1\r\n$04\r\nPING\r\n",
    "multibulk length with plus sign": b"*+1\r\n$4\r\nPING\r\n",
    "bulk length with trailing space": b"*1\r\n$4 \r\nPING\r\n",
    "empty bulk length": b"*1\r\n$\r\nPING\r\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_matches_redis(
    redis8: RunningServer, ours: RunningServer, case: str
) -> None:
    expected = exchange(redis8.port, MALFORMED[case])
    got = exchange(ours.port, MALFORMED[case])
    assert got == expected, f"{case}: redis8 replied {expected}, ours {got}"
    assert ours.alive()


def test_malformed_requests_leave_others_unharmed(
    target: RunningServer, watcher: RespClient
) -> None:
    with RssProbe(target, "malformed requests x20"):
        for _ in range(20):
            for data in MALFORMED.values():
                exchange(target.port, data, wait=0.05)
    assert_healthy(target, watcher)


def test_huge_declared_lengths_do_not_allocate(target: RunningServer, watcher: RespClient) -> None:
    """A 1 GB bulk header, a 2^31-1 element array: rejected or awaited, never preallocated."""
    headers = [
        b"*1\r\n$1073741824\r\n" + b"x" * 1000,
        b"*2147483647\r\n",
        b"*1048576\r\n$4\r\nPING\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n" + b"y" * 1000,
    ]
    with RssProbe(target, "huge declared lengths x50"):
        socks = []
        for _ in range(50):
            for data in headers:
                sock = socket.create_connection(("127.0.0.1", target.port), timeout=5)
                sock.sendall(data)
                socks.append(sock)
        time.sleep(0.5)
        assert_healthy(target, watcher)
        for sock in socks:
            sock.close()
    assert_healthy(target, watcher)


def _pipeline(target: RunningServer, payload: bytes, count: int) -> list:
    with target.client(timeout=60) as client:
        return client.send_and_read(payload, count, timeout=120)


def test_100k_pings_in_one_write(target: RunningServer, watcher: RespClient) -> None:
    count = 100_000
    with RssProbe(target, "100k PING pipeline"):
        replies = _pipeline(target, encode_command(["PING"]) * count, count)
    assert len(replies) == count
    assert all(r == Simple(b"PONG") for r in replies)
    assert_healthy(target, watcher)


def test_100k_sets_then_gets_in_one_write(target: RunningServer, watcher: RespClient) -> None:
    count, keyspace = 100_000, 1000
    sets = b"".join(encode_command(["SET", f"pipe:{i % keyspace}", f"v{i}"]) for i in range(count))
    gets = b"".join(encode_command(["GET", f"pipe:{i % keyspace}"]) for i in range(count))
    with RssProbe(target, "100k SET + 100k GET pipelines"):
        set_replies = _pipeline(target, sets, count)
        get_replies = _pipeline(target, gets, count)
    assert set_replies == [Simple(b"OK")] * count
    last_write = {i % keyspace: i for i in range(count)}
    expected = [f"v{last_write[i % keyspace]}".encode() for i in range(count)]
    assert get_replies == expected
    assert_healthy(target, watcher)


def test_mixed_pipeline_with_errors_keeps_order(target: RunningServer, watcher: RespClient) -> None:
    commands = []
    for i in range(20_000):
        commands.append(["INCR", "pipe:counter"])
        commands.append(["GET"] if i % 7 == 0 else ["ECHO", str(i)])
    payload = b"".join(encode_command(c) for c in commands)
    replies = _pipeline(target, payload, len(commands))
    for i in range(20_000):
        assert isinstance(replies[2 * i], int)
        if i % 7 == 0:
            assert replies[2 * i + 1] == Error(b"ERR wrong number of arguments for 'get' command")
        else:
            assert replies[2 * i + 1] == str(i).encode()
    assert replies[-2] - replies[0] == 20_000 - 1
    assert_healthy(target, watcher)


HALF_FRAMES = [
    b"*3\r\n$3\r\nSET\r\n$1\r\nk",
    b"*3\r\n$3\r\nSET\r\n$5\r\nhalf:\r\n$100\r\n" + b"z" * 50,
    b"*2\r\n$4\r\nECHO\r\n$1073741824\r\nabc",
    b"*100\r\n",
    b"*1\r\n$4\r\nPI",
    b"SET inline-half va",
    encode_command(["SET", "x", "y" * 100_000])[:60_000],
]


def wait_for_fds(target: RunningServer, limit: int, timeout: float = 10.0) -> int:
    """Poll until the server holds at most `limit` fds (closed clients cleaned up)."""
    deadline = time.monotonic() + timeout
    while True:
        fds = target.open_fds()
        if fds <= limit or time.monotonic() > deadline:
            return fds
        time.sleep(0.1)


def test_clients_vanishing_mid_frame(target: RunningServer, watcher: RespClient) -> None:
    """Each vanished client is cleaned up: no fd, no connection state, no memory left behind."""
    fds_before = target.open_fds()
    with RssProbe(target, "600 clients vanishing mid-frame"):
        for round_ in range(600 // len(HALF_FRAMES) + 1):
            for i, frame in enumerate(HALF_FRAMES):
                sock = socket.create_connection(("127.0.0.1", target.port), timeout=5)
                sock.sendall(frame)
                if (round_ + i) % 2:
                    # Abortive close: the server sees a reset instead of EOF.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            if round_ % 20 == 0:
                assert_healthy(target, watcher)
        time.sleep(0.5)
    assert_healthy(target, watcher)
    assert watcher.execute("EXISTS", "k", "half:", "x", "inline-half") == 0
    fds_after = wait_for_fds(target, fds_before + 5)
    print(f"\n[fds] {target.name}: {fds_before} before, {fds_after} after 600 vanished clients")
    assert fds_after <= fds_before + 5, (
        f"{target.name} leaked {fds_after - fds_before} connections of vanished clients"
    )


def test_many_idle_connections(target: RunningServer, watcher: RespClient) -> None:
    before = target.open_fds()
    with RssProbe(target, "300 idle connections"):
        socks = [socket.create_connection(("127.0.0.1", target.port)) for _ in range(300)]
        assert_healthy(target, watcher)
        for sock in socks:
            sock.close()
    assert_healthy(target, watcher)
    assert wait_for_fds(target, before + 5) <= before + 5, "idle connections not cleaned up"


@pytest.fixture(scope="module")
def small_buffer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Our server with buffers.max_size at its minimum (64 KiB)."""
    tmp = tmp_path_factory.mktemp("small-max-size")
    config = tmp / "perf_config.toml"
    config.write_text("[buffers]\nmax_size = 65536\nread_size = 4096\n")
    server = start_ours(tmp, config=config)
    server.name = "ours (max_size 64 KiB)"
    try:
        yield server
    finally:
        server.stop()


QUERY_LIMIT = 65536


@pytest.mark.parametrize(
    "oversized",
    [
        pytest.param(encode_command(["SET", "big", "v" * (4 * QUERY_LIMIT)]), id="bulk-4x-limit"),
        pytest.param(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1000000\r\n", id="declared-bulk-15x"),
        pytest.param(b"SET big " + b"v" * (4 * QUERY_LIMIT), id="inline-without-newline"),
        pytest.param(b"*200000\r\n" + b"$1\r\na\r\n" * 30_000, id="many-args-over-limit"),
    ],
)
def test_query_over_max_size_gets_error_and_close(
    small_buffer_server: RunningServer, oversized: bytes, request: pytest.FixtureRequest
) -> None:
    if os.environ.get("RSO_SUBJECT") == "redis":
        pytest.skip("buffers.max_size is our server's knob")
    server = small_buffer_server
    with server.client() as watcher:
        assert watcher.execute("SET", *CANARY) == Simple(b"OK")
        with (
            RssProbe(server, f"over max_size: {request.node.callspec.id}"),
            server.client() as abuser,
        ):
            # The server may close while we still write; the error reply must arrive anyway.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                abuser.send_raw(oversized)
            try:
                reply = abuser.read_reply(timeout=10)
            except (ConnectionError, TimeoutError) as exc:
                pytest.fail(f"no error reply before close: {exc!r}")
            assert isinstance(reply, Error) and reply.value.startswith(b"ERR"), reply
            assert abuser.is_closed_by_peer(timeout=5), "connection not closed after the error"
        assert_healthy(server, watcher)


def test_pipeline_larger_than_max_size_is_fine(small_buffer_server: RunningServer) -> None:
    """Many small commands in one write exceed max_size in total but never per query."""
    if os.environ.get("RSO_SUBJECT") == "redis":
        pytest.skip("buffers.max_size is our server's knob")
    count = 20_000  # ~ 600 KB in one write, 10x the 64 KiB limit
    payload = b"".join(encode_command(["SET", f"p{i % 50}", "v" * 10]) for i in range(count))
    replies = _pipeline(small_buffer_server, payload, count)
    assert replies == [Simple(b"OK")] * count


def test_rss_summary() -> None:
    """Print the VmRSS record of this module (the lead quotes it); it must cover both servers."""
    if not RSS_RECORD:
        pytest.skip("no abuse test ran in this session")
    for server, probes in RSS_RECORD.items():
        for label, numbers in probes.items():
            before, after = numbers["before_kb"], numbers["after_kb"]
            print(f"[rss] {server:22s} {label:40s} {before:>8} -> {after:>8} kB")
    assert {"redis8", "ours"} <= set(RSS_RECORD) or os.environ.get("RSO_SUBJECT") == "redis"
    for server, probes in RSS_RECORD.items():
        ordered = list(probes.values())
        growth = ordered[-1]["after_kb"] - ordered[0]["before_kb"]
        print(f"[rss] {server}: {growth} kB overall growth across {len(ordered)} abuses")
        assert growth < RSS_GROWTH_LIMIT_KB, f"{server} grew {growth} kB over all abuses"


FRAGMENTED_PROGRAM = [
    ["SET", "frag:a", "x" * 300],
    ["PING"],
    ["RPUSH", "frag:l", "a", "b\r\nc", ""],
    ["LRANGE", "frag:l", "0", "-1"],
    ["HSET", "frag:h", "f", "v"],
    ["GET"],
    ["INCR", "frag:a"],
    ["MULTI"],
    ["INCR", "frag:n"],
    ["EXEC"],
    ["GET", "frag:a"],
]
FRAGMENTED_INLINE = b"PING\r\nECHO 'in line'\r\nGET frag:a\r\n"


@pytest.mark.parametrize("chunking", ["byte-by-byte", "random-splits"])
def test_fragmented_writes_match_redis(
    redis8: RunningServer, ours: RunningServer, chunking: str
) -> None:
    """Frames split at every possible point parse the same as when sent whole."""
    payload = b"".join(encode_command(c) for c in FRAGMENTED_PROGRAM) + FRAGMENTED_INLINE
    count = len(FRAGMENTED_PROGRAM) + 3
    rng = random.Random(11)
    replies = []
    for server in (redis8, ours):
        with server.client() as client:
            client.execute("DEL", "frag:a", "frag:l", "frag:h", "frag:n")
            pos = 0
            while pos < len(payload):
                step = 1 if chunking == "byte-by-byte" else rng.randint(1, 40)
                client.send_raw(payload[pos : pos + step])
                pos += step
                if chunking == "byte-by-byte" and pos % 50 == 0:
                    time.sleep(0.001)  # let some fragments arrive as separate reads
            replies.append(client.read_replies(count, timeout=30))
    assert replies[1] == replies[0]


def test_huge_argument_counts(redis8: RunningServer, ours: RunningServer) -> None:
    """Commands with 100k+ arguments give the same results as on Redis."""
    members = [f"m{i}" for i in range(100_000)]
    commands = [
        ["SADD", "many:s", *members],
        ["SCARD", "many:s"],
        ["MSET", *(x for m in members[:50_000] for x in (f"many:{m}", m))],
        ["EXISTS", *(f"many:{m}" for m in members[:50_000])],
        ["DEL", *(f"many:{m}" for m in members[:50_000]), "many:s"],
        ["RPUSH", "many:l", *members],
        ["LRANGE", "many:l", "99990", "-1"],
        ["DEL", "many:l"],
    ]
    results = []
    for server in (redis8, ours):
        with server.client(timeout=60) as client:
            results.append([client.execute(*c) for c in commands])
    assert results[1] == results[0]


def test_client_that_never_reads_does_not_stall_others(
    target: RunningServer, watcher: RespClient
) -> None:
    """20 MB of replies pile up for a client that never reads; everyone else is served meanwhile."""
    big = "z" * 10_000
    assert watcher.execute("SET", "stall:big", big) == Simple(b"OK")
    with RssProbe(target, "client never reading 20 MB of replies"):
        stalled = socket.create_connection(("127.0.0.1", target.port), timeout=10)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(encode_command(["GET", "stall:big"]) * 2000)
        time.sleep(0.5)
        started = time.monotonic()
        for _ in range(50):
            assert_healthy(target, watcher)
        elapsed = time.monotonic() - started
        stalled.close()
    assert elapsed < 10, f"other clients were slowed down: 50 health checks took {elapsed:.1f}s"
    assert_healthy(target, watcher)
