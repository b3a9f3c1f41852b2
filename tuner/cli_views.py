"""The views' commands: ``tuner study report``, ``tuner dashboard``, ``tuner space audit``.

tuner/cli.py registers these functions on its typer apps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
err = Console(stderr=True)

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Storage URL (default $TUNER_STORAGE or sqlite:///studies/tuner.db)."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def report_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Directory to write (default studies/NAME/report)."),
    ] = None,
    storage_url: StorageOption = None,
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also export each figure as PNG.")
    ] = True,
) -> None:
    """Write a self-contained HTML report (plotly inlined) and a PNG per figure."""
    from tuner.cli import _load_study
    from tuner.report import PngExportError, ReportError, write_report
    from tuner.study import study_dir

    study = _load_study(name, storage_url)
    out_dir = output or study_dir(name) / "report"
    try:
        with console.status(f"writing the report of {name} to {out_dir}"):
            report = write_report(study, out_dir, png=png)
    except (ReportError, PngExportError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {report.html}")
    for path in report.pngs:
        console.print(f"wrote {path}")
    for note in report.notes:
        console.print(f"note: {note}")


def dashboard_command(
    storage_url: StorageOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
) -> None:
    """Serve optuna-dashboard on the study storage (safe while a study is running)."""
    from tuner.cli import _quiet_optuna
    from tuner.dashboard import DashboardError, serve
    from tuner.storage import StorageError

    _quiet_optuna()
    try:
        serve(storage_url, host, port)
    except (DashboardError, StorageError) as exc:
        raise _fail(str(exc)) from None


def audit_command(
    spec_path: Annotated[
        Path | None,
        typer.Option("--spec", help="Study spec TOML (default: the embedded spec)."),
    ] = None,
    runner_name: Annotated[
        str, typer.Option("--runner", help="How configs are measured: mock, local or compose.")
    ] = "local",
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
    seed: Annotated[int, typer.Option("--seed", help="Mock runner seed.")] = 0,
) -> None:
    """Sweep each param around the defaults and show which move fitness beyond the noise."""
    from tuner.audit import AuditError, audit_markdown, audit_space, audit_table
    from tuner.cli import _load_spec, _make_runner, _quiet_optuna
    from tuner.signals import Interrupted, InterruptGuard, kill_descendants

    _quiet_optuna()
    spec = _load_spec(spec_path)
    runner = _make_runner(runner_name, spec, f"audit-{spec.name}", seed, None)
    progress = Progress(
        TextColumn("[bold]audit"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )
    with InterruptGuard(), progress:
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
            raise _fail(str(exc)) from None
        except Interrupted as stop:
            runner.close()
            kill_descendants()
            raise typer.Exit(stop.exit_code) from None
        finally:
            runner.close()
    # Piped output (CI logs, `| tee`) keeps the table readable instead of 80 columns.
    wide = console if console.is_terminal else Console(width=200)
    wide.print(audit_table(result))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(audit_markdown(result))
        console.print(f"wrote {output}")
