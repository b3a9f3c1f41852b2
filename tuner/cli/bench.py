"""``tuner bench``: one paired measurement of a config against the baseline, no study."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tuner.cli._apps import app
from tuner.cli._common import (
    RunnerOption,
    SpecOption,
    console,
    err,
    fail,
    load_spec,
    make_runner,
    parse_build,
    runner_session,
)
from tuner.cli.compare import read_config
from tuner.runners.base import Candidate, TrialFailure

__all__ = ["bench_command"]


@app.command("bench")
def bench_command(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            help="Config file to measure, in the target's format (TOML, redis.conf or JSON), "
            "e.g. an exported best_config.",
        ),
    ],
    spec_path: SpecOption = None,
    runner_name: RunnerOption = "local",
    repetitions: Annotated[int | None, typer.Option("--repetitions", min=1)] = None,
    build: Annotated[
        list[str] | None,
        typer.Option("--build", help="Build param, e.g. build.allocator=jemalloc."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure one config against the baseline (no study) and print the benchmark table."""
    spec = load_spec(spec_path)
    try:
        runtime = read_config(config, spec, allow_unknown=True)
    except ValueError as exc:
        raise fail(f"--config {exc}") from None
    try:
        build_values = parse_build(spec, build, "--build")
    except ValueError as exc:
        raise fail(str(exc)) from None
    unknown = sorted(set(runtime) - {p.name for p in spec.runtime_params})
    if unknown:
        err.print(f"note: keys not tuned by the spec are passed through: {', '.join(unknown)}")
    runner = make_runner(runner_name, spec, f"bench-{spec.name}", None, None)
    with runner_session(runner):
        try:
            m = runner.evaluate(Candidate(runtime, build_values), repetitions=repetitions)
        except TrialFailure as failure:
            err.print(failure.log_tail)
            raise fail(f"measurement failed: {failure.reason}", 1) from None
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "fitness": m.fitness,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "p99_ratio": m.p99_ratio,
                    "per_test": m.per_test,
                    "repetitions": m.repetitions,
                    "stop_reason": m.stop_reason,
                    "timings": m.timings,
                },
                indent=2,
            )
            + "\n"
        )
        return
    console.print(_measurement_table(m, m.detail))


def _measurement_table(m: Any, detail: Mapping[str, Any]) -> Any:
    """The benchmark's own table when the runner kept the PairedResult, else a summary."""
    try:
        return _paired_result(detail).table()
    except (ImportError, KeyError, TypeError, ValueError):
        pass
    table = Table(
        title=f"fitness {m.fitness:.1f}% of baseline [{m.ci_low:.1f}, {m.ci_high:.1f}], "
        f"p99x {m.p99_ratio:.2f}, {m.repetitions} reps ({m.stop_reason})"
    )
    table.add_column("test")
    table.add_column("median rps ratio")
    for test, ratio in m.per_test.items():
        table.add_row(test, f"{ratio:.3f}")
    return table


def _paired_result(detail: Mapping[str, Any]) -> Any:
    """Rebuild benchmark.result.PairedResult from its to_dict() form."""
    import dataclasses

    from benchmark.result import PairedResult, RawRun, TestStats

    names = {f.name for f in dataclasses.fields(PairedResult)}
    data = {k: v for k, v in detail.items() if k in names}
    data["per_test"] = {
        name: TestStats(**{**stats, "ratios": tuple(stats["ratios"])})
        for name, stats in data["per_test"].items()
    }
    data["runs"] = [RawRun(**run) for run in data["runs"]]
    return PairedResult(**data)
