"""Write a chosen config in the target's own config format (TOML, redis.conf or JSON).

The file holds runtime params only, in the format the spec's ``target.config_format``
names (TOML when the target takes no file), so it is ready for the server's config
argument; build params, fitness, CI, the params the target takes by flag or environment,
and how to start the server with it go in the comment header (JSON has none).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.runners.config_file import render
from tuner.spec import StudySpec

__all__ = ["config_header", "export_format", "export_name", "render_config", "write_config"]

#: The file name's suffix per format.
_SUFFIX = {"toml": ".toml", "redis": ".conf", "json": ".json"}


def export_format(spec: StudySpec | None) -> str:
    """The format an exported config is written in: the target's config file's, else TOML."""
    if spec is None or not spec.target.config_file:
        return "toml"
    return spec.target.config_format


def export_name(spec: StudySpec | None) -> str:
    """``best_config`` with the suffix of :func:`export_format`."""
    return "best_config" + _SUFFIX[export_format(spec)]


def _split(
    config: Mapping[str, Any], spec: StudySpec | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The params the exported file holds, and those the target takes by flag or env.

    A target without a config file gets every param in the TOML file (what compare reads).
    """
    if spec is None or not spec.target.config_file:
        return dict(config), {}
    held = spec.target.file_params
    return (
        {k: v for k, v in config.items() if k in held},
        {k: v for k, v in config.items() if k not in held},
    )


def config_header(
    study_name: str,
    choice: Mapping[str, Any],
    spec: StudySpec | None = None,
) -> list[str]:
    """Comment lines describing where ``choice`` (a finalist/winner dict) came from."""
    lines = [f"Best config of study {study_name!r} ({choice.get('label', 'trial')})."]
    if choice.get("fitness") is not None:
        confidence = getattr(spec.workload, "confidence", 0.95) if spec else 0.95
        unit = spec.baseline.fitness_unit if spec else "% of the baseline"
        lines.append(
            f"fitness {_num(choice['fitness'])}{unit} "
            f"({confidence:.0%} CI {_num(choice.get('ci_low'))} - {_num(choice.get('ci_high'))}), "
            f"p99 latency ratio {_num(choice.get('p99_ratio'), '.2f')}, "
            f"{choice.get('repetitions', '?')} paired repetitions"
        )
    if choice.get("how"):
        lines.append(str(choice["how"]))
    build = choice.get("build") or {}
    if build:
        lines.append("Build-time params (not settable here; build the server with them):")
        for name, value in sorted(build.items()):
            extra = ""
            if spec is not None:
                param = next((p for p in spec.build_params if p.name == name), None)
                args = param.build_args.get(str(value)) if param else None
                if args:
                    extra = f"  (build args: {' '.join(args)})"
            lines.append(f"  {name} = {value!r}{extra}")
    lines.extend(_usage(choice, spec))
    return lines


def _usage(choice: Mapping[str, Any], spec: StudySpec | None) -> list[str]:
    """How to start the target with this file, and the params the file cannot hold."""
    if spec is None:
        return ["Use: redis-server-optimized --config THIS_FILE, or copy to perf_config.toml."]
    target = spec.target
    _, outside = _split(choice.get("config") or {}, spec)
    lines = []
    if outside:
        lines.append("Taken by flag or environment, not in this file (see target.args/env):")
        lines.extend(f"  {name} = {value!r}" for name, value in sorted(outside.items()))
    args = shlex.join(
        a.replace("{config}", "THIS_FILE").replace("{port}", "6379") for a in target.args
    )
    lines.append(f"Use: {Path(target.binary).name} {args}".rstrip())
    return lines


def render_config(
    config: Mapping[str, Any], header: list[str] | None = None, spec: StudySpec | None = None
) -> str:
    """``# header`` lines (not in JSON), then the file's params in :func:`export_format`."""
    config_format = export_format(spec)
    held, _ = _split(config, spec)
    if config_format == "json":
        return render(held, "json")
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header or [])
    return comment + ("\n" if comment else "") + render(held, config_format)


def write_config(
    path: Path,
    config: Mapping[str, Any],
    header: list[str] | None = None,
    spec: StudySpec | None = None,
) -> Path:
    """Write :func:`render_config` output to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(config, header, spec))
    return path


def _num(value: Any, fmt: str = ".1f") -> str:
    return "?" if not isinstance(value, int | float) else format(value, fmt)
