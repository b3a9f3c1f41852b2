"""Write a candidate's dotted runtime params as the server's nested TOML config file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w


class ConfigFileError(ValueError):
    """Dotted keys that cannot form one TOML document (``a`` and ``a.b`` both set)."""


def nest(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"response_pool.capacity": 256}`` -> ``{"response_pool": {"capacity": 256}}``."""
    root: dict[str, Any] = {}
    for dotted in sorted(params):
        parts = dotted.split(".")
        if any(not part for part in parts):
            raise ConfigFileError(f"config key {dotted!r}: empty name segment")
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigFileError(f"config key {dotted!r} conflicts with {prefix!r}")
            node = child
        if parts[-1] in node:
            raise ConfigFileError(f"config key {dotted!r} conflicts with a table of that name")
        node[parts[-1]] = _toml_value(dotted, params[dotted])
    return root


def render(params: Mapping[str, Any]) -> str:
    """The TOML text for ``params``: top-level scalars first, then one table per prefix."""
    return tomli_w.dumps(nest(params))


def write_config(params: Mapping[str, Any], path: Path) -> Path:
    """Write the config atomically (the server must never read a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Written by the RedisEvolve tuner for one trial.\n" + render(params)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def _toml_value(name: str, value: Any) -> Any:
    # numpy scalars and the like come out of samplers; TOML wants plain Python values.
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigFileError(f"config key {name!r}: {type(value).__name__} is not a TOML scalar")
