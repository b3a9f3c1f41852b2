"""LocalRunner with real processes: failures become TrialFailure with the log's tail."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmark.redis8 import find_redis8_bin_dir
from tuner.pid_records import PidFile
from tuner.processes import ProcessId, owner_id
from tuner.runners import RunnerUnavailable, make_runner
from tuner.runners.base import Candidate, Progress, TrialFailure
from tuner.runners.local import LocalRunner
from tuner.spec import StudySpec, parse_spec

# A tiny project whose "build" writes the server script named by build.kind.
BUILD_SCRIPT = r"""#!/bin/bash
set -e
mkdir -p out
cp "servers/$1.sh" out/server
chmod +x out/server
"""

SERVERS = {
    # Exits at once, like the real server rejecting its config (same message and status).
    "exits": (
        '#!/bin/bash\necho "invalid config: $2: num_shards = 0 is out of range'
        ' (allowed: 1 to 1024)" >&2\nexit 1\n'
    ),
    # Shows the config it was handed through the environment, then exits.
    "printenv": '#!/bin/bash\necho "config: $PERF_CONFIG_PATH"\ncat "$PERF_CONFIG_PATH"\nexit 4\n',
    # Never listens: the start must time out, and its child must die with it.
    "hangs": "#!/bin/bash\necho starting\nsleep 300 &\nwait\n",
    # Fails to compile.
    "broken": "",
    # A real Redis 8 posing as the candidate (A/A), for the paths that need a measurement.
    "redis": '#!/bin/bash\nexec "$REDIS8_SERVER" --port "$4" --bind 127.0.0.1 --save ""\n',
    # Answers PING (so it starts), then "panics" on the first real command.
    "crashes": f"""#!{sys.executable}
import os, socket, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(64)
while True:
    conn, _ = sock.accept()
    data = conn.recv(65536).upper()
    if data.startswith(b"*1\\r\\n$4\\r\\nPING"):
        conn.sendall(b"+PONG\\r\\n")
        conn.close()
        continue
    print("thread 'shard-3' panicked at src/db.rs:42: index out of bounds", flush=True)
    os._exit(101)
""",
}


def _spec(tmp_path: Path, baseline: dict[str, Any] | None = None, **target: Any) -> StudySpec:
    project = tmp_path / "project"
    (project / "servers").mkdir(parents=True, exist_ok=True)
    (project / "build.sh").write_text(BUILD_SCRIPT)
    for name, text in SERVERS.items():
        (project / "servers" / f"{name}.sh").write_text(text)
    data = {
        "study": {"name": "local-failures"},
        "target": {
            "workdir": str(project),
            "build_command": ["bash", "build.sh", "{build.kind}"],
            "binary": "out/server",
            "args": ["--config", "{config}", "--port", "{port}"],
            "cpus": "0",
            "ready_timeout_s": 2,
            **target,
        },
        "baseline": baseline or {"address": "127.0.0.1:1"},
        "param": [
            {"name": "num_shards", "kind": "int", "low": 1, "high": 4, "default": 1},
            {
                "name": "build.kind",
                "kind": "categorical",
                "choices": ["exits", "hangs", "broken", "crashes", "redis", "printenv"],
                "default": "exits",
                "stage": "build",
            },
        ],
        "workload": {
            "tests": ["set", "get"],
            "pipelines": [1],
            "requests": 2000,
            "keyspace": 1000,
            "min_repetitions": 2,
            "max_repetitions": 3,
        },
    }
    return parse_spec(data, base_dir=tmp_path)


#: Failure paths end before any benchmark runs, so they need no redis-benchmark.
NO_CLIENT = object()


def _runner(tmp_path: Path, spec: StudySpec, client: object = NO_CLIENT) -> LocalRunner:
    if spec.baseline.binary is not None:
        client = None  # real measurements use the real redis-benchmark
    runner = make_runner("local", spec, work_dir=tmp_path / "studies" / "s", client=client)
    assert isinstance(runner, LocalRunner)
    return runner


def test_server_that_exits_at_start_is_a_trial_failure_with_log_tail(tmp_path: Path) -> None:
    runner = _runner(tmp_path, _spec(tmp_path))
    with pytest.raises(TrialFailure) as failure:
        runner.evaluate(Candidate({"num_shards": 2}, {"build.kind": "exits"}))
    assert "candidate did not start" in failure.value.reason
    assert "exited with status 1" in failure.value.reason
    assert "num_shards = 0 is out of range (allowed: 1 to 1024)" in failure.value.log_tail
    assert "perf_config.toml" in failure.value.log_tail  # the config path reached it
    assert not runner.pidfile.path.exists()  # nothing left recorded
    runner.close()


def test_start_timeout_kills_the_server_group(tmp_path: Path) -> None:
    runner = _runner(tmp_path, _spec(tmp_path))
    start = time.monotonic()
    with pytest.raises(TrialFailure) as failure:
        runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "hangs"}))
    assert time.monotonic() - start < 20
    assert "did not answer PING" in failure.value.reason and "within 2s" in failure.value.reason
    assert "starting" in failure.value.log_tail
    time.sleep(0.5)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == []  # neither the script nor its sleep child survived
    runner.close()


def test_build_failure_is_a_trial_failure(tmp_path: Path) -> None:
    spec = _spec(tmp_path, build_command=["bash", "-c", "echo 'error: linker failed' >&2; exit 1"])
    runner = _runner(tmp_path, spec)
    with pytest.raises(TrialFailure) as failure:
        runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "broken"}))
    assert "build failed (exit 1)" in failure.value.reason
    assert "linker failed" in failure.value.log_tail


def test_runtime_change_reuses_the_build(tmp_path: Path) -> None:
    runner = _runner(tmp_path, _spec(tmp_path))
    for shards in (1, 2, 3):
        with pytest.raises(TrialFailure):
            runner.evaluate(Candidate({"num_shards": shards}, {"build.kind": "exits"}))
    assert runner.cache.builds == 1
    with pytest.raises(TrialFailure):
        runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "hangs"}))
    assert runner.cache.builds == 2
    written = sorted((tmp_path / "studies" / "s" / "trials").glob("*/perf_config.toml"))
    assert [p.read_text().strip().splitlines()[-1] for p in written[:3]] == [
        "num_shards = 1",
        "num_shards = 2",
        "num_shards = 3",
    ]


def test_leftover_servers_of_a_killed_run_are_killed_at_construction(tmp_path: Path) -> None:
    # A "server" from a previous, SIGKILLed tuner (a process that is gone now): own
    # session, recorded in that tuner's pid record.
    dead_tuner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner = owner_id(dead_tuner.pid)
    dead_tuner.wait(timeout=30)
    leftover = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
    )
    pidfile = PidFile(tmp_path / "studies" / "s" / "pids", owner=dead_owner)
    pidfile.add(leftover.pid)
    # A live peer tuner's server must survive.
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    peer_tuner = subprocess.Popen(sleep)
    peer_server = subprocess.Popen(sleep, start_new_session=True)
    peer = PidFile(tmp_path / "studies" / "s" / "pids", owner=owner_id(peer_tuner.pid))
    peer.add(peer_server.pid)
    try:
        runner = _runner(tmp_path, _spec(tmp_path))
        assert runner.leftovers_killed == [leftover.pid]
        leftover.wait(timeout=10)  # gone (the reaper may have collected its status)
        assert ProcessId.of(leftover.pid) is None
        assert not pidfile.path.exists()
        assert peer_server.poll() is None and peer.path.exists()
    finally:
        for proc in (peer_server, peer_tuner):
            proc.kill()
            proc.wait()


def test_close_is_idempotent(tmp_path: Path) -> None:
    runner = _runner(tmp_path, _spec(tmp_path))
    runner.close()
    runner.close()
    assert runner._servers == []


def _redis8() -> Path:
    redis8 = find_redis8_bin_dir()
    if redis8 is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but Redis 8 was not found")
        pytest.skip("Redis 8 not found (REDIS8_BIN_DIR)")
    return redis8


def _redis_baseline(redis8: Path) -> dict[str, Any]:
    return {
        "binary": str(redis8 / "redis-server"),
        "args": ["--port", "{port}", "--bind", "127.0.0.1", "--save", ""],
        "cpus": "0",
    }


def test_a_a_measurement_through_the_local_runner(tmp_path: Path) -> None:
    redis8 = _redis8()
    spec = _spec(
        tmp_path,
        baseline=_redis_baseline(redis8),
        env={"REDIS8_SERVER": str(redis8 / "redis-server")},
    )
    runner = _runner(tmp_path, spec)
    seen: list[Progress] = []
    try:
        m = runner.evaluate(
            Candidate({"num_shards": 1}, {"build.kind": "redis"}), on_progress=seen.append
        )
    finally:
        runner.close()
    assert 2 <= m.repetitions <= 3 and m.stop_reason in ("ci_target", "max_repetitions")
    assert [p.repetition for p in seen] == list(range(1, m.repetitions + 1))
    assert (seen[-1].fitness, seen[-1].ci_low, seen[-1].ci_high) == (m.fitness, m.ci_low, m.ci_high)
    # Redis against itself: near 100 (wide bounds: a shared 2-core machine, 2-3 reps).
    assert 50.0 < m.fitness < 200.0
    assert set(m.per_test) == {"SET@P1", "GET@P1"}
    assert math.isfinite(m.p99_ratio) and m.p99_ratio > 0
    assert set(m.timings) == {"build", "start", "benchmark"} and m.timings["benchmark"] > 0
    assert m.build_tag and m.detail["runner"] == "local" and m.detail["runs"]
    assert not runner.pidfile.path.exists()


def test_progress_callback_aborts_and_stops_both_servers(tmp_path: Path) -> None:
    redis8 = _redis8()
    spec = _spec(
        tmp_path,
        baseline=_redis_baseline(redis8),
        env={"REDIS8_SERVER": str(redis8 / "redis-server")},
    )
    runner = _runner(tmp_path, spec)

    class Pruned(Exception):
        pass

    def prune(p: Progress) -> None:
        raise Pruned(p.repetition)

    with pytest.raises(Pruned):
        runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "redis"}), on_progress=prune)
    assert runner._servers == []
    assert not runner.pidfile.path.exists()
    runner.close()


def test_baseline_crash_is_named(tmp_path: Path) -> None:
    redis8 = _redis8()
    crashing = tmp_path / "crashing-baseline.py"
    crashing.write_text(SERVERS["crashes"])
    spec = _spec(
        tmp_path,
        baseline={"binary": sys.executable, "args": [str(crashing), "--port", "{port}"]},
        env={"REDIS8_SERVER": str(redis8 / "redis-server")},
    )
    runner = _runner(tmp_path, spec)
    try:
        with pytest.raises(TrialFailure) as failure:
            runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "redis"}))
    finally:
        runner.close()
    assert "baseline crashed during benchmark (exit 101)" in failure.value.reason
    assert "panicked" in failure.value.log_tail


def test_server_crash_mid_benchmark_is_a_trial_failure(tmp_path: Path) -> None:
    redis8 = _redis8()
    runner = _runner(tmp_path, _spec(tmp_path, baseline=_redis_baseline(redis8)))
    try:
        with pytest.raises(TrialFailure) as failure:
            runner.evaluate(Candidate({"num_shards": 1}, {"build.kind": "crashes"}))
    finally:
        runner.close()
    assert "server crashed during benchmark (exit 101)" in failure.value.reason
    assert "panicked" in failure.value.log_tail
    leftovers = subprocess.run(
        ["pgrep", "-af", str(tmp_path)], capture_output=True, text=True
    ).stdout.strip()
    assert leftovers == ""  # the baseline Redis was stopped too


def test_missing_baseline_binary_is_a_setup_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, baseline={"binary": "/nonexistent/redis-server", "args": ["{port}"]})
    with pytest.raises(RunnerUnavailable, match="/nonexistent/redis-server does not exist"):
        make_runner("local", spec, work_dir=tmp_path / "studies" / "s")


def test_config_reaches_the_server_by_environment_variable(tmp_path: Path) -> None:
    spec = _spec(tmp_path, args=["--port", "{port}"], config_env="PERF_CONFIG_PATH")
    runner = _runner(tmp_path, spec)
    with pytest.raises(TrialFailure) as failure:
        runner.evaluate(Candidate({"num_shards": 3}, {"build.kind": "printenv"}))
    assert "exited with status 4" in failure.value.reason
    assert "perf_config.toml" in failure.value.log_tail
    assert "num_shards = 3" in failure.value.log_tail
