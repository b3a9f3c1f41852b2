"""Locating the Redis 8.0 binaries that serve as the baseline and the load generator."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CACHE_BIN_DIR = (
    Path(os.environ.get("REDISEVOLVE_CACHE") or "/var/cache/redisevolve-ci") / "redis-8.0.2" / "bin"
)
"""Where `bash .ci/install redis8` (and CI) put the Redis 8.0.2 build ($REDISEVOLVE_CACHE)."""

REQUIRED = ("redis-server", "redis-benchmark", "redis-cli")


def _complete(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in REQUIRED)


def find_redis8_bin_dir() -> Path | None:
    """The Redis 8 bin dir: env REDIS8_BIN_DIR, else the CI cache, else the one on PATH.

    A directory on PATH counts only if its redis-server reports major version 8, because
    Debian's redis 7.0 is often installed too and must never pose as the baseline.
    """
    env = os.environ.get("REDIS8_BIN_DIR")
    if env:
        return Path(env) if _complete(Path(env)) else None
    if _complete(CACHE_BIN_DIR):
        return CACHE_BIN_DIR
    found = shutil.which("redis-server")
    if found:
        directory = Path(found).resolve().parent
        if _complete(directory) and server_major_version(directory / "redis-server") == 8:
            return directory
    return None


def server_major_version(redis_server: Path) -> int | None:
    """Major version of a redis-server binary from `redis-server --version`, None if unknown."""
    import subprocess

    try:
        out = subprocess.run(
            [str(redis_server), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for word in out.split():
        if word.startswith("v="):
            try:
                return int(word[2:].split(".")[0])
            except ValueError:
                return None
    return None


def redis_server_argv(bin_dir: Path, *extra: str) -> list[str]:
    """argv template for a measurement-ready Redis ({port} filled in by ServerProcess).

    Persistence is off so neither server pays for snapshots during a run.
    """
    return [
        str(bin_dir / "redis-server"),
        "--port",
        "{port}",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        *extra,
    ]
