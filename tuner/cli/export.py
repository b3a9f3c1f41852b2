"""``tuner study export``: the winner (or a trial) as the server's config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import optuna
import typer

from tuner.cli._apps import study_app
from tuner.cli._common import StorageOption, console, err, fail, load_study, spec_of_study

__all__ = ["export_command"]


@study_app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="File to write (default: best_config.toml, .conf or .json: the target's format).",
        ),
    ] = None,
    trial_number: Annotated[
        int | None, typer.Option("--trial", help="Export this trial instead of the winner.")
    ] = None,
    storage_url: StorageOption = None,
) -> None:
    """Write the winner (or a trial) as the server's config file, in the target's format."""
    from tuner.export import config_header, export_name, write_config

    study = load_study(name, storage_url)
    spec = None
    if study.user_attrs.get("spec"):
        try:
            spec = spec_of_study(study)
        except typer.Exit:
            spec = None
    choice: dict[str, Any]
    if trial_number is not None:
        try:
            trial = study.trials[trial_number]
        except IndexError:
            raise fail(f"study {name!r} has no trial {trial_number}") from None
        choice = _trial_choice(trial)
    elif study.user_attrs.get("winner"):
        choice = dict(study.user_attrs["winner"])
    else:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise fail(f"study {name!r} has no complete trial to export")
        if len(study.directions) > 1:
            raise fail(
                "Pareto study without a winner: run `tuner study finalize` or pass --trial N"
            )
        best = max(complete, key=lambda t: t.values[0])
        choice = _trial_choice(best)
        err.print(
            f"warning: {name!r} is not finalized; exporting trial {best.number}, "
            "the best single search measurement (run `tuner study finalize` for a trusted winner)"
        )
    output = output or Path(export_name(spec))
    write_config(output, choice["config"], config_header(name, choice, spec), spec)
    console.print(f"wrote {output}")


def _trial_choice(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial as an export choice: its config, build params and measurement if any."""
    a = trial.user_attrs
    if a.get("config") is None:
        raise fail(f"trial {trial.number} has no recorded config")
    choice: dict[str, Any] = {
        "label": f"trial {trial.number}",
        "config": a["config"],
        "build": a.get("build", {}),
    }
    if a.get("fitness") is not None:
        choice.update(
            fitness=a["fitness"],
            ci_low=a.get("fitness_ci_low"),
            ci_high=a.get("fitness_ci_high"),
            p99_ratio=a.get("p99_ratio"),
            repetitions=a.get("repetitions"),
        )
    return choice
