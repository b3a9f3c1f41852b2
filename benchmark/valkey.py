"""Locating the Valkey 8.1 binaries (`bash .ci/install valkey`), a target like any other."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_BIN_DIR", "REQUIRED", "find_valkey_bin_dir"]

CACHE_BIN_DIR = (
    Path(os.environ.get("REDISEVOLVE_CACHE") or "/var/cache/redisevolve-ci") / "valkey-8.1" / "bin"
)
"""Where `bash .ci/install valkey` puts the Valkey 8.1 build ($REDISEVOLVE_CACHE)."""

REQUIRED = ("valkey-server", "valkey-benchmark", "valkey-cli")


def find_valkey_bin_dir() -> Path | None:
    """The Valkey bin dir: env VALKEY_BIN_DIR, else the installer's cache; None if absent."""
    env = os.environ.get("VALKEY_BIN_DIR")
    directory = Path(env) if env else CACHE_BIN_DIR
    if all(os.access(directory / name, os.X_OK) for name in REQUIRED):
        return directory
    return None
