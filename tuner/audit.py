"""``tuner space audit``: which params move fitness beyond the noise, before a long study.

Each param is swept one at a time with every other param at its default: a few values
spanning its range (log-spaced for log params, every choice for categoricals). The
default config is measured several times, spread through the audit, for the noise floor.

The rule (printed with every audit, see :data:`RULE`):

* effect = max - min over the param's values of the per-value fitness, where the
  default value's fitness is the median of the default's repeated measurements;
* noise band = max(D, W): D = max - min of the default's repeated fitnesses (what the
  same config scores across runs), W = the median CI width (ci_high - ci_low) of all
  audit measurements (what one measurement cannot resolve);
* a param *moves fitness* when effect > 1.25 x noise band, is *borderline* when
  effect > noise band (re-audit it with more ``--repetitions``), otherwise it is
  *within noise*.

With as many default repeats as values per param, D is the range of as many noisy
draws of one config as the param's sweep has values, so a dead param's effect and D
come from the same distribution; W adds the margin that keeps a dead param from being
flagged by a lucky spread. The 1.25 margin was checked on the mock landscape (A/A-level
noise with outliers and per-run bias), shipped spec, 4 values, 5 default repeats, seeds
0-49: the dead param was never called "moves fitness" (41 within noise, 9 borderline);
params with true effects of 14-36 points were "moves fitness" 49-50 times of 50; true
effects of 6-7 points (about one noise band) split between the three verdicts. One-at-a-
time sweeps miss interactions: a param that only matters together with another can
look dead here.

Fitness is one figure; a knob can also move a single test (a buffer size that only
matters for LRANGE_600's big replies) while the geomean hides it. So the same rule is
applied per test unit (test@pipeline, ratio x 100, with that unit's own D and W) with a
wider margin, :data:`TEST_MARGIN`, because several units give several chances to be
fooled by noise. A param that moves neither fitness nor any unit is *dead*: no figure
moves beyond the noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from tuner.runners.base import Candidate, Runner, TrialFailure
from tuner.spec import ParamSpec, StudySpec

RULE = (
    "effect = max - min of per-value fitness (the default value: median of its repeated "
    "measurements); noise band = max(D, W), D = max - min of the default's repeated "
    "fitnesses, W = median CI width (ci_high - ci_low) of all audit measurements; "
    "a param moves fitness when effect > 1.25 x noise band, is borderline when effect > "
    "noise band, else it is within noise."
)
#: Effect / noise band above which a param moves fitness (see the module docstring).
MARGIN = 1.25
#: The per-test-unit margin: wider than MARGIN, as each unit is another chance of a fluke.
TEST_MARGIN = 1.5
MOVES = "moves fitness"
BORDERLINE = "borderline"
WITHIN_NOISE = "within noise"


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

    @property
    def ci_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_high - self.ci_low


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

    @property
    def dead(self) -> bool:
        """No figure (fitness or any test unit) moves beyond the noise."""
        test_moves = self.top_test is not None and self.top_test[2] > TEST_MARGIN
        return self.verdict == WITHIN_NOISE and not test_moves

    def per_value(self) -> list[tuple[Any, float]]:
        """(value, fitness) for every measured value, the default's median included."""
        rows = [(p.value, p.fitness) for p in self.points if p.fitness is not None]
        if self.default_fitness is not None:
            rows.append((self.param.default, self.default_fitness))
        return sorted(((v, f) for v, f in rows if f is not None), key=lambda vf: _sort_key(vf[0]))

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

    @property
    def noise_band(self) -> float:
        return max(self.default_range, self.median_ci_width)

    @property
    def default_median(self) -> float | None:
        values = [p.fitness for p in self.defaults if p.fitness is not None]
        return statistics.median(values) if values else None


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


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


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
    return Point(value, m.fitness, m.ci_low, m.ci_high, per_test=per_test)


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
    return judge(spec.name, runner.name, repetitions, default_points, audits)


def judge(
    spec_name: str,
    runner: str,
    repetitions: int | None,
    defaults: list[Point],
    audits: list[ParamAudit],
) -> AuditResult:
    """Apply :data:`RULE` to measured points."""
    default_values = [p.fitness for p in defaults if p.fitness is not None]
    if len(default_values) < 2:
        failures = {p.failure for p in defaults if p.failure}
        tail = next((p.log_tail for p in defaults if p.log_tail), "")
        raise AuditError(
            "the default config could not be measured twice, so there is no noise floor"
            + (f": {'; '.join(sorted(failures))}" if failures else "")
            + (f"\n{tail}" if tail else "")
        )
    default_values = [f for f in default_values if math.isfinite(f)]
    if len(default_values) < 2:
        raise AuditError("the default config's measurements are not finite numbers")
    default_range = max(default_values) - min(default_values)
    widths = [
        w
        for p in [*defaults, *(q for a in audits for q in a.points)]
        if (w := p.ci_width) is not None and math.isfinite(w)
    ]
    median_width = statistics.median(widths) if widths else 0.0
    band = max(default_range, median_width)
    default_median = statistics.median(default_values)
    for audit in audits:
        audit.default_fitness = default_median
        fitnesses = [f for _, f in audit.per_value()]
        audit.effect = max(fitnesses) - min(fitnesses) if len(fitnesses) >= 2 else None
        if audit.effect is None:
            audit.verdict = "not measured"
        else:
            audit.verdict = verdict(audit.effect, band)
    test_bands = _judge_tests(defaults, audits)
    return AuditResult(
        spec_name,
        runner,
        repetitions,
        defaults,
        audits,
        default_range,
        median_width,
        datetime.now(UTC),
        test_bands,
    )


def _judge_tests(defaults: list[Point], audits: list[ParamAudit]) -> dict[str, float]:
    """Per test unit: its noise band, and each param's most-moved unit (same rule)."""
    units = sorted({u for p in defaults for u in p.per_test})
    bands: dict[str, float] = {}
    default_medians: dict[str, float] = {}
    for unit in units:
        repeats = [p.per_test[unit][0] for p in defaults if unit in p.per_test]
        default_medians[unit] = statistics.median(repeats)
        widths = [
            w
            for p in [*defaults, *(q for a in audits for q in a.points)]
            if unit in p.per_test and (w := p.per_test[unit][1]) is not None
        ]
        if len(repeats) >= 2:
            bands[unit] = max(
                max(repeats) - min(repeats), statistics.median(widths) if widths else 0.0
            )
    for audit in audits:
        best: tuple[str, float, float] | None = None
        for unit, unit_band in bands.items():
            swept = [p.per_test[unit][0] for p in audit.points if unit in p.per_test]
            values = [default_medians[unit], *swept]
            if len(values) < 2 or unit_band <= 0:
                continue
            effect = max(values) - min(values)
            if best is None or effect / unit_band > best[2]:
                best = (unit, effect, effect / unit_band)
        audit.top_test = best
    return bands


def verdict(effect: float, band: float) -> str:
    """Apply :data:`RULE` to one param's effect."""
    if effect > MARGIN * band:
        return MOVES
    return BORDERLINE if effect > band else WITHIN_NOISE


def _value_cells(audit: ParamAudit) -> str:
    cells = []
    for value, fitness in audit.per_value():
        marker = "*" if value == audit.param.default else ""
        cells.append(f"{value}{marker}: {fitness:.1f}")
    cells += [f"{p.value}: FAILED ({p.failure})" for p in audit.points if p.failure]
    return ", ".join(cells)


def _rows(result: AuditResult) -> list[list[str]]:
    band = result.noise_band
    rows = []
    ordered = sorted(result.params, key=lambda a: -(a.effect or 0.0))
    for a in ordered:
        ratio = f"{a.effect / band:.1f}x" if a.effect is not None and band > 0 else "-"
        rows.append(
            [
                a.param.name,
                a.param.stage,
                str(a.param.default),
                "-" if a.effect is None else f"{a.effect:.1f}",
                ratio,
                a.verdict,
                str(a.best_value) if a.verdict in (MOVES, BORDERLINE) else "-",
                "-"
                if a.top_test is None
                else f"{a.top_test[0]}: {a.top_test[1]:.1f} ({a.top_test[2]:.1f}x)",
                "dead" if a.dead else "live",
                _value_cells(a),
            ]
        )
    return rows


HEADERS = (
    "param",
    "stage",
    "default",
    "effect",
    "effect/noise",
    "verdict",
    "best value",
    "most-moved test: effect (x its band)",
    "any figure moves",
    "fitness per value (* = default)",
)


def summary_line(result: AuditResult) -> str:
    """The noise floor in one sentence."""
    fitnesses = ", ".join(f"{p.fitness:.1f}" for p in result.defaults if p.fitness is not None)
    width = (
        f"{result.median_ci_width:.1f}"
        if result.median_ci_width > 0
        else "n/a (no measurement had a CI: use more --repetitions)"
    )
    return (
        f"default config measured {len(result.defaults)}x: {fitnesses} (median "
        f"{result.default_median:.1f}); D = {result.default_range:.1f}, W = "
        f"{width}, noise band = {result.noise_band:.1f} fitness points"
    )


def audit_table(result: AuditResult) -> Table:
    """A rich table, most effective param first."""
    table = Table(
        title=f"space audit of {result.spec_name} ({result.runner} runner)",
        caption=summary_line(result) + "\n" + RULE,
        caption_justify="left",
    )
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in _rows(result):
        style = {MOVES: "green", BORDERLINE: "yellow", WITHIN_NOISE: "dim"}.get(row[5], "red")
        if row[5] == WITHIN_NOISE and row[HEADERS.index("any figure moves")] == "live":
            style = "yellow"
        table.add_row(*row, style=style)
    return table


def audit_markdown(result: AuditResult) -> str:
    """The same table as markdown, with the rule and the noise floor, ready to commit."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    reps = result.repetitions if result.repetitions is not None else "spec default"
    lines = [
        f"# Space audit: {result.spec_name}",
        "",
        f"Runner `{result.runner}`, repetitions per measurement: {reps}, "
        f"{result.finished_at:%Y-%m-%d %H:%M UTC}. Produced by `tuner space audit`.",
        "",
        f"Noise floor: {summary_line(result)}.",
        "",
        f"Rule: {RULE}",
        "",
        f"Per test unit (test@pipeline, ratio x 100): the same rule with each unit's own "
        f"noise band and margin {TEST_MARGIN}; a param is dead when neither fitness nor any "
        "unit moves. Unit noise bands: "
        + ", ".join(f"{u} {b:.1f}" for u, b in result.test_bands.items())
        + ".",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in _rows(result)]
    dead = [a.param.name for a in result.params if a.dead]
    lines += ["", f"Dead (no figure moves beyond the noise): {', '.join(dead) or 'none'}."]
    limited = [a for a in result.params if a.limited_by]
    if limited:
        lines += ["", "Ranges cut by constraints (the other params at their defaults):"]
        lines += [f"- `{a.param.name}`: {'; '.join(a.limited_by)}" for a in limited]
    return "\n".join(lines) + "\n"
