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


def parse_baseline(b: Mapping[str, Any]) -> BaselineSpec:
    only_keys(b, "baseline", {"binary", "args", "address", "cpus", "env"})
    binary = str_field(b, "baseline.binary")
    address = str_field(b, "baseline.address")
    if (binary is None) == (address is None):
        raise SpecError("baseline: give exactly one of baseline.binary or baseline.address")
    if address is not None:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SpecError(f"baseline.address: {address!r} is not host:port")
    args = str_list(b, "baseline.args")
    env = str_map(b, "baseline.env")
    if address is not None and env:
        raise SpecError("baseline.env: only for a baseline the runner starts (baseline.binary)")
    for where, template in [
        *((f"baseline.args[{i}]", a) for i, a in enumerate(args)),
        *((f"baseline.env.{k}", v) for k, v in env.items()),
    ]:
        for ref in placeholders(template):
            if ref != "port":
                raise SpecError(f"{where}: {{{ref}}} is not {{port}} (the baseline has no params)")
    if binary is not None and not any("{port}" in a for a in (*args, *env.values())):
        raise SpecError("baseline.args: must contain '{port}' when baseline.binary is set")
    return BaselineSpec(
        binary=binary,
        args=tuple(args),
        address=address,
        cpus=cpus_field(b, "baseline.cpus", "0"),
        env=env,
    )


def parse_client(c: Mapping[str, Any]) -> ClientSpec:
    only_keys(c, "client", {"cpus", "binary"})
    return ClientSpec(cpus=cpus_field(c, "client.cpus", "1"), binary=str_field(c, "client.binary"))
