"""What one candidate's server receives: its arguments, environment and config file.

The spec decided where each runtime param goes (``tuner.spec`` checks that each one is
delivered exactly once); this fills the templates for one candidate. The local and the
compose runner both start servers from a :class:`Launch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tuner.runners.build_cache import render_template
from tuner.runners.config_file import template_value
from tuner.spec import BaselineSpec, TargetSpec

__all__ = ["Launch", "baseline_launch", "candidate_launch", "template_values"]


@dataclass(frozen=True)
class Launch:
    """Arguments after the binary, extra environment, and the config file's params."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: The params the config file holds; None when the spec writes no file.
    config: dict[str, Any] | None = None
    config_format: str = "toml"


def candidate_launch(
    target: TargetSpec,
    build: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    port: int,
    config_path: str,
) -> Launch:
    """Fill ``target.args`` / ``[target.env]`` for one candidate; ``config_path`` is the
    path the server sees (a container's mount target under compose)."""
    values = template_values(build, runtime, port=port, config_path=config_path)
    env = {name: render_template(value, values) for name, value in target.env.items()}
    if target.config_env:
        env[target.config_env] = config_path
    config = None
    if target.config_file:
        config = {name: runtime[name] for name in target.file_params if name in runtime}
    return Launch(
        args=tuple(render_template(a, values) for a in target.args),
        env=env,
        config=config,
        config_format=target.config_format,
    )


def template_values(
    build: Mapping[str, Any], runtime: Mapping[str, Any], *, port: int, config_path: str
) -> dict[str, str]:
    """What each placeholder becomes: params, ``{port}`` and ``{config}``."""
    values: dict[str, str] = {name: str(value) for name, value in build.items()}
    values.update({name: template_value(name, value) for name, value in runtime.items()})
    values.update(port=str(port), config=config_path)
    return values


def baseline_launch(baseline: BaselineSpec, *, port: int, config_path: str = "") -> Launch:
    """The baseline's arguments and environment with ``{port}`` (and, for a target at its
    defaults, ``{config}``: an empty file, so the server keeps its own defaults) filled in."""
    values = {"port": str(port), "config": config_path}
    env = {name: render_template(value, values) for name, value in baseline.env.items()}
    if baseline.config_env:
        env[baseline.config_env] = config_path
    return Launch(
        args=tuple(render_template(a, values) for a in baseline.args),
        env=env,
        config={} if baseline.config_file else None,
        config_format=baseline.config_format,
    )
