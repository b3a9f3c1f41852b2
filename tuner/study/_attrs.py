"""The trial-attribute codec: the names and shapes of what a trial records.

The loop writes these attrs and finalize, the reports and the dashboard read them, so
both sides use this one module for names and for the measurement's fields.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, Trial

from tuner.runners.base import Measurement, Progress

if TYPE_CHECKING:
    from tuner.study._racing import RacedOut

FAILURE_RUNNER = "runner"
FAILURE_CONSTRAINT = "constraint"
FAILURE_INTERRUPTED = "interrupted"
FAILURE_ERROR = "error"
FAILURE_BUDGET = "budget"
#: ``stop_reason`` of a trial stopped by racing (tuner.study._racing); PRUNED state.
STOP_RACED_OUT = "raced_out"

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
        "dropped_repetitions",
        "build_tag",
        "timings",
        "config",
        "runner",
    }
)
#: User attrs a measured trial of a spec with a dataset carries besides: the ratios
#: constraints and objectives name, and the bytes per key behind them (``memory``).
MEMORY_TRIAL_ATTRS = frozenset({"memory_ratio", "rss_ratio", "memory"})
#: System attr holding a trial's full benchmark result (every raw run).
DETAIL_ATTR = "measurement_detail"


def measured_values(m: Measurement) -> dict[str, float]:
    """The names outcome constraints and objectives may use (memory ones with a dataset)."""
    values = {
        "fitness": m.fitness,
        "p99_ratio": m.p99_ratio,
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
    }
    if m.memory is not None:
        values["memory_ratio"] = m.memory.memory_ratio
        values["rss_ratio"] = m.memory.rss_ratio
    return values


def measurement_fields(m: Measurement) -> dict[str, Any]:
    """A measurement as JSON-able fields (finalize's rounds keep exactly these)."""
    return {
        "fitness": m.fitness,
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
        "p99_ratio": m.p99_ratio,
        "per_test": dict(m.per_test),
        "per_test_ci": {t: list(ci) for t, ci in m.per_test_ci.items()},
        "repetitions": m.repetitions,
        "stop_reason": m.stop_reason,
        "dropped_repetitions": m.dropped_repetitions,
        "build_tag": m.build_tag,
        **memory_fields(m),
    }


def memory_fields(m: Measurement) -> dict[str, Any]:
    """``memory_ratio``, ``rss_ratio`` and the bytes per key, or {} without a dataset."""
    if m.memory is None:
        return {}
    return {
        "memory_ratio": m.memory.memory_ratio,
        "rss_ratio": m.memory.rss_ratio,
        "memory": m.memory.to_dict(),
    }


def measurement_attrs(m: Measurement) -> dict[str, Any]:
    """The user attrs a measured trial carries (``fitness_ci_*`` names, plus timings)."""
    fields = measurement_fields(m)
    fields["fitness_ci_low"] = fields.pop("ci_low")
    fields["fitness_ci_high"] = fields.pop("ci_high")
    return {**fields, "timings": dict(m.timings)}


def record_measurement(trial: Trial, m: Measurement) -> None:
    """Write a measurement's attrs to a running trial; raw runs go to a system attr."""
    for key, value in measurement_attrs(m).items():
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


def record_progress(trial: Trial, p: Progress) -> None:
    """Write the running figures of a pruned trial."""
    trial.set_user_attr("fitness", p.fitness)
    trial.set_user_attr("fitness_ci_low", p.ci_low)
    trial.set_user_attr("fitness_ci_high", p.ci_high)
    trial.set_user_attr("repetitions", p.repetition)
    trial.set_user_attr("stop_reason", "pruned")


def record_raced_out(trial: Trial, raced: RacedOut) -> None:
    """Flag a trial that racing stopped: its value is its running estimate, not a full one."""
    trial.set_user_attr("stop_reason", STOP_RACED_OUT)
    trial.set_user_attr(
        "raced_out",
        {
            "repetition": raced.progress.repetition,
            "upper_bound": raced.bound,
            "incumbent_trial": raced.incumbent.number,
            "incumbent_fitness": raced.incumbent.fitness,
        },
    )
