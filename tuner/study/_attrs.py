"""The trial-attribute codec: the names and shapes of what a trial records.

The loop writes these attrs and finalize, the reports and the dashboard read them, so
both sides use this one module for names and for the measurement's fields. Writes go
through :func:`write_trial_attrs`: one transaction per group of attrs where the storage
can (``ResilientRDBStorage.set_trial_attrs``), as Optuna writes one attr per transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage
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


def write_trial_attrs(
    storage: BaseStorage,
    trial_id: int,
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write a running trial's attrs, in one transaction when the storage batches them."""
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDB storages in a cache
    batch = getattr(backend, "set_trial_attrs", None)
    if batch is not None:
        batch(trial_id, user_attrs, system_attrs or {})
        return
    for key, value in user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    for key, value in (system_attrs or {}).items():
        storage.set_trial_system_attr(trial_id, key, value)


def set_trial_attrs(
    trial: Trial, user_attrs: Mapping[str, Any], system_attrs: Mapping[str, Any] | None = None
) -> None:
    """:func:`write_trial_attrs` for a live ``Trial``, whose cached copy sees them too."""
    write_trial_attrs(trial.storage, trial._trial_id, user_attrs, system_attrs)
    # What Trial.set_user_attr does after its write, so trial.user_attrs stays current.
    trial._cached_frozen_trial.user_attrs.update(user_attrs)
    trial._cached_frozen_trial.system_attrs.update(system_attrs or {})


def failure_attrs(kind: str, reason: str, log_tail: str | None = None) -> dict[str, Any]:
    """The attrs of a trial that produced no measurement: why, and the log's tail."""
    attrs: dict[str, Any] = {"failure_kind": kind, "failure_reason": reason}
    if log_tail is not None:
        attrs["log_tail"] = log_tail[-4000:]
    return attrs


def record_measurement(trial: Trial, m: Measurement, extra: Mapping[str, Any] = {}) -> None:
    """Write a measurement's attrs (and ``extra``) to a running trial in one go.

    Raw runs go to a system attr: too big for the dashboard's user-attr table.
    """
    detail = {DETAIL_ATTR: json.loads(json.dumps(m.detail, default=str))} if m.detail else {}
    set_trial_attrs(trial, {**measurement_attrs(m), **extra}, detail)


def measurement_detail(trial: FrozenTrial) -> dict[str, Any]:
    """The full benchmark result of a finished trial (every raw run), or {}."""
    detail = trial.system_attrs.get(DETAIL_ATTR)
    return dict(detail) if isinstance(detail, dict) else {}


def progress_attrs(p: Progress) -> dict[str, Any]:
    """The running figures of a pruned trial."""
    return {
        "fitness": p.fitness,
        "fitness_ci_low": p.ci_low,
        "fitness_ci_high": p.ci_high,
        "repetitions": p.repetition,
        "stop_reason": "pruned",
    }


def raced_out_attrs(raced: RacedOut) -> dict[str, Any]:
    """Flags a trial that racing stopped: its value is its running estimate, not a full one."""
    return {
        "stop_reason": STOP_RACED_OUT,
        "raced_out": {
            "repetition": raced.progress.repetition,
            "upper_bound": raced.bound,
            "incumbent_trial": raced.incumbent.number,
            "incumbent_fitness": raced.incumbent.fitness,
        },
    }


def record_progress(trial: Trial, p: Progress, raced: RacedOut | None = None) -> None:
    """Write the running figures of a pruned trial (and why racing stopped it) in one go."""
    set_trial_attrs(trial, {**progress_attrs(p), **(raced_out_attrs(raced) if raced else {})})
