"""Write a candidate's runtime params as the server's config file: TOML, Redis or JSON.

TOML and JSON nest dotted names (``pool.capacity`` -> ``[pool] capacity``); the Redis
format writes one ``name value`` line per param, the name being the directive, with the
value quoted the way Redis's own parser (``sdssplitargs`` in config.c) reads it back.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

__all__ = [
    "FORMATS",
    "ConfigFileError",
    "flatten",
    "nest",
    "parse",
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


_REDIS_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}


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


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the inverse of :func:`nest`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def parse(text: str, config_format: str = "toml") -> dict[str, Any]:
    """A config file's params as dotted names: the inverse of :func:`render`.

    Redis lines read back as :func:`redis_value` wrote them: integers and floats as
    numbers, anything else (``yes``/``no`` included) as a string. Raises ConfigFileError.
    """
    try:
        if config_format == "toml":
            return flatten(tomllib.loads(text))
        if config_format == "json":
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise ConfigFileError("a JSON config must be an object")
            return flatten(loaded)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(str(exc)) from None
    if config_format != "redis":
        raise ConfigFileError(f"config format {config_format!r} is not one of {', '.join(FORMATS)}")
    params: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        if not rest.strip():
            raise ConfigFileError(f"line {number}: {name!r} has no value")
        params[name] = _redis_scalar(_redis_unquote(rest.strip(), number))
    return params


def _redis_unquote(value: str, number: int) -> str:
    """One value as sdssplitargs reads it: bare, "double" (with escapes) or 'single'."""
    if not value or value[0] not in "\"'":
        return value
    quote, i = value[0], 1
    out = bytearray()  # \xHH escapes are bytes: a UTF-8 character is several of them
    while i < len(value):
        char = value[i]
        if char == quote:
            if value[i + 1 :].strip():
                raise ConfigFileError(f"line {number}: text after the closing quote")
            return out.decode("utf-8", errors="surrogateescape")
        if char == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            if quote == '"' and nxt == "x" and i + 3 < len(value):
                out.append(int(value[i + 2 : i + 4], 16))
                i += 4
                continue
            if quote == '"' or nxt == "'":
                out += _REDIS_UNESCAPES.get(nxt, nxt).encode()
                i += 2
                continue
        out += char.encode()
        i += 1
    raise ConfigFileError(f"line {number}: unbalanced quotes")


def _redis_scalar(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


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
