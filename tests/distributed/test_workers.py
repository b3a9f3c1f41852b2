"""Several `tuner study run` workers share one study on a real PostgreSQL.

The mock runner (with a per-repetition delay) stands in for the benchmark here on
purpose: these tests are about distribution (global budget, no trial run twice, a
SIGKILLed worker's trial retried by another), not about measuring servers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
import tomli_w
from optuna.trial import TrialState

REPO = Path(__file__).resolve().parents[2]
TRIALS = 8
#: Seconds per mock repetition; 3 repetitions per trial (min = max = 3) -> ~3 s per trial.
DELAY_S = 1.0
#: Heartbeat every second; the CLI derives the grace period from it (max(4 x beat, 10 s)).
HEARTBEAT_S = 1

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def write_spec(path: Path) -> Path:
    """A small study: two runtime knobs, the mock runner's repetition policy fixed at 3."""
    spec: dict[str, Any] = {
        "study": {"name": "distributed"},
        "target": {
            "workdir": str(REPO / "server"),
            "build_command": ["true"],
            "binary": "target/release/redis-server-optimized",
            "args": ["--config", "{config}", "--port", "{port}"],
        },
        "baseline": {"binary": "redis-server", "args": ["--port", "{port}"]},
        "param": [
            {"name": "num_shards", "kind": "int", "low": 1, "high": 16, "default": 1},
            {"name": "batching.batch_threshold", "kind": "int", "low": 1, "high": 64, "default": 8},
        ],
        "workload": {
            "tests": ["set", "get"],
            "pipelines": [1, 16],
            "requests": 1000,
            "min_repetitions": 3,
            "max_repetitions": 3,
        },
        "objective": {"kind": "throughput", "pruner": "none"},
        "budget": {"trials": TRIALS, "finalists": 0},
        "sampler": {"name": "random"},
    }
    path.write_text(tomli_w.dumps(spec))
    return path


def tuner(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "tuner.cli", *args]


def start_worker(
    spec: Path, url: str, tmp: Path, name: str, *, delay: float = DELAY_S, finalize: bool = False
) -> subprocess.Popen[bytes]:
    """A `tuner study run` worker logging to tmp/NAME.log; finalizing ones log every message."""
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp / "studies")}
    quiet = [] if finalize else ["--no-finalize", "-q"]
    argv = tuner(
        "study", "run", "--spec", str(spec), "--runner", "mock", "--storage", url,
        "--mock-delay", str(delay), "--heartbeat", str(HEARTBEAT_S), *quiet,
        env=env,
    )  # fmt: skip
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        storage = optuna.storages.RDBStorage(url)
    except sqlalchemy.exc.SQLAlchemyError:  # a worker is creating the schema right now
        return []
    try:
        study = optuna.load_study(study_name="distributed", storage=storage)
        return study.get_trials(deepcopy=False)
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # not created yet, or mid-creation
        return []
    finally:
        storage.engine.dispose()


def worker_pid(trial: optuna.trial.FrozenTrial) -> int | None:
    parts = str(trial.user_attrs.get("worker", "")).split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def test_two_workers_share_the_budget_and_retry_a_killed_workers_trial(
    postgres_url: str, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "spec.toml")
    # The survivor's trials are slower (~9 s), so a victim that starts slowly on a loaded machine
    # still gets a trial before the survivor has used up the budget alone.
    survivor = start_worker(spec, postgres_url, tmp_path, "survivor", delay=3 * DELAY_S)
    victim = None
    try:
        # Let the survivor create the study first, so the two never race on creating it.
        wait_for(lambda: trials_of(postgres_url), 60, "the first worker's first trial")
        victim = start_worker(spec, postgres_url, tmp_path, "victim")

        def victim_mid_trial() -> optuna.trial.FrozenTrial | None:
            # A RUNNING trial of the victim's with at least one repetition reported: mid-trial.
            mine = [t for t in trials_of(postgres_url) if worker_pid(t) == victim.pid]
            running = [t for t in mine if t.state == TrialState.RUNNING and t.intermediate_values]
            return running[0] if running else None

        killed = wait_for(victim_mid_trial, 150, "a victim's trial with a repetition in")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        assert survivor.wait(timeout=180) == 0, (tmp_path / "survivor.log").read_text()[-3000:]
    finally:
        for proc in (survivor, victim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    trials = trials_of(postgres_url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # The budget is global: exactly TRIALS complete trials, never more, each number once.
    assert len(complete) == TRIALS, [(t.number, t.state.name) for t in trials]
    assert len({t.number for t in trials}) == len(trials)
    # Both workers measured: the survivor completed trials, the victim was killed mid-trial
    # (it may or may not have completed one before, depending on how fast it started).
    pids = {worker_pid(t) for t in complete}
    assert survivor.pid in pids and pids <= {survivor.pid, victim.pid}, pids
    assert worker_pid(killed) == victim.pid and killed.intermediate_values
    # The killed trial was failed (stale heartbeat) and retried, by the survivor.
    dead = next(t for t in trials if t.number == killed.number)
    assert dead.state == TrialState.FAIL
    retries = [t for t in complete if t.user_attrs.get("retry_of") == killed.number]
    assert len(retries) == 1, [(t.number, t.user_attrs.get("retry_of")) for t in trials]
    assert retries[0].params == dead.params == killed.params
    assert worker_pid(retries[0]) == survivor.pid
    # No two workers ran the same trial: each complete trial was measured by one worker once.
    assert all(t.user_attrs.get("fitness") is not None for t in complete)


def test_show_and_export_read_a_postgres_study(postgres_url: str, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.toml")
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp_path / "studies")}
    run = subprocess.run(
        tuner(
            "study", "run", "--spec", str(spec), "--runner", "mock", "--storage", postgres_url,
            "--trials", "3", "--no-finalize", "-q",
            env=env,
        ),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    show = subprocess.run(
        tuner("study", "show", "distributed", "--storage", postgres_url, "--json", env=env),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert show.returncode == 0, show.stdout + show.stderr
    summary = json.loads(show.stdout)
    assert summary, summary
    out = tmp_path / "best.toml"
    export = subprocess.run(
        tuner("study", "export", "distributed", "--storage", postgres_url, "-o", str(out), env=env),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    assert "num_shards" in out.read_text()


def test_dashboard_serves_a_postgres_study(postgres_url: str, tmp_path: Path) -> None:
    import urllib.request

    from tests.postgres_fixture import free_port

    spec = write_spec(tmp_path / "spec.toml")
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp_path / "studies")}
    run = subprocess.run(
        tuner(
            "study", "run", "--spec", str(spec), "--runner", "mock", "--storage", postgres_url,
            "--trials", "2", "--no-finalize", "-q",
            env=env,
        ),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    port = free_port()
    argv = tuner("dashboard", "--storage", postgres_url, "--port", str(port), env=env)
    server = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:

        def studies() -> Any:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    return json.loads(r.read())["study_summaries"]
            except OSError:
                return None

        summaries = wait_for(studies, 60, "the dashboard to answer")
        assert [s["study_name"] for s in summaries] == ["distributed"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_two_workers_with_finalists_finalize_once(postgres_url: str, tmp_path: Path) -> None:
    """Only the worker that completes the last budget trial re-measures the finalists."""
    spec_path = write_spec(tmp_path / "spec.toml")
    spec = tomllib.loads(spec_path.read_text())
    spec["budget"].update(trials=6, finalists=1, finalist_repetitions=3)
    spec_path.write_text(tomli_w.dumps(spec))
    names = ["first", "second"]

    def start(name: str) -> subprocess.Popen[bytes]:
        return start_worker(spec_path, postgres_url, tmp_path, name, delay=0.3, finalize=True)

    workers = [start(names[0])]
    # The first worker creates the study; the two never race on creating it.
    wait_for(lambda: trials_of(postgres_url), 60, "the first worker's first trial")
    workers.append(start(names[1]))
    for worker in workers:
        worker.wait(timeout=240)
    logs = [(tmp_path / f"{name}.log").read_text() for name in names]
    assert [w.returncode for w in workers] == [0, 0], logs
    finalized = [log for log in logs if "finalist default" in log]
    assert len(finalized) == 1, logs
    others = [log for log in logs if log not in finalized]
    assert "stopped by budget" in others[0], others[0]
    # The other one says who finalizes (or did).
    winner = re.search(r"finalizing as worker (\S+)", finalized[0])
    assert winner is not None, finalized[0]
    assert re.search(rf"not finalizing here: .*worker {re.escape(winner[1])}", others[0]), others
    trials = trials_of(postgres_url)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
