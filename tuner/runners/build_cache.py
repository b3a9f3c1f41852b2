"""Build a server binary once per set of build-time params and keep it by tag.

The tag hashes the build params, the build command and binary templates, and a
fingerprint of the sources, so a runtime-only change never rebuilds and an edited
server never reuses a stale binary. Each tag keeps its own copy of the binary under
``<root>/<tag>/`` (cargo's shared target dir would overwrite it on the next build)
together with ``build.log`` and ``build.json``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.runners.base import TrialFailure

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.\-]*)\}")
# Directories that are build output or tool state, not sources.
_SKIP_DIRS = {"target", "node_modules", "__pycache__"}
_MAX_SOURCE_FILES = 20_000
_MAX_HASHED_BYTES = 1 << 20
LOG_TAIL_LINES = 40


class TemplateError(ValueError):
    """A template names a placeholder that has no value."""


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` and ``{dotted.name}`` placeholders; unknown names are errors.

    ``{{`` and ``}}`` stay literal braces (as in str.format).
    """
    escaped = template.replace("{{", "\0").replace("}}", "\1")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise TemplateError(f"template {template!r}: no value for {{{name}}} (known: {known})")
        return str(values[name])

    return _PLACEHOLDER.sub(value, escaped).replace("\0", "{").replace("\1", "}")


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``: what a failed trial shows of a log."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def source_fingerprint(workdir: Path, exclude: Collection[str] = ()) -> str:
    """Hash of every source file's path and content under ``workdir``.

    Content, not mtime, so a touched but unchanged file does not rebuild (large files
    count by size and mtime). ``exclude`` names top-level entries that are build output.
    """
    digest = hashlib.sha256()
    count = 0
    for dirpath, dirnames, filenames in os.walk(workdir):
        top = Path(dirpath) == workdir
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SKIP_DIRS and not d.startswith(".") and not (top and d in exclude)
        )
        for name in sorted(filenames):
            if top and name in exclude:
                continue
            path = Path(dirpath, name)
            try:
                stat = path.stat()
                if stat.st_size <= _MAX_HASHED_BYTES:
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    content = f"{stat.st_size}:{stat.st_mtime_ns}"
            except OSError:
                continue
            digest.update(f"{path.relative_to(workdir).as_posix()}\0{content}\n".encode())
            count += 1
            if count >= _MAX_SOURCE_FILES:
                return digest.hexdigest()
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildResult:
    """A usable binary for one build tag, and whether this call had to build it."""

    tag: str
    binary: Path
    seconds: float
    cached: bool


class BuildCache:
    """Builds and keeps one binary per build tag under ``root``.

    ``command`` (argv) and ``binary`` are templates over the build params, e.g.
    ``["cargo", "build", "--profile", "{build.profile}"]`` and
    ``target/{build.profile}/redis-server-optimized``, run and resolved in ``workdir``.
    ``choice_args`` appends args per categorical value (``build.allocator = jemalloc``
    -> ``--features alloc-jemalloc``); ``value_env`` passes a param's value in an
    environment variable.
    """

    def __init__(
        self,
        root: Path,
        *,
        workdir: Path,
        command: Sequence[str],
        binary: str,
        env: Mapping[str, str] | None = None,
        choice_args: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        value_env: Mapping[str, str] | None = None,
        timeout_s: float = 3600.0,
    ) -> None:
        if isinstance(command, str):
            raise TypeError("command is an argv list, not a shell string")
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.command = tuple(command)
        self.binary = binary
        self.env = dict(env or {})
        self.choice_args = {
            k: {c: tuple(a) for c, a in v.items()} for k, v in (choice_args or {}).items()
        }
        self.value_env = dict(value_env or {})
        self.timeout_s = timeout_s
        self.builds = 0  # real builds run by this instance (tests and reports read it)

    @classmethod
    def for_spec(cls, spec: Any, root: Path) -> BuildCache:
        """The build cache for a parsed StudySpec's [target] and build params."""
        return cls(
            root,
            workdir=spec.target.workdir,
            command=spec.target.build_command,
            binary=spec.target.binary,
            env=spec.target.build_env,
            choice_args={p.name: p.build_args for p in spec.build_params if p.build_args},
            value_env={p.name: p.build_env for p in spec.build_params if p.build_env},
        )

    def argv(self, build: Mapping[str, Any]) -> list[str]:
        """The build command for ``build``: rendered template plus per-choice args."""
        argv = [render_template(part, build) for part in self.command]
        for name in sorted(build):
            if name in self.choice_args:
                choices = self.choice_args[name]
                value = str(build[name])
                if value not in choices:
                    raise TemplateError(f"{name} = {value!r}: no build args for this choice")
                argv.extend(choices[value])
        return argv

    def build_env(self, build: Mapping[str, Any]) -> dict[str, str]:
        """Environment additions for ``build`` (fixed ones plus per-param values)."""
        env = dict(self.env)
        for name, variable in self.value_env.items():
            if name in build:
                env[variable] = str(build[name])
        return env

    def tag(self, build: Mapping[str, Any]) -> str:
        """Stable short tag for ``build`` against the current sources."""
        key = {
            "params": {k: str(v) for k, v in sorted(build.items())},
            "argv": self.argv(build),
            "env": self.build_env(build),
            "binary": render_template(self.binary, build),
            "sources": source_fingerprint(self.workdir, exclude={self._output_top()}),
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    def _output_top(self) -> str:
        # The binary's top-level directory (``target``) is output, not source.
        return Path(self.binary).parts[0] if Path(self.binary).parts else ""

    def ensure(self, build: Mapping[str, Any]) -> BuildResult:
        """Return the cached binary for ``build``, building it first if needed.

        Raises TrialFailure (with the build log's tail) when the build fails.
        """
        tag = self.tag(build)
        entry = self.root / tag
        cached_binary = entry / Path(render_template(self.binary, build)).name
        with self._lock(tag):
            if cached_binary.is_file() and (entry / "build.json").is_file():
                return BuildResult(tag, cached_binary, 0.0, cached=True)
            started = time.monotonic()
            self._build(build, entry, cached_binary)
            seconds = time.monotonic() - started
            meta = {
                "params": dict(build),
                "argv": self.argv(build),
                "env": self.build_env(build),
                "seconds": round(seconds, 3),
            }
            (entry / "build.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
            self.builds += 1
            return BuildResult(tag, cached_binary, seconds, cached=False)

    def _build(self, build: Mapping[str, Any], entry: Path, cached_binary: Path) -> None:
        argv = self.argv(build)
        command = shlex.join(argv)
        built = self.workdir / render_template(self.binary, build)
        entry.mkdir(parents=True, exist_ok=True)
        log_path = entry / "build.log"
        env = {**os.environ, **self.build_env(build)}
        returncode = run_build_command(
            argv, log_path, cwd=self.workdir, env=env, timeout_s=self.timeout_s, what="build"
        )
        if returncode != 0:
            raise TrialFailure(
                f"build failed (exit {returncode}): {command}",
                tail(log_path.read_text(errors="replace")),
            )
        if not built.is_file():
            raise TrialFailure(
                f"build succeeded but produced no binary at {built}",
                tail(log_path.read_text(errors="replace")),
            )
        tmp = cached_binary.with_name(cached_binary.name + ".tmp")
        shutil.copy2(built, tmp)
        os.replace(tmp, cached_binary)

    @contextmanager
    def _lock(self, tag: str) -> Iterator[None]:
        # Two tuner processes sharing a cache must not build the same tag at once.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{tag}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def run_build_command(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str],
    timeout_s: float,
    what: str,
    cwd: Path | None = None,
    grace_s: float = 0.0,
    pidfile: Any = None,
    tail_lines: int = LOG_TAIL_LINES,
) -> int:
    """Run a build with its output in ``log_path``; return its exit code.

    The build gets its own process group, so a timeout or Ctrl-C stops all of it (cargo's
    rustc children, docker's build client): SIGTERM first when ``grace_s`` > 0 (a docker
    client cancels its build then), SIGKILL after. A timeout is a TrialFailure with the
    log's last ``tail_lines`` lines; ``pidfile`` (a tuner.pid_records.PidFile) records the pid
    while it runs.
    """
    command = shlex.join(argv)
    with log_path.open("w") as log:
        log.write(f"$ {command}\n")
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if pidfile is not None:
            pidfile.add(proc.pid)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace_s)
            raise TrialFailure(
                f"{what} timed out after {timeout_s:.0f}s: {command}",
                tail(log_path.read_text(errors="replace"), tail_lines),
            ) from None
        except BaseException:
            stop_group(proc, grace_s)
            raise
        finally:
            if pidfile is not None:
                pidfile.remove(proc.pid)


def stop_group(proc: subprocess.Popen[Any], grace_s: float = 0.0) -> None:
    """Stop a process group: SIGTERM and up to ``grace_s`` seconds, then SIGKILL."""
    if grace_s > 0:
        with suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
    with suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
