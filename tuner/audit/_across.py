"""One knob across several workloads' audits: is it live anywhere, and does its best value
depend on the workload?

A knob is worth tuning per workload when it moves a figure beyond the noise on at least
one workload and no single value is within the noise of the best for that figure on every
workload where the figure moves (a tie for best is not a difference). A knob that moves
something but has one value good everywhere is better set as the default; a knob that moves
nothing anywhere is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from tuner.audit._model import MARGIN, MOVES, AuditError, AuditResult, ParamAudit
from tuner.audit._render import audit_markdown, markdown_table

PER_WORKLOAD = "tune per workload"
ONE_VALUE = "live, one best value"
DROP = "drop: moves nothing"
ACROSS_RULE = (
    f"'{PER_WORKLOAD}': it moves fitness, p99 or memory beyond the noise (the rule below) on "
    "at least one workload, and for that figure no one value is within the noise (1.25 x the "
    "band) of the best on every workload where the figure moves, so the best values differ; "
    f"'{ONE_VALUE}': it moves a figure, and one value is best or within the noise of the best "
    f"wherever it does; '{DROP}': no figure moves on any workload (a single test unit moving "
    "is shown, but is not enough)."
)


@dataclass(frozen=True)
class Preference:
    """What one workload's audit says of one knob: the figures it moves and their best values."""

    #: figure ("throughput", "p99", "memory") -> the value best for it, for moved figures only
    best: dict[str, Any]
    #: the test unit moved beyond its band, when one is (shown; not enough to be live)
    test: str | None = None
    #: figure -> the values (as repr) within MARGIN x band of its best, for moved figures
    near_best: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, audit: ParamAudit, fitness_band: float) -> Preference:
        best: dict[str, Any] = {}
        near: dict[str, frozenset[str]] = {}
        if audit.verdict == MOVES:
            best["throughput"] = audit.best_value
            near["throughput"] = _near_best(audit.per_value(), fitness_band, higher_is_better=True)
        for name, figure in audit.figures.items():
            if figure.moves:
                best[name] = figure.best_value
                near[name] = _near_best(audit.figure_per_value(name), figure.band)
        test = audit.top_test[0] if audit.test_moves and audit.top_test else None
        return cls(best, test, near)

    def cell(self) -> str:
        if not self.best:
            return f"- (only {self.test})" if self.test else "-"
        return ", ".join(f"{figure} {value}" for figure, value in self.best.items())


@dataclass(frozen=True)
class KnobAcross:
    """One knob's preferences, one per workload that swept it."""

    name: str
    preferences: dict[str, Preference]

    @property
    def live(self) -> bool:
        return any(p.best for p in self.preferences.values())

    def differing(self) -> list[str]:
        """The figures for which no value is near the best on every workload that moves it."""
        figures = sorted({f for p in self.preferences.values() for f in p.best})
        out = []
        for f in figures:
            near = [p.near_best[f] for p in self.preferences.values() if f in p.best]
            if len(near) >= 2 and not frozenset.intersection(*near):
                out.append(f)
        return out

    @property
    def verdict(self) -> str:
        if not self.live:
            return DROP
        return PER_WORKLOAD if self.differing() else ONE_VALUE


def _near_best(
    rows: Sequence[tuple[Any, float]], band: float, *, higher_is_better: bool = False
) -> frozenset[str]:
    """The values whose figure is within MARGIN x band of the best one's."""
    if not rows:
        return frozenset()
    top = max(x for _, x in rows) if higher_is_better else min(x for _, x in rows)
    return frozenset(repr(v) for v, x in rows if abs(x - top) <= MARGIN * band)


def compare_workloads(results: Sequence[AuditResult]) -> list[KnobAcross]:
    """Each knob swept in any of ``results``, in first-seen order."""
    if len(results) < 2:
        raise AuditError("comparing workloads needs the audits of at least two workloads")
    names = [r.spec_name for r in results]
    if len(set(names)) != len(names):
        raise AuditError(f"two audits have the same study name: {', '.join(names)}")
    knobs: dict[str, dict[str, Preference]] = {}
    for result in results:
        for audit in result.params:
            knobs.setdefault(audit.param.name, {})[result.spec_name] = Preference.of(
                audit, result.noise_band
            )
    return [KnobAcross(name, prefs) for name, prefs in knobs.items()]


_ORDER = (PER_WORKLOAD, ONE_VALUE, DROP)


def _rows(results: Sequence[AuditResult]) -> list[tuple[KnobAcross, list[str]]]:
    """One row per knob, the ones worth tuning per workload first."""
    rows = []
    for knob in sorted(compare_workloads(results), key=lambda k: _ORDER.index(k.verdict)):
        cells = [
            knob.preferences[r.spec_name].cell() if r.spec_name in knob.preferences else "not swept"
            for r in results
        ]
        verdict = knob.verdict
        if verdict == PER_WORKLOAD:
            verdict += f" ({', '.join(knob.differing())})"
        rows.append((knob, [knob.name, *cells, verdict]))
    return rows


def across_table(results: Sequence[AuditResult]) -> Table:
    """A rich table of :func:`compare_workloads`."""
    table = Table(title="knobs across workloads: figures moved, best value", caption=ACROSS_RULE)
    for header in ["param", *(r.spec_name for r in results), "verdict"]:
        table.add_column(header, overflow="fold")
    style = {PER_WORKLOAD: "green", ONE_VALUE: "yellow", DROP: "dim"}
    for knob, row in _rows(results):
        table.add_row(*row, style=style[knob.verdict])
    return table


def across_markdown(results: Sequence[AuditResult], *, title: str, preface: str = "") -> str:
    """The cross-workload table, then each workload's own audit as a section."""
    headers = ["param", *(r.spec_name for r in results), "verdict"]
    lines = [f"# {title}", ""]
    if preface:
        lines += [preface, ""]
    lines += ["Workloads:"]
    lines += [f"- `{r.spec_name}`: {r.workload or 'not recorded'}" for r in results]
    lines += ["", f"Verdicts: {ACROSS_RULE}", ""]
    lines += markdown_table(headers, (row for _, row in _rows(results)))
    for result in results:
        lines += ["", audit_markdown(result, level=2).rstrip()]
    return "\n".join(lines) + "\n"
