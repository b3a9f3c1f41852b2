"""The compose runner against a real Docker engine: images by build tag, trials, failures.

The first build compiles the server inside a container (the BuildKit cargo cache makes
later builds incremental); trials use a tiny workload, since these tests check the
plumbing, not the server's speed.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.compose.conftest import REPO
from tuner.processes import owner_alive
from tuner.runners.base import Candidate, TrialFailure
from tuner.runners.compose import (
    OWNER_LABEL,
    PROJECT,
    PROJECT_LABEL,
    ComposeRunner,
    ComposeServices,
    build_args_for,
    context_digest,
    image_tag,
)
from tuner.spec import StudySpec, load_spec
from tuner.storage import open_storage
from tuner.study import measurement_detail, open_study

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.timeout(1500)]


def tags_for(spec: StudySpec, *builds: dict[str, Any]) -> list[str]:
    services = ComposeServices.load(Path(spec.target.compose["file"]))
    digest = context_digest(services.context, services.dockerfile)
    return [
        image_tag(services.server_repository, build_args_for(spec, b, services.build_args), digest)
        for b in builds
    ]


def remove_image(engine: Any, tag: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.ImageNotFound):
        engine.images.remove(tag, force=True)


def labelled(engine: Any, *, dead_only: bool = False) -> list[str]:
    """Names of project-labelled containers and networks (only those of dead tuners)."""
    filters = {"label": [f"{PROJECT_LABEL}={PROJECT}"]}
    objs = [*engine.containers.list(all=True, filters=filters)]
    objs += engine.networks.list(filters=filters)
    names = []
    for obj in objs:
        labels = getattr(obj, "labels", None) or obj.attrs.get("Labels") or {}
        if not dead_only or owner_alive(str(labels.get(OWNER_LABEL, ""))) is False:
            names.append(obj.name)
    return names


def test_study_builds_an_image_per_build_params_only(
    docker_engine: Any,
    compose_spec: Callable[..., Path],
    tuner_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """3 trials: build; runtime-only change reuses the image; allocator change rebuilds."""
    spec_path = compose_spec()
    spec = load_spec(spec_path)
    defaults = spec.defaults()
    runtime_change = {**defaults, "batching.batch_threshold": 16}
    build_change = {**runtime_change, "build.allocator": "mimalloc"}
    first_tag, mimalloc_tag = tags_for(spec, spec.split(defaults)[1], spec.split(build_change)[1])
    assert first_tag != mimalloc_tag
    # Both images must really be built by this study (the cargo cache mount may stay warm).
    for tag in (first_tag, mimalloc_tag):
        remove_image(docker_engine, tag)

    storage = open_storage(tuner_env["TUNER_STORAGE"], heartbeat_interval=None)
    study = open_study(spec, storage, study_name="compose-e2e", sampler="random")
    study.set_user_attr("default_enqueued", True)  # this test queues its own three trials
    for params in (defaults, runtime_change, build_change):
        study.enqueue_trial(params)

    argv = [
        sys.executable, "-m", "tuner.cli", "study", "run", "--spec", str(spec_path),
        "--study", "compose-e2e", "--runner", "compose", "--trials", "3", "--no-finalize", "-q",
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        argv, cwd=REPO, env=tuner_env, capture_output=True, text=True, timeout=1400
    )
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    study = optuna.load_study(study_name="compose-e2e", storage=storage)
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, [
        (t.number, t.state.name, t.user_attrs.get("failure_reason"), t.user_attrs.get("log_tail"))
        for t in trials
    ]
    first, runtime_only, rebuilt = trials
    image = [measurement_detail(t)["image"] for t in trials]
    timings = [t.user_attrs["timings"] for t in trials]
    print(f"study wall {wall:.0f}s; timings per trial: {timings}; images: {image}")

    assert first.user_attrs["build_tag"] == first_tag and image[0]["built"] is True
    assert timings[0]["build"] > 0
    # Runtime-only change: same image, no build, and the config really changed.
    assert runtime_only.user_attrs["build_tag"] == first_tag and image[1]["built"] is False
    assert timings[1]["build"] == 0
    assert runtime_only.user_attrs["config"]["batching.batch_threshold"] == 16
    # Build-time change: a new tag, built now.
    assert rebuilt.user_attrs["build_tag"] == mimalloc_tag and image[2]["built"] is True
    assert timings[2]["build"] > 0
    assert [measurement_detail(t)["images_built"] for t in trials] == [1, 1, 2]
    for tag in (first_tag, mimalloc_tag):
        docker_engine.images.get(tag)  # raises if missing
    for t in trials:
        assert math.isfinite(t.user_attrs["fitness"]) and t.user_attrs["fitness"] > 0
        assert set(t.user_attrs["per_test"]) == {"SET@P1", "GET@P1"}
        assert measurement_detail(t)["cpus"] == {"server": "0", "client": "1"}
    # Clean-up on success: nothing of that (now finished) tuner process is left.
    assert labelled(docker_engine, dead_only=True) == []


def test_a_config_the_server_rejects_fails_the_trial_with_its_log(
    docker_engine: Any, compose_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = load_spec(compose_spec())
    runtime, build = spec.split(spec.defaults())
    bad = {**runtime, "num_shards": 5000}  # beyond the server's 1024
    runner = ComposeRunner(spec, work_dir=tmp_path / "work")
    try:
        with pytest.raises(TrialFailure) as caught:
            runner.evaluate(Candidate(runtime=bad, build=build))
        assert "exited at start" in caught.value.reason, caught.value.reason
        assert "num_shards = 5000 is out of range (allowed: 1 to 1024)" in (
            caught.value.log_tail
        ), caught.value.log_tail
        # The failed trial's containers are gone; the next good trial still runs.
        names = labelled(docker_engine)
        assert not any(n.endswith(("-server", "-redis")) for n in names), names
        m = runner.evaluate(Candidate(runtime=runtime, build=build))
        assert m.repetitions == 2 and math.isfinite(m.fitness)
    finally:
        runner.close()
    assert not any(runner.prefix in n for n in labelled(docker_engine))


def test_config_is_copied_into_the_container_for_a_remote_engine(
    docker_engine: Any, compose_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """With DOCKER_HOST on another machine a bind mount cannot work; the runner copies."""
    spec = load_spec(compose_spec())
    runtime, build = spec.split(spec.defaults())
    runner = ComposeRunner(spec, work_dir=tmp_path / "work", config_transport="copy")
    try:
        bad = {**runtime, "num_shards": 5000}
        # The server reads the copied file: the invalid value reaches it and it refuses.
        with pytest.raises(TrialFailure) as caught:
            runner.evaluate(Candidate(runtime=bad, build=build))
        assert "num_shards = 5000 is out of range" in caught.value.log_tail
        m = runner.evaluate(Candidate(runtime=runtime, build=build))
        assert math.isfinite(m.fitness)
    finally:
        runner.close()


def test_the_tag_hashes_exactly_the_files_docker_sends(docker_engine: Any, tmp_path: Path) -> None:
    """context_files() must agree with how the engine applies .dockerignore."""
    from tuner.runners.compose import context_files

    dockerfile = tmp_path / "Dockerfile.list"
    dockerfile.write_text(
        "FROM debian:bookworm-slim\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort > /files\n"
    )
    tag = "redisevolve/context-probe:test"
    subprocess.run(
        ["docker", "build", "-q", "-f", str(dockerfile), "-t", tag, str(REPO)],
        check=True, capture_output=True, timeout=300,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )  # fmt: skip
    try:
        out = docker_engine.containers.run(tag, ["cat", "/files"], remove=True).decode()
    finally:
        remove_image(docker_engine, tag)
    sent = sorted(line.removeprefix("./") for line in out.split())
    hashed = sorted(p.relative_to(REPO).as_posix() for p in context_files(REPO))
    assert sent == hashed
    assert "server/Cargo.toml" in hashed and "server/src/main.rs" in hashed


def test_trial_containers_run_on_the_cpu_sets_from_the_environment(
    docker_engine: Any,
    compose_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUNER_SERVER_CPUS", "1")
    monkeypatch.setenv("TUNER_CLIENT_CPUS", "0")
    spec = load_spec(compose_spec())
    runtime, build = spec.split(spec.defaults())
    runner = ComposeRunner(spec, work_dir=tmp_path / "work")
    seen: dict[str, str] = {}

    def inspect(progress: Any) -> None:
        for role in ("server", "redis", "bench"):
            container = docker_engine.containers.get(f"{runner.prefix}-{role}")
            seen[role] = container.attrs["HostConfig"]["CpusetCpus"]

    try:
        m = runner.evaluate(Candidate(runtime=runtime, build=build), on_progress=inspect)
    finally:
        runner.close()
    assert seen == {"server": "1", "redis": "1", "bench": "0"}
    assert m.detail["cpus"] == {"server": "1", "client": "0"}


def test_a_cpu_set_the_engine_lacks_is_refused_up_front(
    docker_engine: Any, compose_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.runners import RunnerUnavailable, make_runner

    monkeypatch.setenv("TUNER_SERVER_CPUS", "4096")
    with pytest.raises(RunnerUnavailable, match="server CPU set '4096'"):
        make_runner("compose", load_spec(compose_spec()))
