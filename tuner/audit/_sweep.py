"""Measure an audit: each param swept one at a time around the defaults, the default
repeated through the run for the noise floor."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tuner.audit._judge import judge
from tuner.audit._model import AuditError, AuditResult, ParamAudit, Point
from tuner.runners.base import Candidate, Runner, TrialFailure
from tuner.spec import ParamSpec, StudySpec


def describe(spec: StudySpec) -> str:
    """The workload in a line: tests, pipelines, value size and datasets."""
    w = spec.workload
    text = (
        f"{', '.join(w.tests)} at P={'/'.join(str(p) for p in w.pipelines)}, "
        f"{w.data_size} B values, {w.clients} clients"
    )
    if spec.datasets:
        text += "; memory of " + ", ".join(d.description for d in spec.datasets)
    return text


def sweep_values(param: ParamSpec, count: int) -> list[Any]:
    """``count`` values spanning the param's range (every choice for categoricals)."""
    if param.kind == "categorical":
        return list(param.choices)
    assert param.low is not None and param.high is not None
    low, high = float(param.low), float(param.high)
    raw: list[float]
    if count <= 1:
        raw = [low]
    elif param.log and low > 0:
        raw = [
            math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (count - 1))
            for i in range(count)
        ]
    else:
        raw = [low + (high - low) * i / (count - 1) for i in range(count)]
    values: list[Any] = []
    for v in raw:
        if param.step:
            v = low + round((v - low) / float(param.step)) * float(param.step)
            v = min(max(v, low), high)
        value: Any = round(v) if param.kind == "int" else v
        if param.log and param.kind == "int" and not param.step:
            value = _nearest_power_of_two(int(value), int(low), int(high))
        if value not in values:
            values.append(value)
    return values


#: Candidate values tried when a constraint cuts a param's range (with the others at default).
_FEASIBILITY_GRID = 65


def feasible_sweep(spec: StudySpec, param: ParamSpec, count: int) -> tuple[list[Any], list[str]]:
    """The sweep, restricted to values that satisfy the constraints with the others at default.

    Returns the values and the constraints that cut the range (empty when none did).
    """
    defaults = spec.defaults()

    def broken(value: Any) -> list[str]:
        candidate = {**defaults, param.name: value}
        return [c.expr for c in spec.param_constraints if not c.satisfied(candidate)]

    values = sweep_values(param, count)
    if not any(broken(v) for v in values):
        return values, []
    grid = sweep_values(param, _FEASIBILITY_GRID) if param.kind != "categorical" else values
    cut = sorted({expr for v in grid for expr in broken(v)})
    feasible = [v for v in grid if not broken(v)]
    if len(feasible) <= count:
        return feasible, cut
    picks = sorted({round(i * (len(feasible) - 1) / (count - 1)) for i in range(count)})
    return [feasible[i] for i in picks], cut


def _nearest_power_of_two(value: int, low: int, high: int) -> int:
    """Round a log-spaced int to a power of two inside the range (buffer sizes read well)."""
    if value <= 0:
        return value
    candidate = 2 ** round(math.log2(value))
    return candidate if low <= candidate <= high else value


def _measure(
    runner: Runner, spec: StudySpec, params: dict[str, Any], value: Any, reps: int | None
) -> Point:
    runtime, build = spec.split(params)
    try:
        m = runner.evaluate(Candidate(runtime, build), repetitions=reps)
    except TrialFailure as failure:
        return Point(value, None, failure=failure.reason, log_tail=failure.log_tail[-1000:])
    per_test: dict[str, tuple[float, float | None]] = {}
    for unit, ratio in m.per_test.items():
        ci = m.per_test_ci.get(unit)
        width = 100.0 * (ci[1] - ci[0]) if ci and all(math.isfinite(c) for c in ci) else None
        per_test[unit] = (100.0 * ratio, width)
    figures: dict[str, float] = {}
    if math.isfinite(m.p99_ratio) and m.p99_ratio > 0:
        figures["p99"] = 100.0 * m.p99_ratio
    if m.memory is not None and math.isfinite(m.memory.memory_ratio):
        figures["memory"] = 100.0 * m.memory.memory_ratio
    return Point(value, m.fitness, m.ci_low, m.ci_high, per_test=per_test, figures=figures)


#: Called before each measurement with (what is measured, index from 1, total).
ProgressCallback = Callable[[str, int, int], None]


def audit_space(
    spec: StudySpec,
    runner: Runner,
    *,
    values: int = 4,
    default_repeats: int = 5,
    repetitions: int | None = None,
    only: Sequence[str] = (),
    on_measure: ProgressCallback | None = None,
) -> AuditResult:
    """Sweep each param around the defaults and judge it against the noise band."""
    if default_repeats < 2:
        raise AuditError("--default-repeats must be at least 2 to estimate the noise floor")
    if values < 2:
        raise AuditError("--values must be at least 2 to span a param's range")
    known = {p.name for p in spec.params}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise AuditError(
            f"unknown param(s) {', '.join(unknown)}; the spec has: {', '.join(sorted(known))}"
        )
    defaults = spec.defaults()
    audits: list[ParamAudit] = []
    plan: list[tuple[ParamAudit, Any]] = []
    for param in spec.params:
        if only and param.name not in only:
            continue
        audit = ParamAudit(param)
        audits.append(audit)
        sweep, limited_by = feasible_sweep(spec, param, values)
        audit.limited_by = limited_by
        for value in sweep:
            if value != param.default:  # The default value is measured by the repeats.
                plan.append((audit, value))
    # Spread the default's repeats evenly through the audit: drift shows up in D.
    slots = len(plan) + default_repeats
    positions = {round(i * (slots - 1) / (default_repeats - 1)) for i in range(default_repeats)}
    remaining = iter(plan)
    schedule: list[tuple[ParamAudit | None, Any]] = [
        (None, None) if slot in positions else next(remaining) for slot in range(slots)
    ]
    default_points: list[Point] = []
    for index, (swept, value) in enumerate(schedule, start=1):
        if swept is None:
            if on_measure:
                on_measure("default config", index, len(schedule))
            default_points.append(_measure(runner, spec, defaults, None, repetitions))
            continue
        if on_measure:
            on_measure(f"{swept.param.name} = {value}", index, len(schedule))
        params = {**defaults, swept.param.name: value}
        swept.points.append(_measure(runner, spec, params, value, repetitions))
    return judge(
        spec.name, runner.name, repetitions, default_points, audits, workload=describe(spec)
    )
