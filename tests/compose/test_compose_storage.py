"""The compose `storage` profile: PostgreSQL and optuna-dashboard built from local images.

A study run by `tuner` against that Postgres shows up in that dashboard.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compose.conftest import REPO
from tests.distributed.test_workers import write_spec
from tests.postgres_fixture import free_port

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def storage_profile(docker_engine: Any) -> Iterator[dict[str, str]]:
    """`docker compose --profile storage up` under a throwaway project name and ports."""
    project = f"redisevolve-test-{os.getpid()}"
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": secrets.token_hex(8),
        "POSTGRES_PORT": str(free_port()),
        "DASHBOARD_PORT": str(free_port()),
    }
    compose = ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "-p", project]
    try:
        up = subprocess.run(
            [*compose, "--profile", "storage", "up", "-d", "--build", "--wait", "postgres",
             "dashboard"],
            env=env, capture_output=True, text=True, timeout=800,
        )  # fmt: skip
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield env
    finally:
        subprocess.run(
            [*compose, "--profile", "storage", "down", "-v", "--remove-orphans"],
            env=env, capture_output=True, timeout=120,
        )  # fmt: skip


def test_a_study_on_the_compose_postgres_shows_in_the_compose_dashboard(
    storage_profile: dict[str, str], tmp_path: Path
) -> None:
    env = {**storage_profile, "TUNER_STUDIES_DIR": str(tmp_path / "studies")}
    url = (
        f"postgresql+psycopg://tuner:{env['POSTGRES_PASSWORD']}@127.0.0.1:{env['POSTGRES_PORT']}"
        "/tuner"
    )
    spec = write_spec(tmp_path / "spec.toml")
    run = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "study", "run", "--spec", str(spec), "--runner",
         "mock", "--storage", url, "--trials", "2", "--no-finalize", "-q"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    api = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/api/studies"
    deadline = time.monotonic() + 60
    names: list[str] = []
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(api, timeout=5) as response:
                names = [s["study_name"] for s in json.loads(response.read())["study_summaries"]]
            if names:
                break
        except OSError:
            pass
        time.sleep(1)
    assert names == ["distributed"]
