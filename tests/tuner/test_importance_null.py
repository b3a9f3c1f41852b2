"""Importance against a permutation null: dead params are marked, a live one is not."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import PedAnovaImportanceEvaluator
from typer.testing import CliRunner

from tuner.cli import app
from tuner.importance import _divergences, _top, importance_vs_null, permutations_for

DISTRIBUTIONS = {
    "live": FloatDistribution(0.0, 1.0),
    "dead.int": IntDistribution(1, 4096, log=True),
    "dead.step": IntDistribution(0, 4096, step=32),
    "dead.float": FloatDistribution(0.0, 1.0),
    "dead.choice": CategoricalDistribution(["a", "b", "c"]),
}


def _study(seed: int, trials: int) -> optuna.Study:
    """Random configs; fitness rises 30 points over ``live`` (noise sd 2), the rest do nothing."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction="maximize")
    for _ in range(trials):
        params = {
            "live": float(rng.uniform()),
            "dead.int": int(np.exp(rng.uniform(0, np.log(4096)))),
            "dead.step": int(rng.integers(0, 129)) * 32,
            "dead.float": float(rng.uniform()),
            "dead.choice": str(rng.choice(["a", "b", "c"])),
        }
        value = 80.0 + 30.0 * params["live"] + float(rng.normal(0, 2))
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, value=value)
        )
    return study


def test_the_live_param_stands_out_and_the_dead_ones_do_not() -> None:
    started = time.monotonic()
    live_found, dead_marked, dead_total = 0, 0, 0
    for seed in range(6):
        rows = {r.name: r for r in importance_vs_null(_study(seed, 60))}
        assert set(rows) == set(DISTRIBUTIONS)
        assert abs(sum(r.importance for r in rows.values()) - 1.0) < 1e-9
        live_found += rows["live"].distinguishable
        # The live param's p-value is at the floor: no permuted copy reaches it.
        assert rows["live"].p_value < 0.01
        for name, row in rows.items():
            if name != "live":
                dead_total += 1
                dead_marked += not row.distinguishable
    # Holm keeps false calls at <= 5% per study; 23 of 24 leaves room for one.
    assert live_found == 6
    assert dead_marked >= dead_total - 1
    assert time.monotonic() - started < 60


def test_ten_trials_cannot_tell_any_param_from_chance() -> None:
    # The top 10% of 10 trials is one trial: at most 1 in ~10 permutations can do worse.
    rows = importance_vs_null(_study(0, 10))
    assert rows and not any(r.distinguishable for r in rows)
    assert min(r.p_value for r in rows) > 0.05


def test_the_copies_are_scored_as_the_dashboard_scores_the_param() -> None:
    # The null's own scoring of the real top set gives the dashboard's normalised numbers,
    # so a change inside Optuna's PED-ANOVA cannot silently make the two disagree.
    study = _study(2, 40)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    evaluator = PedAnovaImportanceEvaluator()
    top = sorted(_top(trials, lambda t: -t.values[0], evaluator._target_quantile))
    mine = {
        name: _divergences(name, dist, [t.params[name] for t in trials], [top], evaluator)[0]
        for name, dist in DISTRIBUTIONS.items()
    }
    total = sum(mine.values())
    shown = {r.name: r.importance for r in importance_vs_null(study, permutations=19)}
    for name, value in mine.items():
        assert abs(value / total - shown[name]) < 1e-6, name


def test_the_null_is_deterministic_and_needs_two_trials() -> None:
    study = _study(1, 30)
    assert importance_vs_null(study) == importance_vs_null(study)
    assert importance_vs_null(_study(0, 1)) == []
    # Enough copies that Holm's first threshold, alpha / params, can be met.
    assert 1 / (1 + permutations_for(9)) < 0.05 / 9


def test_study_show_marks_the_dead_params(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'synthetic.db'}"
    study = optuna.create_study(study_name="synthetic", storage=storage, direction="maximize")
    study.add_trials(_study(0, 60).get_trials())
    done = CliRunner().invoke(app, ["study", "show", "synthetic", "--storage", storage, "--json"])
    assert done.exit_code == 0, done.output
    rows = {r["name"]: r for r in json.loads(done.output)["importance"]["Objective 0"]}
    assert rows["live"]["distinguishable"]
    assert not any(r["distinguishable"] for name, r in rows.items() if name != "live")
    table = CliRunner().invoke(app, ["study", "show", "synthetic", "--storage", storage])
    assert table.exit_code == 0, table.output
    assert "vs permuted copies" in table.output
    lines = [line for line in table.output.splitlines() if "dead." in line or " live " in line]
    assert sum("~ null" in line for line in lines if "dead." in line) == 4
