"""Parsing of [workload], [objective], [budget] and [sampler], and durations."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from tuner.spec._errors import SpecError
from tuner.spec._fields import int_field, only_keys, positive, str_field
from tuner.spec._model import (
    DEFAULT_PARETO,
    OBJECTIVES,
    PARETO_OBJECTIVES,
    PRUNERS,
    BudgetSpec,
    ObjectiveSpec,
    SamplerSpec,
)

__all__ = [
    "parse_budget",
    "parse_duration",
    "parse_objective",
    "parse_sampler",
    "parse_workload",
]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, field_name: str = "timeout") -> float:
    """Seconds from ``3600``, ``"90m"``, ``"10h"``, ``"1h30m"``; raises SpecError."""
    if isinstance(value, bool):
        raise SpecError(f"{field_name}: expected a duration like '10h' or seconds, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_RE.findall(text)
            if not parts or _DURATION_RE.sub("", text).strip():
                raise SpecError(
                    f"{field_name}: {value!r} is not a duration (use e.g. '10h', '90m', '1h30m')"
                ) from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise SpecError(f"{field_name}: expected a duration like '10h', got {value!r}")
    if seconds <= 0 or not math.isfinite(seconds):
        raise SpecError(f"{field_name}: must be positive, got {value!r}")
    return seconds


def parse_workload(w: Mapping[str, Any]) -> Any:
    """The throughput workload (``[workload]`` less its ``dataset`` table)."""
    from benchmark.workload import Workload, WorkloadError

    try:
        return Workload.from_dict({k: v for k, v in w.items() if k != "dataset"})
    except WorkloadError as exc:
        message = str(exc)
        raise SpecError(
            message if message.startswith("workload") else f"workload: {message}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"workload: {exc}") from None


def parse_objective(o: Mapping[str, Any]) -> ObjectiveSpec:
    only_keys(o, "objective", {"kind", "pruner", "max_p99_ratio", "racing_confidence", "pareto"})
    kind = str_field(o, "objective.kind") or "throughput"
    if kind not in OBJECTIVES:
        hint = ""
        if kind in PARETO_OBJECTIVES:
            hint = (
                ' (to trade throughput against it: kind = "pareto", '
                f'pareto = ["throughput", "{kind}"])'
            )
        raise SpecError(f"objective.kind: {kind!r} is not one of {', '.join(OBJECTIVES)}{hint}")
    pareto = _pareto_names(o, kind)
    pruner = str_field(o, "objective.pruner") or ("racing" if kind == "throughput" else "none")
    if pruner not in PRUNERS:
        raise SpecError(f"objective.pruner: {pruner!r} is not one of {', '.join(PRUNERS)}")
    if kind == "pareto" and pruner != "none":
        raise SpecError("objective.pruner: Optuna cannot prune multi-objective studies; use 'none'")
    max_p99 = o.get("max_p99_ratio")
    if max_p99 is not None:
        max_p99 = positive(o, "objective.max_p99_ratio", 1.0)
    racing_confidence = _fraction(o, "objective.racing_confidence", 0.95, low=0.5, high=0.9999)
    return ObjectiveSpec(
        kind=kind,
        pruner=pruner,
        max_p99_ratio=max_p99,
        racing_confidence=racing_confidence,
        pareto=pareto,
    )


def _pareto_names(o: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    """``objective.pareto``: 2 or 3 distinct known names, throughput first."""
    raw = o.get("pareto")
    if raw is None:
        return DEFAULT_PARETO
    if kind != "pareto":
        raise SpecError('objective.pareto: only for kind = "pareto"')
    known = ", ".join(PARETO_OBJECTIVES)
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise SpecError(f"objective.pareto: expected a list of names ({known}), got {raw!r}")
    for name in raw:
        if name not in PARETO_OBJECTIVES:
            raise SpecError(f"objective.pareto: unknown objective {name!r} (known: {known})")
    if len(set(raw)) != len(raw) or not 2 <= len(raw) <= 3:
        raise SpecError(f"objective.pareto: expected 2 or 3 distinct names, got {raw!r}")
    if raw[0] != "throughput":
        # Finalize ranks the front by the first value and measures its gain over the default.
        raise SpecError(f"objective.pareto: the first objective must be 'throughput', got {raw!r}")
    return tuple(raw)


def _fraction(
    t: Mapping[str, Any], where: str, default: float, *, low: float, high: float
) -> float:
    """A number strictly inside (low, high] (a confidence, a step size); SpecError if not."""
    key = where.rsplit(".", 1)[-1]
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{where}: expected a number in ({low}, {high}], got {value!r}")
    if not low < value <= high:
        raise SpecError(f"{where}: must be in ({low}, {high}], got {value}")
    return float(value)


def parse_budget(b: Mapping[str, Any]) -> BudgetSpec:
    only_keys(
        b,
        "budget",
        {"trials", "timeout", "repetitions", "finalists", "finalist_repetitions", "min_gain_pct"},
    )
    min_gain = b.get("min_gain_pct", 1.0)
    if (
        isinstance(min_gain, bool)
        or not isinstance(min_gain, int | float)
        or not 0 <= min_gain < 100
    ):
        raise SpecError(
            f"budget.min_gain_pct: expected a percentage in [0, 100), got {min_gain!r} "
            "(the smallest gain over the default that finalize may export)"
        )
    timeout = b.get("timeout")
    return BudgetSpec(
        trials=int_field(b, "budget.trials", 100, minimum=1),
        timeout_s=None if timeout is None else parse_duration(timeout, "budget.timeout"),
        repetitions=int_field(b, "budget.repetitions", None, minimum=1),
        finalists=int_field(b, "budget.finalists", 3, minimum=0),
        finalist_repetitions=int_field(b, "budget.finalist_repetitions", 20, minimum=1),
        min_gain_pct=float(min_gain),
    )


def parse_sampler(s: Mapping[str, Any]) -> SamplerSpec:
    only_keys(s, "sampler", {"name", "seed", "population_size", "sigma0"})
    sigma0 = None
    if "sigma0" in s:
        # CMA-ES works on params scaled to [0, 1]: a step beyond the whole range is nonsense.
        sigma0 = _fraction(s, "sampler.sigma0", 0.0, low=0.0, high=1.0)
    return SamplerSpec(
        sigma0=sigma0,
        name=str_field(s, "sampler.name") or "auto",
        seed=int_field(s, "sampler.seed", None, minimum=0),
        population_size=int_field(s, "sampler.population_size", None, minimum=2),
    )
