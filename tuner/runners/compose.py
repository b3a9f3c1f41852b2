"""The compose runner: every trial in Docker containers described by docker-compose.yml.

Per trial: build the server image for the candidate's build-time params unless its tag
(a hash of those params, the Dockerfile and the server sources) already exists; start a
fresh server container with the candidate's perf_config.toml (read-only) and a fresh
Redis 8.0 baseline, both on the server CPU set; run the paired A/B protocol from
``benchmark`` with redis-benchmark exec'd in the bench container on the client CPU set.

The images, commands and mount paths come from ``docker compose config`` of the repo's
docker-compose.yml, so the runner and ``docker compose up`` run the same thing. The
containers are made with the Docker SDK (it honours ``DOCKER_HOST``: a dedicated
benchmark machine can host them while the tuner runs elsewhere); images are built with
the docker CLI, because only BuildKit has cache mounts and the SDK cannot use BuildKit.

Everything the runner creates carries :data:`PROJECT_LABEL` and :data:`OWNER_LABEL`
(``host:pid:start_time`` of the tuner process). The runner only ever removes objects
with its project label: its own on close, and those of dead tuner processes on this
host when it starts (the run after a SIGKILL). ``python -m tuner.runners.compose
cleanup`` removes leftovers by hand.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from tuner.processes import owner_alive, owner_id
from tuner.runners.base import Candidate, Measurement, Progress, ProgressCallback, TrialFailure
from tuner.runners.build_cache import render_template, run_build_command, tail
from tuner.runners.compose_client import DockerExecClient
from tuner.runners.config_file import write_config
from tuner.runners.delivery import baseline_launch, candidate_launch, template_values
from tuner.spec import placeholders

PROJECT = "redisevolve"
PROJECT_LABEL = "org.redisevolve.project"
OWNER_LABEL = "org.redisevolve.owner"
ROLE_LABEL = "org.redisevolve.role"
TAG_LABEL = "org.redisevolve.build-tag"
#: Env vars for the CPU sets (they override the spec, like in docker-compose.yml).
SERVER_CPUS_ENV = "TUNER_SERVER_CPUS"
CLIENT_CPUS_ENV = "TUNER_CLIENT_CPUS"
#: A CA bundle handed to image builds as the `extra_ca` secret (TLS-inspecting proxies).
CA_BUNDLE_ENV = "SSL_CERT_FILE"
DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SERVER_PORT = 6379
LOG_TAIL_LINES = 60
BUILD_TIMEOUT_S = 3600.0


class ComposeError(RuntimeError):
    """The compose set-up itself is unusable (no engine, bad compose file, bad CPU set)."""


# ---------------------------------------------------------------------------- compose file


@dataclass(frozen=True)
class ComposeServices:
    """What the runner takes from docker-compose.yml (after ``docker compose config``)."""

    file: Path
    context: Path
    dockerfile: Path
    server_repository: str
    server_command: tuple[str, ...]
    #: Where the trial's config file is mounted; None when the spec writes no file.
    config_target: str | None
    redis_image: str
    redis_command: tuple[str, ...]
    bench_image: str
    bench_command: tuple[str, ...]
    build_args: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, file: Path, *, docker: str = "docker", config_suffix: str | None = ".toml"
    ) -> ComposeServices:
        """Resolve ``file`` with the compose CLI; raises ComposeError naming the problem."""
        if not file.is_file():
            raise ComposeError(f"compose file {file} not found (set [target.compose] file)")
        try:
            proc = subprocess.run(
                [docker, "compose", "-f", str(file), "config", "--format", "json"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ComposeError(f"cannot run `docker compose config`: {exc}") from None
        if proc.returncode != 0:
            raise ComposeError(f"{file}: `docker compose config` failed: {proc.stderr.strip()}")
        return cls.from_config(file, json.loads(proc.stdout), config_suffix=config_suffix)

    @classmethod
    def from_config(
        cls, file: Path, config: Mapping[str, Any], *, config_suffix: str | None = ".toml"
    ) -> ComposeServices:
        """``config_suffix``: the config mount's file ending (``.conf`` for a redis-format
        file); None when the spec writes no file and needs no mount."""
        services = config.get("services", {})
        for name in ("server", "redis", "bench"):
            if name not in services:
                raise ComposeError(f"{file}: services.{name} is missing")
        server, redis, bench = services["server"], services["redis"], services["bench"]
        build = server.get("build") or {}
        if not build:
            raise ComposeError(f"{file}: services.server.build is missing")
        context = Path(build.get("context", file.parent))
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        image = str(server.get("image", "redisevolve/server"))
        repository = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
        mounts = [
            v
            for v in server.get("volumes", [])
            if config_suffix is not None and str(v.get("target", "")).endswith(config_suffix)
        ]
        if config_suffix is not None and not mounts:
            raise ComposeError(
                f"{file}: services.server.volumes has no *{config_suffix} config mount"
            )
        return cls(
            file=file,
            context=context,
            dockerfile=dockerfile,
            server_repository=repository,
            server_command=tuple(str(a) for a in server.get("command") or ()),
            config_target=str(mounts[0]["target"]) if mounts else None,
            redis_image=str(redis["image"]),
            redis_command=tuple(str(a) for a in redis.get("command") or ()),
            bench_image=str(bench["image"]),
            bench_command=tuple(str(a) for a in bench.get("command") or ("sleep", "infinity")),
            build_args={k: str(v) for k, v in (build.get("args") or {}).items()},
        )


def config_suffix(spec: Any) -> str | None:
    """The config mount's file ending for ``spec`` (``.toml``, ``.conf``, ``.json``), None
    when it writes no file."""
    target = getattr(spec, "target", None)
    if target is None:
        return ".toml"
    if not getattr(target, "config_file", True):
        return None
    return Path(target.config_path).suffix or ".conf"


def check_command_delivery(spec: Any, services: ComposeServices) -> None:
    """The compose server command must name the runtime params ``target.args`` names.

    Containers run the command from docker-compose.yml (so ``docker compose up`` runs the
    same thing); a param the spec delivers by flag must reach the container the same way.
    """
    target = getattr(spec, "target", None)
    if target is None:
        return
    runtime = {p.name for p in spec.runtime_params}

    def named(templates: Any) -> set[str]:
        return {ref for t in templates for ref in placeholders(t) if ref in runtime}

    wanted, found = named(target.args), named(services.server_command)
    baseline = getattr(spec, "baseline", None)
    if getattr(baseline, "same_as_target", False) and found:
        raise ComposeError(
            f"{services.file}: services.server.command sets params "
            f"({', '.join(sorted(found))}); baseline.same_as_target starts the server image "
            "with that command and no params, so deliver them by the config file instead"
        )
    if wanted != found:
        missing = ", ".join(sorted(wanted - found)) or "none"
        extra = ", ".join(sorted(found - wanted)) or "none"
        raise ComposeError(
            f"{services.file}: services.server.command must name the same params as "
            f"target.args (missing: {missing}; not in target.args: {extra})"
        )


def default_compose_file(spec: Any) -> Path:
    """``[target.compose] file`` (relative to the spec), else the repo's docker-compose.yml."""
    base = Path(getattr(spec, "base_dir", Path.cwd()))
    compose = dict(getattr(getattr(spec, "target", None), "compose", {}) or {})
    if compose.get("file"):
        return (base / str(compose["file"])).resolve()
    for directory in (base, *base.parents):
        if (directory / "docker-compose.yml").is_file():
            return directory / "docker-compose.yml"
    return base.parent / "docker-compose.yml"


# ---------------------------------------------------------------------------- image tags


def context_digest(context: Path, dockerfile: Path) -> str:
    """Content hash of the Dockerfile and every file the context's .dockerignore admits."""
    digest = hashlib.sha256()
    digest.update(dockerfile.read_bytes())
    for path in context_files(context):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def context_files(context: Path) -> list[Path]:
    """Files of the build context that ``.dockerignore`` admits, sorted."""
    ignore = context / ".dockerignore"
    patterns = _ignore_patterns(ignore.read_text()) if ignore.is_file() else []
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = Path(dirpath).relative_to(context)
        # Prune directories that are excluded and that no later "!" pattern could re-admit.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _ignored((rel_dir / d).as_posix(), patterns)
            or _may_readmit((rel_dir / d).as_posix(), patterns)
        )
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            if not _ignored(rel, patterns):
                files.append(Path(dirpath) / name)
    return sorted(files)


def _ignore_patterns(text: str) -> list[tuple[bool, list[str]]]:
    """(negated, path segments) per .dockerignore line, in order."""
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        segments = [s for s in pattern.strip("/").split("/") if s not in ("", ".")]
        patterns.append((negated, segments))
    return patterns


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent directories."""
    if not pattern:
        return True
    if pattern[0] == "**":
        return any(_segments_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], pattern[0])
        and (_segments_match(pattern[1:], parts[1:]))
    )


def _ignored(rel: str, patterns: list[tuple[bool, list[str]]]) -> bool:
    ignored = False
    parts = rel.split("/")
    for negated, pattern in patterns:  # the last matching line wins
        if _segments_match(pattern, parts):
            ignored = not negated
    return ignored


def _may_readmit(rel_dir: str, patterns: list[tuple[bool, list[str]]]) -> bool:
    parts = rel_dir.split("/")
    for negated, pattern in patterns:
        if negated and (
            "**" in pattern
            or [fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False)]
            == [True] * min(len(parts), len(pattern))
        ):
            return True
    return False


def build_args_for(
    spec: Any, build: Mapping[str, Any], defaults: Mapping[str, str]
) -> dict[str, str]:
    """Dockerfile build args for a candidate's build params.

    ``build.profile`` (or ``[target.compose] profile_param``) becomes CARGO_PROFILE; each
    categorical build param's per-choice ``args`` (cargo features) join CARGO_ARGS; a param
    with ``env = NAME`` becomes build arg NAME; ``[target] build_env`` passes through.
    """
    target = getattr(spec, "target", None)
    compose = dict(getattr(target, "compose", {}) or {})
    profile_param = str(compose.get("profile_param", "build.profile"))
    args = dict(defaults)
    args.update({k: str(v) for k, v in (getattr(target, "build_env", {}) or {}).items()})
    cargo_args: list[str] = []
    for name, value in sorted(build.items()):
        param = _param(spec, name)
        if name == profile_param:
            args["CARGO_PROFILE"] = str(value)
        if param is not None and param.build_args:
            cargo_args.extend(param.build_args.get(str(value), ()))
        if param is not None and param.build_env:
            args[param.build_env] = str(value)
    args["CARGO_ARGS"] = " ".join(cargo_args)
    args.setdefault("CARGO_PROFILE", "release")
    return args


def image_tag(repository: str, build_args: Mapping[str, str], context_hash: str) -> str:
    """``repository:<12 hex>``: the same build params and sources give the same tag."""
    key = json.dumps(
        {"args": dict(sorted(build_args.items())), "context": context_hash}, sort_keys=True
    )
    return f"{repository}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _param(spec: Any, name: str) -> Any:
    try:
        return spec.param(name)
    except (AttributeError, KeyError):
        return None


# ---------------------------------------------------------------------------- runner


@dataclass
class _ImageResult:
    tag: str
    built: bool
    seconds: float


class ComposeRunner:
    """Runs candidates in Docker containers; see the module docstring."""

    name = "compose"

    def __init__(
        self,
        spec: Any,
        *,
        work_dir: str | Path | None = None,
        pidfile: Any = None,
        compose_file: str | Path | None = None,
        server_cpus: str | None = None,
        client_cpus: str | None = None,
        config_transport: str = "auto",
        seed: int | None = None,
        docker: str = "docker",
        build_timeout_s: float = BUILD_TIMEOUT_S,
        **_: Any,
    ) -> None:
        import docker as docker_sdk

        self.spec = spec
        self.docker = docker
        self.pidfile = pidfile
        self.seed = seed
        self.build_timeout_s = build_timeout_s
        self.work_dir = Path(work_dir or Path(tempfile.gettempdir()) / "redisevolve-compose")
        self.services = ComposeServices.load(
            Path(compose_file) if compose_file else default_compose_file(spec),
            docker=docker,
            config_suffix=config_suffix(spec),
        )
        check_command_delivery(spec, self.services)
        target, client = getattr(spec, "target", None), getattr(spec, "client", None)
        self.server_cpus = (
            server_cpus or os.environ.get(SERVER_CPUS_ENV) or getattr(target, "cpus", None) or "0"
        )
        self.client_cpus = (
            client_cpus or os.environ.get(CLIENT_CPUS_ENV) or getattr(client, "cpus", None) or "1"
        )
        self.ready_timeout_s = float(getattr(target, "ready_timeout_s", 30.0) or 30.0)
        try:
            self.engine = docker_sdk.from_env(timeout=120)
            info = self.engine.info()
        except Exception as exc:  # docker.errors.DockerException and connection errors
            where = os.environ.get("DOCKER_HOST") or "the local socket"
            raise ComposeError(f"cannot reach the Docker engine at {where}: {exc}") from None
        self.engine_cpus = int(info.get("NCPU") or 0)
        for what, cpus in (("server", self.server_cpus), ("client", self.client_cpus)):
            _check_cpus(what, cpus, self.engine_cpus)
        if config_transport == "auto":
            # A bind mount needs the file on the engine's host: only a local engine has it.
            config_transport = (
                "bind" if self.engine.api.base_url.startswith("http+docker://") else "copy"
            )
        if config_transport not in ("bind", "copy"):
            raise ComposeError(
                f"config_transport: expected auto, bind or copy, got {config_transport!r}"
            )
        self.config_transport = config_transport
        self.owner = owner_id()
        token = hashlib.sha256(self.owner.encode()).hexdigest()[:8]
        self.prefix = f"{PROJECT}-{token}"
        self.network_name = f"{self.prefix}-net"
        self.builds = 0  # images built by this runner (tests and reports read it)
        self.trials = 0
        self.closed = False
        self.removed_leftovers = remove_leftovers(self.engine)

    # --- Runner protocol -------------------------------------------------------------

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        """Build (if needed), start server + baseline, run the paired protocol."""
        self.closed = False
        self.trials += 1
        timings = {"build": 0.0, "start": 0.0, "benchmark": 0.0}
        image = self._ensure_image(candidate.build)
        timings["build"] = image.seconds if image.built else 0.0
        started = time.monotonic()
        self._ensure_network()
        bench = self._ensure_bench()
        client = DockerExecClient(bench, docker=self.docker)
        server_name, redis_name = f"{self.prefix}-server", f"{self.prefix}-redis"
        config_dir = self.work_dir / "compose" / f"{self.prefix}-trial-{self.trials}"
        try:
            self._start_pair(image.tag, candidate.runtime, config_dir)
            candidate_ep = Endpoint("candidate", server_name, SERVER_PORT)
            baseline_ep = Endpoint("baseline", redis_name, SERVER_PORT)
            self._wait_ready(client, candidate_ep, server_name)
            self._wait_ready(client, baseline_ep, redis_name)
            timings["start"] = time.monotonic() - started
            bench_started = time.monotonic()
            result = self._paired(candidate_ep, baseline_ep, client, repetitions, on_progress)
            timings["benchmark"] = time.monotonic() - bench_started
        finally:
            self._remove_pair()
            shutil.rmtree(config_dir, ignore_errors=True)
        detail = result.to_dict()
        detail.update(
            {
                "runner": "compose",
                "image": {
                    "tag": image.tag,
                    "built": image.built,
                    "seconds": round(image.seconds, 3),
                },
                "images_built": self.builds,
                "engine": os.environ.get("DOCKER_HOST") or "local",
                "cpus": {"server": self.server_cpus, "client": self.client_cpus},
            }
        )
        return Measurement(
            fitness=result.fitness,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            p99_ratio=result.p99_ratio if result.p99_ratio is not None else float("nan"),
            per_test=result.per_test_ratios(),
            per_test_ci=result.per_test_cis(),
            repetitions=result.repetitions,
            stop_reason=result.stop_reason,
            dropped_repetitions=result.dropped_repetitions,
            timings=timings,
            build_tag=image.tag,
            detail=detail,
        )

    def close(self) -> None:
        """Remove every container and network this runner created. Idempotent."""
        if self.closed:
            return
        remove_labelled(self.engine, owner=self.owner)
        self.closed = True

    # --- image -------------------------------------------------------------------------

    def image_for(self, build: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """The image tag and Dockerfile build args for ``build``."""
        args = build_args_for(self.spec, build, self.services.build_args)
        digest = context_digest(self.services.context, self.services.dockerfile)
        return image_tag(self.services.server_repository, args, digest), args

    def _ensure_image(self, build: Mapping[str, Any]) -> _ImageResult:
        import docker.errors

        tag, args = self.image_for(build)
        with suppress(docker.errors.ImageNotFound):
            self.engine.images.get(tag)
            return _ImageResult(tag, built=False, seconds=0.0)
        started = time.monotonic()
        self._build(tag, args)
        self.builds += 1
        return _ImageResult(tag, built=True, seconds=time.monotonic() - started)

    def build_argv(self, tag: str, args: Mapping[str, str]) -> list[str]:
        """The ``docker build`` command line for one image."""
        argv = [self.docker, "build", "--progress=plain", "-f", str(self.services.dockerfile)]
        for key, value in sorted(args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        ca = os.environ.get(CA_BUNDLE_ENV) or DEFAULT_CA_BUNDLE
        if Path(ca).is_file():
            argv += ["--secret", f"id=extra_ca,src={ca}"]
        argv += [
            "--label",
            f"{PROJECT_LABEL}={PROJECT}",
            "--label",
            f"{TAG_LABEL}={tag}",
            "-t",
            tag,
            str(self.services.context),
        ]
        return argv

    def _build(self, tag: str, args: Mapping[str, str]) -> None:
        argv = self.build_argv(tag, args)
        log_dir = self.work_dir / "builds"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{tag.rsplit(':', 1)[-1]}.log"
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        # SIGTERM first: the docker client then cancels the build in the engine.
        returncode = run_build_command(
            argv,
            log_path,
            env=env,
            timeout_s=self.build_timeout_s,
            what=f"image build {tag}",
            grace_s=10.0,
            pidfile=self.pidfile,
            tail_lines=LOG_TAIL_LINES,
        )
        if returncode != 0:
            raise TrialFailure(
                f"image build failed (exit {returncode}): {tag} with {dict(args)}",
                _tail(log_path.read_text(errors="replace")),
            )

    # --- containers --------------------------------------------------------------------

    def _labels(self, role: str) -> dict[str, str]:
        return {PROJECT_LABEL: PROJECT, OWNER_LABEL: self.owner, ROLE_LABEL: role}

    def _ensure_network(self) -> None:
        # The name filter matches substrings; compare exactly.
        existing = self.engine.networks.list(names=[self.network_name])
        if not any(n.name == self.network_name for n in existing):
            self.engine.networks.create(
                self.network_name, driver="bridge", labels=self._labels("network")
            )

    def _ensure_bench(self) -> str:
        import docker.errors

        name = f"{self.prefix}-bench"
        try:
            container = self.engine.containers.get(name)
            if container.status == "running":
                return name
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        self.engine.containers.run(
            self.services.bench_image,
            list(self.services.bench_command),
            name=name,
            detach=True,
            init=True,
            network=self.network_name,
            cpuset_cpus=self.client_cpus,
            labels=self._labels("bench"),
        )
        return name

    def _start_pair(self, tag: str, runtime: Mapping[str, Any], config_dir: Path) -> None:
        """Fresh baseline and server containers on the server CPU set."""
        self._remove_pair()
        baseline = getattr(self.spec, "baseline", None)
        if getattr(baseline, "same_as_target", False):
            # The target at its defaults: the server image built at the build params'
            # defaults, the same command, an empty config file.
            defaults = self.spec.build_defaults()
            self._start_server("redis", self._ensure_image(defaults).tag, None, config_dir)
        else:
            self.engine.containers.run(
                self.services.redis_image,
                list(self.services.redis_command),
                name=f"{self.prefix}-redis",
                detach=True,
                network=self.network_name,
                cpuset_cpus=self.server_cpus,
                labels=self._labels("redis"),
            )
        self._start_server("server", tag, runtime, config_dir)

    def _start_server(
        self, role: str, tag: str, runtime: Mapping[str, Any] | None, config_dir: Path
    ) -> None:
        """Start the server image as ``role`` ("server": the candidate with ``runtime``;
        "redis": the same-as-target baseline, ``runtime`` None)."""
        target = self.spec.target
        config_target = self.services.config_target or ""
        if runtime is None:
            launch = baseline_launch(
                self.spec.baseline, port=SERVER_PORT, config_path=config_target
            )
            values = {"port": str(SERVER_PORT), "config": config_target}
            config_dir = config_dir / "baseline"
        else:
            launch = candidate_launch(
                target, {}, runtime, port=SERVER_PORT, config_path=config_target
            )
            values = template_values({}, runtime, port=SERVER_PORT, config_path=config_target)
        command = [render_template(a, values) for a in self.services.server_command]
        kwargs: dict[str, Any] = {"environment": launch.env} if launch.env else {}
        config_path: Path | None = None
        if launch.config is not None and self.services.config_target is not None:
            name = Path(self.services.config_target).name
            config_path = write_config(launch.config, config_dir / name, launch.config_format)
            if self.config_transport == "bind":
                kwargs["volumes"] = {
                    str(config_path.resolve()): {"bind": config_target, "mode": "ro"}
                }
        container = self.engine.containers.create(
            tag,
            command,
            name=f"{self.prefix}-{role}",
            network=self.network_name,
            cpuset_cpus=self.server_cpus,
            labels={**self._labels(role), TAG_LABEL: tag},
            **kwargs,
        )
        if self.config_transport == "copy" and config_path is not None:
            # Extracted at "/" with its parent dirs, which the image need not have.
            container.put_archive("/", _tar_one(config_target, config_path.read_bytes()))
        container.start()

    def _wait_ready(
        self, client: DockerExecClient, endpoint: Endpoint, container_name: str
    ) -> None:
        """Until the container answers PING; an exit or the timeout fails the trial with its log."""
        deadline = time.monotonic() + self.ready_timeout_s
        last = ""
        while True:
            status, code = self._status(container_name)
            if status not in ("running", "created"):
                raise TrialFailure(
                    f"{endpoint.name} container exited at start (status {status}, exit {code})",
                    self._logs(container_name),
                )
            run = client.cli(endpoint, ["PING"], timeout=10.0)
            if run.returncode == 0 and "PONG" in run.stdout:
                return
            last = (run.stderr or run.stdout).strip()
            if time.monotonic() > deadline:
                raise TrialFailure(
                    f"{endpoint.name} did not answer PING in {self.ready_timeout_s:.0f}s: {last}",
                    self._logs(container_name),
                )
            time.sleep(0.2)

    def _paired(
        self,
        candidate: Endpoint,
        baseline: Endpoint,
        client: DockerExecClient,
        repetitions: int | None,
        on_progress: ProgressCallback | None,
    ) -> Any:
        from benchmark.paired import PairedRun

        def on_repetition(update: Any) -> None:
            if on_progress is not None:
                on_progress(
                    Progress(
                        update.repetition,
                        update.fitness,
                        update.ci_low,
                        update.ci_high,
                        update.max_repetitions,
                    )
                )

        run = PairedRun(
            candidate,
            baseline,
            self.spec.workload,
            client,
            seed=self.seed,
            on_repetition=on_repetition,
            max_repetitions=repetitions,
        )
        try:
            return run.run()
        except BenchmarkError as exc:
            server = f"{self.prefix}-server"
            status, code = self._status(server)
            logs = self._logs(server)
            if status != "running":
                reason = f"server crashed during the benchmark (status {status}, exit {code})"
            else:
                reason = f"benchmark failed: {exc}"
            detail = getattr(exc, "stderr", "") or ""
            raise TrialFailure(reason, f"{logs}\n--- benchmark ---\n{detail}".strip()) from None

    def _status(self, name: str) -> tuple[str, int | None]:
        import docker.errors

        try:
            container = self.engine.containers.get(name)
        except docker.errors.NotFound:
            return "missing", None
        state = container.attrs.get("State", {})
        return str(state.get("Status", container.status)), state.get("ExitCode")

    def _logs(self, name: str) -> str:
        """The container's last log lines (stdout and stderr), for failed trials."""
        import docker.errors

        try:
            raw = self.engine.containers.get(name).logs(tail=LOG_TAIL_LINES)
        except docker.errors.NotFound:
            return f"(container {name} is gone; no logs)"
        return f"--- {name} log ---\n" + raw.decode(errors="replace").rstrip()

    def _remove_pair(self) -> None:
        remove_labelled(self.engine, owner=self.owner, roles=("server", "redis"))


# ---------------------------------------------------------------------------- clean-up


def _labels_of(obj: Any) -> dict[str, str]:
    # Containers expose .labels; networks only carry them in their attrs.
    return dict(getattr(obj, "labels", None) or obj.attrs.get("Labels") or {})


def _labelled(engine: Any, owner: str | None) -> Iterator[tuple[str, Any]]:
    filters = [f"{PROJECT_LABEL}={PROJECT}"] + ([f"{OWNER_LABEL}={owner}"] if owner else [])
    for container in engine.containers.list(all=True, filters={"label": filters}):
        yield "container", container
    for network in engine.networks.list(filters={"label": filters}):
        yield "network", network


def remove_labelled(
    engine: Any, *, owner: str | None, roles: tuple[str, ...] | None = None
) -> list[str]:
    """Remove containers, then networks, with the project label (and ``owner``'s, if given)."""
    import docker.errors

    removed: list[str] = []
    # Containers first: a network with containers attached cannot be removed.
    items = sorted(_labelled(engine, owner), key=lambda item: item[0] == "network")
    for kind, obj in items:
        if roles is not None and _labels_of(obj).get(ROLE_LABEL) not in roles:
            continue
        with suppress(docker.errors.NotFound, docker.errors.APIError):
            if kind == "container":
                obj.remove(force=True)
            else:
                obj.remove()
            removed.append(obj.name)
    return removed


def remove_leftovers(engine: Any, *, all_owners: bool = False) -> list[str]:
    """Remove labelled objects whose tuner process died on this host (or all, if asked).

    Objects of tuners on other hosts sharing this engine are left alone unless
    ``all_owners``: their liveness cannot be checked from here.
    """
    owners = {_labels_of(obj).get(OWNER_LABEL, "") for _, obj in _labelled(engine, None)}
    removed: list[str] = []
    for owner in sorted(o for o in owners if o):
        if all_owners or owner_alive(owner) is False:
            removed += remove_labelled(engine, owner=owner)
    return removed


def _check_cpus(what: str, cpus: str, engine_cpus: int) -> None:
    try:
        numbers = {int(n) for part in cpus.split(",") for n in _cpu_range(part)}
    except ValueError:
        raise ComposeError(
            f"{what} CPU set {cpus!r}: expected a list like '0' or '0-1,3'"
        ) from None
    if engine_cpus and max(numbers) >= engine_cpus:
        raise ComposeError(
            f"{what} CPU set {cpus!r}: the Docker engine has CPUs 0-{engine_cpus - 1} "
            f"(set {SERVER_CPUS_ENV} / {CLIENT_CPUS_ENV})"
        )


def _cpu_range(part: str) -> range:
    low, _, high = part.strip().partition("-")
    return range(int(low), int(high or low) + 1)


def _tar_one(path: str, data: bytes) -> bytes:
    """A tar holding the file at absolute ``path`` (relative in the tar) and its parent dirs."""
    buffer = io.BytesIO()
    parts = Path(path.lstrip("/")).parts
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for depth in range(1, len(parts)):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type = tarfile.DIRTYPE
            directory.mode = 0o755
            tar.addfile(directory)
        info = tarfile.TarInfo("/".join(parts))
        info.size = len(data)
        info.mode = 0o444
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tail(text: str) -> str:
    return tail(text, LOG_TAIL_LINES)


def main(argv: list[str] | None = None) -> int:
    """``python -m tuner.runners.compose cleanup [--all]``: remove leftover containers."""
    import docker as docker_sdk

    parser = argparse.ArgumentParser(prog="python -m tuner.runners.compose")
    sub = parser.add_subparsers(dest="command", required=True)
    cleanup = sub.add_parser("cleanup", help="remove containers and networks of dead tuner runs")
    cleanup.add_argument("--all", action="store_true", help="also those of running tuners")
    options = parser.parse_args(argv)
    engine = docker_sdk.from_env()
    removed = remove_leftovers(engine, all_owners=options.all)
    print(f"removed {len(removed)}: {', '.join(removed) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
