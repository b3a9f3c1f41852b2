"""The ``tuner`` command line: run, resume, inspect, finalize and export studies."""

from __future__ import annotations

import importlib
import json
import math
import sys
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import optuna
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tuner.runners.base import Candidate, Runner, TrialFailure
from tuner.signals import Interrupted, InterruptGuard, PidFile, kill_descendants
from tuner.spec import SpecError, StudySpec, load_spec, parse_duration, parse_spec
from tuner.storage import StorageError, default_storage_url, open_storage

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="RedisEvolve: tune a RESP server's performance config with Optuna studies.",
)
study_app = typer.Typer(no_args_is_help=True, help="Run, resume and inspect studies.")
space_app = typer.Typer(no_args_is_help=True, help="Inspect a study's search space.")
app.add_typer(study_app, name="study")
app.add_typer(space_app, name="space")

console = Console()
err = Console(stderr=True)

SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", help="Study spec TOML (default: the embedded redis-throughput spec)."),
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Storage URL (default $TUNER_STORAGE or sqlite:///studies/tuner.db)."
    ),
]
RunnerOption = Annotated[
    str, typer.Option("--runner", help="How candidates are measured: mock, local or compose.")
]


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _load_spec(path: Path | None) -> StudySpec:
    try:
        return load_spec(path)
    except SpecError as exc:
        raise _fail(f"invalid spec: {exc}") from None


def _storage(url: str | None, **kwargs: Any) -> Any:
    try:
        return open_storage(url, **kwargs)
    except StorageError as exc:
        raise _fail(str(exc)) from None


def _load_study(name: str, storage_url: str | None) -> optuna.Study:
    _quiet_optuna()
    storage = _storage(storage_url, heartbeat_interval=None)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(names) or "none"
        raise _fail(
            f"no study named {name!r} in {storage_url or default_storage_url()} (studies: {known})"
        ) from None


def spec_of_study(study: optuna.Study, path: Path | None = None) -> StudySpec:
    """The spec a study was created from (re-validated), or the one at ``path``."""
    if path is not None:
        return _load_spec(path)
    raw = dict(study.user_attrs.get("spec") or {})
    if not raw:
        raise _fail(f"study {study.study_name!r} has no stored spec; pass --spec")
    source = str(raw.pop("source", ""))
    base = Path(source).resolve().parent if Path(source).is_file() else None
    if base is None:
        from tuner.spec import find_repo_root

        base = find_repo_root(Path.cwd()) / "studies"
    try:
        return parse_spec(raw, base_dir=base, source=source or "<stored>")
    except SpecError as exc:
        raise _fail(f"stored spec of {study.study_name!r} no longer validates: {exc}") from None


def _make_runner(
    name: str, spec: StudySpec, study_name: str, seed: int | None, mock_delay: float | None
) -> Runner:
    from tuner.runners import RunnerUnavailable, make_runner
    from tuner.study import pidfile_path, study_dir

    opts: dict[str, Any]
    if name == "mock":
        opts = {"seed": seed or 0}
        if mock_delay is not None:
            opts["delay_s"] = mock_delay
    else:
        opts = {"pidfile": PidFile(pidfile_path(study_name)), "work_dir": study_dir(study_name)}
    try:
        return make_runner(name, spec, **opts)
    except RunnerUnavailable as exc:
        raise _fail(str(exc)) from None


# ---------------------------------------------------------------------------- study run


@study_app.command("run")
def run_command(
    spec_path: SpecOption = None,
    study_name: Annotated[
        str | None, typer.Option("--study", help="Study name (default: the spec's study.name).")
    ] = None,
    runner_name: RunnerOption = "local",
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, help="Trial budget across all runs (default: spec)."),
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Stop this run after e.g. 10h, 90m, 3600.")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option("--sampler", help="auto, cmaes, nsga2, tpe, gp or random.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler (and mock) seed.")] = None,
    storage_url: StorageOption = None,
    finalize: Annotated[
        bool, typer.Option("--finalize/--no-finalize", help="Re-measure finalists at the end.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-trial lines.")] = False,
    mock_delay: Annotated[
        float | None,
        typer.Option(
            "--mock-delay", help="Mock runner: seconds per repetition (demos, kill tests)."
        ),
    ] = None,
    heartbeat: Annotated[
        int, typer.Option("--heartbeat", min=1, help="Heartbeat interval in seconds.", hidden=True)
    ] = 30,
) -> None:
    """Run a study, or resume it: the same command continues where it stopped."""
    from tuner.finalize import finalize_study
    from tuner.progress import StudyProgress
    from tuner.samplers import SamplerError
    from tuner.study import (
        RunOptions,
        StudyError,
        StudyLoop,
        budget_used,
        on_stale_trial,
        open_study,
        pidfile_path,
    )

    _quiet_optuna()
    spec = _load_spec(spec_path)
    name = study_name or spec.name
    try:
        timeout_s = parse_duration(timeout, "--timeout") if timeout else spec.budget.timeout_s
    except SpecError as exc:
        raise _fail(str(exc)) from None
    storage = _storage(
        storage_url,
        heartbeat_interval=heartbeat,
        grace_period=max(4 * heartbeat, 10),
        on_stale_trial=on_stale_trial,
    )
    seed = seed if seed is not None else spec.sampler.seed
    try:
        study = open_study(
            spec, storage, study_name=name, sampler=sampler or spec.sampler.name, seed=seed
        )
    except (SamplerError, StudyError) as exc:
        raise _fail(str(exc)) from None
    budget = trials or spec.budget.trials

    leftovers = PidFile(pidfile_path(name)).kill_leftovers()
    runner = _make_runner(runner_name, spec, name, seed, mock_delay)
    with InterruptGuard() as guard, StudyProgress(quiet=quiet) as progress:
        if leftovers:
            progress.message(
                f"killed {len(leftovers)} server(s) left by an earlier run: {leftovers}"
            )
        try:
            summary = StudyLoop(study, spec, runner, guard, progress).run(
                RunOptions(trials=budget, timeout_s=timeout_s)
            )
            progress.message(
                f"study {name}: {summary.budget_used}/{budget} trials "
                f"({summary.trials_run} this run), stopped by {summary.stop_reason}"
            )
            used = budget_used(study)
            if (
                finalize
                and spec.budget.finalists > 0
                and summary.stop_reason in ("budget", "timeout")
                and study.user_attrs.get("finalized_at") != used
            ):
                winner = finalize_study(study, spec, runner, progress=progress)
                study.set_user_attr("finalized_at", used)
                if winner is not None:
                    progress.message(f"best config: {winner.get('path')}")
        except Interrupted as stop:
            runner.close()
            kill_descendants()
            progress.message(
                f"interrupted by {stop.args[0]}: servers stopped, a running trial is FAIL and "
                "re-queued; run the same command again to resume"
            )
            raise typer.Exit(stop.exit_code) from None
        except StudyError as exc:
            raise _fail(str(exc)) from None
        finally:
            runner.close()


# ---------------------------------------------------------------------------- finalize


@study_app.command("finalize")
def finalize_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    spec_path: SpecOption = None,
    runner_name: RunnerOption = "local",
    finalists: Annotated[
        int | None, typer.Option("--finalists", min=1, help="Top-k to re-measure.")
    ] = None,
    repetitions: Annotated[
        int | None, typer.Option("--repetitions", min=1, help="Repetitions per finalist.")
    ] = None,
    storage_url: StorageOption = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
) -> None:
    """Re-measure the top-k configs and the default; store the winner, write best_config.toml."""
    from tuner.finalize import finalize_study
    from tuner.progress import StudyProgress
    from tuner.study import budget_used

    study = _load_study(name, storage_url)
    spec = spec_of_study(study, spec_path)
    runner = _make_runner(runner_name, spec, name, seed, None)
    with InterruptGuard(), StudyProgress() as progress:
        try:
            winner = finalize_study(
                study, spec, runner, k=finalists, repetitions=repetitions, progress=progress
            )
            study.set_user_attr("finalized_at", budget_used(study))
        except Interrupted as stop:
            runner.close()
            kill_descendants()
            raise typer.Exit(stop.exit_code) from None
        finally:
            runner.close()
    if winner is None:
        raise _fail("no finalist could be measured", 1)


# ---------------------------------------------------------------------------- list/show


@study_app.command("list")
def list_command(storage_url: StorageOption = None) -> None:
    """Studies in the storage, with trial counts and best fitness."""
    _quiet_optuna()
    storage = _storage(storage_url, heartbeat_interval=None)
    table = Table(title=f"studies in {storage_url or default_storage_url()}")
    table.add_column("study", no_wrap=True)
    table.add_column("objective", no_wrap=True)
    for column in ("complete", "pruned", "fail", "running", "best", "winner"):
        table.add_column(column, justify="right")
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        complete = [
            t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        ]
        best = f"{max(t.values[0] for t in complete):.1f}" if complete else "-"
        winner = study.user_attrs.get("winner") or {}
        table.add_row(
            summary.study_name,
            "pareto" if len(study.directions) > 1 else "throughput",
            str(states.count(optuna.trial.TrialState.COMPLETE)),
            str(states.count(optuna.trial.TrialState.PRUNED)),
            str(states.count(optuna.trial.TrialState.FAIL)),
            str(states.count(optuna.trial.TrialState.RUNNING)),
            best,
            f"{winner['fitness']:.1f}" if winner.get("fitness") else "-",
        )
    console.print(table)


def study_summary(study: optuna.Study, top: int) -> dict[str, Any]:
    """JSON-able summary: counts, best, top-N, Pareto front, finalists, winner."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    multi = len(study.directions) > 1

    def row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
        a = t.user_attrs
        return {
            "number": t.number,
            "fitness": a.get("fitness", t.values[0] if t.values else None),
            "ci_low": a.get("fitness_ci_low"),
            "ci_high": a.get("fitness_ci_high"),
            "p99_ratio": a.get("p99_ratio"),
            "repetitions": a.get("repetitions"),
            "params": t.params,
        }

    ranked = sorted(complete, key=lambda t: t.values[0], reverse=True)
    summary: dict[str, Any] = {
        "study": study.study_name,
        "objective": "pareto" if multi else "throughput",
        "metric_names": study.metric_names,
        "sampler": study.user_attrs.get("sampler"),
        "counts": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "top": [row(t) for t in ranked[:top]],
        "finalists": study.user_attrs.get("finalists", []),
        "winner": study.user_attrs.get("winner"),
    }
    if multi:
        summary["pareto_front"] = [
            row(t) for t in sorted(study.best_trials, key=lambda t: -t.values[0])
        ]
    elif ranked:
        summary["best"] = row(ranked[0])
    return summary


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _ci(row: Mapping[str, Any]) -> str:
    return f"[{_fmt(row.get('ci_low'))}, {_fmt(row.get('ci_high'))}]"


@study_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage_url: StorageOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the top table.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Best config, finalists with CIs, top-N trials and (Pareto) the front."""
    study = _load_study(name, storage_url)
    summary = study_summary(study, top)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
        return
    counts = ", ".join(f"{k.lower()} {v}" for k, v in summary["counts"].items() if v)
    console.print(
        f"[bold]{name}[/bold] ({summary['objective']}, sampler {summary['sampler']}): {counts}"
    )
    winner = summary["winner"]
    if winner:
        clear = winner.get("beats_default_clearly")
        verdict = (
            ""
            if clear is None
            else (
                " - clearly beats the default"
                if clear
                else " - not clearly better than the default"
            )
        )
        console.print(
            f"winner: {winner['label']} fitness {_fmt(winner['fitness'])} {_ci(winner)} "
            f"p99x {_fmt(winner.get('p99_ratio'), '.2f')}{verdict}"
        )
    if summary["finalists"]:
        table = Table(title="finalists (re-measured)")
        for column in ("finalist", "search fitness", "fitness", "CI", "p99x", "reps", "status"):
            table.add_column(column)
        for f in summary["finalists"]:
            table.add_row(
                f["label"],
                _fmt(f.get("search_fitness")),
                _fmt(f.get("fitness")),
                _ci(f),
                _fmt(f.get("p99_ratio"), ".2f"),
                str(f.get("repetitions", "-")),
                f.get("status", "")
                + (f": {f['failure_reason']}" if f.get("failure_reason") else ""),
            )
        console.print(table)
    for title, key in (("Pareto front", "pareto_front"), (f"top {top} trials", "top")):
        rows = summary.get(key)
        if not rows:
            continue
        table = Table(title=title)
        for column in ("trial", "fitness", "CI", "p99x", "reps", "params"):
            table.add_column(column)
        for r in rows:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
            table.add_row(
                str(r["number"]),
                _fmt(r["fitness"]),
                _ci(r),
                _fmt(r["p99_ratio"], ".2f"),
                str(r["repetitions"] or "-"),
                params,
            )
        console.print(table)


# ---------------------------------------------------------------------------- export


@study_app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")] = Path(
        "best_config.toml"
    ),
    trial_number: Annotated[
        int | None, typer.Option("--trial", help="Export this trial instead of the winner.")
    ] = None,
    storage_url: StorageOption = None,
) -> None:
    """Write the winner (or a trial) as the server's config file, ready for --config."""
    from tuner.export import config_header, write_config

    study = _load_study(name, storage_url)
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
            raise _fail(f"study {name!r} has no trial {trial_number}") from None
        choice = _trial_choice(trial)
    elif study.user_attrs.get("winner"):
        choice = dict(study.user_attrs["winner"])
    else:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise _fail(f"study {name!r} has no complete trial to export")
        if len(study.directions) > 1:
            raise _fail(
                "Pareto study without a winner: run `tuner study finalize` or pass --trial N"
            )
        best = max(complete, key=lambda t: t.values[0])
        choice = _trial_choice(best)
        err.print(
            f"warning: {name!r} is not finalized; exporting trial {best.number}, "
            "the best single search measurement (run `tuner study finalize` for a trusted winner)"
        )
    write_config(output, choice["config"], config_header(name, choice, spec))
    console.print(f"wrote {output}")


def _trial_choice(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial as an export choice: its config, build params and measurement if any."""
    a = trial.user_attrs
    if a.get("config") is None:
        raise _fail(f"trial {trial.number} has no recorded config")
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


# ---------------------------------------------------------------------------- bench


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (the inverse of the config file's nesting)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


@app.command("bench")
def bench_command(
    config: Annotated[Path, typer.Option("--config", help="Server config TOML to measure.")],
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
    spec = _load_spec(spec_path)
    try:
        runtime = flatten(tomllib.loads(config.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(f"--config {config}: {exc}") from None
    build_values = {p.name: p.default for p in spec.build_params}
    for item in build or []:
        key, sep, value = item.partition("=")
        if not sep or key not in build_values:
            known = ", ".join(build_values) or "none"
            raise _fail(f"--build {item!r}: expected NAME=VALUE with NAME one of: {known}")
        choices = {str(c): c for c in spec.param(key).choices}
        if choices and value not in choices:
            raise _fail(f"--build {item!r}: {value!r} is not one of {list(choices)}")
        build_values[key] = choices.get(value, value)
    unknown = sorted(set(runtime) - {p.name for p in spec.runtime_params})
    if unknown:
        err.print(f"note: keys not tuned by the spec are passed through: {', '.join(unknown)}")
    runner = _make_runner(runner_name, spec, f"bench-{spec.name}", None, None)
    with InterruptGuard():
        try:
            m = runner.evaluate(Candidate(runtime, build_values), repetitions=repetitions)
        except TrialFailure as failure:
            err.print(failure.log_tail)
            raise _fail(f"measurement failed: {failure.reason}", 1) from None
        except Interrupted as stop:
            runner.close()
            kill_descendants()
            raise typer.Exit(stop.exit_code) from None
        finally:
            runner.close()
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


# ---------------------------------------------------------------------------- views


def _register_views() -> None:
    """Register the views engineer's commands; placeholders until tuner/cli_views.py exists."""
    try:
        cli_views: Any = importlib.import_module("tuner.cli_views")
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"

        def unavailable() -> None:
            raise _fail(
                f"this command is not available: tuner.cli_views could not be loaded ({problem})"
            )

        study_app.command("report", help="(not available)")(unavailable)
        app.command("dashboard", help="(not available)")(unavailable)
        space_app.command("audit", help="(not available)")(unavailable)
        return
    study_app.command("report")(cli_views.report_command)
    app.command("dashboard")(cli_views.dashboard_command)
    space_app.command("audit")(cli_views.audit_command)


_register_views()


if __name__ == "__main__":
    app()
