"""Render the report as one self-contained HTML file (plotly.js inlined: works offline)."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import optuna
import plotly.offline
from optuna.trial import TrialState

from tuner.report.figures import Figure, finite
from tuner.report.timing import CATEGORIES, TimeBreakdown, format_seconds
from tuner.spec import stored_fitness_unit

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, td:last-child { text-align: left; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.9em; }
.winner { background: #eaf4ff; }
section { margin-bottom: 2em; }
"""


def _num(value: Any, fmt: str = ".1f") -> str:
    return format(value, fmt) if finite(value) else "-"


def _ci(entry: dict[str, Any]) -> str:
    return f"[{_num(entry.get('ci_low'))}, {_num(entry.get('ci_high'))}]"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{c}">' + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
        for row, c in zip(rows, classes, strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_section(study: optuna.Study) -> str:
    """Counts by state, the winner line, and the most common failure reasons."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    spec = study.user_attrs.get("spec") or {}
    description = (spec.get("study") or {}).get("description", "")
    parts = [
        f"<p>{html.escape(description)}</p>" if description else "",
        "<p>Trials: "
        + html.escape(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        + f". Sampler: {html.escape(str(study.user_attrs.get('sampler', '?')))}. "
        + f"Objective: {'pareto' if len(study.directions) > 1 else 'throughput'}.</p>",
    ]
    winner = study.user_attrs.get("winner")
    if winner:
        from tuner.summary import gain_line

        parts.append(
            f"<p><b>Winner: {html.escape(str(winner.get('label')))}</b>, fitness "
            f"{_num(winner.get('fitness'))} {_ci(winner)} "
            f"{html.escape(stored_fitness_unit(study.user_attrs.get('spec')))}, p99 ratio "
            f"{_num(winner.get('p99_ratio'), '.2f')}; {html.escape(gain_line(winner))}.</p>"
        )
        if winner.get("how"):
            parts.append(f'<p class="note">{html.escape(str(winner["how"]))}</p>')
    else:
        parts.append("<p>No winner yet: run <code>tuner study finalize</code>.</p>")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    groups: dict[str, list[int]] = {}
    for t in failed:
        reason = str(t.user_attrs.get("failure_reason", "unknown"))
        # Constraint rejections name the offending values; group them by the rule alone.
        groups.setdefault(re.sub(r"\s*\([^()]*\)$", "", reason), []).append(t.number)
    if groups:
        ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))[:10]
        rows = [
            [
                reason,
                str(len(numbers)),
                ", ".join(map(str, numbers[:8])) + ("..." if len(numbers) > 8 else ""),
            ]
            for reason, numbers in ranked
        ]
        parts.append("<h3>Failed trials by reason</h3>")
        parts.append(_table(["failure reason", "trials", "trial numbers"], rows, [""] * len(rows)))
    return "<section><h2>Summary</h2>" + "".join(parts) + "</section>"


def _numbers(numbers: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (", ..." if len(numbers) > limit else "")


def finalists_section(entries: Sequence[dict[str, Any]], winner: dict[str, Any] | None) -> str:
    """Finalists with CIs, then default vs winner per test."""
    if not entries:
        return (
            "<section><h2>Finalists</h2><p>The study has not been finalized: run "
            "<code>tuner study finalize NAME</code> to re-measure the top configs "
            "against the default.</p></section>"
        )
    winner_label = (winner or {}).get("label")
    rows = []
    classes = []
    for e in entries:
        measured = e.get("status") == "measured"
        rows.append(
            [
                str(e.get("label")) + (" (winner)" if e.get("label") == winner_label else ""),
                _num(e.get("search_fitness")),
                _num(e.get("fitness")) if measured else "-",
                _ci(e) if measured else "-",
                _num(e.get("p99_ratio"), ".2f"),
                str(e.get("repetitions", "-")),
                str(e.get("status", ""))
                + (f": {e['failure_reason']}" if e.get("failure_reason") else ""),
            ]
        )
        classes.append("winner" if e.get("label") == winner_label else "")
    parts = [
        "<section><h2>Finalists (re-measured)</h2>",
        _table(
            ["finalist", "search fitness", "fitness", "CI", "p99 ratio", "reps", "status"],
            rows,
            classes,
        ),
    ]
    default = next(
        (e for e in entries if e.get("is_default") and e.get("status") == "measured"), None
    )
    best = next((e for e in entries if e.get("label") == winner_label), None)
    if default is not None and best is not None:
        tests = list(best.get("per_test") or {})
        d_ci = default.get("per_test_ci") or {}
        w_ci = best.get("per_test_ci") or {}
        per_rows = []
        for test in tests:
            d = (default.get("per_test") or {}).get(test)
            w = best["per_test"][test]
            per_rows.append(
                [
                    test,
                    _ratio(d, d_ci.get(test)),
                    _ratio(w, w_ci.get(test)),
                    f"{(w / d - 1) * 100:+.1f}%" if finite(d) and d else "-",
                ]
            )
        per_rows.append(
            [
                "fitness (all tests)",
                f"{_num(default.get('fitness'))} {_ci(default)}",
                f"{_num(best.get('fitness'))} {_ci(best)}",
                f"{(best['fitness'] / default['fitness'] - 1) * 100:+.1f}%",
            ]
        )
        parts.append("<h3>Default vs winner, per test (rps ratio vs the baseline)</h3>")
        parts.append(
            _table(
                ["test", "default", f"winner ({winner_label})", "change"],
                per_rows,
                [""] * len(per_rows),
            )
        )
        if not d_ci:
            parts.append(
                '<p class="note">Per-test CIs are not stored with the finalists; the '
                "fitness row carries the CI of the whole measurement.</p>"
            )
    return "".join(parts) + "</section>"


def _ratio(value: Any, ci: Any) -> str:
    if not finite(value):
        return "-"
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def top_trials_section(study: optuna.Study, count: int = 10) -> str:
    """The best search trials with CIs and their configs (single measurements, not finalists)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = sorted(complete, key=lambda t: -t.values[0])[:count]
    rows = []
    for t in ranked:
        a = t.user_attrs
        rows.append(
            [
                str(t.number),
                _num(a.get("fitness", t.values[0])),
                f"[{_num(a.get('fitness_ci_low'))}, {_num(a.get('fitness_ci_high'))}]",
                _num(a.get("p99_ratio"), ".2f"),
                str(a.get("repetitions", "-")),
                ", ".join(f"{k}={v}" for k, v in t.params.items()),
            ]
        )
    return (
        f"<section><h2>Top {len(rows)} trials of the search</h2>"
        '<p class="note">One measurement each, as the sampler saw them; the finalists above '
        "are the re-measured ones.</p>"
        + _table(["trial", "fitness", "CI", "p99 ratio", "reps", "params"], rows, [""] * len(rows))
        + "</section>"
    )


def time_section(times: TimeBreakdown) -> str:
    """Table of the wall-clock split, with the scaling caveat when it applies."""
    rows = []
    for category in CATEGORIES:
        seconds = times.totals.get(category, 0.0)
        share = seconds / times.wall_seconds * 100 if times.wall_seconds > 0 else 0.0
        rows.append([category, format_seconds(seconds), f"{share:.1f}%"])
    rows.append(["total wall-clock", format_seconds(times.wall_seconds), "100%"])
    parts = [
        "<section><h2>Where the time went</h2>",
        _table(["category", "time", "share"], rows, [""] * len(rows)),
    ]
    if times.scaled_trials:
        parts.append(
            f'<p class="note">{times.scaled_trials} trial(s) reported more build/start/'
            f"benchmark time ({format_seconds(times.reported_seconds)} in all) than they "
            "lasted; their timings were scaled down to the trial's duration. The mock "
            "runner does this by design: it simulates timings without sleeping.</p>"
        )
    return "".join(parts) + "</section>"


def render(
    study: optuna.Study,
    figures: Sequence[Figure],
    times: TimeBreakdown,
    notes: Sequence[str] = (),
) -> str:
    """The whole report page; each figure is a div ``fig-<key>`` with its plotly data."""
    finalists = study.user_attrs.get("finalists") or []
    winner = study.user_attrs.get("winner")
    body = [
        f"<h1>Study {html.escape(study.study_name)}</h1>",
        f'<p class="note">Report written {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>',
        summary_section(study),
        finalists_section(finalists, winner),
        top_trials_section(study),
        time_section(times),
    ]
    for note in notes:
        body.append(f'<p class="note">{html.escape(note)}</p>')
    for fig in figures:
        div = fig.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{fig.key}")
        caption = f'<p class="note">{html.escape(fig.caption)}</p>' if fig.caption else ""
        body.append(
            f'<section id="section-{fig.key}"><h2>{html.escape(fig.title)}</h2>'
            f'{caption}{div}<p class="note">PNG: {fig.key}.png</p></section>'
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(study.study_name)}: RedisEvolve study report</title>"
        f"<style>{_STYLE}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        "</head><body>" + "\n".join(body) + "</body></html>\n"
    )
