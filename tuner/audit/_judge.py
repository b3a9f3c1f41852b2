"""The audit's rule applied to measured points: fitness, each test unit, p99 and memory."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from typing import Any

from tuner.audit._model import (
    FIGURE_FLOORS,
    FIGURES,
    AuditError,
    AuditResult,
    FigureEffect,
    ParamAudit,
    Point,
    param_from_dict,
    verdict,
)


def judge(
    spec_name: str,
    runner: str,
    repetitions: int | None,
    defaults: list[Point],
    audits: list[ParamAudit],
    *,
    workload: str = "",
    finished_at: datetime | None = None,
) -> AuditResult:
    """Apply :data:`RULE` (and :data:`FIGURE_RULE`) to measured points."""
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
    figure_bands = _judge_figures(defaults, audits)
    return AuditResult(
        spec_name,
        runner,
        repetitions,
        defaults,
        audits,
        default_range,
        median_width,
        finished_at or datetime.now(UTC),
        test_bands,
        figure_bands,
        workload,
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


def _judge_figures(defaults: list[Point], audits: list[ParamAudit]) -> dict[str, float]:
    """Per figure (p99, memory): its band from the default's repeats, each param's effect."""
    bands: dict[str, float] = {}
    medians: dict[str, float] = {}
    for figure in FIGURES:
        repeats = [p.figures[figure] for p in defaults if figure in p.figures]
        if len(repeats) < 2:
            continue
        medians[figure] = statistics.median(repeats)
        bands[figure] = max(max(repeats) - min(repeats), FIGURE_FLOORS[figure])
    for audit in audits:
        audit.default_figures = dict(medians)
        audit.figures = {}
        for figure, band in bands.items():
            rows = audit.figure_per_value(figure)
            if len(rows) < 2:
                continue
            values = [v for _, v in rows]
            best = min(rows, key=lambda vf: vf[1])[0]
            audit.figures[figure] = FigureEffect(max(values) - min(values), band, best)
    return bands


def load_result(data: dict[str, Any]) -> AuditResult:
    """An audit file written from :meth:`AuditResult.to_dict`, judged again."""
    try:
        audits = []
        for entry in data["params"]:
            audit = ParamAudit(param_from_dict(entry["param"]))
            audit.limited_by = list(entry.get("limited_by", []))
            audit.points = [Point.from_dict(p) for p in entry["points"]]
            audits.append(audit)
        defaults = [Point.from_dict(p) for p in data["defaults"]]
        return judge(
            data["spec_name"],
            data["runner"],
            data.get("repetitions"),
            defaults,
            audits,
            workload=data.get("workload", ""),
            finished_at=datetime.fromisoformat(data["finished_at"]),
        )
    except AuditError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        what = f"no {exc.args[0]!r} field" if isinstance(exc, KeyError) else str(exc)
        raise AuditError(
            f"not an audit file written by `tuner space audit --json` ({what})"
        ) from None
