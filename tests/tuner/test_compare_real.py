"""``tuner compare`` on real servers: our server against Redis 8.0, local runner.

A config against itself: the 99.9% CI of B/A holds 1.0. A config with
``batching.batch_threshold = 1`` (one write() per command in a pipeline;
server/sweeps/knob-sweep-2026-11-26.md measured fitness 46 against the default's 107):
detected slower, with a wide margin.
The prebuilt server binary is used as is (``build_command = ["true"]``), so no cargo
build runs; skipped when it is missing, unless REQUIRE_REAL_SERVERS=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmark.redis8 import find_redis8_bin_dir
from tuner.cli import app

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "server" / "target" / "release" / "redis-server-optimized"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SPEC = """
[study]
name = "compare-real"

[target]
workdir = "{server_dir}"
build_command = ["true"]
binary = "target/release/redis-server-optimized"
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
name = "batching.batch_threshold"
kind = "int"
low = 1
high = 4096
log = true
default = 256

[workload]
tests = ["set"]
pipelines = [16]
clients = 20
keyspace = 10000
requests = 20000
min_repetitions = 3
max_repetitions = 4
target_ci_pct = 1.0

[objective]
kind = "throughput"
pruner = "none"
"""


def _spec(tmp_path: Path) -> Path:
    redis8 = find_redis8_bin_dir()
    missing = [] if redis8 is not None else ["Redis 8 (REDIS8_BIN_DIR)"]
    if not (SERVER.is_file() and os.access(SERVER, os.X_OK)):
        missing.append(f"{SERVER} (cargo build --release in server/)")
    if missing:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail(f"REQUIRE_REAL_SERVERS=1 but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")
    path = tmp_path / "compare-real.toml"
    path.write_text(SPEC.format(server_dir=REPO / "server", redis8=redis8))
    return path


def _compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, b_text: str, *options: str
) -> dict[str, object]:
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path / "studies" / b_text.split()[-1]))
    a = tmp_path / "a.toml"
    a.write_text("[batching]\nbatch_threshold = 256\n")
    b = tmp_path / "b.toml"
    b.write_text(b_text)
    args = ["compare", str(a), str(b), "--spec", str(_spec(tmp_path)), "--runner", "local"]
    result = CliRunner().invoke(app, [*args, *options, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_a_config_against_itself_and_against_a_handicapped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = _compare(
        tmp_path,
        monkeypatch,
        "[batching]\nbatch_threshold = 256\n",
        "--rounds",
        "3",
        "--confidence",
        "0.999",
    )
    ratio = same["ratio"]
    assert isinstance(ratio, dict)
    assert ratio["ci_low"] <= 1.0 <= ratio["ci_high"], same["verdict"]

    worse = _compare(tmp_path, monkeypatch, "[batching]\nbatch_threshold = 1\n", "--rounds", "2")
    ratio = worse["ratio"]
    assert isinstance(ratio, dict)
    # Measured about 0.3-0.5 here; 0.8 leaves a wide margin for a loaded machine.
    assert ratio["ci_high"] < 0.8, worse["verdict"]
    assert "is slower than" in str(worse["verdict"])
    rounds = worse["rounds"]
    assert isinstance(rounds, list) and len(rounds) == 2
    # Every measurement was a fresh start of both servers: one candidate log and one
    # baseline log per config per round.
    trials = tmp_path / "studies" / "1" / "compare-compare-real" / "trials"
    assert len(list(trials.glob("*/candidate.log"))) == 4
    assert len(list(trials.glob("*/baseline.log"))) == 4
