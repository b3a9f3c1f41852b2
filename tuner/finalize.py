"""Pick a winner that is not a lucky draw: the default is kept unless a finalist beats it.

The top-k distinct feasible configs of the search (by fitness; for Pareto studies the
front, best fitness first) and the spec's default config are measured again in
interleaved rounds (default, A, B, C, then rotated; each round restarts the servers), each
round of at least the stop floor of repetitions (6 at 95%), until each has
``finalist_repetitions`` (at most MAX_ROUNDS rounds). A finalist's gain over the default
is the random-effects pool (benchmark/pooling.py) of its per-round log ratio to the
default's fitness measured in the same round, so restart-to-restart spread widens it.
A finalist clearly worse than the default (gain CI below 0) after a round is dropped.

A finalist wins only if its gain is significant after Holm's correction over the k
comparisons (one-sided, at (1 - confidence) / 2) and at least ``budget.min_gain_pct``;
otherwise the default is exported, saying by how much the best finalist did (not) beat it.
Results go to study user_attrs ``finalists`` and ``winner`` and to
``studies/NAME/best_config.toml`` (``.conf``/``.json`` for a redis- or JSON-format target).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from scipy import stats as scipy_stats

from benchmark import pooling, stats
from benchmark.significance import holm
from tuner.export import config_header, export_name, write_config
from tuner.runners.base import Candidate, Runner, TrialFailure
from tuner.spec import MEMORY_OUTCOMES, StudySpec
from tuner.study import ProgressSink, measurement_fields, study_dir

#: Finalists are measured in interleaved rounds until each has ``finalist_repetitions``
#: paired repetitions (each round asks for the stop floor, so it has exactly that many
#: unless the runner fails), at most this many rounds.
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
    floor = stop_floor(spec)
    default_entry = entries[0]
    for round_number in range(1, MAX_ROUNDS + 1):
        pending = [
            e for e in entries[1:] if e["status"] == "measured" and _repetitions(e) < repetitions
        ]
        if default_entry["status"] != "measured":
            pending = []  # nothing to compare with: no more rounds
        if not pending and (default_entry["rounds"] or default_entry["status"] != "measured"):
            break
        if default_entry["status"] == "measured":
            pending = [default_entry, *pending]
        # Rotate the order each round so no finalist always runs first (drift, warm caches).
        shift = (round_number - 1) % len(pending)
        for entry in pending[shift:] + pending[:shift]:
            label = entry["label"]
            sink.message(f"finalist {label}: round {round_number}, {floor} repetitions")
            started = time.monotonic()
            try:
                m = runner.evaluate(Candidate(entry["config"], entry["build"]), repetitions=floor)
            except TrialFailure as failure:
                entry.update(
                    status="failed",
                    failure_reason=failure.reason,
                    log_tail=failure.log_tail[-2000:],
                )
                sink.message(f"finalist {label}: FAILED {failure.reason}")
                continue
            entry["rounds"].append(
                {
                    **measurement_fields(m),
                    "round": round_number,
                    "seconds": time.monotonic() - started,
                }
            )
            entry.update(pool_rounds(entry["rounds"], confidence))
            entry["seconds"] = sum(r["seconds"] for r in entry["rounds"])
            entry["feasible"] = all(c.satisfied(entry) for c in spec.outcome_constraints)
            sink.message(
                f"finalist {label}: fitness {entry['fitness']:.1f} "
                f"[{entry['ci_low']:.1f}, {entry['ci_high']:.1f}] "
                f"p99x {entry['p99_ratio']:.2f} reps {entry['repetitions']}"
            )
        if default_entry["status"] != "measured":
            continue
        for entry in entries[1:]:
            if entry["status"] != "measured" or not entry["rounds"]:
                continue
            entry.update(gain_over_default(entry, default_entry, confidence))
            high = entry.get("gain_high_pct")
            if high is not None and math.isfinite(high) and high < 0:
                entry["status"] = "dropped"
                entry["drop_reason"] = (
                    f"clearly worse than the default after round {round_number}: gain "
                    f"{entry['gain_pct']:+.1f}% [{entry['gain_low_pct']:+.1f}, {high:+.1f}]"
                )
                sink.message(f"finalist {entry['label']}: dropped, {entry['drop_reason']}")
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
    path = (out_dir or study_dir(study.study_name)) / export_name(spec)
    write_config(path, winner["config"], config_header(study.study_name, winner, spec), spec)
    winner["path"] = str(path)
    study.set_user_attr("winner", winner)
    sink.message(
        f"winner {winner['label']}: fitness {winner['fitness']:.1f} "
        f"[{winner['ci_low']:.1f}, {winner['ci_high']:.1f}] -> {path}"
    )
    sink.message(winner["how"])
    return winner


def stop_floor(spec: StudySpec) -> int:
    """Repetitions per finalize round: the runner's CI stop floor (6 at 95%)."""
    confidence = float(getattr(spec.workload, "confidence", 0.95))
    minimum = int(getattr(spec.workload, "min_repetitions", 1) or 1)
    return max(minimum, stats.min_repetitions_for(confidence))


#: Fewest finalize rounds whose pooled gain says something: the random-effects pool is a
#: t-interval on rounds - 1 degrees of freedom (12.7 standard errors wide at 2 rounds, 4.3 at 3).
MIN_INFORMATIVE_ROUNDS = 3


def planned_rounds(spec: StudySpec, repetitions: int | None = None) -> int:
    """Finalize rounds needed to give each finalist ``repetitions`` (default: the spec's)."""
    wanted = repetitions or spec.budget.finalist_repetitions
    return min(MAX_ROUNDS, math.ceil(wanted / stop_floor(spec)))


def few_rounds_warning(spec: StudySpec, repetitions: int | None = None) -> str | None:
    """Why this finalize cannot tell a gain from noise, or None when it has rounds enough."""
    rounds = planned_rounds(spec, repetitions)
    if rounds >= MIN_INFORMATIVE_ROUNDS:
        return None
    wanted = repetitions or spec.budget.finalist_repetitions
    floor = stop_floor(spec)
    confidence = float(getattr(spec.workload, "confidence", 0.95))
    if rounds < 2:
        why = (
            "one round cannot see the spread between server restarts, so the gain's CI is "
            "narrower than it claims"
        )
    else:
        factor = float(scipy_stats.t.ppf(0.5 + confidence / 2, rounds - 1))
        why = (
            f"the gain's CI is {factor:.1f} standard errors either side, so only a very "
            "large gain can beat the default"
        )
    return (
        f"budget.finalist_repetitions = {wanted} gives {rounds} finalize round"
        f"{'s' if rounds != 1 else ''} of {floor} repetitions: {why}; set it to at least "
        f"{MIN_INFORMATIVE_ROUNDS * floor} for {MIN_INFORMATIVE_ROUNDS} rounds"
    )


def gain_over_default(
    entry: Mapping[str, Any], default: Mapping[str, Any], confidence: float
) -> dict[str, Any]:
    """The finalist's gain over the default, head to head: per round, the log ratio of the
    two fitnesses measured in that round (each against the same baseline), pooled over
    rounds with random effects. Empty when no round has both with a finite CI."""
    theirs = {r.get("round"): r for r in default["rounds"] if _finite_ci(r)}
    diffs: list[float] = []
    ses: list[float] = []
    for r in entry["rounds"]:
        d = theirs.get(r.get("round"))
        if d is None or not _finite_ci(r):
            continue
        diffs.append(math.log(r["fitness"]) - math.log(d["fitness"]))
        ses.append(
            math.hypot(
                pooling.se_from_ci(r["ci_low"], r["ci_high"], confidence),
                pooling.se_from_ci(d["ci_low"], d["ci_high"], confidence),
            )
        )
    if not diffs:
        return {}
    pooled = pooling.random_effects(diffs, ses)
    low, high = pooled.interval(confidence)
    return {
        "gain_pct": (math.exp(pooled.estimate) - 1.0) * 100.0,
        "gain_low_pct": (math.exp(low) - 1.0) * 100.0,
        "gain_high_pct": (math.exp(high) - 1.0) * 100.0,
        "gain_p_value": pooled.p_above(0.0),
        "gain_rounds": len(diffs),
        "gain_tau": math.sqrt(pooled.tau2),
    }


def choose_winner(
    entries: list[dict[str, Any]], spec: StudySpec, repetitions: int
) -> dict[str, Any] | None:
    """The default, unless an eligible finalist beats it head to head: Holm-significant
    over the k compared finalists and by at least ``budget.min_gain_pct``."""
    confidence = float(getattr(spec.workload, "confidence", 0.95))
    min_gain = spec.budget.min_gain_pct
    limit = spec.objective.max_p99_ratio

    def eligible(e: Mapping[str, Any]) -> bool:
        return (
            e.get("status") == "measured"
            and e.get("feasible", True)
            and (limit is None or not spec.objective.is_multi or e["p99_ratio"] <= limit)
        )

    default = next((e for e in entries if e["is_default"] and e.get("status") == "measured"), None)
    measured = sum(bool(e.get("rounds")) for e in entries)
    pct = f"{confidence:.0%}"
    rounds = planned_rounds(spec, repetitions)
    how = (
        f"Re-measured {measured} finalists (incl. the default) in up to {rounds} interleaved "
        f"rounds of {stop_floor(spec)} repetitions (finalist_repetitions {repetitions}, "
        "rounded up to whole rounds)"
    )
    if default is None:
        pool = [e for e in entries if eligible(e)]
        if not pool:
            return None
        best = max(pool, key=lambda e: e["fitness"])
        winner = json.loads(json.dumps(best, default=str))
        winner["how"] = how + "; the default could not be measured, best re-measured fitness wins."
        winner["beats_default"] = None
        return winner
    compared = [e for e in entries if not e["is_default"] and "gain_p_value" in e]
    alpha = (1.0 - confidence) / 2.0
    significant = holm([e["gain_p_value"] for e in compared], alpha)
    winners = [
        e
        for e, sig in zip(compared, significant, strict=True)
        if sig and eligible(e) and e["gain_pct"] >= min_gain
    ]
    if winners:
        best = max(winners, key=lambda e: e["gain_pct"])
        winner = json.loads(json.dumps(best, default=str))
        winner["beats_default"] = True
        winner["default_fitness"] = default["fitness"]
        winner["how"] = (
            f"{how}; it beats the default by {best['gain_pct']:+.1f}% ({pct} CI "
            f"{best['gain_low_pct']:+.1f}% to {best['gain_high_pct']:+.1f}%), significant "
            f"after Holm over {len(compared)} comparisons and at least {min_gain:g}%."
        )
        return winner
    winner = json.loads(json.dumps(default, default=str))
    winner["beats_default"] = False
    rivals = [e for e in compared if eligible(e) or e.get("status") == "dropped"]
    if rivals:
        best = max(rivals, key=lambda e: e["gain_pct"])
        winner.update(
            best_rival=best["label"],
            gain_pct=best["gain_pct"],
            gain_low_pct=best["gain_low_pct"],
            gain_high_pct=best["gain_high_pct"],
        )
        detail = (
            f"; best finalist {best['label']}: {best['gain_pct']:+.1f}% ({pct} CI "
            f"{best['gain_low_pct']:+.1f}% to {best['gain_high_pct']:+.1f}%)"
        )
    else:
        detail = ""
    winner["how"] = (
        f"{how}. The default is kept: no config beat the default by more than {min_gain:g}% "
        f"with Holm-corrected significance{detail}."
    )
    return winner


def pool_rounds(rounds: list[dict[str, Any]], confidence: float) -> dict[str, Any]:
    """Combine one config's rounds (random effects on the log scale, benchmark/pooling.py).

    A restart-to-restart spread between rounds widens the pooled CI; rounds without a
    finite CI (one repetition) count in the point estimates, not in the interval. p99 and
    per-test ratios are geometric means weighted by repetitions.
    """
    if len(rounds) == 1:  # Keep the runner's own (possibly asymmetric) interval.
        keys = ("fitness", "ci_low", "ci_high", "p99_ratio", "per_test", "repetitions")
        return {
            **{k: rounds[0][k] for k in keys},
            "per_test_ci": rounds[0].get("per_test_ci", {}),
            **{k: rounds[0][k] for k in MEMORY_OUTCOMES if k in rounds[0]},
        }
    reps = [r["repetitions"] for r in rounds]

    def geomean(values: list[float]) -> float:
        return math.exp(sum(n * math.log(v) for n, v in zip(reps, values, strict=True)) / sum(reps))

    def pooled(values: list[float], cis: list[Any]) -> tuple[float, float, float]:
        usable = [
            (math.log(v), pooling.se_from_ci(ci[0], ci[1], confidence))
            for v, ci in zip(values, cis, strict=True)
            if ci is not None and len(ci) == 2 and all(math.isfinite(x) and x > 0 for x in ci)
        ]
        if not usable:
            return geomean(values), math.nan, math.nan
        pool = pooling.random_effects([u[0] for u in usable], [u[1] for u in usable])
        low, high = pool.interval(confidence)
        return math.exp(pool.estimate), math.exp(low), math.exp(high)

    fitness, ci_low, ci_high = pooled(
        [r["fitness"] for r in rounds], [(r["ci_low"], r["ci_high"]) for r in rounds]
    )
    tests = rounds[0]["per_test"].keys()
    per_test: dict[str, float] = {}
    per_test_ci: dict[str, list[float]] = {}
    for t in tests:
        center, low, high = pooled(
            [r["per_test"][t] for r in rounds], [r.get("per_test_ci", {}).get(t) for r in rounds]
        )
        per_test[t] = center
        if math.isfinite(low):
            per_test_ci[t] = [low, high]
    return {
        "per_test_ci": per_test_ci,
        "fitness": fitness,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p99_ratio": geomean([r["p99_ratio"] for r in rounds]),
        "per_test": per_test,
        "repetitions": sum(reps),
        # Memory is measured once per round (per fresh start): the median over rounds.
        **{
            k: float(statistics.median(r[k] for r in rounds))
            for k in MEMORY_OUTCOMES
            if all(k in r for r in rounds)
        },
    }


def _finite_ci(r: Mapping[str, Any]) -> bool:
    values = (r.get("fitness"), r.get("ci_low"), r.get("ci_high"))
    return all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values)


def _repetitions(entry: Mapping[str, Any]) -> int:
    return sum(r["repetitions"] for r in entry["rounds"])


def _params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)
