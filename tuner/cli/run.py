"""``tuner study run`` and ``tuner study finalize``: the commands that measure a study."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tuner.cli._apps import study_app
from tuner.cli._common import (
    DATABASE_OUTAGE_EXIT,
    MockLandscapeOption,
    RunnerOption,
    SpecOption,
    StorageOption,
    console,
    err,
    fail,
    load_spec,
    load_study,
    make_runner,
    open_storage,
    quiet_optuna,
    runner_session,
    spec_of_study,
)
from tuner.pid_records import PidFile
from tuner.resilient_storage import DatabaseOutage
from tuner.signals import Interrupted
from tuner.spec import SpecError, StudySpec, parse_duration
from tuner.storage import OUTAGE_LIMIT_ENV

if TYPE_CHECKING:
    import optuna

    from tuner.runners.base import Runner
    from tuner.signals import InterruptGuard
    from tuner.study import ProgressSink

__all__ = ["DATABASE_OUTAGE_EXIT", "finalize_command", "print_outcome", "run_command"]


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
    warm_start: Annotated[
        str | None,
        typer.Option(
            "--warm-start",
            metavar="STUDY",
            help="Start from an earlier study of the same target in the same storage "
            "(CMA-ES: its trials seed the search; other samplers: its best configs run first).",
        ),
    ] = None,
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
    mock_landscape: MockLandscapeOption = "interior",
    heartbeat: Annotated[
        int, typer.Option("--heartbeat", min=1, help="Heartbeat interval in seconds.", hidden=True)
    ] = 30,
    outage_limit: Annotated[
        float | None,
        typer.Option(
            "--db-outage-limit",
            min=0,
            envvar=OUTAGE_LIMIT_ENV,
            help="Seconds to wait out a database outage before this worker stops (default 60).",
        ),
    ] = None,
) -> None:
    """Run a study, or resume it: the same command continues where it stopped."""
    from tuner.progress import StudyProgress
    from tuner.samplers import SamplerError
    from tuner.study import RunOptions, StudyError, StudyLoop, on_stale_trial, open_study, pids_dir

    quiet_optuna()
    spec = load_spec(spec_path)
    name = study_name or spec.name
    try:
        timeout_s = parse_duration(timeout, "--timeout") if timeout else spec.budget.timeout_s
    except SpecError as exc:
        raise fail(str(exc)) from None
    storage = open_storage(
        storage_url,
        heartbeat_interval=heartbeat,
        grace_period=max(4 * heartbeat, 10),
        on_stale_trial=on_stale_trial,
        outage_limit_s=outage_limit,
        wait_to_open=True,
        # Outages are warnings: they print even with --quiet.
        on_outage=lambda text: err.print(
            f"warning: {text}", markup=False, highlight=False, soft_wrap=True
        ),
    )
    seed = seed if seed is not None else spec.sampler.seed
    try:
        study = open_study(
            spec,
            storage,
            study_name=name,
            sampler=sampler or spec.sampler.name,
            seed=seed,
            warm_start=warm_start,
        )
    except (SamplerError, StudyError) as exc:
        raise fail(str(exc)) from None
    except DatabaseOutage as exc:
        raise fail(str(exc), DATABASE_OUTAGE_EXIT) from None
    budget = trials or spec.budget.trials

    if finalize and spec.budget.finalists > 0:
        _warn_few_rounds(spec, None)
    leftovers = PidFile(pids_dir(name)).reap_orphans()
    runner = make_runner(runner_name, spec, name, seed, mock_delay, mock_landscape)

    def interrupted(stop: Interrupted) -> None:
        progress.message(
            f"interrupted by {stop.args[0]}: servers stopped, a running trial is FAIL and "
            "re-queued; run the same command again to resume"
        )

    with StudyProgress(quiet=quiet) as progress, runner_session(runner, interrupted) as guard:
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
            if finalize and spec.budget.finalists > 0:
                _finalize_once(
                    study, spec, runner, progress, guard, min(heartbeat, 5), summary.trials_run > 0
                )
        except StudyError as exc:
            raise fail(str(exc)) from None
        except DatabaseOutage as exc:
            raise fail(str(exc), DATABASE_OUTAGE_EXIT) from None
    try:
        print_outcome(study, spec, storage_url)
    except DatabaseOutage as exc:
        raise fail(str(exc), DATABASE_OUTAGE_EXIT) from None


def _finalize_once(
    study: optuna.Study,
    spec: StudySpec,
    runner: Runner,
    progress: ProgressSink,
    guard: InterruptGuard,
    poll_s: float,
    measured_here: bool,
) -> None:
    """Finalize unless a peer does: wait for running search trials, then take the claim.

    A worker that measured nothing this run does not finalize a study finalized before.
    """
    from tuner.finalize import finalize_study
    from tuner.study import (
        FinalizeRefused,
        budget_used,
        claim_finalize,
        reap_dead_workers,
        wait_for_running_trials,
    )

    def reap() -> None:
        with guard.deferred():
            reap_dead_workers(study)

    peers = wait_for_running_trials(study, reap, poll_s)
    if peers:
        progress.message(
            f"not finalizing here: worker {', '.join(peers)} still run(s) search trials; "
            "the last worker to stop finalizes"
        )
        return
    used = budget_used(study)
    with guard.deferred():
        claim = claim_finalize(study, used, measured_here=measured_here)
    if isinstance(claim, FinalizeRefused):
        progress.message(f"not finalizing here: {claim.message}")
        return
    with claim:
        progress.message(f"finalizing as worker {claim.owner}")
        finalize_study(study, spec, runner, progress=progress)
        study.set_user_attr("finalized_at", used)


def _warn_few_rounds(spec: StudySpec, repetitions: int | None) -> None:
    """Say before measuring that finalize will have too few rounds to show a gain."""
    from tuner.finalize import few_rounds_warning

    text = few_rounds_warning(spec, repetitions)
    if text:
        err.print(f"warning: {text}", markup=False, highlight=False, soft_wrap=True)


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
    mock_landscape: MockLandscapeOption = "interior",
) -> None:
    """Re-measure the top-k configs and the default; store the winner, write best_config.toml."""
    from tuner.finalize import finalize_study
    from tuner.progress import StudyProgress
    from tuner.study import FinalizeRefused, budget_used, claim_finalize

    study = load_study(name, storage_url)
    spec = spec_of_study(study, spec_path)
    runner = make_runner(runner_name, spec, name, seed, None, mock_landscape)
    _warn_few_rounds(spec, repetitions)
    used = budget_used(study)
    claim = claim_finalize(study, used, force=True)
    if isinstance(claim, FinalizeRefused):
        raise fail(f"study {name!r}: {claim.message}; try again when it is done")
    with StudyProgress() as progress, runner_session(runner), claim:
        winner = finalize_study(
            study, spec, runner, k=finalists, repetitions=repetitions, progress=progress
        )
        study.set_user_attr("finalized_at", used)
    if winner is None:
        raise fail("no finalist could be measured", 1)
    print_outcome(study, spec, storage_url)


def print_outcome(study: Any, spec: StudySpec, storage_url: str | None) -> None:
    """The end of a run: the winner against the default, the config, what to run next."""
    from tuner.summary import study_outcome

    confidence = float(getattr(spec.workload, "confidence", 0.95))
    outcome = study_outcome(study, spec.defaults(), confidence, storage_url)
    if outcome is not None:
        console.print(outcome.renderable())
