"""Memory as an objective and a constraint: spec errors, the codec, a mock Pareto study
of throughput against memory, its report figure and finalize.

The mock's memory model (the reply pool trades memory for throughput) makes these fast;
tests/tuner/test_memory_real.py measures real Redis 8.0.2.
"""

from __future__ import annotations

import copy
import itertools
import math
import tomllib
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tuner.finalize import finalize_study
from tuner.report import figures
from tuner.runners import RunnerUnavailable, make_runner
from tuner.runners.base import Candidate
from tuner.runners.mock import MockRunner
from tuner.signals import InterruptGuard
from tuner.spec import SpecError, StudySpec, load_spec, parse_spec
from tuner.storage import open_storage
from tuner.study import MEMORY_TRIAL_ATTRS, RunOptions, StudyLoop, open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

REPO = Path(__file__).resolve().parents[2]
DATASET = {"kind": "hash", "keys": 1000, "fields": 20, "value_size": 8}


def _pareto_data(**edits: Any) -> dict[str, Any]:
    """studies/redis-pareto.toml searching the reply pool only, throughput vs memory."""
    data = tomllib.loads((REPO / "studies" / "redis-pareto.toml").read_text())
    data["target"]["workdir"] = str(REPO / "server")
    data["param"] = [p for p in data["param"] if p["name"] == "response_pool.capacity"]
    data["workload"]["dataset"] = dict(DATASET)
    data["objective"]["pareto"] = ["throughput", "memory"]
    data["constraint"] = [{"name": "memory cap", "expr": "memory_ratio <= 1.2"}]
    data["sampler"]["population_size"] = 8
    for key, value in edits.items():
        data[key] = value
    return data


def _spec(data: dict[str, Any]) -> StudySpec:
    return parse_spec(data, base_dir=REPO / "studies")


# ------------------------------------------------------------------ the spec


def test_dataset_and_memory_pair_parse() -> None:
    data = _pareto_data()
    data["workload"]["dataset"] = [
        dict(DATASET),
        {"kind": "zset", "keys": 10, "members": 4, "value_size": 8},
    ]
    spec = _spec(data)
    hashes, zsets = spec.datasets
    assert (hashes.kind, hashes.keys, hashes.elements, hashes.value_size) == ("hash", 1000, 20, 8)
    assert (zsets.kind, zsets.elements, zsets.name) == ("zset", 4, "zset-dataset")
    assert spec.objective.metric_names == ["fitness", "memory_ratio"]
    assert spec.objective.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert spec.outcome_constraints[0].names == ("memory_ratio",)
    # A resumed study must not switch what it trades; the default pair keeps the old key.
    assert spec.search_space_key()["objective"] == "pareto(throughput,memory)"
    plain = load_spec(REPO / "studies" / "redis-pareto.toml")
    assert plain.objective.metric_names == ["fitness", "p99_ratio"] and not plain.datasets
    assert plain.search_space_key()["objective"] == "pareto"


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        _spec(data)
    return str(info.value)


def test_memory_objective_without_a_dataset_is_an_error() -> None:
    data = _pareto_data(constraint=[])
    del data["workload"]["dataset"]
    message = _error(data)
    assert message.startswith("objective.pareto: 'memory' is measured on a dataset")
    assert "[workload.dataset]" in message


def test_memory_constraint_without_a_dataset_is_an_error() -> None:
    data = _pareto_data(constraint=[{"expr": "rss_ratio <= 1.1"}])
    del data["workload"]["dataset"]
    data["objective"].pop("pareto")
    assert _error(data).startswith("constraint[0].expr: 'rss_ratio' is measured on a dataset")


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        (
            {"kind": "pareto", "pruner": "none", "pareto": ["throughput", "mem"]},
            "objective.pareto: unknown objective 'mem' (known: throughput, p99, memory, rss)",
        ),
        (
            {"kind": "memory"},
            "objective.kind: 'memory' is not one of throughput, pareto (to trade",
        ),
        (
            {"kind": "pareto", "pruner": "none", "pareto": ["memory", "throughput"]},
            "objective.pareto: the first objective must be 'throughput'",
        ),
        (
            {"kind": "pareto", "pruner": "none", "pareto": ["throughput"]},
            "objective.pareto: expected 2 or 3 distinct names",
        ),
        ({"kind": "throughput", "pareto": ["throughput", "memory"]}, "objective.pareto: only for"),
    ],
)
def test_objective_name_errors(objective: dict[str, Any], expected: str) -> None:
    assert _error(_pareto_data(objective=objective, constraint=[])).startswith(expected)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"kind": "set", "keys": 10, "fields": 3}, "workload.dataset.fields: only for kind hash"),
        ({"kind": "hash", "keys": 0}, "workload.dataset.keys: expected a positive integer"),
        ({"kind": "hash", "keys": 5, "shape": 1}, "workload.dataset.shape: unknown field"),
        ({"kind": "suite", "keys": 5}, "workload.dataset.kind: 'suite'"),
        (
            [{"kind": "hash", "keys": 5}, {"kind": "hash", "keys": 9}],
            "workload.dataset: two datasets of kind 'hash'",
        ),
    ],
)
def test_dataset_errors(dataset: Any, expected: str) -> None:
    data = _pareto_data()
    data["workload"]["dataset"] = dataset
    assert _error(data).startswith(expected)


def test_the_compose_runner_refuses_a_dataset() -> None:
    with pytest.raises(RunnerUnavailable, match=r"\[workload.dataset\].*local and mock"):
        make_runner("compose", _spec(_pareto_data()))


# ------------------------------------------------------------------ the mock


def test_mock_memory_is_there_only_with_a_dataset_and_tracks_the_pool() -> None:
    spec = _spec(_pareto_data())
    runner = MockRunner(spec, seed=3)
    empty = runner.evaluate(Candidate({"response_pool.capacity": 0})).memory
    full = runner.evaluate(Candidate({"response_pool.capacity": 4096})).memory
    assert empty is not None and full is not None
    assert full.memory_ratio / empty.memory_ratio == pytest.approx(1.6, rel=0.03)
    assert full.keys == 1000 and full.baseline_used_per_key > 0
    no_dataset = copy.deepcopy(_pareto_data(constraint=[]))
    del no_dataset["workload"]["dataset"]
    no_dataset["objective"].pop("pareto")
    assert MockRunner(_spec(no_dataset)).evaluate(Candidate({})).memory is None


def _mock_study(tmp_path: Path, spec: StudySpec, trials: int) -> optuna.Study:
    study = open_study(spec, open_storage(f"sqlite:///{tmp_path}/m.db"), study_name="m", seed=0)
    with InterruptGuard() as guard:
        StudyLoop(study, spec, make_runner("mock", spec, seed=0), guard).run(
            RunOptions(trials=trials)
        )
    return study


def test_mock_pareto_study_trades_throughput_against_memory(tmp_path: Path) -> None:
    spec = _spec(_pareto_data())
    study = _mock_study(tmp_path, spec, 16)
    assert study.metric_names == ["fitness", "memory_ratio"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 16
    for t in complete:
        a = t.user_attrs
        assert set(a) >= MEMORY_TRIAL_ATTRS, t.number
        assert t.values == [a["fitness"], a["memory_ratio"]]
        assert a["memory"]["memory_ratio"] == a["memory_ratio"]
        assert a["memory"]["candidate_used_per_key"] / a["memory"]["baseline_used_per_key"] == (
            pytest.approx(a["memory_ratio"])
        )
        assert t.constraints["memory cap"] == pytest.approx(a["memory_ratio"] - 1.2)
    infeasible = {t.number for t in complete if t.user_attrs["memory_ratio"] > 1.2}
    assert infeasible, "a 1.2 memory cap should make the biggest pools infeasible"
    front = study.best_trials
    assert not {t.number for t in front} & infeasible
    # A real trade: more than one point, more memory buying more throughput along it.
    ordered = sorted(front, key=lambda t: t.values[1])
    assert len(ordered) >= 2
    assert ordered[-1].values[1] / ordered[0].values[1] > 1.1
    assert all(a.values[0] < b.values[0] for a, b in itertools.pairwise(ordered))

    figure = figures.pareto(study)
    layout = figure.figure.layout
    assert layout.xaxis.title.text.startswith("throughput")
    assert layout.yaxis.title.text.startswith("memory: used_memory per key")
    assert "memory" in figure.caption

    # Finalize re-measures memory too and keeps the cap on its finalists.
    runner = make_runner("mock", spec, seed=5)
    winner = finalize_study(study, spec, runner, k=2, repetitions=6, out_dir=tmp_path / "out")
    entries = study.user_attrs["finalists"]
    assert winner is not None and entries
    for entry in entries:
        if entry.get("status") == "measured":
            assert math.isfinite(entry["memory_ratio"]) and "rss_ratio" in entry
            assert entry["feasible"] == (entry["memory_ratio"] <= 1.2)


def test_shipped_memory_spec_loads() -> None:
    spec = load_spec(REPO / "studies" / "redis8-memory.toml")
    assert spec.objective.metric_names == ["fitness", "memory_ratio"]
    assert spec.baseline.same_as_target
    assert {d.kind for d in spec.datasets} == {"hash", "zset"}
    assert all(d.elements == spec.workload.keyspace for d in spec.datasets)
    assert {p.name for p in spec.params} >= {
        "hash-max-listpack-entries",
        "zset-max-listpack-entries",
    }
    assert [c.names for c in spec.outcome_constraints] == [("memory_ratio",)]
