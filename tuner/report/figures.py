"""The report's plotly figures, each built from a study alone.

Importances use the same call as optuna-dashboard (PED-ANOVA, target negated for
maximised objectives, uniform when PED-ANOVA finds no signal) so the report and the
dashboard show the same numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from tuner.importance import ParamImportance, importance_vs_null
from tuner.report.timing import CATEGORIES, TimeBreakdown, format_seconds
from tuner.spec import stored_fitness_unit

#: How many of the most important params get a slice plot.
SLICE_PARAMS = 4
_COLORS = {
    "build": "#d62728",
    "start": "#ff7f0e",
    "benchmark": "#1f77b4",
    "other": "#9467bd",
    "idle": "#c7c7c7",
    "finalists": "#2ca02c",
}


@dataclass(frozen=True)
class Figure:
    """A named report figure: ``key`` names its PNG and its HTML div."""

    key: str
    title: str
    figure: go.Figure
    caption: str = ""


def metric_names(study: optuna.Study) -> list[str]:
    """The study's objective names (``fitness``, ``p99_ratio``), defaulting like Optuna."""
    names = study.metric_names
    if names and all(names):
        return [str(n) for n in names]
    return [f"Objective {i}" for i in range(len(study.directions))]


def _target(study: optuna.Study, index: int) -> Callable[[FrozenTrial], float]:
    if study.directions[index] == StudyDirection.MAXIMIZE:
        return lambda t: -t.values[index]
    return lambda t: t.values[index]


def param_importances(study: optuna.Study) -> list[dict[str, float]]:
    """PED-ANOVA importances per objective, computed exactly as optuna-dashboard does."""
    trials = study.get_trials(deepcopy=False)
    if sum(t.state == TrialState.COMPLETE for t in trials) <= 1:
        return []
    result = []
    for index in range(len(study.directions)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importance = get_param_importances(
                study, target=_target(study, index), evaluator=PedAnovaImportanceEvaluator()
            )
        if not importance:
            names = sorted({n for t in trials for n in t.distributions})
            importance = dict.fromkeys(names, 1.0 / len(names)) if names else {}
        result.append({k: float(v) for k, v in importance.items()})
    return result


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _ci(trial: FrozenTrial) -> tuple[float, float] | None:
    low = trial.user_attrs.get("fitness_ci_low")
    high = trial.user_attrs.get("fitness_ci_high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        return float(low), float(high)
    return None


def _params_text(trial: FrozenTrial) -> str:
    return "<br>".join(f"{k} = {v}" for k, v in trial.params.items())


def history(study: optuna.Study) -> Figure:
    """Fitness per trial with its CI bar, best so far, the default's level; p99 for Pareto."""
    names = metric_names(study)
    multi = len(study.directions) > 1
    fig = make_subplots(rows=2 if multi else 1, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    trials = study.get_trials(deepcopy=False)
    groups = [
        ("complete", TrialState.COMPLETE, "#1f77b4"),
        ("pruned (fitness when stopped)", TrialState.PRUNED, "#aaaaaa"),
    ]
    for label, state, color in groups:
        shown = [
            t
            for t in trials
            if t.state == state and isinstance(t.user_attrs.get("fitness"), int | float)
        ]
        if not shown:
            continue
        y = [float(t.user_attrs["fitness"]) for t in shown]
        cis = [_ci(t) or (v, v) for t, v in zip(shown, y, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in shown],
                y=y,
                mode="markers",
                name=label,
                marker={"color": color, "size": 7},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [hi - v for (_, hi), v in zip(cis, y, strict=True)],
                    "arrayminus": [v - lo for (lo, _), v in zip(cis, y, strict=True)],
                    "color": color,
                    "thickness": 1,
                    "width": 2,
                },
                text=[_params_text(t) for t in shown],
                hovertemplate="trial %{x}<br>fitness %{y:.1f}<br>%{text}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    complete = sorted(_complete(study), key=lambda t: t.number)
    if complete and not multi:
        best: list[float] = []
        for t in complete:
            best.append(max(t.values[0], best[-1]) if best else t.values[0])
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in complete],
                y=best,
                mode="lines",
                line={"shape": "hv", "color": "#d62728"},
                name="best so far",
            ),
            row=1,
            col=1,
        )
    default = next(
        (t for t in complete if t.user_attrs.get("source") == "default"),
        None,
    )
    if default is not None:
        fig.add_hline(
            y=default.values[0],
            line_dash="dash",
            line_color="#2ca02c",
            annotation_text=f"default (trial {default.number})",
            row=1,
            col=1,
        )
    if multi and complete:
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in complete],
                y=[t.values[1] for t in complete],
                mode="markers",
                name=names[1],
                marker={"color": "#ff7f0e", "size": 7},
            ),
            row=2,
            col=1,
        )
        fig.update_yaxes(title_text=f"{names[1]} (lower is better)", row=2, col=1)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    unit = stored_fitness_unit(study.user_attrs.get("spec"))
    fig.update_yaxes(title_text=f"{names[0]} ({unit})", row=1, col=1)
    fig.update_xaxes(title_text="trial", row=2 if multi else 1, col=1)
    fig.update_layout(
        title=f"Optimisation history ({len(complete)} complete, {failed} failed not shown)",
        height=650 if multi else 500,
    )
    return Figure(
        "history",
        "Optimisation history",
        fig,
        "Each point is one trial's fitness (weighted geomean of per-test rps ratios vs the "
        "baseline x100) with its confidence interval; pruned trials show the running fitness "
        "at which they were stopped.",
    )


def importance_nulls(study: optuna.Study) -> list[list[ParamImportance]]:
    """Per objective, each param's importance beside its permutation null (tuner.importance)."""
    return [importance_vs_null(study, index) for index in range(len(study.directions))]


def importance(
    study: optuna.Study,
    importances: Sequence[dict[str, float]],
    nulls: Sequence[Sequence[ParamImportance]] = (),
) -> Figure:
    """Horizontal bars of PED-ANOVA importance per objective (same numbers as the dashboard),
    each param's permutation-null level as a marker, and "~ null" on the bars that do not
    stand out of it."""
    names = metric_names(study)
    fig = go.Figure()
    order = sorted(importances[0], key=lambda k: importances[0][k]) if importances else []
    for index, values in enumerate(importances):
        rows = {r.name: r for r in nulls[index]} if index < len(nulls) else {}

        def label(k: str, values: dict[str, float] = values, rows: Any = rows) -> str:
            text = f"{values.get(k, 0.0):.2f}"
            return text + (" ~ null" if k in rows and not rows[k].distinguishable else "")

        fig.add_trace(
            go.Bar(
                y=order,
                x=[values.get(k, 0.0) for k in order],
                orientation="h",
                name=names[index],
                text=[label(k) for k in order],
                textposition="outside",
            )
        )
        if rows:
            fig.add_trace(
                go.Scatter(
                    y=order,
                    x=[rows[k].null_high if k in rows else None for k in order],
                    mode="markers",
                    marker={"symbol": "line-ns-open", "size": 18, "color": "black"},
                    name=f"{names[index]}: null (95% of permuted copies)",
                )
            )
    fig.update_layout(
        title="Parameter importance (PED-ANOVA, as in optuna-dashboard)",
        xaxis_title="importance (normalised)",
        barmode="group",
        height=max(350, 45 * len(order) * max(1, len(importances))),
        margin={"l": 220},
    )
    return Figure(
        "importance",
        "Parameter importance",
        fig,
        "PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator): how much each param's "
        "distribution among the top 10% of trials differs from all trials. The marker is the "
        "95th percentile of the same score for permuted copies of the param (its values "
        'shuffled across trials); "~ null" marks a param whose importance is not told apart '
        "from its copies (permutation p-value, Holm over the params at 5%): a rank it owes "
        "to chance.",
    )


def top_params(importances: Sequence[dict[str, float]], count: int) -> list[str]:
    """The ``count`` most important params of the first objective."""
    if not importances:
        return []
    ranked = sorted(importances[0].items(), key=lambda kv: -kv[1])
    return [name for name, _ in ranked[:count]]


def parallel(study: optuna.Study, order: Sequence[str]) -> Figure:
    """Parallel coordinates of all complete trials, params ordered by importance."""
    name = metric_names(study)[0]
    present = {n for t in _complete(study) for n in t.params}
    params = [p for p in order if p in present] or None
    fig = optuna.visualization.plot_parallel_coordinate(
        study, params=params, target=lambda t: t.values[0], target_name=name
    )
    fig.update_layout(title=f"Parallel coordinates ({name})", height=550)
    return Figure(
        "parallel",
        "Parallel coordinates",
        fig,
        "One line per complete trial; colour is fitness. Params are ordered by importance.",
    )


def slices(study: optuna.Study, params: Sequence[str]) -> Figure:
    """Fitness against each of the most important params."""
    name = metric_names(study)[0]
    fig = optuna.visualization.plot_slice(
        study, params=list(params), target=lambda t: t.values[0], target_name=name
    )
    fig.update_layout(title=f"Slice plots of the top {len(params)} params", height=450)
    return Figure(
        "slice",
        "Slice plots",
        fig,
        "Fitness against each of the most important params; colour is the trial number.",
    )


#: Axis titles of the Pareto figure per objective's measured value.
PARETO_AXIS_TITLES = {
    "fitness": "throughput: fitness (rps ratio geomean x100)",
    "p99_ratio": "p99 latency ratio (candidate / baseline)",
    "memory_ratio": "memory: used_memory per key (candidate / baseline)",
    "rss_ratio": "memory: RSS per key (candidate / baseline)",
}


def pareto(study: optuna.Study) -> Figure:
    """The Pareto front: throughput (up) against p99 latency or memory per key (down)."""
    names = metric_names(study)
    titles = [PARETO_AXIS_TITLES.get(n, n) for n in names[:3]]
    fig = optuna.visualization.plot_pareto_front(study, target_names=titles)
    fig.update_layout(title=f"Pareto front: {' vs '.join(names[:3])}", height=500)
    against = " and ".join(PARETO_AXIS_TITLES.get(n, n) for n in names[1:3])
    return Figure(
        "pareto",
        "Pareto front",
        fig,
        f"Trials on the front trade throughput (higher is better) against {against} "
        "(lower is better). Memory ratios are measured on the spec's dataset, loaded into a "
        "fresh candidate and baseline before each trial's benchmark.",
    )


def finalists(entries: Sequence[dict[str, Any]], winner: dict[str, Any] | None) -> Figure:
    """Per-test rps ratio of the default and the winner, and their fitness, with CIs."""
    default = next(
        (e for e in entries if e.get("is_default") and e.get("status") == "measured"), None
    )
    chosen = [e for e in (default, _winner_entry(entries, winner)) if e is not None]
    if default is not None and len(chosen) == 2 and chosen[1] is default:
        chosen = [default]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.7, 0.3],
        subplot_titles=("per-test rps ratio (x100)", "fitness"),
    )
    for entry, color in zip(chosen, ("#7f7f7f", "#1f77b4"), strict=False):
        label = "default" if entry is default else f"winner: {entry.get('label')}"
        per_test = entry.get("per_test") or {}
        per_ci = entry.get("per_test_ci") or {}
        tests = list(per_test)
        y = [100.0 * float(per_test[t]) for t in tests]
        error = None
        if all(t in per_ci for t in tests) and tests:
            error = {
                "type": "data",
                "symmetric": False,
                "array": [100.0 * float(per_ci[t][1]) - v for t, v in zip(tests, y, strict=True)],
                "arrayminus": [
                    v - 100.0 * float(per_ci[t][0]) for t, v in zip(tests, y, strict=True)
                ],
            }
        fig.add_trace(
            go.Bar(x=tests, y=y, name=label, marker_color=color, error_y=error),
            row=1,
            col=1,
        )
        fitness = float(entry["fitness"])
        fig.add_trace(
            go.Bar(
                x=[label.split(":")[0]],
                y=[fitness],
                marker_color=color,
                showlegend=False,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [float(entry["ci_high"]) - fitness],
                    "arrayminus": [fitness - float(entry["ci_low"])],
                },
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=100, line_dash="dot", line_color="#444", annotation_text="baseline")
    fig.update_layout(title="Default vs winner, re-measured", barmode="group", height=450)
    return Figure(
        "finalists",
        "Default vs winner",
        fig,
        "Re-measured by the finalize step; bars show the median rps ratio per test x100 "
        "(100 = as fast as the baseline) and the overall fitness with its CI.",
    )


def _winner_entry(
    entries: Sequence[dict[str, Any]], winner: dict[str, Any] | None
) -> dict[str, Any] | None:
    if not winner:
        return None
    return next((e for e in entries if e.get("label") == winner.get("label")), winner)


def time_spent(times: TimeBreakdown) -> Figure:
    """One stacked bar of the study's wall-clock by category."""
    fig = go.Figure()
    unit, scale = _time_unit(times.wall_seconds)
    for category in CATEGORIES:
        seconds = times.totals.get(category, 0.0)
        share = seconds / times.wall_seconds * 100 if times.wall_seconds > 0 else 0.0
        fig.add_trace(
            go.Bar(
                y=["study"],
                x=[seconds / scale],
                name=f"{category}: {format_seconds(seconds)} ({share:.0f}%)",
                orientation="h",
                marker_color=_COLORS[category],
            )
        )
    fig.update_layout(
        title=f"Wall-clock {format_seconds(times.wall_seconds)}: how it was spent",
        barmode="stack",
        xaxis_title=unit,
        height=300,
        legend={"orientation": "h", "y": -0.4},
    )
    return Figure(
        "time",
        "Where the time went",
        fig,
        "Build/start/benchmark from the runner's per-trial timings; other = rest of each "
        "trial's duration; idle = gaps between trials; finalists = re-measurement.",
    )


def _time_unit(seconds: float) -> tuple[str, float]:
    if seconds >= 7200:
        return "hours", 3600.0
    if seconds >= 120:
        return "minutes", 60.0
    return "seconds", 1.0


def trial_times(times: TimeBreakdown) -> Figure:
    """Per-trial stacked bars of build, start, benchmark and other seconds."""
    fig = go.Figure()
    x = [t.number for t in times.trials]
    for category in ("build", "start", "benchmark", "other"):
        y = [t.other if category == "other" else t.phases.get(category, 0.0) for t in times.trials]
        fig.add_trace(go.Bar(x=x, y=y, name=category, marker_color=_COLORS[category]))
    fig.update_layout(
        title="Time per trial", barmode="stack", xaxis_title="trial", yaxis_title="seconds"
    )
    return Figure("trial_time", "Time per trial", fig, "")


def finite(value: Any) -> bool:
    """A real number (not None, not NaN)."""
    return isinstance(value, int | float) and not math.isnan(value)
