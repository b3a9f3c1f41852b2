"""The fast doctor checks: CPUs for the pins, the Redis 8 baseline, the build toolchain,
the storage, and free disk for the build cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from benchmark.pinning import parse_cpu_list
from benchmark.redis8 import find_redis8_bin_dir, server_major_version
from tuner.doctor._check import FAIL, OK, WARN, Check
from tuner.spec import StudySpec
from tuner.storage import StorageError, default_storage_url, open_storage, redact

#: Below this much free space a build (a cargo target dir) may not fit: a failure.
MIN_FREE_BYTES = 1 << 30
#: Below this, a study with several build-time choices may fill the disk: a warning.
WARN_FREE_BYTES = 4 << 30

SETUP_FIX = "run the README's set-up (bash .ci/setup), or set REDIS8_BIN_DIR to a Redis 8 bin dir"


def _version(argv: list[str]) -> str | None:
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return (run.stdout or run.stderr).strip().splitlines()[0] if run.returncode == 0 else None


def check_cpus(
    spec: StudySpec, available: set[int] | None = None, *, env_overrides: bool = False
) -> Check:
    """The spec's server and client CPU sets exist in this process's affinity and differ.
    ``env_overrides``: TUNER_SERVER_CPUS / TUNER_CLIENT_CPUS win (the compose runner)."""
    have = set(os.sched_getaffinity(0)) if available is None else available
    have_text = ",".join(str(c) for c in sorted(have))
    target, client = spec.target.cpus, spec.client.cpus
    if spec.baseline.binary is not None and spec.baseline.cpus != target:
        target = f"{target},{spec.baseline.cpus}"
    if env_overrides:
        target = os.environ.get("TUNER_SERVER_CPUS") or target
        client = os.environ.get("TUNER_CLIENT_CPUS") or client
    try:
        server_set, client_set = parse_cpu_list(target), parse_cpu_list(client)
    except ValueError as exc:
        return Check("CPUs", FAIL, f"bad CPU list: {exc}", "write CPU lists like 0, 0,2 or 0-3")
    found = f"server on {target}, client on {client}; available: {have_text}"
    missing = sorted((server_set | client_set) - have)
    if missing:
        return Check(
            "CPUs",
            FAIL,
            f"{found}; CPU {','.join(map(str, missing))} not available",
            f"set [target] cpus, [baseline] cpus and [client] cpus in the spec "
            f"(compose: TUNER_SERVER_CPUS / TUNER_CLIENT_CPUS) to CPUs among {have_text}",
        )
    shared = ",".join(map(str, sorted(server_set & client_set)))
    if shared:
        return Check(
            "CPUs",
            WARN,
            f"{found}; server and client share CPU {shared}",
            'give the client its own CPU (e.g. target.cpus = "0", client.cpus = "1"): '
            "a shared core measures the client as much as the server",
        )
    return Check("CPUs", OK, found)


def check_baseline(spec: StudySpec) -> Check:
    """Redis 8.0 (redis-server, redis-benchmark, redis-cli) found, with its version."""
    if spec.baseline.binary is None:
        return Check("baseline", OK, f"external baseline at {spec.baseline.address}")
    if spec.baseline.same_as_target:
        # Only the client tools must be Redis 8's; the server is the target's own binary.
        if find_redis8_bin_dir() is None:
            return Check("baseline", FAIL, "redis-benchmark/redis-cli 8 not found", SETUP_FIX)
        return Check("baseline", OK, "the target itself at its defaults (same_as_target)")
    from tuner.runners.base import TrialFailure
    from tuner.runners.local import resolve_redis_binary

    try:
        server = resolve_redis_binary(spec.baseline.binary, spec.base_dir)
    except TrialFailure as exc:
        return Check("baseline", FAIL, exc.reason, SETUP_FIX)
    version = _version([str(server), "--version"]) or "no version"
    major = server_major_version(server)
    if major != 8:
        return Check(
            "baseline",
            FAIL,
            f"{server}: {version} (not Redis 8)",
            f"the baseline must be Redis 8.0: {SETUP_FIX}",
        )
    tools = find_redis8_bin_dir()
    if tools is None:
        return Check(
            "baseline",
            FAIL,
            f"{server}: {version}; redis-benchmark/redis-cli 8 not found",
            SETUP_FIX,
        )
    return Check("baseline", OK, f"{server}: {version}")


def check_toolchain(spec: StudySpec) -> Check:
    """The spec's build command (cargo, and rustc behind it) is on PATH."""
    tool = spec.target.build_command[0] if spec.target.build_command else None
    if tool is None:
        return Check("toolchain", OK, "no build command")
    needed = [tool] + (["rustc"] if Path(tool).name == "cargo" else [])
    found: list[str] = []
    for name in needed:
        path = shutil.which(name)
        if path is None:
            fix = (
                "install Rust (https://rustup.rs; the README's set-up installs it) and put "
                "cargo on PATH: . ~/.cargo/env"
                if name in ("cargo", "rustc")
                else f"install {name} or fix [target] build_command in the spec"
            )
            return Check("toolchain", FAIL, f"{name} not found on PATH", fix)
        found.append(_version([path, "--version"]) or path)
    return Check("toolchain", OK, "; ".join(found))


def check_docker() -> Check:
    """For ``--runner compose``: the docker CLI, a reachable engine, Compose v2."""
    docker = shutil.which("docker")
    if docker is None:
        return Check(
            "docker", FAIL, "docker not found on PATH", "install Docker: bash .ci/install docker"
        )
    server = _version([docker, "version", "--format", "{{.Server.Version}}"])
    if server is None:
        return Check(
            "docker",
            FAIL,
            "the Docker engine does not answer",
            "start it (systemctl start docker, or dockerd &) or set DOCKER_HOST",
        )
    compose = _version([docker, "compose", "version", "--short"])
    if compose is None:
        return Check(
            "docker", FAIL, f"engine {server}; no Compose v2", "install docker-compose-plugin"
        )
    return Check("docker", OK, f"engine {server}, compose {compose}")


def check_storage(url: str | None) -> Check:
    """The study storage opens (SQLite file creatable, database reachable)."""
    shown = redact(url or default_storage_url())
    try:
        storage = open_storage(url, heartbeat_interval=None)
    except StorageError as exc:
        return Check(
            "storage",
            FAIL,
            str(exc).splitlines()[0][:300],
            "check --storage / $TUNER_STORAGE: the database must be running and reachable, "
            "the user and password right (PostgreSQL: docker compose --profile storage up -d "
            "postgres); SQLite needs a writable directory",
        )
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()
    return Check("storage", OK, shown)


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path


def check_disk(cache_dir: Path, *, workdir: Path | None = None) -> Check:
    """Free space where builds go: the build cache and the build's own target dir."""
    places = [cache_dir] + ([workdir] if workdir is not None else [])
    worst: tuple[int, Path] | None = None
    for place in places:
        free = shutil.disk_usage(_existing(place)).free
        if worst is None or free < worst[0]:
            worst = (free, place)
    assert worst is not None
    free, place = worst
    found = f"{free / (1 << 30):.1f} GiB free at {place}"
    fix = (
        f"free space on that disk (old builds: rm -r {cache_dir}/*; "
        f"cargo clean in {workdir or place})"
    )
    if free < MIN_FREE_BYTES:
        return Check("disk", FAIL, found + " (a build needs about 1 GiB)", fix)
    if free < WARN_FREE_BYTES:
        return Check("disk", WARN, found + " (several build-time choices need a few GiB)", fix)
    return Check("disk", OK, found)
