"""``tuner study list`` and ``tuner study show``: what a storage and a study hold."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import optuna
import typer
from rich.table import Table

from tuner.cli._apps import study_app
from tuner.cli._common import (
    StorageOption,
    console,
    exits_on_outage,
    load_study,
    open_storage,
    quiet_optuna,
)
from tuner.importance import importance_vs_null
from tuner.search_timing import SearchTiming, search_timing
from tuner.spec import stored_fitness_unit
from tuner.storage import default_storage_url
from tuner.summary import gain_line

__all__ = ["list_command", "show_command", "study_summary"]


@study_app.command("list")
@exits_on_outage
def list_command(storage_url: StorageOption = None) -> None:
    """Studies in the storage, with trial counts and best fitness."""
    quiet_optuna()
    storage = open_storage(storage_url, heartbeat_interval=None)
    table = Table(title=f"studies in {storage_url or default_storage_url()}")
    table.add_column("study", no_wrap=True)
    table.add_column("objective", no_wrap=True)
    for column in ("complete", "pruned", "fail", "running", "best", "winner"):
        table.add_column(column, justify="right")
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        complete = [
            t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        ]
        best = f"{max(t.values[0] for t in complete):.1f}" if complete else "-"
        winner = study.user_attrs.get("winner") or {}
        table.add_row(
            summary.study_name,
            "pareto" if len(study.directions) > 1 else "throughput",
            str(states.count(optuna.trial.TrialState.COMPLETE)),
            str(states.count(optuna.trial.TrialState.PRUNED)),
            str(states.count(optuna.trial.TrialState.FAIL)),
            str(states.count(optuna.trial.TrialState.RUNNING)),
            best,
            f"{winner['fitness']:.1f}" if winner.get("fitness") else "-",
        )
    console.print(table)


def study_summary(study: optuna.Study, top: int) -> dict[str, Any]:
    """JSON-able summary: counts, best, top-N, Pareto front, finalists, winner."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    multi = len(study.directions) > 1

    def row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
        a = t.user_attrs
        return {
            "number": t.number,
            "fitness": a.get("fitness", t.values[0] if t.values else None),
            "ci_low": a.get("fitness_ci_low"),
            "ci_high": a.get("fitness_ci_high"),
            "p99_ratio": a.get("p99_ratio"),
            "memory_ratio": a.get("memory_ratio"),
            "rss_ratio": a.get("rss_ratio"),
            "repetitions": a.get("repetitions"),
            "params": t.params,
        }

    ranked = sorted(complete, key=lambda t: t.values[0], reverse=True)
    summary: dict[str, Any] = {
        "study": study.study_name,
        "objective": "pareto" if multi else "throughput",
        "metric_names": study.metric_names,
        "sampler": study.user_attrs.get("sampler"),
        "fitness_unit": stored_fitness_unit(study.user_attrs.get("spec")),
        "counts": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "top": [row(t) for t in ranked[:top]],
        "finalists": study.user_attrs.get("finalists", []),
        "winner": study.user_attrs.get("winner"),
        "raced_out": [
            {**row(t), "raced_out": t.user_attrs["raced_out"]}
            for t in trials
            if t.state == TrialState.PRUNED and isinstance(t.user_attrs.get("raced_out"), dict)
        ],
    }
    summary["timing"] = search_timing(trials, summary["finalists"]).to_dict()
    if len(complete) >= 2:
        names = summary["metric_names"] or [f"Objective {i}" for i in range(len(study.directions))]
        summary["importance"] = {
            str(name): [r.to_dict() for r in importance_vs_null(study, index)]
            for index, name in enumerate(names)
        }
    if multi:
        summary["pareto_front"] = [
            row(t) for t in sorted(study.best_trials, key=lambda t: -t.values[0])
        ]
    elif ranked:
        summary["best"] = row(ranked[0])
    return summary


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _ci(row: Mapping[str, Any]) -> str:
    return f"[{_fmt(row.get('ci_low'))}, {_fmt(row.get('ci_high'))}]"


@study_app.command("show")
@exits_on_outage
def show_command(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage_url: StorageOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the top table.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Best config, finalists with CIs, top-N trials and (Pareto) the front."""
    study = load_study(name, storage_url)
    summary = study_summary(study, top)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
        return
    counts = ", ".join(f"{k.lower()} {v}" for k, v in summary["counts"].items() if v)
    console.print(
        f"[bold]{name}[/bold] ({summary['objective']}, sampler {summary['sampler']}): {counts}"
    )
    console.print(f"fitness: {summary['fitness_unit']} (100 = no difference)")
    console.print(SearchTiming(**summary["timing"]).line(), markup=False, highlight=False)
    raced = summary["raced_out"]
    if raced:
        reps = sorted(r["repetitions"] or 0 for r in raced)
        console.print(
            f"raced out: {len(raced)} trial(s) stopped as clearly worse than the incumbent "
            f"after {reps[0]}-{reps[-1]} repetitions (median {reps[len(reps) // 2]}); their "
            "fitness is the running estimate at the stop"
        )
    winner = summary["winner"]
    if winner:
        console.print(
            f"winner: {winner['label']} fitness {_fmt(winner['fitness'])} {_ci(winner)} "
            f"p99x {_fmt(winner.get('p99_ratio'), '.2f')}"
        )
        console.print(gain_line(winner))
    if summary["finalists"]:
        table = Table(title="finalists (re-measured)")
        for column in (
            "finalist",
            "search fitness",
            "fitness",
            "CI",
            "gain vs default",
            "p99x",
            "reps",
            "status",
        ):
            table.add_column(column)
        for f in summary["finalists"]:
            table.add_row(
                f["label"],
                _fmt(f.get("search_fitness")),
                _fmt(f.get("fitness")),
                _ci(f),
                (
                    f"{f['gain_pct']:+.1f}% [{f['gain_low_pct']:+.1f}, {f['gain_high_pct']:+.1f}]"
                    if isinstance(f.get("gain_pct"), int | float)
                    else "-"
                ),
                _fmt(f.get("p99_ratio"), ".2f"),
                str(f.get("repetitions", "-")),
                f.get("status", "")
                + (f": {f['failure_reason']}" if f.get("failure_reason") else "")
                + (f": {f['drop_reason']}" if f.get("drop_reason") else ""),
            )
        console.print(table)
    for metric, rows in (summary.get("importance") or {}).items():
        table = Table(
            title=f"importance ({metric}) vs permuted copies",
            caption="PED-ANOVA, as the dashboard; ~ null: not told apart from chance (Holm, 5%)",
        )
        for column in ("param", "importance", "null 95%", "p", "verdict"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["name"],
                f"{r['importance']:.2f}",
                f"{r['null_high']:.2f}",
                f"{r['p_value']:.3f}",
                "live" if r["distinguishable"] else "~ null",
            )
        console.print(table)
    for title, key in (("Pareto front", "pareto_front"), (f"top {top} trials", "top")):
        rows = summary.get(key)
        if not rows:
            continue
        table = Table(title=title)
        # Memory columns only for a study that measured memory (a spec with a dataset).
        memory = any(r.get("memory_ratio") is not None for r in rows)
        columns = ["trial", "fitness", "CI", "p99x", *(["memx", "rssx"] if memory else [])]
        for column in (*columns, "reps", "params"):
            table.add_column(column)
        for r in rows:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
            memory_cells = (
                [_fmt(r.get("memory_ratio"), ".3f"), _fmt(r.get("rss_ratio"), ".3f")]
                if memory
                else []
            )
            table.add_row(
                str(r["number"]),
                _fmt(r["fitness"]),
                _ci(r),
                _fmt(r["p99_ratio"], ".2f"),
                *memory_cells,
                str(r["repetitions"] or "-"),
                params,
            )
        console.print(table)
