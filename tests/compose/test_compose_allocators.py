"""Every allocator choice of the shipped spec builds a compose image, runs a trial, and is in it.

server/Dockerfile builds on rust:1-slim-bookworm, which (public image or offline stand-in) has
gcc and libc6-dev but no make; tikv-jemalloc-sys's build script runs make. Building each
choice is what catches a Dockerfile that lacks some build-time choice's tools. An image whose
tag exists was built from the same Dockerfile, sources and args (the tag hashes them), so a
choice another test built already is reused, not rebuilt.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.compose.conftest import REPO
from tuner.runners.base import Candidate
from tuner.runners.compose import ComposeRunner
from tuner.spec import load_spec

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.timeout(1200)]

ALLOCATOR = "build.allocator"


def allocator_choices() -> dict[str, list[str]]:
    """The shipped spec's allocator choices with their cargo args (the spec, not a copy)."""
    data = tomllib.loads((REPO / "studies" / "redis-throughput.toml").read_text())
    (param,) = [p for p in data["param"] if p["name"] == ALLOCATOR]
    return {str(choice): list(param["args"][choice]) for choice in param["choices"]}


def compiled_in_name(cargo_args: list[str]) -> str:
    """What the server's start-up line says for these cargo args (`allocator=`)."""
    features = [a.removeprefix("alloc-") for a in cargo_args if a.startswith("alloc-")]
    return features[0] if features else "libc"


def startup_line(engine: Any, tag: str, timeout_s: float = 30.0) -> str:
    """The first line the server image prints when started on its built-in defaults."""
    container = engine.containers.run(
        tag,
        ["--port", "6379", "--bind", "127.0.0.1"],
        environment={"PERF_CONFIG_PATH": ""},  # no config file mounted: built-in defaults
        detach=True,
        network_mode="none",
    )
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            logs = container.logs().decode(errors="replace")
            if "listening on" in logs:
                return logs.splitlines()[0]
            time.sleep(0.5)
        raise AssertionError(f"{tag} printed no start-up line in {timeout_s}s: {logs!r}")
    finally:
        container.remove(force=True)


def test_the_shipped_spec_offers_more_than_one_allocator() -> None:
    choices = allocator_choices()
    assert {"system", "jemalloc", "mimalloc"} <= set(choices), choices


@pytest.mark.parametrize("choice", sorted(allocator_choices()))
def test_each_allocator_choice_builds_runs_a_trial_and_is_compiled_in(
    choice: str,
    docker_engine: Any,
    compose_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    spec = load_spec(compose_spec())
    runtime, build = spec.split(spec.defaults())
    build = {**build, ALLOCATOR: choice}
    runner = ComposeRunner(spec, work_dir=tmp_path / "work")
    try:
        tag, args = runner.image_for(build)
        started = time.monotonic()
        m = runner.evaluate(Candidate(runtime=runtime, build=build))
        print(
            f"{choice}: image {tag} built={m.detail['image']['built']} "
            f"in {m.detail['image']['seconds']:.0f}s; trial {time.monotonic() - started:.0f}s"
        )
    finally:
        runner.close()
    assert m.build_tag == tag
    assert m.repetitions == 2 and math.isfinite(m.fitness) and m.fitness > 0
    cargo_args = allocator_choices()[choice]
    assert args["CARGO_ARGS"] == " ".join(cargo_args)
    expected = compiled_in_name(cargo_args)
    assert f"allocator={expected} " in startup_line(docker_engine, tag)
