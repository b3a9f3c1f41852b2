"""perf_config.toml validation: --check-config and start-up reject bad files, naming the key."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import (
    REPO,
    RunningServer,
    free_port,
    require_server_binary,
    start_ours,
)
from tests.server.resp import Simple, encode_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEFAULT_CONFIG = REPO / "server" / "perf_config.toml"


@pytest.fixture(autouse=True)
def _needs_our_binary() -> None:
    if os.environ.get("RSO_SUBJECT") == "redis":
        pytest.skip("config tests exercise our server's own flags")


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    binary = require_server_binary()
    return subprocess.run(
        [str(binary), "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_default_config_is_accepted() -> None:
    assert DEFAULT_CONFIG.is_file(), f"{DEFAULT_CONFIG} is missing"
    result = check_config(DEFAULT_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_empty_config_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# all defaults\n")
    assert check_config(path).returncode == 0


# (file text, words the message must contain)
BAD_CONFIGS = {
    "toml-syntax": ("threads = \n", ["syntax"]),
    "toml-syntax-unclosed-table": ("[buffers\nread_size = 4096\n", ["syntax"]),
    "unknown-top-level-key": ("bogus_knob = 1\n", ["bogus_knob"]),
    "unknown-key-in-section": ("[buffers]\nread_sizes = 4096\n", ["buffers.read_sizes"]),
    "unknown-section": ("[nonsense]\nx = 1\n", ["nonsense"]),
    "wrong-type-string": ('threads = "2"\n', ["threads"]),
    "wrong-type-float": ("num_shards = 1.5\n", ["num_shards"]),
    "wrong-type-bool": ("[batching]\nbatch_threshold = true\n", ["batching.batch_threshold"]),
    "out-of-range-low": ("num_shards = 0\n", ["num_shards", "range"]),
    "out-of-range-negative": ("[buffers]\nread_size = -1\n", ["buffers.read_size", "range"]),
    "out-of-range-high": ("threads = 100000\n", ["threads", "range"]),
    "max-size-too-small": ("[buffers]\nmax_size = 1\n", ["buffers.max_size"]),
    # Removed as dead (server/sweeps/knob-sweep-2026-11-26.md): an old config naming it is told so,
    # not ignored.
    "removed-knob-prewarm": (
        "[response_pool]\ncapacity = 4\nprewarm = 4\n",
        ["response_pool.prewarm", "removed"],
    ),
    "capacity-over-range": ("[response_pool]\ncapacity = 65537\n", ["response_pool.capacity"]),
    "dotted-key-out-of-range": ("batching.batch_threshold = 0\n", ["batching.batch_threshold"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_config_rejects_bad_file(tmp_path: Path, case: str) -> None:
    text, words = BAD_CONFIGS[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    result = check_config(path)
    message = result.stdout + result.stderr
    assert result.returncode != 0, f"--check-config accepted {text!r}: {message}"
    for word in words:
        assert word.lower() in message.lower(), f"message does not name {word!r}: {message}"


def test_check_config_missing_file(tmp_path: Path) -> None:
    result = check_config(tmp_path / "absent.toml")
    assert result.returncode != 0
    assert "absent.toml" in result.stdout + result.stderr


def _start_expecting_exit(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=15, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        # Still running after 15 s means it started on defaults: the defect this test catches.
        raise AssertionError(f"server kept running with a bad config: {argv}") from exc


@pytest.mark.parametrize(
    "case", ["unknown-top-level-key", "out-of-range-low", "removed-knob-prewarm"]
)
@pytest.mark.parametrize("via", ["--config", "PERF_CONFIG_PATH"])
def test_server_with_bad_config_exits_non_zero(tmp_path: Path, case: str, via: str) -> None:
    text, words = BAD_CONFIGS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    argv = [str(require_server_binary()), "--port", str(free_port()), "--bind", "127.0.0.1"]
    env = dict(os.environ)
    if via == "--config":
        argv += ["--config", str(path)]
    else:
        env["PERF_CONFIG_PATH"] = str(path)
    result = _start_expecting_exit(argv, env)
    assert result.returncode != 0
    assert words[0] in result.stdout + result.stderr


def test_server_with_missing_config_exits_non_zero(tmp_path: Path) -> None:
    argv = [
        str(require_server_binary()),
        "--port",
        str(free_port()),
        "--config",
        "/nonexistent.toml",
    ]
    result = _start_expecting_exit(argv, dict(os.environ))
    assert result.returncode != 0


# Extreme but valid settings the tuner may pick: the server must stay correct under each.
EXTREME_CONFIGS = {
    "all-minimums": (
        "num_shards = 1\nthreads = 1\n[response_pool]\ncapacity = 0\n"
        "buffer_size = 64\n[buffers]\nread_size = 512\nmax_size = 65536\n"
        "[batching]\nmin_pipeline_buffer = 0\nbatch_threshold = 1\n"
    ),
    "many-shards-threads": (
        "num_shards = 1024\nthreads = 4\n[response_pool]\ncapacity = 4096\n"
        "[buffers]\nread_size = 1048576\n[batching]\nmin_pipeline_buffer = 16777216\n"
        "batch_threshold = 65536\n"
    ),
}


@pytest.fixture(params=sorted(EXTREME_CONFIGS))
def extreme_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    path = tmp_path / "perf_config.toml"
    path.write_text(EXTREME_CONFIGS[request.param])
    assert check_config(path).returncode == 0
    server = start_ours(tmp_path, config=path)
    try:
        yield server
    finally:
        server.stop()


def test_extreme_configs_serve_correctly(extreme_server: RunningServer) -> None:
    """Pipelined writes and reads from several clients return exactly what was written."""
    clients = [extreme_server.client(timeout=30) for _ in range(4)]
    try:
        for n, client in enumerate(clients):
            payload = b"".join(
                encode_command(["SET", f"x:{n}:{i}", f"value-{n}-{i}"]) for i in range(3000)
            )
            client.send_raw(payload)
        for client in clients:
            assert client.read_replies(3000, timeout=60) == [Simple(b"OK")] * 3000
        for n, client in enumerate(clients):
            payload = b"".join(encode_command(["GET", f"x:{n}:{i}"]) for i in range(3000))
            client.send_raw(payload)
            expected = [f"value-{n}-{i}".encode() for i in range(3000)]
            assert client.read_replies(3000, timeout=60) == expected
        assert clients[0].execute("DBSIZE") == 4 * 3000
        assert clients[1].pipeline([["MULTI"], ["INCR", "c"], ["INCR", "c"], ["EXEC"]])[-1] == [
            1,
            2,
        ]
    finally:
        for client in clients:
            client.close()
    assert extreme_server.alive()


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--port", "abc"], "--port"),
        (["--port", "99999"], "--port"),
        (["--bogus-flag"], "--bogus-flag"),
        (["--check-config"], "--check-config"),
        (["--config"], "--config"),
    ],
)
def test_bad_command_line_exits_with_message(args: list[str], word: str) -> None:
    result = _start_expecting_exit([str(require_server_binary()), *args], dict(os.environ))
    assert result.returncode != 0
    assert word in result.stdout + result.stderr


def test_port_in_use_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        argv = [str(require_server_binary()), "--port", str(port), "--bind", "127.0.0.1"]
        result = _start_expecting_exit(argv, dict(os.environ))
    assert result.returncode != 0
    assert str(port) in result.stdout + result.stderr


def test_config_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config beats $PERF_CONFIG_PATH, which beats ./perf_config.toml (a bad one there fails)."""
    binary = require_server_binary()
    bad, good = tmp_path / "bad.toml", tmp_path / "good.toml"
    bad.write_text("num_shards = 0\n")
    good.write_text("num_shards = 2\n")
    (tmp_path / "perf_config.toml").write_text("threads = 0\n")
    base = [str(binary), "--port", str(free_port()), "--bind", "127.0.0.1"]
    env = {k: v for k, v in os.environ.items() if k != "PERF_CONFIG_PATH"}
    # ./perf_config.toml is read when nothing else names a file.
    result = subprocess.run(base, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=15)
    assert result.returncode != 0 and "threads" in result.stdout + result.stderr
    # $PERF_CONFIG_PATH beats the local file.
    env_bad = {**env, "PERF_CONFIG_PATH": str(bad)}
    result = subprocess.run(
        base, cwd=tmp_path, env=env_bad, capture_output=True, text=True, timeout=15
    )
    assert result.returncode != 0 and "num_shards" in result.stdout + result.stderr
    # --config beats both: the server starts.
    monkeypatch.setenv("PERF_CONFIG_PATH", str(bad))
    monkeypatch.chdir(tmp_path)
    argv = [*base, "--config", str(good)]
    server = RunningServer("ours-precedence", argv, int(base[2]), tmp_path / "log")
    try:
        server.start()
        with server.client() as client:
            assert client.execute("PING") == Simple(b"PONG")
    finally:
        server.stop()
