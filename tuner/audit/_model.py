"""What an audit measured and decided: points, per-param sweeps and the whole result.

The result round-trips through JSON (:meth:`AuditResult.to_dict` / ``from_dict``) so a
sweep over several workloads keeps each finished workload's audit on disk, and
``tuner space across`` can compare them later without measuring again.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tuner.spec import ParamSpec

RULE = (
    "effect = max - min of per-value fitness (the default value: median of its repeated "
    "measurements); noise band = max(D, W), D = max - min of the default's repeated "
    "fitnesses, W = median CI width (ci_high - ci_low) of all audit measurements; "
    "a param moves fitness when effect > 1.25 x noise band, is borderline when effect > "
    "noise band, else it is within noise."
)
#: Effect / noise band above which a param moves fitness (see the package docstring).
MARGIN = 1.25
#: The per-test-unit margin: wider than MARGIN, as each unit is another chance of a fluke.
TEST_MARGIN = 1.5
MOVES = "moves fitness"
BORDERLINE = "borderline"
WITHIN_NOISE = "within noise"

#: Figures besides fitness, judged by the same rule (effect > MARGIN x band), each lower
#: is better, x 100 of the baseline: p99 latency ratio and used_memory per key ratio.
FIGURES = ("p99", "memory")
#: Smallest noise band of a figure, in points of x 100. used_memory is nearly exact, so the
#: default's repeats can agree to 0.1 point; a knob must move memory by more than 1% of the
#: baseline's bytes (times MARGIN) to count. p99 varies far more between measurements than
#: five repeats of the default show: in the sweep of 2026-12-06 (server/KNOBS.md), thresholds
#: that cannot act on a workload (sorted-set and hash thresholds where it has neither) moved
#: p99 by up to 12.4 points, 4.1x a band of 3.0. The 10-point floor (a 10% p99 change, times
#: MARGIN) keeps every one of those within the noise.
FIGURE_FLOORS = {"p99": 10.0, "memory": 1.0}
FIGURE_RULE = (
    "p99 (p99 latency ratio x 100) and memory (used_memory per key ratio x 100, measured "
    "when the workload loads a dataset) follow the same rule, lower being better; their "
    "band is max(D, floor), floor = 10 points for p99 (knobs that cannot act moved it up to "
    "12.4 points) and 1.0 point for memory, and a figure moves when effect > 1.25 x band."
)


def verdict(effect: float, band: float) -> str:
    """Apply :data:`RULE` to one param's effect."""
    if effect > MARGIN * band:
        return MOVES
    return BORDERLINE if effect > band else WITHIN_NOISE


class AuditError(ValueError):
    """The audit cannot run as asked (unknown param, too few repeats...)."""


@dataclass(frozen=True)
class Point:
    """One measurement of one config."""

    value: Any
    fitness: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    failure: str | None = None
    log_tail: str = ""
    #: test unit -> (ratio x 100, CI width x 100 or None)
    per_test: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    #: figure (see FIGURES) -> value x 100; absent when not measured (no dataset: no memory)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def ci_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_high - self.ci_low

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Point:
        return cls(
            data["value"],
            data["fitness"],
            data.get("ci_low"),
            data.get("ci_high"),
            data.get("failure"),
            data.get("log_tail", ""),
            {u: (float(v[0]), v[1]) for u, v in data.get("per_test", {}).items()},
            {k: float(v) for k, v in data.get("figures", {}).items()},
        )


@dataclass(frozen=True)
class FigureEffect:
    """How far one param moved one figure, against that figure's noise band."""

    effect: float
    band: float
    #: The swept value with the lowest figure (lower is better for every figure).
    best_value: Any

    @property
    def moves(self) -> bool:
        return self.band > 0 and verdict(self.effect, self.band) == MOVES

    @property
    def times_band(self) -> float:
        return self.effect / self.band if self.band > 0 else math.inf


@dataclass
class ParamAudit:
    """One param's sweep and verdict."""

    param: ParamSpec
    points: list[Point] = field(default_factory=list)
    limited_by: list[str] = field(default_factory=list)
    default_fitness: float | None = None
    effect: float | None = None
    verdict: str = ""
    #: The test unit moved most relative to its own noise band: (unit, effect, effect/band).
    top_test: tuple[str, float, float] | None = None
    #: figure -> its effect, band and best value (only figures that were measured)
    figures: dict[str, FigureEffect] = field(default_factory=dict)
    #: figure -> the default's median, for the per-value cells
    default_figures: dict[str, float] = field(default_factory=dict)

    @property
    def test_moves(self) -> bool:
        return self.top_test is not None and self.top_test[2] > TEST_MARGIN

    @property
    def moved_figures(self) -> list[str]:
        return [name for name, f in self.figures.items() if f.moves]

    @property
    def dead(self) -> bool:
        """No figure (fitness, any test unit, p99, memory) moves beyond the noise."""
        return self.verdict == WITHIN_NOISE and not self.test_moves and not self.moved_figures

    def per_value(self) -> list[tuple[Any, float]]:
        """(value, fitness) for every measured value, the default's median included."""
        rows = [(p.value, p.fitness) for p in self.points if p.fitness is not None]
        if self.default_fitness is not None:
            rows.append((self.param.default, self.default_fitness))
        return sorted(((v, f) for v, f in rows if f is not None), key=lambda vf: sort_key(vf[0]))

    def figure_per_value(self, figure: str) -> list[tuple[Any, float]]:
        """(value, figure) for every value that measured it, the default's median included."""
        rows = [(p.value, p.figures[figure]) for p in self.points if figure in p.figures]
        if figure in self.default_figures:
            rows.append((self.param.default, self.default_figures[figure]))
        return sorted(rows, key=lambda vf: sort_key(vf[0]))

    @property
    def best_value(self) -> Any:
        rows = self.per_value()
        return max(rows, key=lambda vf: vf[1])[0] if rows else None


@dataclass
class AuditResult:
    """Every param's sweep, the default's repeats and the noise band."""

    spec_name: str
    runner: str
    repetitions: int | None
    defaults: list[Point]
    params: list[ParamAudit]
    default_range: float
    median_ci_width: float
    finished_at: datetime
    #: test unit -> its noise band (ratio x 100)
    test_bands: dict[str, float] = field(default_factory=dict)
    #: figure -> its noise band (x 100), for the figures the defaults measured
    figure_bands: dict[str, float] = field(default_factory=dict)
    #: what the workload was, in a line (for a sweep over several workloads)
    workload: str = ""

    @property
    def noise_band(self) -> float:
        return max(self.default_range, self.median_ci_width)

    @property
    def default_median(self) -> float | None:
        values = [p.fitness for p in self.defaults if p.fitness is not None]
        return statistics.median(values) if values else None

    def param(self, name: str) -> ParamAudit:
        for audit in self.params:
            if audit.param.name == name:
                return audit
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The measurements only: judging them again (``judge``) gives this result back."""
        return {
            "spec_name": self.spec_name,
            "runner": self.runner,
            "repetitions": self.repetitions,
            "workload": self.workload,
            "finished_at": self.finished_at.isoformat(),
            "defaults": [p.to_dict() for p in self.defaults],
            "params": [
                {
                    "param": _param_to_dict(a.param),
                    "limited_by": list(a.limited_by),
                    "points": [p.to_dict() for p in a.points],
                }
                for a in self.params
            ],
        }


def _param_to_dict(param: ParamSpec) -> dict[str, Any]:
    return {
        "name": param.name,
        "kind": param.kind,
        "default": param.default,
        "stage": param.stage,
        "low": param.low,
        "high": param.high,
        "step": param.step,
        "log": param.log,
        "choices": list(param.choices),
    }


def param_from_dict(data: dict[str, Any]) -> ParamSpec:
    """The param as an audit file keeps it (enough to judge and render, no distribution)."""
    return ParamSpec(
        name=data["name"],
        kind=data["kind"],
        default=data["default"],
        stage=data.get("stage", "runtime"),
        low=data.get("low"),
        high=data.get("high"),
        step=data.get("step"),
        log=bool(data.get("log", False)),
        choices=tuple(data.get("choices", ())),
    )


def sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
