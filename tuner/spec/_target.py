"""Parsing of [target], [baseline] and [client]: the processes a trial starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.spec._delivery import check_build_templates, placeholders, plan_delivery
from tuner.spec._errors import SpecError
from tuner.spec._fields import (
    cpus_field,
    only_keys,
    positive,
    section,
    str_field,
    str_list,
    str_map,
)
from tuner.spec._model import (
    DEFAULT_CONFIG_PATHS,
    BaselineSpec,
    ClientSpec,
    ParamSpec,
    TargetSpec,
)

__all__ = ["parse_baseline", "parse_client", "parse_target"]


def parse_target(t: Mapping[str, Any], base_dir: Path, params: tuple[ParamSpec, ...]) -> TargetSpec:
    only_keys(
        t,
        "target",
        {
            "workdir",
            "build_command",
            "binary",
            "args",
            "config_path",
            "config_env",
            "config_format",
            "env",
            "build_env",
            "cpus",
            "ready_timeout_s",
            "compose",
        },
    )
    workdir = str_field(t, "target.workdir") or "."
    build_command = str_list(t, "target.build_command", required=True)
    if not build_command:
        raise SpecError("target.build_command: must not be empty")
    binary = str_field(t, "target.binary", required=True)
    assert binary is not None
    args = str_list(t, "target.args")
    env = str_map(t, "target.env")
    check_build_templates(build_command, binary, params)
    plan = plan_delivery(
        args=args,
        env=env,
        config_env=str_field(t, "target.config_env"),
        config_format=str_field(t, "target.config_format"),
        params=params,
    )
    return TargetSpec(
        workdir=(base_dir / workdir).resolve(),
        build_command=tuple(build_command),
        binary=binary,
        args=tuple(args),
        config_path=str_field(t, "target.config_path") or DEFAULT_CONFIG_PATHS[plan.config_format],
        config_env=str_field(t, "target.config_env"),
        env=env,
        build_env=str_map(t, "target.build_env"),
        cpus=cpus_field(t, "target.cpus", "0"),
        ready_timeout_s=positive(t, "target.ready_timeout_s", 30.0),
        compose=dict(section(t, "target.compose", required=False, key="compose")),
        config_format=plan.config_format,
        config_file=plan.config_file,
        file_params=plan.file_params,
    )


def parse_baseline(
    b: Mapping[str, Any], target: TargetSpec, params: tuple[ParamSpec, ...]
) -> BaselineSpec:
    only_keys(b, "baseline", {"binary", "args", "address", "cpus", "env", "same_as_target"})
    same = b.get("same_as_target", False)
    if not isinstance(same, bool):
        raise SpecError(f"baseline.same_as_target: expected true or false, got {same!r}")
    if same:
        return _same_as_target(b, target, params)
    binary = str_field(b, "baseline.binary")
    address = str_field(b, "baseline.address")
    if (binary is None) == (address is None):
        raise SpecError(
            "baseline: give exactly one of baseline.binary, baseline.address or "
            "baseline.same_as_target = true"
        )
    if address is not None:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SpecError(f"baseline.address: {address!r} is not host:port")
    args = str_list(b, "baseline.args")
    env = str_map(b, "baseline.env")
    if address is not None and env:
        raise SpecError("baseline.env: only for a baseline the runner starts (baseline.binary)")
    _check_baseline_templates(args, env, allowed=("port",), why="the baseline has no params")
    if binary is not None and not any("{port}" in a for a in (*args, *env.values())):
        raise SpecError("baseline.args: must contain '{port}' when baseline.binary is set")
    return BaselineSpec(
        binary=binary,
        args=tuple(args),
        address=address,
        cpus=cpus_field(b, "baseline.cpus", "0"),
        env=env,
    )


def _same_as_target(
    b: Mapping[str, Any], target: TargetSpec, params: tuple[ParamSpec, ...]
) -> BaselineSpec:
    """The target at its defaults: its binary, args and env with no runtime param set.

    ``args``/``env`` default to the target's; ``{config}`` there becomes an empty config
    file, so the server uses its own defaults (not the spec's param defaults). A target
    that takes params by flag or env needs explicit ``baseline.args``/``env`` without them.
    """
    for key in ("binary", "address"):
        if key in b:
            raise SpecError(
                f"baseline.{key}: not with baseline.same_as_target (the baseline is the "
                "target's own binary)"
            )
    args = str_list(b, "baseline.args") if "args" in b else list(target.args)
    env = str_map(b, "baseline.env") if "env" in b else dict(target.env)
    runtime = {p.name for p in params if not p.is_build}
    for where, template in _templates(args, env):
        named = [ref for ref in placeholders(template) if ref in runtime]
        if named:
            key = "args" if where.startswith("baseline.args") else "env"
            origin = "" if key in b else f" (copied from target.{key})"
            raise SpecError(
                f"baseline.same_as_target: {where}{origin} sets param {named[0]!r}; the stock "
                f"server gets no params, so give baseline.{key} without it"
            )
    _check_baseline_templates(
        args, env, allowed=("port", "config"), why="the stock server gets no params"
    )
    if not any("{port}" in a for a in (*args, *env.values())):
        raise SpecError("baseline.args: must contain '{port}' (or a [baseline.env] value must)")
    config_env = target.config_env if "env" not in b else None
    uses_config = any("{config}" in a for a in (*args, *env.values())) or bool(config_env)
    return BaselineSpec(
        binary=target.binary,
        args=tuple(args),
        cpus=cpus_field(b, "baseline.cpus", target.cpus),
        env=env,
        same_as_target=True,
        config_file=uses_config,
        config_format=target.config_format,
        config_env=config_env,
    )


def _templates(args: list[str], env: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        *((f"baseline.args[{i}]", a) for i, a in enumerate(args)),
        *((f"baseline.env.{k}", v) for k, v in env.items()),
    ]


def _check_baseline_templates(
    args: list[str], env: Mapping[str, str], *, allowed: tuple[str, ...], why: str
) -> None:
    for where, template in _templates(args, env):
        for ref in placeholders(template):
            if ref not in allowed:
                names = " or ".join(f"{{{a}}}" for a in allowed)
                raise SpecError(f"{where}: {{{ref}}} is not {names} ({why})")


def parse_client(c: Mapping[str, Any]) -> ClientSpec:
    only_keys(c, "client", {"cpus", "binary"})
    return ClientSpec(cpus=cpus_field(c, "client.cpus", "1"), binary=str_field(c, "client.binary"))
