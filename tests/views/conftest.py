"""Mock studies run through the tuner's own CLI, and a dashboard served by `tuner dashboard`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from benchmark.server_process import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"


def tuner_env(workdir: Path) -> dict[str, str]:
    """Environment for a `python -m tuner.cli` child: this checkout, files under workdir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TUNER_STUDIES_DIR"] = str(workdir / "studies")
    env.pop("TUNER_STORAGE", None)
    env.pop("TUNER_MOCK_DELAY", None)
    return env


def tuner(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `tuner ARGS` (this checkout) to completion; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=workdir,
        env=tuner_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class MockStudy:
    """A finished mock study in its own SQLite file."""

    name: str
    storage: str
    workdir: Path
    trials: int
    multi: bool


def run_mock_study(
    workdir: Path, name: str, *, spec: str, trials: int, seed: int, constraints: Sequence[str] = ()
) -> MockStudy:
    """`tuner study run --runner mock` with finalize, as a user would run it.

    ``constraints`` are added to a copy of the shipped spec as param ``[[constraint]]``s.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{workdir / 'tuner.db'}"
    spec_path = REPO / "studies" / spec
    if constraints:
        data = tomllib.loads(spec_path.read_text())
        data["target"]["workdir"] = str(REPO / "server")
        data.setdefault("constraint", []).extend({"expr": c} for c in constraints)
        spec_path = workdir / spec
        spec_path.write_text(tomli_w.dumps(data))
    done = tuner(
        workdir,
        "study", "run", "--runner", "mock", "--spec", str(spec_path),
        "--study", name, "--trials", str(trials), "--seed", str(seed),
        "--storage", storage, "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return MockStudy(name, storage, workdir, trials, "pareto" in spec)


@pytest.fixture(scope="session")
def throughput_study(tmp_path_factory: pytest.TempPathFactory) -> MockStudy:
    """30 budgeted trials of the shipped throughput spec on the mock landscape, finalized.

    With a param constraint added (the shipped spec has none), so the study has FAIL
    trials with a failure reason for the views to show.
    """
    return run_mock_study(
        tmp_path_factory.mktemp("throughput"),
        "views-throughput",
        spec="redis-throughput.toml",
        trials=30,
        seed=1,
        # CMA-ES starts at the defaults: a bound at the default of a live param is crossed by
        # about half its neighbours.
        constraints=["num_shards <= 16"],
    )


@pytest.fixture(scope="session")
def pareto_study(tmp_path_factory: pytest.TempPathFactory) -> MockStudy:
    """30 budgeted trials of the shipped Pareto spec on the mock landscape, finalized."""
    return run_mock_study(
        tmp_path_factory.mktemp("pareto"),
        "views-pareto",
        spec="redis-pareto.toml",
        trials=30,
        seed=2,
    )


def get_json(url: str, timeout: float = 30) -> Any:
    """GET a JSON document (raises on non-2xx)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class Dashboard:
    """A running `tuner dashboard` child process."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def study_id(self, name: str) -> int:
        studies = get_json(f"{self.url}/api/studies")["study_summaries"]
        return next(int(s["study_id"]) for s in studies if s["study_name"] == name)


@contextmanager
def serve_dashboard(workdir: Path, storage: str, *, ready_s: float = 30) -> Iterator[Dashboard]:
    """Start `tuner dashboard` on a free port, wait until its API answers, stop it after."""
    port = free_port()
    log = workdir / f"dashboard-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", "dashboard", "--storage", storage,
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=tuner_env(workdir),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise AssertionError(f"dashboard exited {process.returncode}: {log.read_text()}")
            try:
                get_json(f"{url}/api/studies", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"dashboard not ready: {log.read_text()}") from None
                time.sleep(0.2)
        yield Dashboard(url, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
