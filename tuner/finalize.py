"""Pick a winner that is not a lucky draw: re-measure the top configs and the default.

The top-k distinct feasible configs of the search (by fitness; for Pareto studies the
front, best fitness first) and the spec's default config are measured again, in
interleaved rounds (default, A, B, C, then rotated) so that machine drift hits all of
them alike, until each has ``finalist_repetitions`` paired repetitions; the rounds are
pooled by inverse variance. The winner is the best re-measured fitness
(Pareto: among finalists whose re-measured p99 ratio is within ``max_p99_ratio`` and that
satisfy the outcome constraints). The default can win: then nothing beat it. Results go
to study user_attrs ``finalists`` and ``winner`` and to ``studies/NAME/best_config.toml``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.export import config_header, write_config
from tuner.runners.base import Candidate, Runner, TrialFailure
from tuner.spec import StudySpec
from tuner.study import ProgressSink, measurement_fields, study_dir

#: Finalists are measured in interleaved rounds until each has ``finalist_repetitions``
#: paired repetitions (a round can stop early at the workload's CI target), at most this
#: many rounds.
MAX_ROUNDS = 6


def _feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def select_finalists(study: optuna.Study, spec: StudySpec, k: int) -> list[FrozenTrial]:
    """The k best distinct feasible COMPLETE trials of the search."""
    complete = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _feasible(t)
    ]
    pool = [t for t in study.best_trials if _feasible(t)] if spec.objective.is_multi else complete
    pool = sorted(pool, key=lambda t: t.values[0], reverse=True)
    chosen: list[FrozenTrial] = []
    seen: set[str] = set()
    for trial in pool:
        key = _params_key(trial.params)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) >= k:
            break
    return chosen


def finalize_study(
    study: optuna.Study,
    spec: StudySpec,
    runner: Runner,
    *,
    k: int | None = None,
    repetitions: int | None = None,
    progress: ProgressSink | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any] | None:
    """Re-measure finalists and the default, store them, write best_config.toml."""
    sink = progress or ProgressSink()
    k = spec.budget.finalists if k is None else k
    repetitions = repetitions or spec.budget.finalist_repetitions
    entries: list[dict[str, Any]] = []
    defaults = spec.defaults()
    default_key = _params_key(defaults)
    candidates: list[tuple[str, int | None, dict[str, Any], float | None]] = [
        ("default", None, defaults, None)
    ]
    for trial in select_finalists(study, spec, k):
        if _params_key(trial.params) == default_key:
            candidates[0] = (
                f"default (trial {trial.number})",
                trial.number,
                defaults,
                trial.values[0],
            )
        else:
            candidates.append(
                (f"trial {trial.number}", trial.number, dict(trial.params), trial.values[0])
            )

    for label, number, params, search_fitness in candidates:
        runtime, build = spec.split(params)
        entries.append(
            {
                "label": label,
                "trial_number": number,
                "is_default": label.startswith("default"),
                "params": params,
                "config": runtime,
                "build": build,
                "search_fitness": search_fitness,
                "status": "measured",
                "rounds": [],
            }
        )
    confidence = float(getattr(spec.workload, "confidence", 0.95))
    for round_number in range(1, MAX_ROUNDS + 1):
        pending = [
            e for e in entries if e["status"] == "measured" and _repetitions(e) < repetitions
        ]
        if not pending:
            break
        # Rotate the order each round so no finalist always runs first (drift, warm caches).
        shift = (round_number - 1) % len(pending)
        for entry in pending[shift:] + pending[:shift]:
            label = entry["label"]
            wanted = repetitions - _repetitions(entry)
            sink.message(f"finalist {label}: round {round_number}, up to {wanted} repetitions")
            started = time.monotonic()
            try:
                m = runner.evaluate(Candidate(entry["config"], entry["build"]), repetitions=wanted)
            except TrialFailure as failure:
                entry.update(
                    status="failed",
                    failure_reason=failure.reason,
                    log_tail=failure.log_tail[-2000:],
                )
                sink.message(f"finalist {label}: FAILED {failure.reason}")
                continue
            entry["rounds"].append({**measurement_fields(m), "seconds": time.monotonic() - started})
            entry.update(pool_rounds(entry["rounds"], confidence))
            entry["seconds"] = sum(r["seconds"] for r in entry["rounds"])
            entry["feasible"] = all(c.satisfied(entry) for c in spec.outcome_constraints)
            sink.message(
                f"finalist {label}: fitness {entry['fitness']:.1f} "
                f"[{entry['ci_low']:.1f}, {entry['ci_high']:.1f}] "
                f"p99x {entry['p99_ratio']:.2f} reps {entry['repetitions']}"
            )
    for entry in entries:
        if entry["status"] == "measured" and not entry["rounds"]:
            entry["status"] = "failed"

    winner = choose_winner(entries, spec, repetitions)
    entries = json.loads(json.dumps(entries, default=str))
    study.set_user_attr("finalists", entries)
    study.set_user_attr("winner", winner)
    if winner is None:
        sink.message("no finalist could be measured: no winner")
        return None
    path = (out_dir or study_dir(study.study_name)) / "best_config.toml"
    write_config(path, winner["config"], config_header(study.study_name, winner, spec))
    winner["path"] = str(path)
    study.set_user_attr("winner", winner)
    sink.message(
        f"winner {winner['label']}: fitness {winner['fitness']:.1f} "
        f"[{winner['ci_low']:.1f}, {winner['ci_high']:.1f}] -> {path}"
    )
    return winner


def choose_winner(
    entries: list[dict[str, Any]], spec: StudySpec, repetitions: int
) -> dict[str, Any] | None:
    """The eligible finalist with the best re-measured fitness, annotated against the default."""
    limit = spec.objective.max_p99_ratio
    eligible = [
        e
        for e in entries
        if e.get("status") == "measured"
        and e.get("feasible", True)
        and (limit is None or not spec.objective.is_multi or e["p99_ratio"] <= limit)
    ]
    if not eligible:
        return None
    best = max(eligible, key=lambda e: e["fitness"])
    winner = json.loads(json.dumps(best, default=str))
    default = next((e for e in entries if e["is_default"] and e.get("status") == "measured"), None)
    measured = sum(e.get("status") == "measured" for e in entries)
    winner["how"] = (
        f"Chosen by re-measuring {measured} finalists (incl. the default) with up to "
        f"{repetitions} repetitions each; best re-measured fitness wins."
    )
    if default is not None and not best["is_default"]:
        winner["default_fitness"] = default["fitness"]
        # Separate CIs are a conservative test: a clear win, not a lucky draw.
        winner["beats_default_clearly"] = best["ci_low"] > default["ci_high"]
    return winner


def pool_rounds(rounds: list[dict[str, Any]], confidence: float) -> dict[str, Any]:
    """Combine independent measurements of one config (fixed-effect, in log space).

    Each round's CI gives its standard error; rounds are weighted by inverse variance,
    so the pooled CI narrows as rounds add up. p99 and per-test ratios are geometric
    means weighted by repetitions.
    """
    if len(rounds) == 1:  # Keep the runner's own (possibly asymmetric) interval.
        keys = ("fitness", "ci_low", "ci_high", "p99_ratio", "per_test", "repetitions")
        return {**{k: rounds[0][k] for k in keys}, "per_test_ci": rounds[0].get("per_test_ci", {})}
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    mean, half = _pool_log(
        [math.log(r["fitness"]) for r in rounds],
        [(r["ci_low"], r["ci_high"]) for r in rounds],
        z,
    )
    reps = [r["repetitions"] for r in rounds]

    def geomean(values: list[float]) -> float:
        return math.exp(sum(n * math.log(v) for n, v in zip(reps, values, strict=True)) / sum(reps))

    tests = rounds[0]["per_test"].keys()
    per_test_ci: dict[str, list[float]] = {}
    for t in tests:
        cis = [r.get("per_test_ci", {}).get(t) for r in rounds]
        if all(ci and all(math.isfinite(v) and v > 0 for v in ci) for ci in cis):
            center, spread = _pool_log(
                [math.log(r["per_test"][t]) for r in rounds], [tuple(ci) for ci in cis], z
            )
            per_test_ci[t] = [math.exp(center - spread), math.exp(center + spread)]
    return {
        "per_test_ci": per_test_ci,
        "fitness": math.exp(mean),
        "ci_low": math.exp(mean - half),
        "ci_high": math.exp(mean + half),
        "p99_ratio": geomean([r["p99_ratio"] for r in rounds]),
        "per_test": {t: geomean([r["per_test"][t] for r in rounds]) for t in tests},
        "repetitions": sum(reps),
    }


def _pool_log(logs: list[float], cis: list[tuple[float, float]], z: float) -> tuple[float, float]:
    """Inverse-variance pooled log estimate and CI half-width; each CI gives its SE."""
    weights = [
        1.0 / max((math.log(high) - math.log(low)) / (2 * z), 1e-6) ** 2 for low, high in cis
    ]
    mean = sum(w * x for w, x in zip(weights, logs, strict=True)) / sum(weights)
    return mean, z / math.sqrt(sum(weights))


def _repetitions(entry: Mapping[str, Any]) -> int:
    return sum(r["repetitions"] for r in entry["rounds"])


def _params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)
