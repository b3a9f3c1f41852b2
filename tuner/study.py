"""The study loop: ask the sampler, measure with the runner, tell the storage.

Budget: ``trials`` counts COMPLETE and PRUNED trials plus FAIL trials whose runner
failed (a build error or crash cost real time), summed over every run and worker of the
study. Constraint rejections and interrupted or stale trials do not count: they never
produced a measurement. The count is checked before each trial, and again after
``ask()`` (including other workers' RUNNING trials with a lower number), so concurrent
workers never overshoot; at worst a race leaves the study a trial short, which the next
``tuner study run`` fills in.

Constraints between params are checked before the runner is called. A violating
candidate becomes a FAIL trial with ``failure_reason = "constraint violated: ..."`` and the
sampler is asked again (rejection sampling: CMA-ES and NSGA-II learn only from COMPLETE
trials, so they resample from the same distribution). Constraints on measured values
(``p99_ratio <= 1.2``) go to Optuna via ``Trial.set_constraint`` after the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from tuner.runners.base import Candidate, Measurement, Progress, Runner, TrialFailure
from tuner.samplers import make_pruner, make_sampler, resolve_name
from tuner.signals import Interrupted, InterruptGuard, kill_descendants, process_start_time
from tuner.spec import ParamSpec, StudySpec

STUDIES_DIR_ENV = "TUNER_STUDIES_DIR"
#: Give up when this many candidates in a row violate the param constraints.
MAX_CONSECUTIVE_REJECTIONS = 500
#: Abort when the runner raises something other than TrialFailure this often in a row
#: (a bug, not a bad candidate: it would otherwise burn the whole budget).
MAX_CONSECUTIVE_ERRORS = 3
#: A candidate interrupted or orphaned this many times is not re-queued again.
MAX_RETRIES = 3

FAILURE_RUNNER = "runner"
FAILURE_CONSTRAINT = "constraint"
FAILURE_INTERRUPTED = "interrupted"
FAILURE_ERROR = "error"
FAILURE_BUDGET = "budget"

#: User attrs every measured trial carries (what the dashboard's tables show).
MEASURED_TRIAL_ATTRS = frozenset(
    {
        "fitness",
        "fitness_ci_low",
        "fitness_ci_high",
        "p99_ratio",
        "per_test",
        "per_test_ci",
        "repetitions",
        "stop_reason",
        "build_tag",
        "timings",
        "config",
        "runner",
    }
)
#: System attr holding a trial's full benchmark result (every raw run).
DETAIL_ATTR = "measurement_detail"


class StudyError(RuntimeError):
    """The study cannot run as asked (wrong spec for an existing study, ...)."""


class ConstraintRejected(Exception):
    """A candidate that violates the spec's param constraints; never measured."""


# ---------------------------------------------------------------------------- places


def studies_dir() -> Path:
    """Where per-study files go: ``$TUNER_STUDIES_DIR`` or ``./studies``."""
    return Path(os.environ.get(STUDIES_DIR_ENV) or "studies")


def study_dir(name: str) -> Path:
    """``studies/NAME/``: best_config.toml, the runner pidfile, build logs."""
    return studies_dir() / name


def pidfile_path(name: str) -> Path:
    """The pidfile runners record started servers in (see tuner.signals.PidFile)."""
    return study_dir(name) / "children.pids"


def worker_id() -> str:
    """``host:pid:start_time`` of this process; lets a later run spot a dead worker."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid)}"


# ---------------------------------------------------------------------------- trials


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Whether a finished trial used up one unit of the trial budget."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("failure_kind") == FAILURE_RUNNER


def budget_used(study: optuna.Study) -> int:
    """Trials so far that count toward the budget (all runs, all workers)."""
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


def suggest(trial: Trial, param: ParamSpec) -> Any:
    """Ask the trial for one param according to its spec."""
    if param.kind == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    assert param.low is not None and param.high is not None
    if param.kind == "int":
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    step = None if param.step is None else float(param.step)
    return trial.suggest_float(
        param.name, float(param.low), float(param.high), step=step, log=param.log
    )


def requeue(study: optuna.Study, trial: FrozenTrial, reason: str = "") -> None:
    """Queue ``trial``'s params again (it was interrupted or its worker died)."""
    if not trial.params:
        return
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRIES:
        return
    distributions: dict[str, BaseDistribution] = dict(trial.distributions)
    user_attrs: dict[str, Any] = {"retry_of": trial.number}
    if reason:
        user_attrs["retry_reason"] = reason
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=distributions,
            user_attrs=user_attrs,
            system_attrs={"failed_trial": history[0], "retry_history": history},
        )
    )


def on_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat callback: a trial whose worker went silent was failed; retry it.

    Optuna has already finished the trial, so its own attrs cannot change any more; the
    reason goes on the retry (``retry_reason``).
    """
    requeue(study, trial, "worker stopped sending heartbeats")


def fail_dead_workers(study: optuna.Study) -> list[int]:
    """Fail RUNNING trials whose worker on this host is gone, and re-queue them.

    Heartbeats catch this too, but only after the grace period; a pid check on the same
    host is immediate, so a run restarted right after a SIGKILL resumes cleanly.
    """
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        parts = worker.split(":")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if str(process_start_time(int(parts[1]))) == parts[2]:
            continue  # Still running (another worker on this machine).
        storage = study._storage
        try:
            storage.set_trial_user_attr(trial._trial_id, "failure_kind", FAILURE_INTERRUPTED)
            storage.set_trial_user_attr(
                trial._trial_id, "failure_reason", f"worker {worker} died mid-trial"
            )
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        requeue(study, storage.get_trial(trial._trial_id), f"worker {worker} died mid-trial")
    return failed


def heartbeat_interval(storage: BaseStorage) -> int | None:
    """The storage's heartbeat interval in seconds, or None when it keeps no heartbeats."""
    interval: int | None = getattr(storage, "get_heartbeat_interval", lambda: None)()
    return interval


class _Heartbeat:
    """Records a trial's heartbeat every interval while it runs (ask/tell has none)."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._stop = threading.Event()
        interval = heartbeat_interval(storage)
        self._thread: threading.Thread | None = None
        if interval:
            storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)
            self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            # A missed beat only risks a later retry of this trial.
            with contextlib.suppress(Exception):
                self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# ---------------------------------------------------------------------------- study


def open_study(
    spec: StudySpec,
    storage: BaseStorage,
    *,
    study_name: str | None = None,
    sampler: str = "auto",
    seed: int | None = None,
) -> optuna.Study:
    """Create the study, or load it to resume; refuse a changed search space."""
    name = study_name or spec.name
    sampler_name = resolve_name(sampler, spec)
    chosen = make_sampler(sampler_name, spec, seed)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=chosen,
            pruner=make_pruner(spec),
            directions=spec.objective.directions,
            load_if_exists=True,
        )
    except ValueError as exc:
        raise StudyError(
            f"study {name!r} exists with other objectives ({exc}); use another --study name"
        ) from None
    key = json.loads(json.dumps(spec.search_space_key()))
    stored = study.user_attrs.get("search_space")
    if stored is None:
        study.set_user_attr("search_space", key)
        study.set_user_attr("spec", spec.to_dict())
        study.set_metric_names(spec.objective.metric_names)
    elif _space_shape(stored) != _space_shape(key):
        raise StudyError(
            f"study {name!r} was created with a different search space (params, constraints "
            "or objective differ from this spec); resume it with its original spec or pick "
            "a new --study name"
        )
    study.set_user_attr("sampler", sampler_name)
    return study


def _space_shape(key: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable part of a stored search_space (older studies stored more fields)."""
    shape = ("name", "kind", "low", "high", "step", "log", "choices", "stage")
    params = [{k: p[k] for k in shape if k in p} for p in key.get("param", [])]
    return {**key, "param": params}


def enqueue_defaults_once(study: optuna.Study, spec: StudySpec) -> bool:
    """Queue the spec's default config as the first trial, once per study."""
    if study.user_attrs.get("default_enqueued"):
        return False
    # skip_if_exists narrows the race of two workers starting at once to one query apart.
    study.enqueue_trial(spec.defaults(), user_attrs={"source": "default"}, skip_if_exists=True)
    study.set_user_attr("default_enqueued", True)
    return True


@dataclass
class RunOptions:
    """How long and how to run this invocation."""

    trials: int
    timeout_s: float | None = None
    prune: bool = True


@dataclass
class RunSummary:
    """What a run did and why it stopped."""

    study_name: str
    stop_reason: str  # "budget" | "timeout" | "budget (last trials run by other workers)"
    budget_used: int
    budget: int
    trials_run: int


class ProgressSink:
    """What the loop tells the user; tuner.progress implements it with rich."""

    def study_started(self, study: optuna.Study, used: int, total: int) -> None: ...

    def trial_started(self, number: int, config: Mapping[str, Any]) -> None: ...

    def repetition(self, number: int, progress: Progress) -> None: ...

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial, used: int) -> None: ...

    def message(self, text: str) -> None: ...


class StudyLoop:
    """Runs trials of one study until the budget or the timeout is reached."""

    def __init__(
        self,
        study: optuna.Study,
        spec: StudySpec,
        runner: Runner,
        guard: InterruptGuard,
        progress: ProgressSink | None = None,
    ) -> None:
        self.study = study
        self.spec = spec
        self.runner = runner
        self.guard = guard
        self.progress = progress or ProgressSink()
        self.worker = worker_id()

    def run(self, options: RunOptions) -> RunSummary:
        """Run trials; on Interrupted, clean up, record the trial and re-raise."""
        study = self.study
        with self.guard.deferred():
            enqueue_defaults_once(study, self.spec)
        started = time.monotonic()
        used = budget_used(study)
        self.progress.study_started(study, used, options.trials)
        rejections = errors = trials_run = 0
        stop_reason = "budget"
        while True:
            # Other workers may have died mid-trial since the last check: fail and
            # re-queue their trials (same host: pid gone; elsewhere: heartbeat too old).
            self._reap_dead_workers()
            used = budget_used(study)
            if used >= options.trials:
                if trials_run and not self._finished_last_trial():
                    # Exactly one worker finalizes: the one whose trial filled the budget.
                    stop_reason = "budget (last trials run by other workers)"
                break
            if options.timeout_s is not None and time.monotonic() - started >= options.timeout_s:
                stop_reason = "timeout"
                break
            running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
            if used + running >= options.trials:
                # Other workers' running trials fill the budget: wait until they finish
                # (budget met) or go stale (re-queued above; then this worker runs them).
                time.sleep(heartbeat_interval(study._storage) or 5)
                continue
            trial = self._ask(options.trials)
            if trial is None:
                # The worker that runs the last trial finalizes; this one just stops.
                stop_reason = "budget (last trials run by other workers)"
                break
            trials_run += 1
            finished = self._run_trial(trial, options)
            kind = finished.user_attrs.get("failure_kind")
            rejections = rejections + 1 if kind == FAILURE_CONSTRAINT else 0
            errors = errors + 1 if kind == FAILURE_ERROR else 0
            if kind != FAILURE_CONSTRAINT:
                self.progress.trial_finished(study, finished, budget_used(study))
            if rejections >= MAX_CONSECUTIVE_REJECTIONS:
                raise StudyError(
                    f"{rejections} candidates in a row violated the constraints; "
                    "widen the param ranges or loosen the [[constraint]]s"
                )
            if errors >= MAX_CONSECUTIVE_ERRORS:
                raise StudyError(
                    f"the runner raised an unexpected error {errors} times in a row: "
                    f"{finished.user_attrs.get('failure_reason')}\n"
                    f"{finished.user_attrs.get('log_tail', '')}"
                )
        return RunSummary(
            study.study_name, stop_reason, budget_used(study), options.trials, trials_run
        )

    # ------------------------------------------------------------------------ internals

    def _finished_last_trial(self) -> bool:
        """Whether this worker finished the most recent trial that counts toward the budget."""
        finished = [
            t
            for t in self.study.get_trials(deepcopy=False)
            if counts_toward_budget(t) and t.datetime_complete is not None
        ]
        if not finished:
            return False
        last = max(finished, key=lambda t: (t.datetime_complete, t.number))
        return bool(last.user_attrs.get("worker") == self.worker)

    def _reap_dead_workers(self) -> None:
        """Fail and re-queue trials left RUNNING by workers that died."""
        with self.guard.deferred(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
            for number in fail_dead_workers(self.study):
                self.progress.message(
                    f"trial {number} was left RUNNING by a dead worker: re-queued"
                )

    def _ask(self, budget: int) -> Trial | None:
        """Ask for a trial, unless other workers' running trials already fill the budget."""
        with self.guard.deferred(), warnings.catch_warnings():
            # Optuna warns that heartbeats expect Study.optimize; _Heartbeat does the beating.
            warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
            trial = self.study.ask()
            trial.set_user_attr("worker", self.worker)
            trial.set_user_attr("runner", self.runner.name)
            # Finished trials count whatever their number; among running ones the lower
            # number wins, so two workers racing for the last slot never both take it.
            taken = [
                t
                for t in self.study.get_trials(deepcopy=False)
                if counts_toward_budget(t)
                or (t.state == TrialState.RUNNING and t.number < trial.number)
            ]
            if len(taken) >= budget:
                trial.set_user_attr("failure_kind", FAILURE_BUDGET)
                trial.set_user_attr("failure_reason", "budget filled by other workers")
                self.study.tell(trial, state=TrialState.FAIL)
                fixed = self.study._storage.get_trial(trial._trial_id).system_attrs.get(
                    "fixed_params"
                )
                if fixed:
                    self.study.enqueue_trial(fixed, skip_if_exists=True)
                return None
        return trial

    def _run_trial(self, trial: Trial, options: RunOptions) -> FrozenTrial:
        heartbeat = _Heartbeat(self.study._storage, trial._trial_id)
        state = TrialState.FAIL
        values: list[float] | None = None
        try:
            values = self._measure(trial, options)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except (ConstraintRejected, TrialFailure):
            state = TrialState.FAIL
        except Interrupted as stop:
            heartbeat.stop()
            self._interrupted(trial, stop)
            raise
        except Exception as exc:
            with self.guard.deferred():
                trial.set_user_attr("failure_kind", FAILURE_ERROR)
                trial.set_user_attr("failure_reason", f"runner error: {exc!r}")
                trial.set_user_attr("log_tail", traceback.format_exc()[-4000:])
        finally:
            heartbeat.stop()
        with self.guard.deferred():
            self.study.tell(trial, values, state=state)
        return self.study._storage.get_trial(trial._trial_id)

    def _measure(self, trial: Trial, options: RunOptions) -> list[float]:
        spec = self.spec
        params = {p.name: suggest(trial, p) for p in spec.params}
        runtime, build = spec.split(params)
        with self.guard.deferred():
            trial.set_user_attr("config", runtime)
            trial.set_user_attr("build", build)
        violations = {c.name: c.violation(params) for c in spec.param_constraints}
        broken = [c for c in spec.param_constraints if violations[c.name] > 0]
        if broken:
            detail = "; ".join(
                f"{c.expr} ({', '.join(f'{n}={params[n]}' for n in c.names)})" for c in broken
            )
            with self.guard.deferred():
                trial.set_user_attr("constraints", violations)
                trial.set_user_attr("failure_kind", FAILURE_CONSTRAINT)
                trial.set_user_attr("failure_reason", f"constraint violated: {detail}")
            raise ConstraintRejected(detail)
        self.progress.trial_started(trial.number, params)

        last: list[Progress] = []
        prune = options.prune and not spec.objective.is_multi

        def on_progress(p: Progress) -> None:
            last.append(p)
            self.progress.repetition(trial.number, p)
            if spec.objective.is_multi:
                return
            with self.guard.deferred():
                trial.report(p.fitness, p.repetition)
                should_prune = prune and trial.should_prune()
            if should_prune:
                raise optuna.TrialPruned(
                    f"running fitness {p.fitness:.1f} at repetition {p.repetition}"
                )

        try:
            measurement = self.runner.evaluate(
                Candidate(runtime=runtime, build=build),
                repetitions=spec.budget.repetitions,
                on_progress=on_progress,
            )
        except optuna.TrialPruned:
            if last:
                with self.guard.deferred():
                    _record_progress(trial, last[-1])
            raise
        except TrialFailure as failure:
            with self.guard.deferred():
                trial.set_user_attr("failure_kind", FAILURE_RUNNER)
                trial.set_user_attr("failure_reason", failure.reason)
                trial.set_user_attr("log_tail", failure.log_tail[-4000:])
            raise
        with self.guard.deferred():
            _record_measurement(trial, measurement)
            outcome = measured_values(measurement)
            constraint_values = {c.name: c.violation(outcome) for c in spec.outcome_constraints}
            for name, value in constraint_values.items():
                trial.set_constraint(name, value)
            if spec.constraints:
                trial.set_user_attr("constraints", {**violations, **constraint_values})
        if spec.objective.is_multi:
            return [measurement.fitness, measurement.p99_ratio]
        return [measurement.fitness]

    def _interrupted(self, trial: Trial, stop: Interrupted) -> None:
        """Stop everything, then record the trial as FAIL and queue it for the next run."""
        self.runner.close()
        kill_descendants()
        storage = self.study._storage
        try:
            storage.set_trial_user_attr(trial._trial_id, "failure_kind", FAILURE_INTERRUPTED)
            storage.set_trial_user_attr(
                trial._trial_id, "failure_reason", f"interrupted by {stop.args[0]}"
            )
            self.study.tell(trial, state=TrialState.FAIL)
            requeue(
                self.study, storage.get_trial(trial._trial_id), f"interrupted by {stop.args[0]}"
            )
        except Exception as exc:
            self.progress.message(f"could not record the interrupted trial: {exc}")


def measured_values(m: Measurement) -> dict[str, float]:
    """The names outcome constraints may use."""
    return {
        "fitness": m.fitness,
        "p99_ratio": m.p99_ratio,
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
    }


def _record_measurement(trial: Trial, m: Measurement) -> None:
    attrs: dict[str, Any] = {
        "fitness": m.fitness,
        "fitness_ci_low": m.ci_low,
        "fitness_ci_high": m.ci_high,
        "p99_ratio": m.p99_ratio,
        "per_test": dict(m.per_test),
        "per_test_ci": {t: list(ci) for t, ci in m.per_test_ci.items()},
        "repetitions": m.repetitions,
        "stop_reason": m.stop_reason,
        "build_tag": m.build_tag,
        "timings": dict(m.timings),
    }
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if m.detail:
        # Every raw run: too big for the dashboard's user-attr table, so a system attr.
        trial.storage.set_trial_system_attr(
            trial._trial_id, DETAIL_ATTR, json.loads(json.dumps(m.detail, default=str))
        )


def measurement_detail(trial: FrozenTrial) -> dict[str, Any]:
    """The full benchmark result of a finished trial (every raw run), or {}."""
    detail = trial.system_attrs.get(DETAIL_ATTR)
    return dict(detail) if isinstance(detail, dict) else {}


def _record_progress(trial: Trial, p: Progress) -> None:
    trial.set_user_attr("fitness", p.fitness)
    trial.set_user_attr("fitness_ci_low", p.ci_low)
    trial.set_user_attr("fitness_ci_high", p.ci_high)
    trial.set_user_attr("repetitions", p.repetition)
    trial.set_user_attr("stop_reason", "pruned")


ProgressFactory = Callable[[], ProgressSink]
