"""The study loop with the mock runner, in process: budget, attrs, failures, finalists."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tuner.finalize import (
    MAX_ROUNDS,
    finalize_study,
    pool_rounds,
    select_finalists,
    stop_floor,
)
from tuner.runners import make_runner
from tuner.runners.base import Candidate, Measurement, ProgressCallback
from tuner.runners.config_file import flatten
from tuner.samplers import SamplerError, make_sampler
from tuner.signals import InterruptGuard
from tuner.spec import StudySpec, load_spec
from tuner.storage import open_storage
from tuner.study import (
    FAILURE_CONSTRAINT,
    FAILURE_RUNNER,
    MEASURED_TRIAL_ATTRS,
    RunOptions,
    StudyError,
    StudyLoop,
    budget_used,
    measurement_detail,
    open_study,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

TRIAL_ATTRS = MEASURED_TRIAL_ATTRS
#: A constraint between knobs of the shipped space (which ships none), for the
#: constraint machinery; samplers break it often.
PARAM_CONSTRAINT = "batching.min_pipeline_buffer <= buffers.read_size"


class RecordingRunner:
    """Wraps a runner and remembers every candidate it was asked to measure."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[Candidate] = []
        self.closed = 0

    def evaluate(
        self,
        candidate: Candidate,
        *,
        repetitions: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Measurement:
        self.seen.append(candidate)
        return self.inner.evaluate(candidate, repetitions=repetitions, on_progress=on_progress)

    def close(self) -> None:
        self.closed += 1
        self.inner.close()


def _run(
    spec: StudySpec,
    url: str,
    trials: int,
    *,
    sampler: str = "auto",
    runner: Any = None,
    name: str = "t",
    seed: int = 0,
    **mock: Any,
) -> tuple[optuna.Study, RecordingRunner]:
    storage = open_storage(url)
    study = open_study(spec, storage, study_name=name, sampler=sampler, seed=seed)
    recording = RecordingRunner(runner or make_runner("mock", spec, seed=seed, **mock))
    with InterruptGuard() as guard:
        StudyLoop(study, spec, recording, guard).run(RunOptions(trials=trials))
    return study, recording


def test_mock_study_end_to_end(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    spec = load_spec(make_spec("wide-space", constraints=[PARAM_CONSTRAINT]))
    url = f"sqlite:///{tuner_env}/e2e.db"
    study, runner = _run(spec, url, 15)

    trials = study.get_trials()
    assert budget_used(study) == 15
    assert study.metric_names == ["fitness"]
    assert study.user_attrs["search_space"]["objective"] == "throughput"
    assert study.user_attrs["spec"]["study"]["name"] == "redis-throughput"
    # The spec's defaults run first.
    first = trials[0]
    assert first.user_attrs["source"] == "default"
    assert first.params == spec.defaults()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete
    for t in complete:
        assert set(t.user_attrs) >= TRIAL_ATTRS, t.number
        assert t.user_attrs["runner"] == "mock"
        assert set(t.user_attrs["config"]) == {p.name for p in spec.runtime_params}
        assert t.values[0] == t.user_attrs["fitness"]
        assert t.user_attrs["fitness_ci_low"] <= t.values[0] <= t.user_attrs["fitness_ci_high"]
        assert set(t.intermediate_values) == set(range(1, t.user_attrs["repetitions"] + 1))
        # Per-test CIs for the dashboard; the raw runs kept apart from the user attrs.
        for test, (low, high) in t.user_attrs["per_test_ci"].items():
            assert low <= t.user_attrs["per_test"][test] <= high, (t.number, test)
        assert "detail" not in t.user_attrs
        assert measurement_detail(t)["runs"], t.number
    # Constraint violations are recorded but never reach the runner.
    rejected = [t for t in trials if t.user_attrs.get("failure_kind") == FAILURE_CONSTRAINT]
    assert rejected, f"the constraint {PARAM_CONSTRAINT} should reject some samples"
    for t in rejected:
        assert t.state == TrialState.FAIL
        assert t.user_attrs["failure_reason"].startswith("constraint violated: ")
        assert t.params["batching.min_pipeline_buffer"] > t.params["buffers.read_size"]
    measured = [json.dumps(c.runtime, sort_keys=True) for c in runner.seen]
    for t in rejected:
        assert json.dumps(t.user_attrs["config"], sort_keys=True) not in measured
    assert len(runner.seen) == sum(t.state != TrialState.FAIL for t in trials)


def test_resume_counts_the_budget_across_runs_and_enqueues_defaults_once(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/resume.db"
    study, _ = _run(spec, url, 4)
    assert budget_used(study) == 4
    study, runner = _run(spec, url, 9, seed=1)
    assert budget_used(study) == 9
    defaults = [t for t in study.get_trials() if t.user_attrs.get("source") == "default"]
    assert len(defaults) == 1
    # A third run with the budget reached measures nothing.
    study, runner = _run(spec, url, 9, seed=2)
    assert runner.seen == []
    assert budget_used(study) == 9


def test_runner_failures_are_data(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    spec = load_spec(make_spec("wide-space"))
    study, _ = _run(
        spec,
        f"sqlite:///{tuner_env}/fail.db",
        10,
        sampler="random",
        crash_values={"threads": [2, 3, 4]},
    )
    failed = [t for t in study.get_trials() if t.user_attrs.get("failure_kind") == FAILURE_RUNNER]
    assert failed, "random sampling over threads 1..4 should hit threads >= 2 in 10 trials"
    for t in failed:
        assert t.state == TrialState.FAIL
        assert t.user_attrs["failure_reason"] == "server crashed during benchmark"
        assert "panicked" in t.user_attrs["log_tail"]
    # Runner failures count toward the budget; the study carried on to its end.
    assert budget_used(study) == 10
    assert any(t.state == TrialState.COMPLETE for t in study.get_trials())


def test_changed_search_space_is_refused(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    url = f"sqlite:///{tuner_env}/space.db"
    _run(load_spec(make_spec()), url, 2)

    def widen(data: dict[str, Any]) -> None:
        data["param"][0]["high"] = 32

    with pytest.raises(StudyError, match="different search space"):
        open_study(load_spec(make_spec(edit=widen)), open_storage(url), study_name="t")

    def new_default(data: dict[str, Any]) -> None:
        data["param"][0]["default"] = 8

    # A new default (or build args) leaves the distributions alone: resuming is fine.
    open_study(load_spec(make_spec(edit=new_default)), open_storage(url), study_name="t")


def test_pruning_stops_bad_trials_early(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    # The wide space, where random configs are often far worse than the default.
    spec = load_spec(make_spec("wide-space"))
    study, _ = _run(spec, f"sqlite:///{tuner_env}/prune.db", 25, sampler="random")
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned, "25 random trials raced against the incumbent should stop some"
    max_reps = spec.workload.max_repetitions
    for t in pruned:
        assert t.user_attrs["stop_reason"] == "raced_out"
        assert 3 <= t.user_attrs["repetitions"] < max_reps
        assert max(t.intermediate_values) == t.user_attrs["repetitions"]


def test_pareto_study_uses_nsga2_and_outcome_constraints(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    def tighten(data: dict[str, Any]) -> None:
        data["constraint"][-1]["expr"] = "p99_ratio <= 1.05"
        data["sampler"]["population_size"] = 8

    spec = load_spec(make_spec("redis-pareto", tighten))
    study, _ = _run(spec, f"sqlite:///{tuner_env}/pareto.db", 16)
    assert study.user_attrs["sampler"] == "nsga2"
    assert isinstance(study.sampler, optuna.samplers.NSGAIISampler)
    assert study.metric_names == ["fitness", "p99_ratio"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 16
    for t in complete:
        assert t.values == [t.user_attrs["fitness"], t.user_attrs["p99_ratio"]]
        violation = t.constraints["p99 at most 1.5x Redis"]
        assert violation == pytest.approx(t.user_attrs["p99_ratio"] - 1.05)
    infeasible = [t for t in complete if t.user_attrs["p99_ratio"] > 1.05]
    assert infeasible, "a 1.05 p99 limit should make some trials infeasible"
    front = {t.number for t in study.best_trials}
    assert not front & {t.number for t in infeasible}
    assert all(
        f.number not in {t.number for t in infeasible} for f in select_finalists(study, spec, 5)
    )


def test_finalize_remeasures_and_writes_best_config(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    study, _ = _run(spec, f"sqlite:///{tuner_env}/final.db", 12)
    runner = RecordingRunner(make_runner("mock", spec, seed=9))
    winner = finalize_study(study, spec, runner, k=3, repetitions=12, out_dir=tuner_env / "out")
    assert winner is not None
    finalists = study.user_attrs["finalists"]
    assert finalists[0]["is_default"]
    # default + top 3 distinct configs (CMA-ES starts at the default: it may be one of them)
    top = select_finalists(study, spec, 3)
    expected = 1 + sum(t.params != spec.defaults() for t in top)
    assert expected >= 3 and len(finalists) == expected
    measured = {json.dumps([c.runtime, c.build], sort_keys=True) for c in runner.seen}
    assert len(measured) == expected
    assert len(runner.seen) == sum(len(f["rounds"]) for f in finalists)
    for f in finalists:
        assert set(f["per_test_ci"]) == set(f["per_test"]), f["label"]
        for test, (low, high) in f["per_test_ci"].items():
            assert low <= f["per_test"][test] <= high, (f["label"], test)
        assert f["repetitions"] == sum(r["repetitions"] for r in f["rounds"])
        assert f["seconds"] == pytest.approx(sum(r["seconds"] for r in f["rounds"]))
        assert f["status"] == "dropped" or f["repetitions"] >= 12
        assert len(f["rounds"]) <= MAX_ROUNDS
        # Every round has at least the stop floor (6 at 95%): no NaN CI to pool.
        assert all(r["repetitions"] >= stop_floor(spec) for r in f["rounds"]), f["label"]
        fits = [r["fitness"] for r in f["rounds"]]
        assert min(fits) <= f["fitness"] <= max(fits)
        assert f["ci_low"] < f["fitness"] < f["ci_high"]
        if not f["is_default"]:
            assert f["gain_low_pct"] < f["gain_pct"] < f["gain_high_pct"]
    chosen = select_finalists(study, spec, 3)
    ranked = sorted(
        study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.values[0], reverse=True
    )
    assert [t.number for t in chosen] == [t.number for t in ranked[:3]]
    # The default is kept unless a finalist beats it head to head by min_gain_pct.
    if winner["beats_default"]:
        assert winner["gain_low_pct"] > 0 and winner["gain_pct"] >= spec.budget.min_gain_pct
        assert "beats the default by" in winner["how"]
    else:
        assert winner["is_default"]
        assert "no config beat the default by more than 1%" in winner["how"]
    assert study.user_attrs["winner"]["label"] == winner["label"]
    path = tuner_env / "out" / "best_config.toml"
    text = path.read_text()
    assert text.startswith("# Best config of study 't'")
    config = tomllib.loads(text)
    assert "build" not in config  # build params only in the header
    assert flatten(config) == winner["config"]


def test_gp_without_torch_is_a_clear_error(make_spec: Callable[..., Path]) -> None:
    pytest.importorskip("optuna")
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch is installed")
    with pytest.raises(SamplerError, match=r"needs PyTorch.*redisevolve\[gp\]"):
        make_sampler("gp", load_spec(make_spec()))


def test_cmaes_is_refused_for_pareto_and_configured_for_single(
    make_spec: Callable[..., Path],
) -> None:
    with pytest.raises(SamplerError, match="CMA-ES is single-objective"):
        make_sampler("cmaes", load_spec(make_spec("redis-pareto")))
    with pytest.raises(SamplerError, match="choose one of"):
        make_sampler("bayes", load_spec(make_spec()))
    sampler = make_sampler("auto", load_spec(make_spec()), seed=1)
    assert isinstance(sampler, optuna.samplers.CmaEsSampler)
    assert sampler._with_margin
    assert isinstance(sampler._independent_sampler, optuna.samplers.TPESampler)


def test_stale_heartbeat_fails_the_trial_and_the_next_run_retries_it(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    import time

    from tuner.study import on_stale_trial, suggest

    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/stale.db"
    storage = open_storage(url, heartbeat_interval=1, grace_period=2, on_stale_trial=on_stale_trial)
    study = open_study(spec, storage, study_name="t")
    study.enqueue_trial(spec.defaults())
    study.set_user_attr("default_enqueued", True)
    # A worker on another machine asks, suggests, beats once and goes silent.
    orphan = study.ask()
    orphan.set_user_attr("worker", "elsewhere:1:1")
    params = {p.name: suggest(orphan, p) for p in spec.params}
    storage.record_heartbeat(orphan._trial_id)  # type: ignore[attr-defined]
    time.sleep(3.5)

    runner = RecordingRunner(make_runner("mock", spec, seed=0))
    with InterruptGuard() as guard:
        StudyLoop(study, spec, runner, guard).run(RunOptions(trials=2, prune=False))
    trials = study.get_trials()
    assert trials[orphan.number].state == TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == orphan.number)
    assert retry.user_attrs["retry_reason"] == "worker stopped sending heartbeats"
    assert retry.state == TrialState.COMPLETE and retry.params == params
    assert budget_used(study) == 2


def test_pooling_identical_rounds_keeps_the_estimate_with_a_random_effects_ci() -> None:
    r = {
        "fitness": 110.0,
        "ci_low": 100.0,
        "ci_high": 121.0,
        "p99_ratio": 0.9,
        "per_test": {"SET@P1": 1.1},
        "per_test_ci": {"SET@P1": [1.0, 1.21]},
        "repetitions": 5,
    }
    one = pool_rounds([r], 0.95)
    four = pool_rounds([r, dict(r), dict(r), dict(r)], 0.95)
    assert one["fitness"] == pytest.approx(110.0)
    assert (one["ci_low"], one["ci_high"]) == (pytest.approx(100.0), pytest.approx(121.0))
    assert four["fitness"] == pytest.approx(110.0)
    # No spread between rounds: SE / sqrt(4), with a t_3 quantile instead of z.
    ratio = (math.log(four["ci_high"]) - math.log(four["ci_low"])) / math.log(121.0 / 100.0)
    assert ratio == pytest.approx(0.5 * 3.182 / 1.960, rel=1e-3)
    assert four["repetitions"] == 20 and four["p99_ratio"] == pytest.approx(0.9)
    low, high = four["per_test_ci"]["SET@P1"]
    assert math.sqrt(low * high) == pytest.approx(1.1)


def test_pooling_a_one_repetition_round_gives_no_nan() -> None:
    good = {
        "fitness": 100.0,
        "ci_low": 95.0,
        "ci_high": 105.0,
        "p99_ratio": 1.0,
        "per_test": {"SET@P1": 1.0},
        "per_test_ci": {"SET@P1": [0.9, 1.1]},
        "repetitions": 6,
    }
    lone = {
        **good,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "repetitions": 1,
        "per_test_ci": {"SET@P1": [math.nan, math.nan]},
    }
    pooled = pool_rounds([good, dict(good), lone], 0.95)
    assert all(math.isfinite(pooled[k]) for k in ("fitness", "ci_low", "ci_high"))
    assert pooled["repetitions"] == 13


def test_scattered_rounds_widen_the_pooled_ci() -> None:
    rounds = [
        {
            "fitness": f,
            "ci_low": f * 0.98,
            "ci_high": f * 1.02,
            "p99_ratio": 1.0,
            "per_test": {"SET@P1": f / 100},
            "per_test_ci": {},
            "repetitions": 6,
        }
        for f in (90.0, 100.0, 110.0, 95.0)
    ]
    pooled = pool_rounds(rounds, 0.95)
    # A fixed-effect pool would give about +-1%; the restart spread is ~8%.
    assert pooled["ci_high"] / pooled["ci_low"] > 1.10
