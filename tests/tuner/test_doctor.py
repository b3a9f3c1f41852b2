"""``tuner doctor``: real checks on this machine (PATH without cargo, a closed database port,
the A/A probe against real Redis 8.0) and the noise prediction on a known landscape."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from benchmark import stats
from benchmark.redis8 import find_redis8_bin_dir
from benchmark.server_process import free_port
from tuner.doctor import (
    FAIL,
    OK,
    WARN,
    check_cpus,
    check_disk,
    check_noise,
    log_fitness_sd,
    repetitions_for,
)
from tuner.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def doctor(tmp_path: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TUNER_STUDIES_DIR"] = str(tmp_path / "studies")
    env["COLUMNS"] = "400"  # the table's fix column on one line
    env.pop("TUNER_STORAGE", None)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "tuner.cli", "doctor", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _redis8() -> Path:
    found = find_redis8_bin_dir()
    if found is None:
        if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
            pytest.fail("REQUIRE_REAL_SERVERS=1 but no Redis 8")
        pytest.skip("no Redis 8")
    return found


def test_missing_cargo_fails_with_the_fix(tmp_path: Path) -> None:
    _redis8()
    empty = tmp_path / "bin"
    empty.mkdir()
    done = doctor(
        tmp_path, "--probe-seconds", "0", "--storage", f"sqlite:///{tmp_path}/t.db", path=str(empty)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cargo not found on PATH" in done.stdout
    assert "install Rust" in done.stdout and ". ~/.cargo/env" in done.stdout
    assert "not ready: fix toolchain first" in done.stdout


def test_unreachable_storage_fails_with_the_fix(tmp_path: Path) -> None:
    _redis8()
    url = f"postgresql+psycopg://tuner:secret@127.0.0.1:{free_port()}/tuner"
    done = doctor(tmp_path, "--probe-seconds", "0", "--storage", url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot open" in done.stdout
    assert "the database must be running and reachable" in done.stdout
    assert "secret" not in done.stdout  # the password is redacted
    assert "fix storage" in done.stdout


def test_ready_machine_with_a_short_probe(tmp_path: Path) -> None:
    """Every check against the real parts; the probe bounded to 6 s of 0.05 s runs."""
    _redis8()
    data = tomllib.loads((REPO / "studies" / "redis-throughput.toml").read_text())
    data["target"]["workdir"] = str(REPO / "server")
    data["workload"]["keyspace"] = 1000  # a fast prefill
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(data))
    done = doctor(
        tmp_path,
        "--spec", str(spec), "--probe-seconds", "6", "--probe-duration", "0.05",
        "--storage", f"sqlite:///{tmp_path}/t.db",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "redis-server" in done.stdout and "v=8.0" in done.stdout
    assert "cargo " in done.stdout and "rustc " in done.stdout
    assert "A/A reps in" in done.stdout and "needs ~" in done.stdout
    assert "ready" in done.stdout


def test_noise_probe_against_real_redis8() -> None:
    _redis8()
    spec = load_spec(None)
    light = dataclasses.replace(spec.workload, keyspace=1000)  # a fast prefill
    check, est = check_noise(
        light,
        seconds=6,
        server_cpus=spec.target.cpus,
        client_cpus=spec.client.cpus,
        duration_s=0.05,
    )
    assert est is not None, check
    assert est.repetitions >= 2, check
    assert 70 < est.aa_fitness < 130  # A/A: the same server on both sides
    assert est.needed_repetitions >= max(spec.workload.min_repetitions, 1)
    # The spec's 1 s runs: 4 units x 2 servers per repetition, at least 8 s.
    assert est.seconds_per_repetition >= 8 * spec.workload.duration_s
    assert est.seconds_per_trial > est.seconds_per_repetition
    assert check.status in (OK, WARN) and check.found.startswith(f"{est.repetitions} A/A reps")


def test_predicted_repetitions_reach_the_target_on_a_known_landscape() -> None:
    """Units with known lognormal noise: after the predicted repetitions, the benchmark's own
    bootstrap CI is about the target (median over many simulated trials)."""
    rng = np.random.default_rng(7)
    sigma, units, target, confidence = 0.08, 4, 3.0, 0.95
    truth = sigma / math.sqrt(units)  # per-repetition log fitness, equal weights
    # What a probe sees: a few A/A repetitions (two already give an estimate).
    for reps in (2, 6, 40):
        seen = [
            log_fitness_sd(rng.normal(0.0, sigma, size=(units, reps)), np.ones(units))
            for _ in range(200)
        ]
        assert 0.75 * truth < float(np.median(seen)) < 1.25 * truth, (reps, np.median(seen))
    log_sd = truth
    n = repetitions_for(log_sd, target, confidence)
    assert 8 <= n <= 20
    halves = []
    for _ in range(60):
        ratios = np.exp(rng.normal(0.0, sigma, size=(n, units)))
        boot = stats.bootstrap(ratios, [1.0] * units, confidence=confidence, resamples=400, rng=rng)
        halves.append(boot.half_width_pct)
    assert 0.7 * target < float(np.median(halves)) < 1.3 * target, np.median(halves)
    # A quarter of the repetitions leaves the CI about twice as wide.
    assert repetitions_for(log_sd, 2 * target, confidence) <= math.ceil(n / 4) + 1


def test_cpu_pins_outside_the_affinity_fail() -> None:
    spec = load_spec(None)
    check = check_cpus(spec, available={0})
    assert check.status == FAIL and "CPU 1 not available" in check.found
    assert "among 0" in check.fix
    assert check_cpus(spec, available={0, 1}).status == OK


def test_disk_check_measures_the_nearest_existing_directory(tmp_path: Path) -> None:
    check = check_disk(tmp_path / "not" / "yet" / ".build-cache")
    free = shutil.disk_usage(tmp_path).free / (1 << 30)
    assert f"{free:.1f} GiB free at" in check.found
    expected = FAIL if free < 1 else (WARN if free < 4 else OK)
    assert check.status == expected
