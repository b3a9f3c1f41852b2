"""The study loop: ask the sampler, measure with the runner, tell the storage.

The budget (see tuner.study._budget) is checked before each trial, and again after
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
import math
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from tuner.processes import kill_descendants
from tuner.resilient_storage import DatabaseOutage
from tuner.runners.base import Candidate, Progress, Runner, TrialFailure
from tuner.signals import Interrupted, InterruptGuard
from tuner.spec import ParamSpec, StudySpec
from tuner.study._attrs import (
    FAILURE_BUDGET,
    FAILURE_CONSTRAINT,
    FAILURE_ERROR,
    FAILURE_INTERRUPTED,
    FAILURE_RUNNER,
    failure_attrs,
    measured_values,
    record_measurement,
    record_progress,
    set_trial_attrs,
    write_trial_attrs,
)
from tuner.study._budget import budget_used, counts_toward_budget
from tuner.study._heartbeat import Heartbeat, heartbeat_interval, record_heartbeat
from tuner.study._open import StudyError, enqueue_defaults_once
from tuner.study._racing import Incumbent, RacedOut, find_incumbent, racing_rule
from tuner.study._recovery import fail_dead_workers, fail_stale_trials, requeue, requeue_unrun
from tuner.study._sink import ProgressSink
from tuner.study._workers import worker_id

#: Give up when this many candidates in a row violate the param constraints.
MAX_CONSECUTIVE_REJECTIONS = 500
#: Abort when the runner raises something other than TrialFailure this often in a row
#: (a bug, not a bad candidate: it would otherwise burn the whole budget).
MAX_CONSECUTIVE_ERRORS = 3
#: Racing re-reads the incumbent at most this often. A real repetition takes seconds, so
#: every look still sees a peer's newer best; a zero-delay mock would read it per look.
INCUMBENT_REFRESH_S = 1.0
#: Heartbeat reaping (one query for RUNNING trials and their beats) runs at most this
#: often, and on the first pass; a trial only goes stale after a grace of minutes.
STALE_REAP_EVERY_S = 5.0


@contextlib.contextmanager
def _unless_finished() -> Iterator[None]:
    """Skip attr writes to a trial a peer already finished (this worker was stopped)."""
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        yield


class ConstraintRejected(Exception):
    """A candidate that violates the spec's param constraints; never measured."""


def suggest(trial: Trial, param: ParamSpec) -> Any:
    """Ask the trial for one param through the distribution the spec built (and Optuna checked)."""
    dist = param.distribution
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(param.name, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution), f"{param.name}: no distribution"
    return trial.suggest_float(param.name, dist.low, dist.high, step=dist.step, log=dist.log)


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
        # One read of the study per pass serves the budget, the running count and the
        # pid reaping; the read after a trial serves the next pass.
        trials = study.get_trials(deepcopy=False)
        self.progress.study_started(study, _used(trials), options.trials)
        rejections = errors = trials_run = 0
        stop_reason = "budget"
        self._last_stale_reap: float | None = None
        while True:
            # Other workers may have died mid-trial since the last check: fail and
            # re-queue their trials (same host: pid gone; elsewhere: heartbeat too old).
            if self._reap_dead_workers(trials):
                trials = study.get_trials(deepcopy=False)
            used = _used(trials)
            if used >= options.trials:
                if trials_run and not self._finished_last_trial():
                    # Exactly one worker finalizes: the one whose trial filled the budget.
                    stop_reason = "budget (last trials run by other workers)"
                break
            if options.timeout_s is not None and time.monotonic() - started >= options.timeout_s:
                stop_reason = "timeout"
                break
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if used + running >= options.trials:
                # Other workers' running trials fill the budget: wait until they finish
                # (budget met) or go stale (re-queued above; then this worker runs them).
                time.sleep(heartbeat_interval(study._storage) or 5)
                self._last_stale_reap = None  # reap at once after the wait
                trials = study.get_trials(deepcopy=False)
                continue
            trial = self._ask(options.trials)
            if trial is None:
                # The worker that runs the last trial finalizes; this one just stops.
                stop_reason = "budget (last trials run by other workers)"
                break
            trials_run += 1
            finished = self._run_trial(trial, options)
            trials = study.get_trials(deepcopy=False)
            kind = finished.user_attrs.get("failure_kind")
            rejections = rejections + 1 if kind == FAILURE_CONSTRAINT else 0
            errors = errors + 1 if kind == FAILURE_ERROR else 0
            if kind != FAILURE_CONSTRAINT:
                self.progress.trial_finished(study, finished, _used(trials))
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

    def _reap_dead_workers(self, trials: list[FrozenTrial]) -> bool:
        """Fail and re-queue trials left RUNNING by workers that died; whether any were.

        ``trials``: the study as last read, for the pid check; stale heartbeats are
        checked in the database at most every STALE_REAP_EVERY_S.
        """
        now = time.monotonic()
        changed = False
        with self.guard.deferred():
            last = getattr(self, "_last_stale_reap", None)
            if last is None or now - last >= STALE_REAP_EVERY_S:
                self._last_stale_reap = now
                changed = fail_stale_trials(self.study)
            running = [t for t in trials if t.state == TrialState.RUNNING]
            for number in fail_dead_workers(self.study, running):
                changed = True
                self.progress.message(
                    f"trial {number} was left RUNNING by a dead worker: re-queued"
                )
        return changed

    def _ask(self, budget: int) -> Trial | None:
        """Ask for a trial, unless other workers' running trials already fill the budget.

        The heartbeat is recorded at once, and a signal held during the ask fails and
        re-queues the new trial: it is never left RUNNING with nothing to reap it.
        """
        asked: list[Trial] = []
        try:
            with self.guard.deferred(), warnings.catch_warnings():
                # Optuna warns that heartbeats expect Study.optimize; Heartbeat beats.
                warnings.filterwarnings(
                    "ignore", message="Heartbeat of storage", category=UserWarning
                )
                trial = self.study.ask()
                asked.append(trial)
                record_heartbeat(self.study._storage, trial._trial_id)
                set_trial_attrs(trial, {"worker": self.worker, "runner": self.runner.name})
                # Finished trials count whatever their number; among running ones the
                # lower number wins, so two workers racing for the last slot never both
                # take it.
                taken = [
                    t
                    for t in self.study.get_trials(deepcopy=False)
                    if counts_toward_budget(t)
                    or (t.state == TrialState.RUNNING and t.number < trial.number)
                ]
                if len(taken) >= budget:
                    set_trial_attrs(
                        trial, failure_attrs(FAILURE_BUDGET, "budget filled by other workers")
                    )
                    told = self.study.tell(trial, state=TrialState.FAIL)
                    # A queued config (the default, a retry) goes back in the queue.
                    requeue_unrun(self.study, told)
                    return None
        except Interrupted as stop:
            if asked:
                self._interrupted(asked[0], stop)
            raise
        return trial

    def _run_trial(self, trial: Trial, options: RunOptions) -> FrozenTrial:
        heartbeat: Heartbeat | None = None
        state = TrialState.FAIL
        values: list[float] | None = None
        try:
            # _ask recorded the first beat just now.
            heartbeat = Heartbeat(self.study._storage, trial._trial_id, beat_now=False)
            values = self._measure(trial, options)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except (ConstraintRejected, TrialFailure):
            state = TrialState.FAIL
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # A peer finished it while this worker was stopped: dropped below.
        except Interrupted as stop:
            if heartbeat is not None:
                heartbeat.stop()
            self._interrupted(trial, stop)
            raise
        except DatabaseOutage:
            raise  # nothing can be written; the next run re-queues the RUNNING trial
        except Exception as exc:
            with self.guard.deferred(), _unless_finished():
                set_trial_attrs(
                    trial,
                    failure_attrs(FAILURE_ERROR, f"runner error: {exc!r}", traceback.format_exc()),
                )
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        with self.guard.deferred():
            stored = self.study._storage.get_trial(trial._trial_id)
            if stored.state.is_finished():
                self.progress.message(
                    f"trial {trial.number} was failed by another worker while this one was "
                    "stopped (no heartbeat within the grace period): its result is dropped "
                    "and its retry runs as a new trial"
                )
                return stored
            return self.study.tell(trial, values, state=state, skip_if_finished=True)

    def _measure(self, trial: Trial, options: RunOptions) -> list[float]:
        spec = self.spec
        params = {p.name: suggest(trial, p) for p in spec.params}
        runtime, build = spec.split(params)
        with self.guard.deferred():
            set_trial_attrs(trial, {"config": runtime, "build": build})
        violations = {c.name: c.violation(params) for c in spec.param_constraints}
        broken = [c for c in spec.param_constraints if violations[c.name] > 0]
        if broken:
            detail = "; ".join(
                f"{c.expr} ({', '.join(f'{n}={params[n]}' for n in c.names)})" for c in broken
            )
            with self.guard.deferred():
                set_trial_attrs(
                    trial,
                    {
                        "constraints": violations,
                        **failure_attrs(FAILURE_CONSTRAINT, f"constraint violated: {detail}"),
                    },
                )
            raise ConstraintRejected(detail)
        self.progress.trial_started(trial.number, params)

        last: list[Progress] = []
        prune = options.prune and not spec.objective.is_multi
        racing = prune and spec.objective.pruner == "racing"
        rule = racing_rule(
            spec.objective.racing_confidence,
            float(getattr(spec.workload, "confidence", 0.95)),
            int(getattr(spec.workload, "min_repetitions", 0)),
            spec.budget.repetitions or int(getattr(spec.workload, "max_repetitions", 10)),
        )

        incumbent: list[tuple[float, Incumbent | None]] = []  # (read at, incumbent)

        def current_incumbent() -> Incumbent | None:
            # Re-read: another worker may have found a better one (at most once a second).
            now = time.monotonic()
            if not incumbent or now - incumbent[0][0] >= INCUMBENT_REFRESH_S:
                incumbent[:] = [(now, find_incumbent(self.study))]
            return incumbent[0][1]

        def on_progress(p: Progress) -> None:
            last.append(p)
            self.progress.repetition(trial.number, p)
            if spec.objective.is_multi:
                return
            with self.guard.deferred():
                trial.report(p.fitness, p.repetition)
                # Below the stop floor no incumbent can stop it: not read.
                if racing and p.repetition >= rule.stop_floor:
                    raced = rule.check(p, current_incumbent())
                    if raced is not None:
                        raise raced
                should_prune = prune and not racing and trial.should_prune()
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
        except optuna.TrialPruned as pruned:
            if last:
                with self.guard.deferred():
                    raced = pruned if isinstance(pruned, RacedOut) else None
                    record_progress(trial, last[-1], raced)
            raise
        except TrialFailure as failure:
            with self.guard.deferred():
                set_trial_attrs(
                    trial, failure_attrs(FAILURE_RUNNER, failure.reason, failure.log_tail)
                )
            raise
        with self.guard.deferred():
            outcome = measured_values(measurement)
            constraint_values = {c.name: c.violation(outcome) for c in spec.outcome_constraints}
            for name, value in constraint_values.items():
                trial.set_constraint(name, value)
            extra = {"constraints": {**violations, **constraint_values}} if spec.constraints else {}
            record_measurement(trial, measurement, extra)
        # Each objective's measured value (fitness, p99_ratio, memory_ratio, ...); a missing
        # one is NaN, which Optuna records as a failed trial.
        return [float(outcome.get(name, math.nan)) for name in spec.objective.metric_names]

    def _interrupted(self, trial: Trial, stop: Interrupted) -> None:
        """Stop everything, then record the trial as FAIL and queue it for the next run."""
        self.runner.close()
        kill_descendants()
        storage = self.study._storage
        try:
            if storage.get_trial(trial._trial_id).state.is_finished():
                return  # Told already (a budget refusal), or failed by a peer.
            reason = f"interrupted by {stop.args[0]}"
            write_trial_attrs(storage, trial._trial_id, failure_attrs(FAILURE_INTERRUPTED, reason))
            told = self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            requeue(self.study, told, reason)
        except Exception as exc:
            self.progress.message(f"could not record the interrupted trial: {exc}")


def _used(trials: list[FrozenTrial]) -> int:
    """Trials of a study read once that count toward the budget."""
    return sum(counts_toward_budget(t) for t in trials)
