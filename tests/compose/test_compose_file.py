"""docker-compose.yml validates, and its services are what the runner and the issue expect."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.compose.conftest import REPO

pytestmark = [pytest.mark.docker]


def config(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), *args, "config",
         "--format", "json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_compose_file_validates_with_and_without_the_storage_profile(docker_engine: Any) -> None:
    default = config()
    assert set(default["services"]) == {"redis", "server", "bench"}
    storage = config("--profile", "storage")
    assert set(storage["services"]) == {"redis", "server", "bench", "postgres", "dashboard"}
    postgres = storage["services"]["postgres"]
    assert postgres["healthcheck"]["test"][1] == "pg_isready"
    assert any(v["type"] == "volume" and v["source"] == "pgdata" for v in postgres["volumes"])
    assert storage["services"]["dashboard"]["ports"][0]["target"] == 8080


def test_services_pin_cpus_from_the_environment(docker_engine: Any) -> None:
    default = config()["services"]
    assert default["server"]["cpuset"] == default["redis"]["cpuset"] == "0"
    assert default["bench"]["cpuset"] == "1"
    moved = config(env={"TUNER_SERVER_CPUS": "2-3", "TUNER_CLIENT_CPUS": "4"})["services"]
    assert moved["server"]["cpuset"] == moved["redis"]["cpuset"] == "2-3"
    assert moved["bench"]["cpuset"] == "4"


def test_server_is_built_from_the_dockerfile_with_build_args_and_a_read_only_config(
    docker_engine: Any,
) -> None:
    server = config(env={"CARGO_PROFILE": "release-cgu1"})["services"]["server"]
    assert server["build"]["dockerfile"] == "server/Dockerfile"
    assert server["build"]["args"]["CARGO_PROFILE"] == "release-cgu1"
    mount = server["volumes"][0]
    assert mount["read_only"] is True and mount["target"].endswith("perf_config.toml")
    redis = config()["services"]["redis"]
    assert redis["image"] == "redis:8.0"
    assert "--save" in redis["command"] and "--appendonly" in redis["command"]
