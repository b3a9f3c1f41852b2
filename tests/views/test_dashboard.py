"""`tuner dashboard`: serves a running SQLite study without breaking it; shows our user_attrs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import optuna
import pytest

from tests.views.conftest import (
    REPO,
    MockStudy,
    get_json,
    serve_dashboard,
    tuner,
    tuner_env,
)
from tuner.report.figures import param_importances
from tuner.study import MEASURED_TRIAL_ATTRS, budget_used

pytestmark = pytest.mark.timeout(300)

TRIAL_ATTRS = MEASURED_TRIAL_ATTRS


def test_dashboard_polls_a_running_sqlite_study_without_locking_it(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    trials = 40
    study_log = tmp_path / "study.log"
    with study_log.open("w") as log:
        study = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", "study", "run", "--runner", "mock",
             "--spec", str(REPO / "studies" / "redis-throughput.toml"), "--study", "live",
             "--trials", str(trials), "--seed", "5", "--storage", storage, "--quiet",
             "--mock-delay", "0.03"],
            cwd=tmp_path, env=tuner_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _trial_count(tmp_path / "tuner.db") == 0:
            assert study.poll() is None, study_log.read_text()
            assert time.monotonic() < deadline, "the study never started"
            time.sleep(0.1)
        polls = errors = 0
        seen_running = False
        with serve_dashboard(tmp_path, storage) as dashboard:
            study_id = dashboard.study_id("live")
            while study.poll() is None:
                assert time.monotonic() < deadline + 180, "the study did not finish"
                try:
                    detail = get_json(f"{dashboard.url}/api/studies/{study_id}?after=0")
                    seen_running |= any(t["state"] == "Running" for t in detail["trials"])
                    get_json(f"{dashboard.url}/api/studies/{study_id}/param_importances")
                    polls += 1
                except urllib.error.HTTPError as exc:
                    errors += 1
                    assert exc.code != 500, exc.read()
            final = get_json(f"{dashboard.url}/api/studies/{study_id}?after=0")
            dashboard_log = dashboard.log.read_text()
    finally:
        if study.poll() is None:
            study.kill()
            study.wait(timeout=10)
    output = study_log.read_text()
    assert study.returncode == 0, output
    assert "locked" not in output.lower(), output
    assert "locked" not in dashboard_log.lower(), dashboard_log
    assert "Traceback" not in dashboard_log, dashboard_log
    assert polls >= 10 and seen_running, (polls, seen_running)
    assert errors == 0
    loaded = optuna.load_study(study_name="live", storage=storage)
    assert budget_used(loaded) == trials
    assert not [t for t in loaded.trials if t.user_attrs.get("failure_kind") == "error"]
    assert len(final["trials"]) == len(loaded.trials)


def _trial_count(db: Path) -> int:
    """Trials in the file, read-only: opening it with Optuna while the study creates the schema
    races that creation ("table ... already exists"), so the test must not write to it."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM trials").fetchone()[0])
    except sqlite3.OperationalError:  # no schema yet, or a writer holds the file
        return 0


def test_dashboard_api_shows_trial_attrs_and_report_importances(
    throughput_study: MockStudy,
) -> None:
    study = optuna.load_study(study_name=throughput_study.name, storage=throughput_study.storage)
    with serve_dashboard(throughput_study.workdir, throughput_study.storage) as dashboard:
        study_id = dashboard.study_id(throughput_study.name)
        detail = get_json(f"{dashboard.url}/api/studies/{study_id}?after=0")
        served = get_json(f"{dashboard.url}/api/studies/{study_id}/param_importances")
    assert detail["objective_names"] == ["fitness"]
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert complete
    for trial in complete:
        keys = {a["key"] for a in trial["user_attrs"]}
        assert keys >= TRIAL_ATTRS, TRIAL_ATTRS - keys
        # Params are named as the config file names them.
        assert {p["name"] for p in trial["params"]} >= {"buffers.read_size", "num_shards"}
    failed = [t for t in detail["trials"] if t["state"] == "Fail"]
    assert failed and all(
        any(a["key"] == "failure_reason" for a in t["user_attrs"]) for t in failed
    )
    # The report's PED-ANOVA numbers are the dashboard's numbers.
    ours = param_importances(study)
    theirs = [
        {i["name"]: i["importance"] for i in objective} for objective in served["param_importances"]
    ]
    assert len(ours) == len(theirs) == 1
    assert set(ours[0]) == set(theirs[0])
    for name, value in ours[0].items():
        assert value == pytest.approx(theirs[0][name], abs=1e-9), name


def test_dashboard_pareto_study_importances_agree(pareto_study: MockStudy) -> None:
    study = optuna.load_study(study_name=pareto_study.name, storage=pareto_study.storage)
    with serve_dashboard(pareto_study.workdir, pareto_study.storage) as dashboard:
        study_id = dashboard.study_id(pareto_study.name)
        served = get_json(f"{dashboard.url}/api/studies/{study_id}/param_importances")
        detail = get_json(f"{dashboard.url}/api/studies/{study_id}?after=0")
    assert detail["objective_names"] == ["fitness", "p99_ratio"]
    assert detail["best_trials"], "the Pareto front is empty"
    ours = param_importances(study)
    theirs = [
        {i["name"]: i["importance"] for i in objective} for objective in served["param_importances"]
    ]
    assert len(ours) == len(theirs) == 2
    for mine, served_one in zip(ours, theirs, strict=True):
        assert mine == pytest.approx(served_one, abs=1e-9)


def test_dashboard_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    done = tuner(tmp_path, "dashboard", "--storage", f"sqlite:///{tmp_path}/typo.db",
                 "--port", "1")  # fmt: skip
    assert done.returncode == 2
    assert "no study database at" in done.stderr
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.postgres
def test_dashboard_and_report_on_postgres(tmp_path: Path) -> None:
    from tests.postgres_fixture import postgres_cluster

    with postgres_cluster() as cluster:
        url = cluster.create_database("views")
        # A fresh database: the dashboard creates Optuna's schema and shows no study.
        with serve_dashboard(tmp_path, url) as dashboard:
            assert get_json(f"{dashboard.url}/api/studies")["study_summaries"] == []
        done = tuner(
            tmp_path,
            "study", "run", "--runner", "mock", "--study", "pg", "--trials", "12",
            "--seed", "4", "--storage", url, "--quiet", "--no-finalize",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        study = optuna.load_study(study_name="pg", storage=url)
        with serve_dashboard(tmp_path, url) as dashboard:
            study_id = dashboard.study_id("pg")
            detail = get_json(f"{dashboard.url}/api/studies/{study_id}?after=0")
            served = get_json(f"{dashboard.url}/api/studies/{study_id}/param_importances")
        assert len(detail["trials"]) == len(study.trials)
        ours = param_importances(study)
        theirs = [{i["name"]: i["importance"] for i in o} for o in served["param_importances"]]
        assert ours[0] == pytest.approx(theirs[0], abs=1e-9)
        report = tuner(tmp_path, "study", "report", "pg", "--storage", url, "-o",
                       str(tmp_path / "report"), "--no-png")  # fmt: skip
        assert report.returncode == 0, report.stderr
        assert (tmp_path / "report" / "report.html").stat().st_size > 100_000
