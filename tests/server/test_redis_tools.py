"""Redis 8's own tools work against our server: redis-benchmark's default suite and redis-cli."""

from __future__ import annotations

import csv
import io
import os
import pty
import select
import subprocess
import time

import pytest

from tests.server.conftest import RunningServer, require_redis8_tool
from tests.server.resp import Error

pytestmark = pytest.mark.integration


def run_tool(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_redis_benchmark_default_suite(ours: RunningServer, redis8: RunningServer) -> None:
    """Every default test runs with nonzero throughput; redis-benchmark 8 exits on any error."""
    bench = require_redis8_tool("redis-benchmark")
    argv = [str(bench), "-p", str(ours.port), "-n", "2000", "-c", "10", "--csv"]
    result = run_tool(argv, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, f"redis-benchmark exited {result.returncode}: {result.stderr}"
    lines = result.stdout.splitlines()
    problems = [
        line
        for line in lines + result.stderr.splitlines()
        if "error" in line.lower() or "warning" in line.lower()
    ]
    assert not problems, f"redis-benchmark reported: {problems[:10]}"
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    # The reference run tells which tests "all default tests" are for this redis-benchmark.
    expected = run_tool([*argv[:2], str(redis8.port), *argv[3:]], timeout=300)
    expected_tests = [row["test"] for row in csv.DictReader(io.StringIO(expected.stdout))]
    assert len(expected_tests) >= 20
    assert [row["test"] for row in rows] == expected_tests
    zero = [row["test"] for row in rows if float(row["rps"]) <= 0]
    assert not zero, f"tests with zero throughput: {zero}"
    assert ours.alive()


def test_redis_cli_ping_and_info(ours: RunningServer) -> None:
    cli = require_redis8_tool("redis-cli")
    ping = run_tool([str(cli), "-p", str(ours.port), "ping"], timeout=30)
    assert (ping.returncode, ping.stdout) == (0, "PONG\n"), ping
    info = run_tool([str(cli), "-p", str(ours.port), "info", "server"], timeout=30)
    assert info.returncode == 0, info
    assert info.stdout.startswith("# Server"), info.stdout[:200]
    assert "redis_version:" in info.stdout, info.stdout[:500]


CLI_SCRIPT = [
    ["set", "cli:k", "hello world"],
    ["get", "cli:k"],
    ["incr", "cli:n"],
    ["incrbyfloat", "cli:n", "1.5"],
    ["rpush", "cli:l", "a", "b", "c"],
    ["lrange", "cli:l", "0", "-1"],
    ["zadd", "cli:z", "1", "x", "2.5", "y"],
    ["zrange", "cli:z", "0", "-1", "withscores"],
    ["get", "cli:none"],
    ["lpop", "cli:none", "2"],
    ["foo", "bar"],
    ["get"],
    ["incr", "cli:k"],
    ["del", "cli:k", "cli:n", "cli:l", "cli:z"],
]


@pytest.mark.parametrize("words", CLI_SCRIPT, ids=lambda w: " ".join(w))
def test_redis_cli_output_matches_redis(
    ours: RunningServer, redis8: RunningServer, words: list[str]
) -> None:
    """redis-cli formats replies (types, errors, nils) identically for both servers."""
    cli = require_redis8_tool("redis-cli")
    outputs = []
    for server in (redis8, ours):
        result = run_tool([str(cli), "--no-raw", "-p", str(server.port), *words], timeout=30)
        outputs.append((result.returncode, result.stdout))
    assert outputs[1] == outputs[0], f"redis8 {outputs[0]!r} vs ours {outputs[1]!r}"


def test_command_docs_answers(ours: RunningServer) -> None:
    """redis-cli's interactive mode asks COMMAND DOCS for hints; it must not be an error."""
    with ours.client() as client:
        reply = client.execute("COMMAND", "DOCS")
        assert isinstance(reply, list), reply
        reply = client.execute("COMMAND", "DOCS", "GET")
        assert isinstance(reply, list) and not isinstance(reply, Error), reply


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """Read a pty until `needle` appears (or the timeout passes); return everything read."""
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_redis_cli_interactive_session(ours: RunningServer) -> None:
    """A person typing into redis-cli (a real terminal) gets answers and a clean exit."""
    cli = require_redis8_tool("redis-cli")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(cli), "-p", str(ours.port)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
        env={**os.environ, "TERM": "dumb", "HOME": "/nonexistent"},
    )
    os.close(secondary)
    prompt = f"127.0.0.1:{ours.port}>".encode()
    try:
        transcript = _read_until(primary, prompt, 10)
        assert prompt in transcript, transcript
        for line, answer in [
            (b"set tty:key 42", b"OK"),
            (b"incr tty:key", b"(integer) 43"),
            (b"get tty:key", b'"43"'),
            (b"nosuchcommand", b"(error) ERR unknown command 'nosuchcommand'"),
        ]:
            os.write(primary, line + b"\r")
            out = _read_until(primary, answer, 10)
            transcript += out
            assert answer in out, f"typed {line!r}, screen shows {out!r}"
        os.write(primary, b"quit\r")
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(primary)
    assert ours.alive()


def _redis_py_session(port: int, protocol: int) -> list[object]:
    """Typical redis-py usage; redis-py 8 speaks RESP3 (HELLO 3) unless told otherwise."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, socket_timeout=10)
    try:
        client.flushdb()
        out: list[object] = [client.ping(), client.set("py:a", 1), client.incr("py:a")]
        pipe = client.pipeline(transaction=True)
        pipe.incrbyfloat("py:f", 0.1)
        pipe.incrbyfloat("py:f", 0.2)
        pipe.get("py:a")
        out.append(pipe.execute())
        out.append(client.hset("py:h", mapping={"x": "1", "y": "2"}))
        out.append(client.hgetall("py:h"))
        out.append(client.zadd("py:z", {"a": 1.5, "b": 2}))
        out.append(client.zrange("py:z", 0, -1, withscores=True))
        out.append(client.xadd("py:s", {"f": "v"}, id="1-1"))
        out.append(client.xrange("py:s"))
        out.append(sorted(client.scan_iter(match="py:*", count=2)))
        out.append(client.info("server")["redis_version"])
        with pytest.raises(redis.ResponseError) as err:
            client.lpush("py:a", "x")
        out.append(str(err.value))
        return out
    finally:
        client.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_client_gets_same_results(
    ours: RunningServer, redis8: RunningServer, protocol: int
) -> None:
    assert _redis_py_session(ours.port, protocol) == _redis_py_session(redis8.port, protocol)
