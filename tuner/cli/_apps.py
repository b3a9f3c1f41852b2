"""The typer apps the command modules register on: ``tuner``, ``tuner study``, ``tuner space``."""

from __future__ import annotations

import typer

__all__ = ["app", "space_app", "study_app"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="RedisEvolve: tune a RESP server's performance config with Optuna studies.",
)
study_app = typer.Typer(no_args_is_help=True, help="Run, resume and inspect studies.")
space_app = typer.Typer(no_args_is_help=True, help="Inspect a study's search space.")
app.add_typer(study_app, name="study")
app.add_typer(space_app, name="space")
