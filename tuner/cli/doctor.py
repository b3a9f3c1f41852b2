"""``tuner doctor``: check the machine before a long study; print the fix for each miss."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tuner.cli._apps import app
from tuner.cli._common import RunnerOption, SpecOption, StorageOption, console, load_spec

__all__ = ["doctor_command"]

#: Default probe run length: per-pair noise here is about the same for 0.1 s and 0.5 s runs
#: (tests/benchmark/test_paired_real.py), so short runs buy more pairs per second.
PROBE_DURATION_S = 0.25

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@app.command("doctor")
def doctor_command(
    spec_path: SpecOption = None,
    storage_url: StorageOption = None,
    runner_name: RunnerOption = "local",
    probe_seconds: Annotated[
        float,
        typer.Option(
            "--probe-seconds", min=0, help="Wall clock of the A/A noise probe (0: skip it)."
        ),
    ] = 30.0,
    probe_duration: Annotated[
        float | None,
        typer.Option(
            "--probe-duration",
            min=0.01,
            help="Seconds per benchmark run in the probe (default: the spec's duration_s, "
            f"at most {PROBE_DURATION_S:g}).",
        ),
    ] = None,
) -> None:
    """Check CPUs, baseline, toolchain, storage, disk and noise; exit 1 if a study can't run."""
    from benchmark.display import repetition_text
    from benchmark.result import RepetitionUpdate
    from tuner.doctor import (
        check_baseline,
        check_cpus,
        check_disk,
        check_docker,
        check_noise,
        check_storage,
        check_toolchain,
    )
    from tuner.study import studies_dir

    spec = load_spec(spec_path)
    if probe_duration is None and spec.workload.duration_s is not None:
        probe_duration = min(spec.workload.duration_s, PROBE_DURATION_S)
    checks = [check_cpus(spec, env_overrides=runner_name == "compose"), check_baseline(spec)]
    checks.append(check_docker() if runner_name == "compose" else check_toolchain(spec))
    checks.append(check_storage(storage_url))
    checks.append(check_disk(studies_dir() / ".build-cache", workdir=spec.target.workdir))
    if any(c.blocks for c in checks[:2]):
        from tuner.doctor import SKIP, Check

        checks.append(Check("noise (A/A)", SKIP, "needs the CPUs and the baseline", required=False))
    elif probe_seconds <= 0:
        checks.append(check_noise(spec.workload, seconds=0, server_cpus=None, client_cpus=None)[0])
    else:
        with console.status(f"A/A noise probe: Redis 8.0 vs Redis 8.0 for {probe_seconds:g}s") as s:

            def on_repetition(update: RepetitionUpdate) -> None:
                s.update(f"A/A noise probe ({probe_seconds:g}s): {repetition_text(update)}")

            noise, _ = check_noise(
                spec.workload,
                seconds=probe_seconds,
                server_cpus=spec.target.cpus,
                client_cpus=spec.client.cpus,
                baseline_cpus=spec.baseline.cpus,
                duration_s=probe_duration,
                on_repetition=on_repetition,
            )
        checks.append(noise)

    table = Table(title=f"tuner doctor: {spec.name} ({spec.source}), runner {runner_name}")
    table.add_column("check")
    table.add_column("status")
    table.add_column("found", overflow="fold")
    table.add_column("fix", overflow="fold")
    for c in checks:
        table.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", escape(c.found), escape(c.fix))
    console.print(table)
    blocking = [c.name for c in checks if c.blocks]
    if blocking:
        console.print(f"[bold red]not ready:[/] fix {', '.join(blocking)} first")
        raise typer.Exit(1)
    console.print("[green]ready[/]: a study can run here")
