"""Many clients at once under the configurations the tuner explores (threads, shards, batching).

Redis runs commands one at a time, so counters add up exactly, MULTI/EXEC and MSET are atomic and
multi-key commands never deadlock. Our server shards the keyspace and batches commands under held
locks: each test checks one of those guarantees against Redis 8 and several of our configs.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from tests.server.conftest import RunningServer, start_ours, start_redis8
from tests.server.differ import Differ
from tests.server.resp import Error, Reply, Simple, encode_command
from tests.server.test_differential import TARGETED, fresh, without_random

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CONFIGS = {
    "ours-default": None,
    "ours-4threads-16shards-always-batch": (
        "num_shards = 16\nthreads = 4\n[batching]\nmin_pipeline_buffer = 0\nbatch_threshold = 64\n"
    ),
    "ours-2threads-1shard-batch1": (
        "num_shards = 1\nthreads = 2\n[batching]\nmin_pipeline_buffer = 0\nbatch_threshold = 1\n"
        "[buffers]\nread_size = 512\n"
    ),
    "ours-3threads-1024shards-bigbatch": (
        "num_shards = 1024\nthreads = 3\n[response_pool]\ncapacity = 0\n"
        "[batching]\nmin_pipeline_buffer = 0\nbatch_threshold = 65536\n"
    ),
}


@pytest.fixture(scope="module", params=["redis8", *CONFIGS])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("concurrency")
    if request.param == "redis8":
        started = start_redis8(tmp)
    else:
        text = CONFIGS[request.param]
        config = None
        if text is not None:
            config = tmp / "perf_config.toml"
            config.write_text(text)
        started = start_ours(tmp, config=config)
    started.name = request.param
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def clean(server: RunningServer) -> RunningServer:
    with server.client() as client:
        assert client.execute("FLUSHDB") == Simple(b"OK")
    return server


def encode_all(commands: list[list[str]]) -> bytes:
    return b"".join(encode_command(c) for c in commands)


def run_concurrently(
    server: RunningServer, workloads: list[list[list[str]]], timeout: float = 120
) -> list[list[Reply]]:
    """Each workload is pipelined by its own client, all clients at the same time."""
    results: list[list[Reply] | BaseException] = [[] for _ in workloads]
    start = threading.Barrier(len(workloads))

    def worker(i: int) -> None:
        try:
            with server.client(timeout=timeout) as client:
                payload = encode_all(workloads[i])
                start.wait(timeout=30)
                results[i] = client.send_and_read(payload, len(workloads[i]), timeout)
        except BaseException as exc:  # reported below, with the worker's index
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(workloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    assert not any(t.is_alive() for t in threads), "clients still waiting: deadlock or lost replies"
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            raise AssertionError(f"client {i} failed: {result!r}\n{server.log_tail()}") from result
    assert server.alive(), server.log_tail()
    return [r for r in results if not isinstance(r, BaseException)]


def test_counters_add_up_exactly(clean: RunningServer) -> None:
    clients, rounds = 8, 2000
    workloads = [
        [
            cmd
            for j in range(rounds)
            for cmd in (
                ["INCR", "shared"],
                ["INCRBY", f"own:{i}", "2"],
                ["HINCRBY", "h", "f", "1"],
                ["ZINCRBY", "z", "1", "m"],
                ["RPUSH", "l", f"{i}:{j}"],
                ["SADD", "s", f"{i}:{j}"],
            )
        ]
        for i in range(clients)
    ]
    replies = run_concurrently(clean, workloads)
    for client_replies in replies:
        assert all(not isinstance(r, Error) for r in client_replies)
    with clean.client() as check:
        total = clients * rounds
        assert check.execute("GET", "shared") == str(total).encode()
        assert (
            check.execute("MGET", *(f"own:{i}" for i in range(clients)))
            == [str(2 * rounds).encode()] * clients
        )
        assert check.execute("HGET", "h", "f") == str(total).encode()
        assert check.execute("ZSCORE", "z", "m") == str(total).encode()
        assert check.execute("LLEN", "l") == total
        assert check.execute("SCARD", "s") == total
        # Each client's pushes keep their own order inside the shared list.
        items = check.execute("LRANGE", "l", 0, -1)
        assert isinstance(items, list)
        for i in range(clients):
            mine = [x for x in items if isinstance(x, bytes) and x.startswith(f"{i}:".encode())]
            assert mine == [f"{i}:{j}".encode() for j in range(rounds)]
    # INCR replies of one client are strictly increasing (no lost or duplicated update).
    for client_replies in replies:
        incrs = client_replies[0::6]
        assert all(isinstance(x, int) for x in incrs)
        assert incrs == sorted(set(incrs))  # type: ignore[type-var]


PAIRS = [(f"tx:a{i}", f"tx:b{i}") for i in range(8)]  # some pairs land on different shards


def test_transactions_and_mset_are_atomic(clean: RunningServer) -> None:
    writers, readers, rounds = 3, 3, 600
    writer_loads = [
        [
            cmd
            for j in range(rounds)
            for a, b in [PAIRS[(w + j) % len(PAIRS)]]
            for cmd in (
                ["MULTI"],
                ["INCR", a],
                ["INCR", b],
                ["EXEC"],
                ["MSET", f"{a}:m", f"{w}-{j}", f"{b}:m", f"{w}-{j}"],
            )
        ]
        for w in range(writers)
    ]
    reader_loads = [
        [["MGET", *keys] for j in range(rounds * 2) for keys in [_pair_keys(j)]]
        for _ in range(readers)
    ]
    results = run_concurrently(clean, writer_loads + reader_loads)
    for replies in results[writers:]:
        for reply in replies:
            assert isinstance(reply, list) and len(reply) == 4, reply
            assert reply[0] == reply[1], f"MULTI/EXEC seen half-applied: {reply}"
            assert reply[2] == reply[3], f"MSET seen half-applied: {reply}"
    with clean.client() as check:
        values = check.execute("MGET", *(a for a, _ in PAIRS))
        assert isinstance(values, list)
        total = sum(int(v) for v in values if isinstance(v, bytes))
        assert total == writers * rounds


def _pair_keys(j: int) -> list[str]:
    a, b = PAIRS[j % len(PAIRS)]
    return [a, b, f"{a}:m", f"{b}:m"]


def test_multi_key_commands_do_not_deadlock(clean: RunningServer) -> None:
    """Opposite key orders from many clients (the classic lock-order deadlock) all complete."""
    keys = [f"dl:{i}" for i in range(12)]
    rng = random.Random(7)

    def random_command() -> list[str]:
        x, y, z = rng.sample(keys, 3)
        return rng.choice(
            [
                ["MSET", x, "1", y, "2", z, "3"],
                ["RENAME", x, y],
                ["SADD", x, "m", "n"],
                ["SUNIONSTORE", x, y, z],
                ["SINTERSTORE", z, y, x],
                ["SDIFFSTORE", y, z, x],
                ["DEL", x, y, z],
                ["EXISTS", z, x, y],
                ["MGET", y, x, z],
                ["MSETNX", z, "1", x, "1"],
                ["MULTI"],
                ["EXEC"],
                ["UNLINK", y, x],
            ]
        )

    workloads = [[random_command() for _ in range(3000)] for _ in range(6)]
    replies = run_concurrently(clean, workloads, timeout=120)
    assert sum(map(len, replies)) == 6 * 3000
    with clean.client() as check:
        assert check.execute("PING") == Simple(b"PONG")


def test_keyspace_wide_commands_under_write_load(clean: RunningServer) -> None:
    writers = [
        [["SET", f"w{i}:{j}", "v"] for j in range(4000)] + [["DEL", f"w{i}:0"]] for i in range(4)
    ]
    scanner = [
        cmd
        for _ in range(150)
        for cmd in (["DBSIZE"], ["KEYS", "w1:*"], ["SCAN", "0", "COUNT", "50"])
    ]
    flusher = [cmd for j in range(50) for cmd in (["SET", f"f{j}", "v"], ["RANDOMKEY"])]
    replies = run_concurrently(clean, [*writers, scanner, flusher])
    for reply in replies[4]:
        assert not isinstance(reply, Error), reply
    with clean.client() as check:
        assert check.execute("DBSIZE") == 4 * 3999 + 50


def test_active_expiry_reclaims_keys(clean: RunningServer) -> None:
    """Keys with short TTLs disappear by themselves (nobody reads them), during other traffic."""
    count = 20_000
    with clean.client(timeout=60) as client:
        payload = encode_all(
            [["SET", f"exp:{i}", "v", "PX", str(1 + i % 300)] for i in range(count)]
        )
        assert client.send_and_read(payload, count) == [Simple(b"OK")] * count
        assert client.execute("SET", "keeper", "v") == Simple(b"OK")
        deadline = time.monotonic() + 20
        size: Reply = None
        while time.monotonic() < deadline:
            size = client.execute("DBSIZE")
            if size == 1:
                break
            time.sleep(0.2)
        assert size == 1, f"{clean.name}: DBSIZE still {size!r} 20 s after all TTLs elapsed"
        assert client.execute("KEYS", "*") == [b"keeper"]


@pytest.mark.parametrize("case", sorted(TARGETED))
def test_targeted_cases_under_config(
    clean: RunningServer, redis8_reference: RunningServer, case: str
) -> None:
    """The hand-written differential cases, interactive and pipelined, on each configuration."""
    steps = TARGETED[case]
    with redis8_reference.client() as ref, clean.client() as sub:
        differ = Differ(ref, sub)
        fresh(differ)
        differ.run_all(steps)
        differ.finish()
        if "expire" not in case:
            fresh(differ)
            differ.run_pipelined([s for s in without_random(steps) if s[0].upper() != "SCAN"])
            differ.finish()


@pytest.fixture(scope="module")
def redis8_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    started = start_redis8(tmp_path_factory.mktemp("reference"))
    try:
        yield started
    finally:
        started.stop()
