"""Two local-runner workers on one host share a study and never touch each other's servers.

Real `tuner study run --runner local` processes: the real server (server/target/release,
as CI builds it) against a real Redis 8.0, short trials, one SQLite study. The second
worker starts while the first one's servers run; a worker reaps only the processes of
dead tuners, so no trial fails because a peer killed its servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
import tomli_w
from optuna.trial import TrialState

from benchmark.redis8 import find_redis8_bin_dir

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "server" / "target" / "release" / "redis-server-optimized"
#: Enough trials of ~5-10 s that the second worker, starting beside the first one's servers,
#: still gets some of them on a fast, quiet machine (with 4 trials of 5,000 requests the first
#: worker once finished them all before the second had started).
TRIALS = 6

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _require() -> Path:
    redis8 = find_redis8_bin_dir()
    missing = [] if redis8 is not None else ["Redis 8 (REDIS8_BIN_DIR)"]
    if not os.access(SERVER, os.X_OK):
        missing.append(f"{SERVER} (cargo build --release in server/)")
    if missing:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"REQUIRE_REAL_SERVERS=1 but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")
    assert redis8 is not None
    return redis8


def _spec(path: Path, redis8: Path) -> Path:
    data: dict[str, Any] = {
        "study": {"name": "local-peers"},
        "target": {
            "workdir": str(REPO / "server"),
            "build_command": ["true"],  # built already; the cache copies the binary
            "binary": "target/release/redis-server-optimized",
            "args": ["--config", "{config}", "--port", "{port}", "--bind", "127.0.0.1"],
            "cpus": "0",
            "ready_timeout_s": 30,
        },
        "baseline": {
            "binary": str(redis8 / "redis-server"),
            "args": ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            "cpus": "0",
        },
        "client": {"cpus": "1"},
        "param": [
            {"name": "num_shards", "kind": "int", "low": 1, "high": 8, "default": 1},
            {"name": "batching.batch_threshold", "kind": "int", "low": 1, "high": 64, "default": 8},
        ],
        "workload": {
            "tests": ["set", "get"],
            "pipelines": [1],
            "clients": 10,
            "keyspace": 1000,
            "requests": 40000,
            "min_repetitions": 2,
            "max_repetitions": 2,
            "target_ci_pct": 50.0,
        },
        "objective": {"kind": "throughput", "pruner": "none"},
        "budget": {"trials": TRIALS, "finalists": 0},
        "sampler": {"name": "random"},
    }
    path.write_text(tomli_w.dumps(data))
    return path


def _worker(spec: Path, storage: str, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp / "studies")}
    argv = [
        sys.executable, "-m", "tuner.cli", "study", "run", "--spec", str(spec),
        "--runner", "local", "--storage", storage, "--no-finalize", "-q", "--heartbeat", "2",
    ]  # fmt: skip
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="local-peers", storage=storage).get_trials()
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # not created yet, or mid-creation
        return []


def _servers_recorded(study_dir: Path) -> bool:
    """Whether a worker has servers up: a non-empty pid record under the study dir."""
    return any(p.stat().st_size > 0 for p in study_dir.rglob("*.pids") if p.is_file())


def test_two_local_workers_on_one_host_never_kill_each_others_servers(tmp_path: Path) -> None:
    redis8 = _require()
    spec = _spec(tmp_path / "spec.toml", redis8)
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    first = _worker(spec, storage, tmp_path, "first")
    second = None
    try:
        deadline = time.monotonic() + 180
        while not (
            any(t.state == TrialState.RUNNING for t in _trials(storage))
            and _servers_recorded(tmp_path / "studies" / "local-peers")
        ):
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first worker never started its servers"
            time.sleep(0.1)
        # The first worker's servers run now; the second worker starts beside it.
        second = _worker(spec, storage, tmp_path, "second")
        codes = [first.wait(timeout=360), second.wait(timeout=360)]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    logs = [(tmp_path / f"{n}.log").read_text()[-3000:] for n in ("first", "second")]
    assert codes == [0, 0], logs

    trials = _trials(storage)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # No trial failed: in particular none because a peer killed its servers.
    assert not failed, [(t.number, t.user_attrs.get("failure_reason")) for t in failed]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS
    workers = {str(t.user_attrs["worker"]).split(":")[1] for t in complete}
    assert workers == {str(first.pid), str(second.pid)}, workers
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert not leftovers, leftovers
