"""Fixtures for compose-runner tests: a reachable Docker engine with the local images.

No engine, no compose plugin or a missing base image skips, unless REQUIRE_DOCKER=1 (CI),
where it fails. The images come from `bash .ci/install images` (pulled, or offline stand-ins).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[2]
#: What docker-compose.yml and server/Dockerfile build FROM or run (`.ci/install images`).
BASE_IMAGES = (
    "redis:8.0",
    "rust:1-slim-bookworm",
    "debian:bookworm-slim",
    "python:3.11-slim-bookworm",
    "postgres:15",
)

#: A workload that measures for a few seconds per trial: tests are about plumbing.
TINY_WORKLOAD: dict[str, Any] = {
    "tests": ["set", "get"],
    "pipelines": [1],
    "clients": 10,
    "keyspace": 1000,
    "requests": 2000,
    "warmup": False,
    "min_repetitions": 2,
    "max_repetitions": 2,
}


def require_or_skip(reason: str) -> None:
    """Skip with ``reason``, or fail when CI demands Docker."""
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (bash .ci/install docker)"
    try:
        import docker

        engine = docker.from_env(timeout=10)
        engine.ping()
    except Exception as exc:  # any connection or API error means "no engine"
        return f"the Docker engine is not reachable: {exc}"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if compose.returncode != 0:
        return "the docker compose plugin is missing (bash .ci/install docker)"
    missing = []
    for image in BASE_IMAGES:
        try:
            engine.images.get(image)
        except Exception:  # docker.errors.ImageNotFound
            missing.append(image)
    if missing:
        return f"images {missing} are missing (bash .ci/install images)"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """The Docker SDK client (skips, or fails with REQUIRE_DOCKER=1, without an engine)."""
    problem = docker_problem()
    if problem is not None:
        require_or_skip(problem)
    import docker

    return docker.from_env(timeout=120)


def snapshot_repo(dest: Path) -> Path:
    """Copy what the compose runner reads (compose file, Dockerfile, server sources) to dest.

    Other work may edit server/ while a test runs; the image tags hash the sources, so
    the tests build from a frozen copy (identical content gives the repo's own tags).
    """
    from tuner.runners.compose import context_files

    for name in ("docker-compose.yml", ".dockerignore", "server/Dockerfile"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    for path in context_files(REPO):
        target = dest / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return dest / "docker-compose.yml"


@pytest.fixture
def compose_file(tmp_path: Path) -> Path:
    """docker-compose.yml of a frozen copy of the repo (see snapshot_repo)."""
    root = tmp_path / "repo"
    root.mkdir()
    return snapshot_repo(root)


@pytest.fixture
def compose_spec(tmp_path: Path, compose_file: Path) -> Callable[..., Path]:
    """Write the shipped spec with the tiny workload (plus edits); returns its path."""

    def write(edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
        data = tomllib.loads((REPO / "studies" / "redis-throughput.toml").read_text())
        data["target"]["workdir"] = str(compose_file.parent / "server")
        data["target"]["compose"] = {"file": str(compose_file)}
        data["workload"] = dict(TINY_WORKLOAD)
        data["budget"] = {"trials": 3, "finalists": 0}
        data["objective"] = {"kind": "throughput", "pruner": "none"}
        if edit is not None:
            edit(data)
        path = tmp_path / "compose-spec.toml"
        path.write_text(tomli_w.dumps(data))
        return path

    return write


@pytest.fixture
def tuner_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for `tuner` subprocesses: storage and study files under tmp_path."""
    yield {
        **os.environ,
        "TUNER_STORAGE": f"sqlite:///{tmp_path}/tuner.db",
        "TUNER_STUDIES_DIR": str(tmp_path / "studies"),
    }
