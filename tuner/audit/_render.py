"""The audit as a rich table and as markdown, most effective param first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table

from tuner.audit._model import (
    BORDERLINE,
    FIGURE_RULE,
    MOVES,
    RULE,
    TEST_MARGIN,
    WITHIN_NOISE,
    AuditResult,
    ParamAudit,
)


def _value_cells(audit: ParamAudit) -> str:
    memory = dict(audit.figure_per_value("memory")) if "memory" in audit.figures else {}
    cells = []
    for value, fitness in audit.per_value():
        marker = "*" if value == audit.param.default else ""
        mem = f" (mem {memory[value]:.1f})" if value in memory else ""
        cells.append(f"{value}{marker}: {fitness:.1f}{mem}")
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
                _figure_cell(a),
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
    "p99, memory: effect (x band), best",
    "any figure moves",
    "fitness (memory) per value (* = default)",
)


def _figure_cell(audit: ParamAudit) -> str:
    cells = []
    for name, f in audit.figures.items():
        best = f", best {f.best_value}" if f.moves else ""
        cells.append(f"{name} {f.effect:.1f} ({f.times_band:.1f}x{best})")
    return "; ".join(cells) or "-"


def figure_line(result: AuditResult) -> str:
    """The default's p99 and memory figures and their bands, in one sentence."""
    parts = []
    for name, band in result.figure_bands.items():
        repeats = [p.figures[name] for p in result.defaults if name in p.figures]
        shown = ", ".join(f"{v:.1f}" for v in repeats)
        parts.append(f"{name} x100 of the default: {shown}, band {band:.1f}")
    return "; ".join(parts)


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
        caption="\n".join(filter(None, [summary_line(result), figure_line(result), RULE])),
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


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table's lines, ``|`` inside cells escaped."""

    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(headers), "|" + "|".join("---" for _ in headers) + "|", *map(line, rows)]


def audit_markdown(result: AuditResult, *, level: int = 1) -> str:
    """The same table as markdown, with the rule and the noise floor, ready to commit.

    ``level``: the heading's depth (2 for a section of a sweep over several workloads).
    """

    reps = result.repetitions if result.repetitions is not None else "spec default"
    lines = [
        f"{'#' * level} Space audit: {result.spec_name}",
        "",
        *([f"Workload: {result.workload}.", ""] if result.workload else []),
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
        *([f"{FIGURE_RULE} Here: {figure_line(result)}.", ""] if result.figure_bands else []),
        *markdown_table(HEADERS, _rows(result)),
    ]
    dead = [a.param.name for a in result.params if a.dead]
    lines += ["", f"Dead (no figure moves beyond the noise): {', '.join(dead) or 'none'}."]
    limited = [a for a in result.params if a.limited_by]
    if limited:
        lines += ["", "Ranges cut by constraints (the other params at their defaults):"]
        lines += [f"- `{a.param.name}`: {'; '.join(a.limited_by)}" for a in limited]
    return "\n".join(lines) + "\n"
