"""``--warm-start STUDY``: a study starts from an earlier study of the same target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from typer.testing import CliRunner

from tuner.cli import app
from tuner.runners import make_runner
from tuner.signals import InterruptGuard
from tuner.spec import StudySpec, load_spec
from tuner.storage import open_storage
from tuner.study import RunOptions, StudyError, StudyLoop, open_study


def _run(spec: StudySpec, url: str, name: str, trials: int, **kw: Any) -> optuna.Study:
    study = open_study(spec, open_storage(url), study_name=name, seed=3, **kw)
    with InterruptGuard() as guard:
        StudyLoop(study, spec, make_runner("mock", spec, seed=3), guard).run(
            RunOptions(trials=trials)
        )
    return study


@pytest.mark.timeout(120)
def test_cmaes_warm_starts_from_the_earlier_trials(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/warm.db"
    earlier = _run(spec, url, "a", 12)
    measured = earlier.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    study = open_study(spec, open_storage(url), study_name="b", seed=3, warm_start="a")
    sampler = study.sampler
    assert isinstance(sampler, optuna.samplers.CmaEsSampler)
    source = sampler._source_trials
    assert source is not None and len(source) >= len(measured)
    # Only CMA-ES's own (numeric) params: Optuna drops a source trial with any other.
    assert all("build.allocator" not in t.params for t in source)
    assert study.user_attrs["warm_start"] == "a"
    resumed = _run(spec, url, "b", 4)  # a resume without the flag warm-starts the same way
    assert isinstance(resumed.sampler, optuna.samplers.CmaEsSampler)
    assert resumed.sampler._source_trials
    assert len(resumed.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) >= 2


@pytest.mark.timeout(120)
def test_cmaes_starts_at_the_earlier_best_when_it_has_few_trials(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/warm-few.db"
    earlier = _run(spec, url, "a", 4, sampler="random")
    best = max(
        (t for t in earlier.get_trials() if t.values and t.params != spec.defaults()),
        key=lambda t: t.values[0],
    )
    study = open_study(spec, open_storage(url), study_name="b", seed=3, warm_start="a")
    assert isinstance(study.sampler, optuna.samplers.CmaEsSampler)
    assert study.sampler._source_trials is None
    assert study.sampler._x0 == {n: best.params[n] for n in study.sampler._x0}


@pytest.mark.timeout(120)
def test_other_samplers_run_the_earlier_best_configs_first(
    tuner_env: Path, make_spec: Callable[..., Path]
) -> None:
    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/warm-tpe.db"
    earlier = _run(spec, url, "a", 8, sampler="random")
    best = sorted(
        earlier.get_trials(states=(optuna.trial.TrialState.COMPLETE,)),
        key=lambda t: t.values[0],
        reverse=True,
    )
    wanted = [t.params for t in best if t.params != spec.defaults()][:2]
    study = _run(spec, url, "b", 3, sampler="tpe", warm_start="a")
    trials = study.get_trials()
    assert trials[0].params == spec.defaults()
    assert [t.params for t in trials[1:3]] == wanted
    assert trials[1].user_attrs["source"] == "warm-start:a"


def test_bad_warm_start_is_a_clear_error(tuner_env: Path, make_spec: Callable[..., Path]) -> None:
    spec = load_spec(make_spec())
    url = f"sqlite:///{tuner_env}/warm-bad.db"
    _run(spec, url, "a", 2)
    storage = open_storage(url)
    with pytest.raises(StudyError, match=r"--warm-start 'nope': no such study .*studies: a"):
        open_study(spec, storage, study_name="b", warm_start="nope")
    with pytest.raises(StudyError, match=r"--warm-start 'a': a study cannot warm-start from"):
        open_study(spec, storage, study_name="a", warm_start="a")

    def drop(data: dict[str, Any]) -> None:
        data["param"] = [p for p in data["param"] if p["name"] != "buffers.read_size"]

    other = load_spec(make_spec(edit=drop))
    with pytest.raises(
        StudyError, match=r"--warm-start 'a': a different param set .*only in it: buffers.read_size"
    ):
        open_study(other, storage, study_name="c", warm_start="a")
    result = CliRunner().invoke(
        app,
        [
            "study",
            "run",
            "--spec",
            str(make_spec()),
            "--runner",
            "mock",
            "--storage",
            url,
            "--study",
            "d",
            "--warm-start",
            "nope",
            "--trials",
            "1",
        ],
    )
    assert result.exit_code != 0
    assert "--warm-start 'nope': no such study" in result.output
