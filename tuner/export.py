"""Write a chosen config in the server's own format (nested TOML from dotted keys).

The file holds runtime params only, ready for ``--config`` or to copy to
``perf_config.toml``; build params, fitness and CI go in the comment header, since the
server cannot change its allocator or profile at runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.runners.config_file import render
from tuner.spec import StudySpec


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
    lines.append("Use: redis-server-optimized --config THIS_FILE, or copy to perf_config.toml.")
    return lines


def render_config(config: Mapping[str, Any], header: list[str] | None = None) -> str:
    """TOML text: ``# header`` lines, then nested tables from dotted keys."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header or [])
    return comment + ("\n" if comment else "") + render(config)


def write_config(path: Path, config: Mapping[str, Any], header: list[str] | None = None) -> Path:
    """Write :func:`render_config` output to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(config, header))
    return path


def _num(value: Any, fmt: str = ".1f") -> str:
    return "?" if not isinstance(value, int | float) else format(value, fmt)
