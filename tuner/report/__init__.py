"""``tuner study report``: a self-contained HTML report plus one PNG per figure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tuner.importance import ParamImportance, describe
from tuner.report import figures as figs
from tuner.report.html import render
from tuner.report.png import PngExportError, export_pngs
from tuner.report.timing import TimeBreakdown, breakdown

__all__ = ["PngExportError", "Report", "ReportError", "build_figures", "write_report"]


class ReportError(ValueError):
    """The study cannot be reported (e.g. no complete trial yet)."""


@dataclass
class Report:
    """What ``write_report`` wrote."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    data: Path | None = None
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why no PNGs were written although asked for (usually: no Chromium); None if they were.
    png_error: str | None = None


def build_figures(
    study: optuna.Study,
) -> tuple[
    list[figs.Figure],
    list[dict[str, float]],
    list[list[ParamImportance]],
    TimeBreakdown,
    list[str],
]:
    """Every figure the study supports, its importances (and their permutation nulls), time
    breakdown and skip notes."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ReportError(f"study {study.study_name!r} has no complete trial to report on yet")
    notes: list[str] = []
    importances = figs.param_importances(study)
    nulls = figs.importance_nulls(study) if importances else []
    finalists = study.user_attrs.get("finalists") or []
    times = breakdown(study.get_trials(deepcopy=False), finalists)
    out = [figs.history(study)]
    if importances:
        out.append(figs.importance(study, importances, nulls))
        if nulls and nulls[0]:
            notes.append(describe(nulls[0]).capitalize() + ".")
    else:
        notes.append("Parameter importance needs at least 2 complete trials.")
    order = figs.top_params(importances, len(complete[0].params))
    out.append(figs.parallel(study, order))
    top = (
        figs.top_params(importances, figs.SLICE_PARAMS)
        or list(complete[0].params)[: figs.SLICE_PARAMS]
    )
    out.append(figs.slices(study, top))
    if len(study.directions) > 1:
        out.append(figs.pareto(study))
    if any(e.get("status") == "measured" for e in finalists):
        out.append(figs.finalists(finalists, study.user_attrs.get("winner")))
    else:
        notes.append("No finalists measured yet: the default-vs-winner figure is left out.")
    out.append(figs.time_spent(times))
    out.append(figs.trial_times(times))
    return out, importances, nulls, times, notes


def write_report(study: optuna.Study, out_dir: Path, *, png: bool = True) -> Report:
    """Write ``report.html``, ``<figure>.png`` and ``report.json`` (importances, timings).
    When the PNGs cannot be rendered (no Chromium), the rest is written and
    ``Report.png_error`` says why."""
    figures, importances, nulls, times, notes = build_figures(study)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    html_path.write_text(render(study, figures, times, notes), encoding="utf-8")
    data_path = out_dir / "report.json"
    names = figs.metric_names(study)
    data_path.write_text(
        json.dumps(
            {
                "study": study.study_name,
                "figures": [f.key for f in figures],
                "importances": dict(zip(names, importances, strict=False)),
                "importance_vs_null": {
                    name: [r.to_dict() for r in rows]
                    for name, rows in zip(names, nulls, strict=False)
                },
                "time": {"wall_seconds": times.wall_seconds, **times.totals},
                "notes": notes,
            },
            indent=2,
        )
        + "\n"
    )
    pngs: list[Path] = []
    png_error = None
    if png:
        # The HTML report stands on its own: a missing browser costs the PNGs only.
        try:
            pngs = export_pngs(figures, out_dir)
        except PngExportError as exc:
            png_error = str(exc)
    return Report(html_path, pngs, data_path, [f.key for f in figures], notes, png_error)
