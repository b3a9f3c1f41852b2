"""Workers sharing a PostgreSQL study through faults: stopping together, a stopped worker.

Real `tuner study run` processes with the mock runner (the faults are about the study's
bookkeeping, not about measuring servers), on a real PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tomllib
from pathlib import Path

import optuna
import pytest
import tomli_w
from optuna.trial import TrialState

from tests.distributed.test_workers import REPO, trials_of, tuner, wait_for, write_spec

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def _env(tmp: Path) -> dict[str, str]:
    # Wide lines: a worker id must not be wrapped by rich.
    return {**os.environ, "TUNER_STUDIES_DIR": str(tmp / "studies"), "COLUMNS": "400"}


def _worker(
    spec: Path, url: str, tmp: Path, name: str, *extra: str, delay: float = 1.0
) -> subprocess.Popen[bytes]:
    env = _env(tmp)
    argv = tuner(
        "study", "run", "--spec", str(spec), "--runner", "mock", "--storage", url,
        "--mock-delay", str(delay), "--heartbeat", "1", *extra,
        env=env,
    )  # fmt: skip
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _finish(procs: list[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    try:
        return [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _spec(tmp: Path, trials: int, finalists: int) -> Path:
    path = write_spec(tmp / "spec.toml")
    data = tomllib.loads(path.read_text())
    data["budget"].update(trials=trials, finalists=finalists, finalist_repetitions=3)
    path.write_text(tomli_w.dumps(data))
    return path


FINALIZING = re.compile(r"finalizing as worker (\S+)")


def test_workers_reaching_timeout_together_finalize_once(postgres_url: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, trials=200, finalists=1)  # the budget is never the stop
    # The study exists before the workers start together (one trial, no finalize).
    first = _worker(
        spec, postgres_url, tmp_path, "create", "--trials", "1", "--no-finalize", delay=0
    )
    assert _finish([first], 120) == [0], (tmp_path / "create.log").read_text()[-3000:]

    names = ["a", "b", "c"]
    workers = [_worker(spec, postgres_url, tmp_path, n, "--timeout", "8", delay=0.5) for n in names]
    codes = _finish(workers, 200)
    logs = {n: (tmp_path / f"{n}.log").read_text() for n in names}
    assert codes == [0, 0, 0], logs
    assert all("stopped by timeout" in log for log in logs.values()), logs
    # Exactly one worker re-measured the finalists, and it said so.
    measured = [n for n, log in logs.items() if "finalist default:" in log]
    assert len(measured) == 1, logs
    finalizers = {n: m.group(1) for n, log in logs.items() if (m := FINALIZING.search(log))}
    assert list(finalizers) == measured, logs
    ((winner_name, winner),) = finalizers.items()
    for name, log in logs.items():
        if name == winner_name:
            continue
        assert "finalist default" not in log, log
        # It says who finalizes (or did): the one finalizing, or the peer still searching,
        # which is the last to stop and so the one that finalizes (seen at load 3 in CI).
        assert (
            f"not finalizing here: worker {winner} is finalizing" in log
            or f"not finalizing here: already finalized by worker {winner}" in log
            or f"still RUNNING (worker {winner}): the last worker to stop finalizes" in log
            or f"not finalizing here: worker {winner} still run(s) search trials" in log
        ), log

    study = optuna.load_study(study_name="distributed", storage=postgres_url)
    used = study.user_attrs["finalized_at"]
    assert study.user_attrs["winner"] and used >= 4
    assert not study.get_trials(states=(TrialState.RUNNING,))

    # A worker started after the search ended (the budget full) finalizes nothing either.
    late = _worker(spec, postgres_url, tmp_path, "late", "--trials", str(used), delay=0)
    assert _finish([late], 120) == [0]
    log = (tmp_path / "late.log").read_text()
    assert f"not finalizing here: already finalized by worker {winner} at {used} trials" in log
    assert "finalist default" not in log and "stopped by budget" in log


def test_a_stopped_worker_whose_trial_was_retried_continues_cleanly(
    postgres_url: str, tmp_path: Path
) -> None:
    trials = 6
    spec = _spec(tmp_path, trials=trials, finalists=0)
    sleeper = _worker(spec, postgres_url, tmp_path, "sleeper", "--no-finalize")
    peer = None
    try:

        def sleeper_mid_trial() -> optuna.trial.FrozenTrial | None:
            running = [t for t in trials_of(postgres_url) if t.state == TrialState.RUNNING]
            return next((t for t in running if t.intermediate_values), None)

        stopped = wait_for(sleeper_mid_trial, 90, "the sleeper mid-trial")
        sleeper.send_signal(signal.SIGSTOP)
        peer = _worker(spec, postgres_url, tmp_path, "peer", "--no-finalize")

        def failed_by_peer() -> bool:
            trial = next(t for t in trials_of(postgres_url) if t.number == stopped.number)
            return trial.state == TrialState.FAIL

        # Heartbeat 1 s -> grace 10 s: the peer fails and re-queues the silent trial.
        wait_for(failed_by_peer, 90, "the peer to fail the stopped worker's trial")
        sleeper.send_signal(signal.SIGCONT)
        codes = _finish([sleeper, peer], 150)
    finally:
        for proc in (sleeper, peer):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()
    logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("sleeper", "peer")}
    assert codes == [0, 0], logs
    assert "Traceback" not in logs["sleeper"], logs["sleeper"]
    assert f"trial {stopped.number} was failed by another worker" in logs["sleeper"]

    all_trials = trials_of(postgres_url)
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE]
    assert len(complete) == trials, [(t.number, t.state.name) for t in all_trials]
    assert len({t.number for t in all_trials}) == len(all_trials)
    # The stopped trial stays failed; its retry completed once.
    assert next(t for t in all_trials if t.number == stopped.number).state == TrialState.FAIL
    retries = [t for t in complete if t.user_attrs.get("retry_of") == stopped.number]
    assert len(retries) == 1 and retries[0].params == stopped.params
