"""The compose runner's half of config delivery: which mount, which command, which env.

No engine needed: these check what the runner derives from a resolved compose file and
a spec before it creates any container.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tuner.runners.compose import (
    ComposeError,
    ComposeServices,
    check_command_delivery,
    config_suffix,
)
from tuner.spec import StudySpec, parse_spec

REPO = Path(__file__).resolve().parents[2]


def _resolved(command: list[str], *targets: str) -> dict[str, Any]:
    """``docker compose config --format json`` of a minimal three-service file."""
    server = {
        "image": "redisevolve/server:dev",
        "build": {"context": str(REPO), "dockerfile": "server/Dockerfile"},
        "command": command,
        "volumes": [{"type": "bind", "source": "/tmp/x", "target": t} for t in targets],
    }
    return {
        "services": {
            "server": server,
            "redis": {"image": "redis:8.0"},
            "bench": {"image": "redis:8.0"},
        }
    }


def _spec(tmp_path: Path, **target: Any) -> StudySpec:
    data = tomllib.loads((REPO / "studies" / "redis-throughput.toml").read_text())
    data.pop("constraint", None)
    data["param"] = copy.deepcopy(
        [
            {"name": "hz", "kind": "int", "low": 1, "high": 500, "default": 10},
            {"name": "io-threads", "kind": "int", "low": 1, "high": 4, "default": 1},
        ]
    )
    data["target"] = {"build_command": ["true"], "binary": "x", **target}
    return parse_spec(data, base_dir=tmp_path)


def test_a_redis_format_spec_mounts_the_conf_file(tmp_path: Path) -> None:
    spec = _spec(tmp_path, args=["{config}", "--port", "{port}"], config_format="redis")
    assert config_suffix(spec) == ".conf"
    resolved = _resolved(["/etc/redis/trial.conf"], "/data/x.toml", "/etc/redis/trial.conf")
    services = ComposeServices.from_config(Path("c.yml"), resolved, config_suffix=".conf")
    assert services.config_target == "/etc/redis/trial.conf"
    with pytest.raises(ComposeError, match=r"services\.server\.volumes has no \*\.conf"):
        ComposeServices.from_config(Path("c.yml"), _resolved([], "/a.toml"), config_suffix=".conf")


def test_a_flags_only_spec_needs_no_mount(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path, args=["--port", "{port}", "--hz", "{hz}", "--io-threads", "{io-threads}"]
    )
    assert config_suffix(spec) is None
    command = ["--port", "6379", "--hz", "{hz}", "--io-threads", "{io-threads}"]
    services = ComposeServices.from_config(Path("c.yml"), _resolved(command), config_suffix=None)
    assert services.config_target is None
    check_command_delivery(spec, services)


def test_the_compose_command_must_name_the_flag_params(tmp_path: Path) -> None:
    spec = _spec(tmp_path, args=["{config}", "--port", "{port}", "--hz", "{hz}"])
    services = ComposeServices.from_config(
        Path("c.yml"), _resolved(["--config", "/c.toml", "--io-threads", "{io-threads}"], "/c.toml")
    )
    with pytest.raises(ComposeError, match=r"missing: hz; not in target\.args: io-threads"):
        check_command_delivery(spec, services)


# ------------------------------------------------------------------- Redis 8.0 in compose

REDIS_COMPOSE = """
services:
  redis:
    image: redis:8.0
    command: ["redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no",
              "--save", "", "--appendonly", "no"]
  server:
    image: "redisevolve/redis8-trial:dev"
    build:
      context: .
      dockerfile: Dockerfile
    command: ["redis-server", "/usr/local/etc/redis/trial.conf", "--port", "6379",
              "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
              "--io-threads", "{io-threads}"]
    volumes:
      - type: bind
        source: ./trial.conf
        target: /usr/local/etc/redis/trial.conf
        read_only: true
  bench:
    image: redis:8.0
    command: ["sleep", "infinity"]
    init: true
"""


@pytest.mark.docker
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_redis8_container_gets_a_redis_format_file_flags_and_env(
    docker_engine: Any, tmp_path: Path
) -> None:
    from tests.compose.conftest import TINY_WORKLOAD
    from tuner.runners.base import Candidate
    from tuner.runners.compose import ComposeRunner
    from tuner.runners.compose_client import DockerExecClient

    root = tmp_path / "redis8"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM redis:8.0\n")
    (root / "trial.conf").write_text("")
    (root / "docker-compose.yml").write_text(REDIS_COMPOSE)
    spec = _spec(
        tmp_path,
        args=["{config}", "--port", "{port}", "--io-threads", "{io-threads}"],
        config_format="redis",
        env={"TRIAL_PORT": "{port}", "TRIAL_CONFIG": "{config}"},
        compose={"file": str(root / "docker-compose.yml")},
    )
    spec = parse_spec({**spec.raw, "workload": dict(TINY_WORKLOAD)}, base_dir=tmp_path)
    runner = ComposeRunner(spec, work_dir=tmp_path / "work")
    seen: dict[str, Any] = {}

    def look(_: Any) -> None:
        if seen:
            return
        server = f"{runner.prefix}-server"
        client = DockerExecClient(f"{runner.prefix}-bench")
        from benchmark.endpoint import Endpoint

        endpoint = Endpoint("candidate", server, 6379)
        for name in ("hz", "io-threads"):
            seen[name] = client.cli(endpoint, ["CONFIG", "GET", name]).stdout.split()[-1]
        seen["env"] = docker_engine.containers.get(server).attrs["Config"]["Env"]

    try:
        m = runner.evaluate(Candidate(runtime={"hz": 77, "io-threads": 2}), on_progress=look)
    finally:
        runner.close()
    assert m.repetitions == 2
    assert seen["hz"] == "77" and seen["io-threads"] == "2"
    assert "TRIAL_PORT=6379" in seen["env"]
    assert "TRIAL_CONFIG=/usr/local/etc/redis/trial.conf" in seen["env"]
