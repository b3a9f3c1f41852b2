"""``tuner study report`` and ``tuner dashboard``: what a study looks like."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tuner.cli._apps import app, study_app
from tuner.cli._common import (
    DATABASE_OUTAGE_EXIT,
    StorageOption,
    console,
    err,
    exits_on_outage,
    fail,
    load_study,
    quiet_optuna,
)

__all__ = ["dashboard_command", "report_command"]


@study_app.command("report")
@exits_on_outage
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
    from tuner.report import ReportError, write_report
    from tuner.study import study_dir

    study = load_study(name, storage_url)
    out_dir = output or study_dir(name) / "report"
    try:
        with console.status(f"writing the report of {name} to {out_dir}"):
            report = write_report(study, out_dir, png=png)
    except ReportError as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {report.html}")
    for path in report.pngs:
        console.print(f"wrote {path}")
    for note in report.notes:
        console.print(f"note: {note}")
    if report.png_error is not None:
        err.print(
            f"[yellow]PNGs not written:[/yellow] {escape(report.png_error)}\n"
            "The HTML report is complete; PNGs need Chromium "
            "(Debian: apt-get install chromium), or pass --no-png.",
            highlight=False,
        )


@app.command("dashboard")
@exits_on_outage
def dashboard_command(
    storage_url: StorageOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
) -> None:
    """Serve optuna-dashboard on the study storage (safe while a study is running)."""
    from tuner.dashboard import DashboardError, serve
    from tuner.storage import StorageError, StorageUnreachable

    quiet_optuna()
    try:
        serve(storage_url, host, port)
    except StorageUnreachable as exc:
        raise fail(str(exc), DATABASE_OUTAGE_EXIT) from None
    except (DashboardError, StorageError) as exc:
        raise fail(str(exc)) from None
