"""benchmark.dataset and `python -m benchmark memory`: specs, loading, bytes per key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from benchmark.dataset import DATASETS, DatasetError, DatasetSpec, load, measure_footprint
from benchmark.redis8 import redis_server_argv
from benchmark.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
OUR_SERVER = REPO / "server" / "target" / "release" / "redis-server-optimized"


def test_a_bad_spec_names_the_field() -> None:
    with pytest.raises(DatasetError, match=r"dataset\.kind: unknown kind 'tree'"):
        DatasetSpec("x", "tree", 10)
    with pytest.raises(DatasetError, match=r"dataset\.keys: expected a positive integer"):
        DatasetSpec("x", "string", 0)
    with pytest.raises(DatasetError, match=r"dataset\.elements: a string dataset has 1"):
        DatasetSpec("x", "string", 10, elements=3)
    with pytest.raises(DatasetError, match=r"dataset\.integers: only for set"):
        DatasetSpec("x", "hash", 10, integers=True)
    with pytest.raises(DatasetError, match=r"dataset\.colour: unknown field"):
        DatasetSpec.from_dict({"name": "x", "kind": "set", "keys": 1, "colour": 1})


def test_commands_build_exactly_the_described_data() -> None:
    strings = DatasetSpec("s", "string", 250, value_size=64)
    cmds = list(strings.commands())
    assert [c[0] for c in cmds] == ["MSET"] * 3  # 100 keys per MSET
    pairs = [a for c in cmds for a in c[1:]]
    assert len(pairs) == 500 and len(set(pairs[::2])) == 250
    assert all(isinstance(v, bytes) and len(v) == 64 for v in pairs[1::2])
    hashes = list(DatasetSpec("h", "hash", 3, elements=20, value_size=8).commands())
    assert len(hashes) == 3 and all(c[0] == "HSET" and len(c) == 42 for c in hashes)
    ints = list(DatasetSpec("i", "set", 2, elements=5, integers=True).commands())
    assert ints[1][2:] == (b"5", b"6", b"7", b"8", b"9")
    assert DATASETS["hashes-20"].description == "100,000 hashes of 20 fields (8 B)"


@pytest.fixture
def redis8_conn(redis8_bin_dir: Path) -> Iterator[tuple[redis.Redis, int]]:
    server = ServerProcess(redis_server_argv(redis8_bin_dir), name="redis8", cpus=None, nice=None)
    with server:
        conn = redis.Redis(host=server.host, port=server.port)
        assert server.pid is not None
        yield conn, server.pid
        conn.close()
    server.cleanup()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_load_writes_every_key_and_the_footprint_is_the_growth(
    redis8_conn: tuple[redis.Redis, int],
) -> None:
    conn, pid = redis8_conn
    spec = DatasetSpec("h", "hash", 2000, elements=20, value_size=8)
    fp = measure_footprint(conn, spec, pid=pid)
    assert fp.keys == 2000 and conn.hlen("hash:0000001999") == 20
    assert conn.hget("hash:0000000001", "f3") == b"23:vvvvv"
    # A listpack hash of 20 8-byte fields is a few hundred bytes in Redis 8.
    assert 150 < fp.used_memory_per_key < 1000
    assert fp.rss_per_key > 0
    conn.flushall()
    load(conn, DatasetSpec("z", "zset", 10, elements=4, value_size=8))
    assert conn.zrange("zset:0000000009", 0, -1, withscores=True)[-1] == (b"39:vvvvv", 3.0)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_memory_command_prints_bytes_per_key_and_ratios(
    redis8_bin_dir: Path, tmp_path: Path
) -> None:
    """Redis 8 against our server (Redis against itself when ours is not built locally)."""
    if OUR_SERVER.exists():
        candidate = ["--candidate-bin", str(OUR_SERVER)]
    elif os.environ.get("REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {OUR_SERVER} is not built")
    else:
        candidate = [
            *("--candidate-bin", str(redis8_bin_dir / "redis-server")),
            *("--candidate-args", "--port {port} --save '' --appendonly no"),
        ]
    out = tmp_path / "memory.json"
    env = {**os.environ, "REDIS8_BIN_DIR": str(redis8_bin_dir), "COLUMNS": "160"}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmark", "memory", *candidate, "--scale", "0.01"),
            *("--datasets", "strings-64,sets-20-int,suite", "--json", str(out)),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("bytes per key", "strings-64", "sets-20-int", "RSS ratio"):
        assert text in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [r["dataset"]["name"] for r in rows] == ["strings-64", "sets-20-int", "suite"]
    assert rows[0]["candidate"]["keys"] == rows[0]["baseline"]["keys"] == 10_000
    assert rows[1]["candidate"]["keys"] == 1_000
    for r in rows:
        assert r["used_memory_ratio"] > 0 and r["rss_ratio"] > 0


def test_memory_command_rejects_an_unknown_dataset(redis8_bin_dir: Path) -> None:
    env = {**os.environ, "REDIS8_BIN_DIR": str(redis8_bin_dir)}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "benchmark", "memory", "--candidate-bin", sys.executable),
            *("--datasets", "strings-64,nope"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--datasets: unknown 'nope'" in proc.stdout
