"""Where each runtime param reaches the server: the config file, an argument or an env var.

Every runtime param is delivered exactly once. A param named by a ``{name}`` placeholder
in ``target.args`` or a ``[target.env]`` value is delivered there; every other runtime
param goes into the config file, which is written only when ``{config}`` appears in
``target.args`` / ``[target.env]`` or ``target.config_env`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tuner.spec._errors import SpecError
from tuner.spec._model import CONFIG_FORMATS, ParamSpec

__all__ = ["DeliveryPlan", "check_build_templates", "placeholders", "plan_delivery"]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Placeholders the runner fills in itself.
RESERVED = ("port", "config")


@dataclass(frozen=True)
class DeliveryPlan:
    """The checked outcome: whether a file is written, its format, and what it holds."""

    config_file: bool
    config_format: str
    file_params: tuple[str, ...]


def placeholders(template: str) -> list[str]:
    """The ``{name}`` references in a template (``{{`` and ``}}`` are literal braces)."""
    return _PLACEHOLDER.findall(template.replace("{{", "").replace("}}", ""))


def check_build_templates(
    build_command: Sequence[str], binary: str, params: Sequence[ParamSpec]
) -> None:
    """The build command and binary path may only name build params."""
    build = {p.name for p in params if p.is_build}
    for where, templates in (("target.build_command", build_command), ("target.binary", [binary])):
        for template in templates:
            for ref in placeholders(template):
                if ref not in build:
                    raise SpecError(f"{where}: {{{ref}}} is not a build param")


def plan_delivery(
    *,
    args: Sequence[str],
    env: Mapping[str, str],
    config_env: str | None,
    config_format: str | None,
    params: Sequence[ParamSpec],
) -> DeliveryPlan:
    """Check that each runtime param is delivered exactly once; raises SpecError."""
    if config_format is not None and config_format not in CONFIG_FORMATS:
        raise SpecError(
            f"target.config_format: {config_format!r} is not one of {', '.join(CONFIG_FORMATS)}"
        )
    known = {p.name for p in params} | set(RESERVED)
    runtime = [p.name for p in params if not p.is_build]
    places: dict[str, list[str]] = {}
    templates = [(f"target.args[{i}]", a) for i, a in enumerate(args)]
    templates += [(f"target.env.{k}", v) for k, v in env.items()]
    for where, template in templates:
        for ref in placeholders(template):
            if ref not in known:
                raise SpecError(
                    f"{where}: {{{ref}}} is not a param, {{port}} or {{config}} (in {template!r})"
                )
            places.setdefault(ref, []).append(where)
    if "port" not in places:
        raise SpecError(
            "target.args: must contain '{port}' (or a [target.env] value must; "
            "the runner picks a free port)"
        )
    for name in runtime:
        if len(places.get(name, [])) > 1:
            raise SpecError(
                f"param {name!r} is delivered twice ({' and '.join(places[name])}); "
                "name it in one place"
            )
    config_file = "config" in places or bool(config_env)
    file_params = tuple(n for n in runtime if n not in places)
    if config_format is not None and not config_file:
        raise SpecError(
            f"target.config_format: {config_format!r} is set but no file reaches the server; "
            "put '{config}' in target.args or [target.env], or set target.config_env"
        )
    if file_params and not config_file:
        names = ", ".join(file_params)
        raise SpecError(
            f"target.args: the config never reaches the server, so {names} would be delivered "
            "nowhere; put '{config}' in target.args (or set target.config_env), or name each "
            "param as '{name}' in target.args or [target.env]"
        )
    return DeliveryPlan(config_file, config_format or "toml", file_params)
