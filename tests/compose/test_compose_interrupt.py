"""Clean-up of the compose runner's containers after Ctrl-C, SIGKILL and the next run.

Everything the runner creates carries the project label and its tuner process as owner;
these tests look for objects owned by the killed `tuner study run` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.compose.conftest import REPO
from tuner.processes import owner_id
from tuner.runners.compose import OWNER_LABEL, PROJECT, PROJECT_LABEL, ROLE_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.timeout(900)]

#: Long enough that the signal lands mid-benchmark (the test stops it after seconds).
LONG_WORKLOAD = {"requests": 200_000, "min_repetitions": 10, "max_repetitions": 10}


def owned_by(engine: Any, pid: int) -> dict[str, str]:
    """Role -> name of labelled containers and networks whose owner is tuner process ``pid``."""
    filters = {"label": [f"{PROJECT_LABEL}={PROJECT}"]}
    found = {}
    for obj in [
        *engine.containers.list(all=True, filters=filters),
        *engine.networks.list(filters=filters),
    ]:
        labels = getattr(obj, "labels", None) or obj.attrs.get("Labels") or {}
        if f":{pid}:" in str(labels.get(OWNER_LABEL, "")):
            found[str(labels.get(ROLE_LABEL))] = obj.name
    return found


def start_study(spec: Path, env: dict[str, str], study: str) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "tuner.cli", "study", "run", "--spec", str(spec), "--study", study,
        "--runner", "compose", "--trials", "1", "--no-finalize", "-q",
    ]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_mid_benchmark(engine: Any, proc: subprocess.Popen[bytes]) -> dict[str, str]:
    """Wait until the trial's server, baseline and bench containers run, then a bit more."""
    deadline = time.monotonic() + 600  # may include the first image build
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        owned = owned_by(engine, proc.pid)
        if {"server", "redis", "bench", "network"} <= set(owned):
            time.sleep(3)  # into the paired benchmark
            return owned
        time.sleep(0.3)
    raise AssertionError("the trial's containers never started")


def long_spec(compose_spec: Callable[..., Path]) -> Path:
    return compose_spec(lambda d: d["workload"].update(LONG_WORKLOAD))


def test_ctrl_c_mid_trial_removes_the_runs_containers(
    docker_engine: Any, compose_spec: Callable[..., Path], tuner_env: dict[str, str]
) -> None:
    proc = start_study(long_spec(compose_spec), tuner_env, "interrupt")
    try:
        before = wait_mid_benchmark(docker_engine, proc)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output.decode()[-2000:]
    assert owned_by(docker_engine, proc.pid) == {}, (before, owned_by(docker_engine, proc.pid))
    study = optuna.load_study(study_name="interrupt", storage=tuner_env["TUNER_STORAGE"])
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert interrupted and interrupted[0].user_attrs.get("failure_kind") == "interrupted"


def test_after_sigkill_the_cleanup_command_removes_only_dead_runs_leftovers(
    docker_engine: Any, compose_spec: Callable[..., Path], tuner_env: dict[str, str]
) -> None:
    # A container of a live tuner (this test process) must survive the clean-up.
    decoy = docker_engine.containers.run(
        "redis:8.0",
        ["sleep", "300"],
        name=f"redisevolve-decoy-{os.getpid()}",
        detach=True,
        labels={PROJECT_LABEL: PROJECT, OWNER_LABEL: owner_id(), ROLE_LABEL: "bench"},
    )
    proc = start_study(long_spec(compose_spec), tuner_env, "sigkill")
    try:
        wait_mid_benchmark(docker_engine, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left = owned_by(docker_engine, proc.pid)
        assert {"server", "redis", "bench", "network"} <= set(left), left  # nothing could clean up
        cleanup = subprocess.run(
            [sys.executable, "-m", "tuner.runners.compose", "cleanup"],
            cwd=REPO, env=tuner_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cleanup.returncode == 0, cleanup.stderr
        assert owned_by(docker_engine, proc.pid) == {}, cleanup.stdout
        decoy.reload()
        assert decoy.status == "running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        decoy.remove(force=True)


def test_after_sigkill_the_next_run_removes_the_leftovers_and_retries_the_trial(
    docker_engine: Any, compose_spec: Callable[..., Path], tuner_env: dict[str, str]
) -> None:
    killed = start_study(long_spec(compose_spec), tuner_env, "resume")
    try:
        wait_mid_benchmark(docker_engine, killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    assert owned_by(docker_engine, killed.pid), "SIGKILL left nothing to clean up?"
    # Same params, tiny workload: the next run cleans up first, then retries the trial.
    nxt = start_study(compose_spec(), tuner_env, "resume")
    output, _ = nxt.communicate(timeout=600)
    assert nxt.returncode == 0, output.decode()[-3000:]
    assert owned_by(docker_engine, killed.pid) == {}
    assert owned_by(docker_engine, nxt.pid) == {}
    study = optuna.load_study(study_name="resume", storage=tuner_env["TUNER_STORAGE"])
    states = sorted((t.number, t.state.name) for t in study.trials)
    assert [s for _, s in states].count("COMPLETE") == 1, states
    retried = next(t for t in study.trials if t.state == TrialState.COMPLETE)
    assert retried.user_attrs.get("retry_of") == 0, retried.user_attrs


def test_ctrl_c_during_the_image_build_cancels_it(
    docker_engine: Any,
    compose_spec: Callable[..., Path],
    tuner_env: dict[str, str],
    tmp_path: Path,
) -> None:
    # A RUSTFLAGS value no build used before: the image is missing and cargo recompiles all.
    marker = f"redisevolve_interrupt_{os.getpid()}_{int(time.time())}"
    spec = compose_spec(lambda d: d["target"].update(build_env={"RUSTFLAGS": f"--cfg {marker}"}))
    proc = start_study(spec, tuner_env, "interrupt-build")
    builds = tmp_path / "studies" / "interrupt-build" / "builds"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            logs = list(builds.glob("*.log")) if builds.is_dir() else []
            if logs and "Compiling" in logs[0].read_text(errors="replace"):
                break
            assert proc.poll() is None
            time.sleep(0.5)
        else:
            raise AssertionError("the image build never started compiling")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output.decode()[-2000:]
    # The docker build client is gone (it ran in its own process group, stopped by the runner).
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert not [line for line in ps.stdout.splitlines() if marker in line and "build" in line]
    tag = logs[0].stem
    assert not docker_engine.images.list(name=f"redisevolve/server:{tag}")
    assert owned_by(docker_engine, proc.pid) == {}
