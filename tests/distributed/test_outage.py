"""Workers ride out a PostgreSQL outage; past the outage limit they stop cleanly and resume.

A real PostgreSQL cluster of this module's own is stopped (``pg_ctl -m immediate``: every
connection dropped at once, as in a crash) while real ``tuner study run`` workers run, then
started again. The mock runner stands in for the benchmark: these tests are about the
storage, not about measuring servers.
"""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import tomli_w
from optuna.trial import TrialState

from tests.distributed.test_workers import (
    HEARTBEAT_S,
    REPO,
    trials_of,
    tuner,
    wait_for,
    worker_pid,
    write_spec,
)
from tests.postgres_fixture import PostgresCluster, free_port, postgres_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(480)]

#: The 3-worker study: ~3 s per trial (3 repetitions of 1 s), so ~15 s of work per worker.
TRIALS = 15
#: The outage begins this long after the first trial, and lasts this long (the issue's case).
OUTAGE_AFTER_S = 10.0
OUTAGE_S = 20.0


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster for this module alone: stopping it must not disturb any other test."""
    with postgres_cluster() as cluster:
        yield cluster


def spec_with(tmp: Path, trials: int) -> Path:
    path = write_spec(tmp / "spec.toml")
    spec = tomllib.loads(path.read_text())
    spec["budget"]["trials"] = trials
    path.write_text(tomli_w.dumps(spec))
    return path


def worker(
    spec: Path, url: str, tmp: Path, name: str, *extra: str, delay: float = 1.0
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp / "studies")}
    argv = tuner(
        "study", "run", "--spec", str(spec), "--runner", "mock", "--storage", url,
        "--mock-delay", str(delay), "--heartbeat", str(HEARTBEAT_S), "--no-finalize", "-q",
        *extra,
        env=env,
    )  # fmt: skip
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def read_log(path: Path) -> str:
    """A worker's output with rich's line wrapping undone."""
    return " ".join(path.read_text().split())


def restart_after(cluster: PostgresCluster, down_s: float) -> threading.Thread:
    """Stop the cluster now and start it again ``down_s`` later, in the background."""
    cluster.stop()

    def start() -> None:
        time.sleep(down_s)
        started = cluster.start()
        assert started.returncode == 0, started.stderr

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    return thread


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_survive_a_20s_postgres_restart(
    own_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = own_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
    spec = spec_with(tmp_path, TRIALS)
    names = ["w1", "w2", "w3"]
    procs = [worker(spec, url, tmp_path, names[0])]
    try:
        # The first worker creates the study; the others never race on creating it.
        wait_for(lambda: trials_of(url), 180, "the first worker's first trial")
        first_trial = time.monotonic()
        procs += [worker(spec, url, tmp_path, name) for name in names[1:]]
        pids = {proc.pid for proc in procs}
        # Every worker is past its start-up (imports take seconds on a busy machine).
        wait_for(lambda: {worker_pid(t) for t in trials_of(url)} >= pids, 180, "all workers")
        time.sleep(max(0.0, first_trial + OUTAGE_AFTER_S - time.monotonic()))
        running_before = {t.number for t in trials_of(url) if t.state == TrialState.RUNNING}
        restarter = restart_after(own_cluster, OUTAGE_S)
        restarter.join(timeout=OUTAGE_S + 70)
        back_at = datetime.datetime.now()
        codes = [proc.wait(timeout=180) for proc in procs]
    finally:
        kill_all(procs)
    logs = [read_log(tmp_path / f"{name}.log") for name in names]
    assert codes == [0, 0, 0], logs
    for log in logs:
        assert "Traceback" not in log, log
        assert "unreachable: retrying for up to 60 s" in log, log
        assert "is back after" in log, log

    trials = trials_of(url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS, [(t.number, t.state.name) for t in trials]
    assert len({t.number for t in trials}) == len(trials)
    # The trials measured across the outage were written afterwards by their own worker:
    # none was failed as stale and re-run, so nothing was measured twice.
    assert running_before, "no trial was running when the database went down"
    by_number = {t.number: t for t in trials}
    assert all(by_number[n].state == TrialState.COMPLETE for n in running_before), [
        (n, by_number[n].state.name) for n in running_before
    ]
    # (A FAIL of kind "budget" is a worker that lost the race for the last slot: normal.)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("failure_kind") == "budget" for t in failed), [
        (t.number, t.user_attrs) for t in failed
    ]
    assert not [t for t in trials if "retry_of" in t.user_attrs]
    # Every worker went on measuring after the database came back.
    after = {
        worker_pid(t) for t in complete if t.datetime_complete and t.datetime_complete > back_at
    }
    assert after == pids, after


def test_an_outage_past_the_limit_stops_the_worker_and_the_next_run_resumes(
    own_cluster: PostgresCluster, tmp_path: Path
) -> None:
    trials, limit_s = 8, 4.0
    url = own_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
    spec = spec_with(tmp_path, trials)
    env_limit = ("--db-outage-limit", str(limit_s))
    # 3 s per trial: polls (slow on a busy machine) cannot miss the running trial.
    proc = worker(spec, url, tmp_path, "first", *env_limit, delay=1.0)
    stopped: float | None = None
    try:

        def one_done_one_running() -> optuna.trial.FrozenTrial | None:
            got = trials_of(url)
            # A running trial with its params: one cut off before they are set has nothing
            # to re-queue (it is failed, and its slot is measured afresh).
            running = [t for t in got if t.state == TrialState.RUNNING and t.params]
            done = sum(t.state == TrialState.COMPLETE for t in got)
            return running[0] if done >= 1 and running else None

        interrupted = wait_for(one_done_one_running, 180, "a finished trial and a running one")
        own_cluster.stop()
        stopped = time.monotonic()
        code = proc.wait(timeout=limit_s + 60)
        waited = time.monotonic() - stopped
    finally:
        kill_all([proc])
        if stopped is not None:
            assert own_cluster.start().returncode == 0
    log = read_log(tmp_path / "first.log")
    assert code == 75, log
    assert "Traceback" not in log, log
    assert f"database postgresql+psycopg://tuner:***@127.0.0.1:{own_cluster.port}/" in log, log
    assert "longer than the 4 s outage limit" in log, log
    assert waited >= limit_s, (waited, log)

    # The same command again: the interrupted trial is failed, re-queued and measured.
    again = worker(spec, url, tmp_path, "again", delay=0.2)
    try:
        assert again.wait(timeout=120) == 0, (tmp_path / "again.log").read_text()
    finally:
        kill_all([again])
    final = trials_of(url)
    complete = [t for t in final if t.state == TrialState.COMPLETE]
    assert len(complete) == trials, [(t.number, t.state.name) for t in final]
    assert len({t.number for t in final}) == len(final)
    left = next(t for t in final if t.number == interrupted.number)
    assert left.state == TrialState.FAIL
    assert any(t.params == interrupted.params and t.number > left.number for t in complete)


def test_a_missing_database_is_an_error_at_once_not_an_outage(own_cluster: PostgresCluster) -> None:
    """Only an unreachable server is waited for; a wrong database name fails straight away."""
    from tuner.storage import StorageError, open_storage

    start = time.monotonic()
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(own_cluster.url("no_such_database"), outage_limit_s=60)
    assert time.monotonic() - start < 30


def test_views_against_a_stopped_database_exit_75_with_one_line(
    own_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """`study show`, `study report`, `study list` and `dashboard` with the server down say
    which database is gone in one line and exit 75, with no traceback."""
    url = own_cluster.create_database(f"views_{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp_path), "TUNER_DB_OUTAGE_LIMIT": "2"}
    own_cluster.stop()
    try:
        for args in (
            ("study", "show", "s", "--storage", url),
            ("study", "report", "s", "--no-png", "--storage", url, "-o", str(tmp_path / "r")),
            ("study", "list", "--storage", url),
            ("dashboard", "--storage", url, "--port", "1"),
        ):
            done = subprocess.run(
                tuner(*args, env=env), cwd=REPO, env=env, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            out = " ".join((done.stdout + done.stderr).split())
            assert done.returncode == 75, (args, out)
            assert "Traceback" not in out, (args, out)
            assert f"database postgresql+psycopg://tuner:***@127.0.0.1:{own_cluster.port}/" in out
            assert "unreachable" in out, out
    finally:
        started = own_cluster.start()
        assert started.returncode == 0, started.stderr


def test_views_during_an_outage_wait_out_the_limit_then_exit_75(
    own_cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database goes down after `study show`/`report`/`list` opened it: they retry up to
    the outage limit, then exit 75 naming the database, with no traceback."""
    from typer.testing import CliRunner

    import tuner.cli._common
    from tuner.cli import app
    from tuner.storage import open_storage

    url = own_cluster.create_database(f"views_{uuid.uuid4().hex[:8]}")
    optuna.create_study(study_name="s", storage=url).optimize(
        lambda t: t.suggest_float("x", 0, 1), 2
    )
    monkeypatch.setenv("TUNER_STUDIES_DIR", str(tmp_path))
    down = False
    try:
        for args in (
            ["study", "show", "s", "--storage", url],
            ["study", "report", "s", "--no-png", "--storage", url, "-o", str(tmp_path / "r")],
            ["study", "list", "--storage", url],
        ):
            # Opened while the server is up; its pooled connections die with it.
            storage = open_storage(url, heartbeat_interval=None, outage_limit_s=2)
            storage.get_all_studies()
            monkeypatch.setattr(
                tuner.cli._common, "_open_storage", lambda *_a, _s=storage, **_k: _s
            )
            own_cluster.stop()
            down = True
            start = time.monotonic()
            result = CliRunner().invoke(app, args)
            out = " ".join(result.output.split())
            assert result.exit_code == 75, (args, out, result.exception)
            assert "Traceback" not in out, out
            assert f"database postgresql+psycopg://tuner:***@127.0.0.1:{own_cluster.port}/" in out
            assert "longer than the 2 s outage limit" in out, out
            assert time.monotonic() - start < 60
            assert own_cluster.start().returncode == 0
            down = False
    finally:
        if down:
            started = own_cluster.start()
            assert started.returncode == 0, started.stderr


def _get(url: str) -> int:
    """The HTTP status of a GET (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as reply:
            reply.read()
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_dashboard_serving_when_the_database_drops_answers_503_and_recovers(
    own_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """A serving `tuner dashboard` whose database goes down: one line, 503 per request (no
    traceback), still serving, and 200 again once the database is back."""
    url = own_cluster.create_database(f"dash_{uuid.uuid4().hex[:8]}")
    optuna.create_study(study_name="s", storage=url).optimize(
        lambda t: t.suggest_float("x", 0, 1), 2
    )
    port = free_port()
    env = {**os.environ, "TUNER_STUDIES_DIR": str(tmp_path), "TUNER_DB_OUTAGE_LIMIT": "2"}
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            tuner("dashboard", "--storage", url, "--port", str(port), env=env),
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    down = False
    try:
        wait_for(lambda: _get(f"{base}/api/studies") == 200 if _up(port) else False, 90, "it")
        own_cluster.stop()
        down = True
        for path in ("/api/studies", "/api/studies/1", "/dashboard/"):
            assert _get(base + path) == 503, path
        assert proc.poll() is None, "the dashboard died with its database"
        assert own_cluster.start().returncode == 0
        down = False
        wait_for(lambda: _get(f"{base}/api/studies") == 200, 60, "the dashboard to recover")
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if down:
            own_cluster.start()
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    shown = f"postgresql+psycopg://tuner:***@127.0.0.1:{own_cluster.port}/"
    assert f"dashboard: database {shown}" in text and "unreachable" in text, text[-3000:]
    assert "is back after" in text, text[-3000:]


def _up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
