"""``tuner space audit``: which params move fitness, p99 or memory beyond the noise, and
which are dead; ``tuner space across``: which knobs' best values depend on the workload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuner.cli._apps import space_app
from tuner.cli._common import (
    RunnerOption,
    SpecOption,
    console,
    err,
    fail,
    load_spec,
    make_runner,
    quiet_optuna,
    runner_session,
)

__all__ = ["across_command", "audit_command"]


@space_app.command("audit")
def audit_command(
    spec_path: SpecOption = None,
    runner_name: RunnerOption = "local",
    values: Annotated[
        int, typer.Option("--values", min=2, help="Values per numeric param, spanning its range.")
    ] = 4,
    default_repeats: Annotated[
        int,
        typer.Option("--default-repeats", min=2, help="Measurements of the default (noise floor)."),
    ] = 5,
    repetitions: Annotated[
        int | None,
        typer.Option(
            "--repetitions",
            min=1,
            help="Max paired repetitions per measurement (default: the spec's workload).",
        ),
    ] = None,
    params: Annotated[
        list[str] | None, typer.Option("--param", help="Audit only this param (repeatable).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the table as markdown.")
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the measurements as JSON (for `tuner space across`)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Mock runner seed.")] = 0,
) -> None:
    """Sweep each param around the defaults and show which move fitness beyond the noise."""
    from tuner.audit import AuditError, audit_markdown, audit_space, audit_table

    quiet_optuna()
    spec = load_spec(spec_path)
    runner = make_runner(runner_name, spec, f"audit-{spec.name}", seed, None)
    progress = Progress(
        TextColumn("[bold]audit"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )
    with progress, runner_session(runner):
        task = progress.add_task("", total=None)

        def on_measure(what: str, index: int, total: int) -> None:
            progress.update(task, description=what, completed=index - 1, total=total)

        try:
            result = audit_space(
                spec,
                runner,
                values=values,
                default_repeats=default_repeats,
                repetitions=repetitions,
                only=params or (),
                on_measure=on_measure,
            )
        except AuditError as exc:
            raise fail(str(exc)) from None
    # Piped output (CI logs, `| tee`) keeps the table readable instead of 80 columns.
    wide = console if console.is_terminal else Console(width=200)
    wide.print(audit_table(result))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(audit_markdown(result))
        console.print(f"wrote {output}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        console.print(f"wrote {json_path}")


@space_app.command("across")
def across_command(
    files: Annotated[
        list[Path], typer.Argument(help="Audit files written by `tuner space audit --json`.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the comparison as markdown.")
    ] = None,
    title: Annotated[
        str, typer.Option("--title", help="The markdown's heading.")
    ] = "Knobs across workloads",
    preface: Annotated[
        str, typer.Option("--preface", help="A paragraph under the heading (how it was made).")
    ] = "",
) -> None:
    """Compare audits of several workloads: which knobs move a figure, and whether their best
    value differs between workloads (worth tuning per workload) or not."""
    from tuner.audit import AuditError, across_markdown, across_table, load_result

    results = []
    for path in files:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise fail(f"{path}: no such audit file") from None
        except json.JSONDecodeError as exc:
            raise fail(f"{path}: not JSON ({exc})") from None
        try:
            results.append(load_result(data))
        except AuditError as exc:
            raise fail(f"{path}: {exc}") from None
    try:
        table = across_table(results)
        markdown = across_markdown(results, title=title, preface=preface)
    except AuditError as exc:
        raise fail(str(exc)) from None
    wide = console if console.is_terminal else Console(width=200)
    wide.print(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown)
        console.print(f"wrote {output}")
