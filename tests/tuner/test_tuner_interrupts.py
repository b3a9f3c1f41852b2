"""Kill, interrupt and resume a real ``tuner study run`` subprocess.

SIGKILL mid-trial leaves a RUNNING trial; the next run fails it (its worker is dead),
re-queues it, and ends with exactly the budgeted number of COMPLETE trials. SIGINT and
SIGTERM stop the trial, record it as FAIL, leave no child process, and exit 130 / 143.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tuner.processes import ProcessId

REPO = Path(__file__).resolve().parents[2]
SLEEPY = Path(__file__).with_name("sleepy_runner_cli.py")
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _no_pruning(data: dict[str, Any]) -> None:
    data["objective"]["pruner"] = "none"


def _start(args: list[str], env: dict[str, str], *, sleepy: bool = False) -> subprocess.Popen[str]:
    entry = [str(SLEEPY)] if sleepy else ["-m", "tuner.cli"]
    return subprocess.Popen(
        [sys.executable, *entry, *args],
        cwd=env["TEST_CWD"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our signals only, and a group to clean up
    )


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        TUNER_STORAGE=f"sqlite:///{tmp}/tuner.db",
        TUNER_STUDIES_DIR=str(tmp / "studies"),
        TEST_CWD=str(tmp),
        **extra,
    )
    return env


def _study(tmp: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp}/tuner.db")


def _wait_mid_trial(tmp: Path, name: str, proc: subprocess.Popen[str], min_number: int) -> int:
    """Wait until trial >= min_number is RUNNING and has reported a repetition."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            study = _study(tmp, name)
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.number >= min_number and t.intermediate_values:
                    return t.number
        except Exception:  # the study may not exist yet
            pass
        time.sleep(0.05)
    raise AssertionError("no trial reached mid-run in 60 s")


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out


def _alive(pid: int) -> bool:
    return ProcessId.of(pid) is not None


def test_sigkill_mid_trial_then_resume_ends_with_exactly_n_complete(
    tmp_path: Path, make_spec: Callable[..., Path]
) -> None:
    spec = make_spec(edit=_no_pruning)
    env = _env(tmp_path)
    args = ["study", "run", "--spec", str(spec), "--study", "k", "--runner", "mock"]
    args += ["--trials", "6", "--seed", "3", "--no-finalize"]
    proc = _start([*args, "--mock-delay", "0.2"], env)
    killed = _wait_mid_trial(tmp_path, "k", proc, min_number=2)
    proc.kill()
    proc.wait(timeout=10)
    before = _study(tmp_path, "k").trials[killed]
    assert before.state == TrialState.RUNNING

    code, out = _finish(_start(args, env))
    assert code == 0, out
    assert f"trial {killed} was left RUNNING by a dead worker" in out

    study = _study(tmp_path, "k")
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == max(numbers) + 1
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    dead = trials[killed]
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs["failure_kind"] == "interrupted"
    assert "died mid-trial" in dead.user_attrs["failure_reason"]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].params == dead.params


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_trial_records_it_and_exits_with_the_convention_code(
    tmp_path: Path, make_spec: Callable[..., Path], signum: int, code: int
) -> None:
    spec = make_spec(edit=_no_pruning)
    env = _env(tmp_path)
    args = ["study", "run", "--spec", str(spec), "--study", "s", "--runner", "mock"]
    args += ["--trials", "5", "--no-finalize"]
    proc = _start([*args, "--mock-delay", "0.2"], env)
    number = _wait_mid_trial(tmp_path, "s", proc, min_number=1)
    proc.send_signal(signum)
    returncode, out = _finish(proc, timeout=30)
    assert returncode == code, out
    assert f"interrupted by {signal.Signals(signum).name}" in out

    trial = _study(tmp_path, "s").trials[number]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["failure_kind"] == "interrupted"
    assert trial.user_attrs["failure_reason"] == f"interrupted by {signal.Signals(signum).name}"
    waiting = _study(tmp_path, "s").get_trials(states=(TrialState.WAITING,))
    assert [w.user_attrs.get("retry_of") for w in waiting] == [number]

    returncode, out = _finish(_start(args, env))
    assert returncode == 0, out
    study = _study(tmp_path, "s")
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 5
    assert any(t.user_attrs.get("retry_of") == number for t in study.trials)


def _recorded_children(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(p) for line in path.read_text().split("\n") for p in line.split()]


def test_sigint_leaves_no_child_processes(tmp_path: Path, make_spec: Callable[..., Path]) -> None:
    record = tmp_path / "children.txt"
    env = _env(tmp_path, SLEEPY_PIDS=str(record), SLEEPY_DELAY="0.3")
    args = ["study", "run", "--spec", str(make_spec(edit=_no_pruning)), "--study", "c"]
    args += ["--runner", "sleepy", "--trials", "3", "--no-finalize"]
    proc = _start(args, env, sleepy=True)
    _wait_mid_trial(tmp_path, "c", proc, min_number=0)
    children = _recorded_children(record)
    assert children and all(_alive(pid) for pid in children[-2:])
    proc.send_signal(signal.SIGINT)
    returncode, out = _finish(proc, timeout=30)
    assert returncode == 130, out
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)], out


def test_next_run_kills_servers_left_by_a_sigkilled_run(
    tmp_path: Path, make_spec: Callable[..., Path]
) -> None:
    record = tmp_path / "children.txt"
    env = _env(tmp_path, SLEEPY_PIDS=str(record), SLEEPY_DELAY="0.3")
    args = ["study", "run", "--spec", str(make_spec(edit=_no_pruning)), "--study", "p"]
    args += ["--runner", "sleepy", "--trials", "2", "--no-finalize"]
    proc = _start(args, env, sleepy=True)
    _wait_mid_trial(tmp_path, "p", proc, min_number=0)
    proc.kill()
    proc.wait(timeout=10)
    leader, stray = _recorded_children(record)[-2:]
    try:
        assert _alive(leader), "SIGKILL cannot clean up: the server must still run"
        # The killed worker's own record (named by its identity) holds the server.
        (record_file,) = (tmp_path / "studies" / "p" / "pids").glob("*.pids")
        assert f":{proc.pid}:" in record_file.name
        assert record_file.read_text().startswith(f"{leader}:")
        returncode, out = _finish(_start(args, {**env, "SLEEPY_DELAY": "0.01"}, sleepy=True))
        assert returncode == 0, out
        assert "killed 1 server(s) left by an earlier run" in out
        assert not _alive(leader)
    finally:
        for pid in (leader, stray):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_two_workers_on_one_sqlite_file_never_overshoot_the_budget(
    tmp_path: Path, make_spec: Callable[..., Path]
) -> None:
    spec = make_spec(edit=_no_pruning)
    env = _env(tmp_path)
    args = ["study", "run", "--spec", str(spec), "--study", "w", "--runner", "mock"]
    args += ["--trials", "6", "--no-finalize", "--mock-delay", "0.05"]
    workers = [_start([*args, "--seed", str(seed)], env) for seed in (1, 2)]
    for proc in workers:
        returncode, out = _finish(proc, timeout=120)
        assert returncode == 0, out
    study = _study(tmp_path, "w")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) <= 6
    assert {t.user_attrs["worker"] for t in complete} and not study.get_trials(
        states=(TrialState.RUNNING,)
    )
    # A race can leave the study a trial short (never over); the next run fills it.
    returncode, out = _finish(_start(args, env))
    assert returncode == 0, out
    assert sum(t.state == TrialState.COMPLETE for t in _study(tmp_path, "w").trials) == 6
