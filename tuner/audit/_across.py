"""One knob across several workloads' audits: is it live anywhere, and does its best value
depend on the workload?

A knob is worth tuning per workload when it moves a figure beyond the noise on at least
one workload and its best value differs between at least two workloads (for the same
figure: throughput or memory). A knob that moves something but has one best value
everywhere is better set as the default; a knob that moves nothing anywhere is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from tuner.audit._model import MOVES, AuditError, AuditResult, ParamAudit
from tuner.audit._render import audit_markdown, markdown_table

PER_WORKLOAD = "tune per workload"
ONE_VALUE = "live, one best value"
DROP = "drop: moves nothing"
ACROSS_RULE = (
    f"'{PER_WORKLOAD}': it moves fitness, p99 or memory beyond the noise (the rule below) on "
    "at least one workload, and its best value for the same figure differs between at least "
    f"two workloads; '{ONE_VALUE}': it moves a figure, with the same best value wherever it "
    f"does; '{DROP}': no figure moves on any workload (a single test unit moving is shown, "
    "but is not enough)."
)


@dataclass(frozen=True)
class Preference:
    """What one workload's audit says of one knob: the figures it moves and their best values."""

    #: figure ("throughput", "p99", "memory") -> the value best for it, for moved figures only
    best: dict[str, Any]
    #: the test unit moved beyond its band, when one is (shown; not enough to be live)
    test: str | None = None

    @classmethod
    def of(cls, audit: ParamAudit) -> Preference:
        best: dict[str, Any] = {}
        if audit.verdict == MOVES:
            best["throughput"] = audit.best_value
        for name, figure in audit.figures.items():
            if figure.moves:
                best[name] = figure.best_value
        test = audit.top_test[0] if audit.test_moves and audit.top_test else None
        return cls(best, test)

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
        """The figures whose best value differs between at least two workloads."""
        figures = sorted({f for p in self.preferences.values() for f in p.best})
        return [
            f
            for f in figures
            if len({repr(p.best[f]) for p in self.preferences.values() if f in p.best}) >= 2
        ]

    @property
    def verdict(self) -> str:
        if not self.live:
            return DROP
        return PER_WORKLOAD if self.differing() else ONE_VALUE


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
            knobs.setdefault(audit.param.name, {})[result.spec_name] = Preference.of(audit)
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
