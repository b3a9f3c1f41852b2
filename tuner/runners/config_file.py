"""Write a candidate's runtime params as the server's config file: TOML, Redis or JSON.

TOML and JSON nest dotted names (``pool.capacity`` -> ``[pool] capacity``); the Redis
format writes one ``name value`` line per param, the name being the directive, with the
value quoted the way Redis's own parser (``sdssplitargs`` in config.c) reads it back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

__all__ = [
    "FORMATS",
    "ConfigFileError",
    "nest",
    "redis_value",
    "render",
    "template_value",
    "write_config",
]

#: The formats :func:`render` writes (the spec's ``target.config_format``).
FORMATS = ("toml", "redis", "json")
_HEADER = "# Written by the RedisEvolve tuner for one trial.\n"
#: Characters Redis's parser reads back verbatim outside quotes.
_BARE_REDIS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"
)
_REDIS_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\a": "\\a",
    "\b": "\\b",
}


class ConfigFileError(ValueError):
    """Params that cannot form one config file (``a`` and ``a.b`` both set in TOML)."""


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


def render(params: Mapping[str, Any], config_format: str = "toml") -> str:
    """The config text for ``params`` in ``config_format`` (one of :data:`FORMATS`).

    TOML: top-level scalars first, then one table per prefix. Redis: one ``name value``
    line per param, sorted by name. JSON: the nested object, keys sorted.
    """
    if config_format == "toml":
        return tomli_w.dumps(nest(params))
    if config_format == "json":
        return json.dumps(nest(params), indent=2, sort_keys=True) + "\n"
    if config_format == "redis":
        for name in params:
            if not name or any(c.isspace() or not c.isprintable() for c in name):
                raise ConfigFileError(f"config key {name!r}: not a Redis directive name")
        return "".join(f"{name} {redis_value(name, params[name])}\n" for name in sorted(params))
    raise ConfigFileError(f"config format {config_format!r} is not one of {', '.join(FORMATS)}")


def redis_value(name: str, value: Any) -> str:
    """One value as Redis's config parser reads it: yes/no, numbers, quoted strings.

    Bare when every character is read back verbatim; otherwise double-quoted with
    ``\\``, ``\\"``, ``\\n``-style and ``\\xHH`` escapes (sdssplitargs' rules).
    """
    value = _toml_value(name, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return repr(value)
    if value and all(c in _BARE_REDIS for c in value) and value[0] not in "\"'":
        return value
    out = []
    for char in value:
        if char in _REDIS_ESCAPES:
            out.append(_REDIS_ESCAPES[char])
        elif char.isascii() and char.isprintable():
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def template_value(name: str, value: Any) -> str:
    """A value as it goes into an argument or env template: ``true``/``false``, numbers."""
    value = _toml_value(name, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def write_config(params: Mapping[str, Any], path: Path, config_format: str = "toml") -> Path:
    """Write the config atomically (the server must never read a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(params, config_format)
    if config_format != "json":  # JSON has no comments
        text = _HEADER + text
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=path.suffix or ".conf", dir=path.parent)
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
    raise ConfigFileError(
        f"config key {name!r}: {type(value).__name__} is not a string, number or boolean"
    )
