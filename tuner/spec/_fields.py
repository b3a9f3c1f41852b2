"""Typed readers for spec fields; each raises SpecError naming the field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from tuner.spec._errors import SpecError

__all__ = [
    "cpus_field",
    "int_field",
    "number_field",
    "only_keys",
    "plain",
    "positive",
    "section",
    "str_field",
    "str_list",
    "str_map",
]


def plain(value: Any) -> Any:
    """TOML data as JSON-able values (TOML dates become strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def only_keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise SpecError(f"{prefix}{key}: unknown field (allowed: {', '.join(sorted(allowed))})")


def section(
    data: Mapping[str, Any], name: str, *, required: bool = True, key: str | None = None
) -> Mapping[str, Any]:
    value = data.get(key or name)
    if value is None:
        if required:
            raise SpecError(f"{name}: missing section [{name}]")
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{name}: expected a table [{name}], got {type(value).__name__}")
    return value


def str_field(t: Mapping[str, Any], where: str, *, required: bool = False) -> str | None:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key)
    if value is None:
        if required:
            raise SpecError(f"{where}: missing")
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}: expected a string, got {value!r}")
    if required and not value.strip():
        raise SpecError(f"{where}: must not be empty")
    return value


def str_list(t: Mapping[str, Any], where: str, *, required: bool = False) -> list[str]:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key)
    if value is None:
        if required:
            raise SpecError(f"{where}: missing")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: expected a list of strings, got {value!r}")
    return value


def str_map(t: Mapping[str, Any], where: str) -> dict[str, str]:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SpecError(f"{where}: expected a table of strings, got {value!r}")
    return dict(value)


def cpus_field(t: Mapping[str, Any], where: str, default: str) -> str:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise SpecError(f"{where}: expected a CPU list like '0' or '0-1,3', got {value!r}")
    return value


def positive(t: Mapping[str, Any], where: str, default: float) -> float:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SpecError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def int_field(t: Mapping[str, Any], where: str, default: int | None, *, minimum: int) -> Any:
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{where}: must be at least {minimum}, got {value}")
    return value


def number_field(p: Mapping[str, Any], where: str, kind: str) -> Any:
    key = where.rsplit(".", 1)[-1]
    if key not in p:
        raise SpecError(f"{where}: missing (required for {kind} params)")
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    if kind == "int":
        if not isinstance(value, int):
            raise SpecError(f"{where}: expected an integer for an int param, got {value!r}")
        return value
    if not math.isfinite(value):
        raise SpecError(f"{where}: must be finite, got {value!r}")
    return float(value)
