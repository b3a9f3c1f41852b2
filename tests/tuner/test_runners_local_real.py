"""A local-runner study of 3 trials against the real server and a real Redis 8.0.

Builds server/ with cargo through the BuildCache, runs ``tuner study run --runner local``
with a short workload and checks what the study stored. Skipped when cargo, server/ or
Redis 8 are missing, unless REQUIRE_REAL_SERVERS=1 (then it fails).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from benchmark.redis8 import find_redis8_bin_dir
from tuner.cli import app
from tuner.runners.base import Candidate, TrialFailure
from tuner.runners.local import LocalRunner
from tuner.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO / "server"

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _redis8() -> Path:
    redis8 = find_redis8_bin_dir()
    missing = []
    if redis8 is None:
        missing.append("Redis 8 (REDIS8_BIN_DIR)")
    if shutil.which("cargo") is None:
        missing.append("cargo")
    if not (SERVER_DIR / "Cargo.toml").is_file():
        missing.append("server/Cargo.toml")
    if missing:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"REQUIRE_REAL_SERVERS=1 but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")
    assert redis8 is not None
    return redis8


SPEC = """
[study]
name = "local-real"

[target]
workdir = "{server}"
build_command = [
    "cargo", "build", "--locked", "--bin", "redis-server-optimized",
    "--profile", "{{build.profile}}",
]
binary = "target/{{build.profile}}/redis-server-optimized"
args = ["--config", "{{config}}", "--port", "{{port}}", "--bind", "127.0.0.1"]
cpus = "0"
ready_timeout_s = 20

[baseline]
binary = "{redis8}/redis-server"
args = ["--port", "{{port}}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
cpus = "0"

[client]
cpus = "1"

[[param]]
name = "num_shards"
kind = "int"
low = 1
high = 16
default = 1

[[param]]
name = "batching.batch_threshold"
kind = "int"
low = 1
high = 64
default = 8

[[param]]
name = "response_pool.capacity"
kind = "int"
low = 0
high = 1024
step = 64
default = 256

[[param]]
name = "build.profile"
kind = "categorical"
choices = ["release"]
default = "release"
stage = "build"

[workload]
tests = ["set", "get"]
pipelines = [1, 16]
clients = 20
keyspace = 10000
requests = 20000
min_repetitions = 2
max_repetitions = 2
target_ci_pct = 50.0

[objective]
kind = "throughput"
pruner = "none"

[budget]
trials = 3
"""


@pytest.fixture(scope="module")
def server_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of server/ shared by this module's tests (one cargo build, in its target/).

    An edit to server/ mid-test would rightly change the build tag; the copy cannot change.
    """
    server = tmp_path_factory.mktemp("snapshot") / "server"
    shutil.copytree(SERVER_DIR, server, ignore=shutil.ignore_patterns("target", ".*"))
    return server


def _write_spec(tmp_path: Path, redis8: Path, server: Path) -> Path:
    path = tmp_path / "local-real.toml"
    path.write_text(SPEC.format(server=server, redis8=redis8))
    return path


def _our_servers(tmp_path: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "redis-server" in line]


def test_three_trial_local_study_against_real_server_and_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_snapshot: Path
) -> None:
    redis8 = _redis8()
    spec_path = _write_spec(tmp_path, redis8, server_snapshot)
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies"))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    result = CliRunner().invoke(
        app,
        [
            "study", "run", "--spec", str(spec_path), "--runner", "local", "--trials", "3",
            "--storage", storage, "--seed", "1", "--no-finalize",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    study = optuna.load_study(study_name="local-real", storage=storage)
    measured = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in study.trials if t.user_attrs.get("failure_kind") == "runner"]
    assert not failed, [t.user_attrs.get("failure_reason") for t in failed]
    assert len(measured) == 3
    tags = set()
    for trial in measured:
        attrs = trial.user_attrs
        fitness = attrs["fitness"]
        assert math.isfinite(fitness) and 5.0 < fitness < 500.0
        # (At 2 repetitions PairedRun's percentile bootstrap CI can exclude its own
        # point estimate, so only its order is checked here.)
        assert attrs["fitness_ci_low"] < attrs["fitness_ci_high"]
        assert attrs["repetitions"] == 2
        assert set(attrs["per_test"]) == {"SET@P1", "GET@P1", "SET@P16", "GET@P16"}
        assert attrs["runner"] == "local"
        assert set(attrs["timings"]) == {"build", "start", "benchmark"}
        assert attrs["timings"]["benchmark"] > 0
        tags.add(attrs["build_tag"])
    # Only runtime params changed between trials: one build, later trials hit the cache.
    assert len(tags) == 1
    assert all(t.user_attrs["timings"]["build"] == 0.0 for t in measured[1:])
    assert _our_servers(tmp_path) == []
    assert not list((tmp_path / "studies" / "local-real" / "pids").glob("*.pids"))
    # The config file each trial's server read is kept with its log.
    configs = sorted((tmp_path / "studies" / "local-real").glob("trials/*/perf_config.toml"))
    assert len(configs) == 3 and "[response_pool]" in configs[0].read_text()


def test_config_the_server_rejects_is_a_trial_failure(
    tmp_path: Path, server_snapshot: Path
) -> None:
    redis8 = _redis8()
    spec = load_spec(_write_spec(tmp_path, redis8, server_snapshot))
    runner = LocalRunner(spec, work_dir=tmp_path / "studies" / "x")
    try:
        with pytest.raises(TrialFailure) as failure:
            runner.evaluate(
                # Beyond the server's limit (the spec's range stops at 1024).
                Candidate({"response_pool.capacity": 100000}, {"build.profile": "release"})
            )
    finally:
        runner.close()
    assert "candidate did not start" in failure.value.reason
    assert (
        "response_pool.capacity = 100000 is out of range (allowed: 0 to 65536)"
        in failure.value.log_tail
    ), failure.value.log_tail
    assert _our_servers(tmp_path) == []
