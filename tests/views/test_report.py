"""`tuner study report` on mock studies run through the tuner's own run loop."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from tests.views.conftest import MockStudy, tuner
from tests.views.png import read_png
from tuner.report.timing import breakdown

pytestmark = pytest.mark.timeout(240)

THROUGHPUT_FIGURES = [
    "history",
    "importance",
    "parallel",
    "slice",
    "finalists",
    "time",
    "trial_time",
]


def _figure_data(html: str, key: str) -> list[dict[str, Any]]:
    """The traces plotly will draw into div fig-KEY (parsed from the Plotly.newPlot call)."""
    match = re.search(r'Plotly\.newPlot\(\s*"fig-' + key + r'",\s*', html)
    assert match, f"no Plotly.newPlot for fig-{key}"
    data, _ = json.JSONDecoder().raw_decode(html, match.end())
    return data


def _has_points(trace: dict[str, Any]) -> bool:
    for field in ("x", "y", "dimensions", "values"):
        value = trace.get(field)
        if isinstance(value, dict):  # plotly 6+ may pack arrays as {"dtype", "bdata"}
            if value.get("bdata"):
                return True
        elif value:
            return True
    return False


def _report(study: MockStudy, out: Path) -> dict[str, Any]:
    done = tuner(study.workdir, "study", "report", study.name, "-o", str(out),
                 "--storage", study.storage)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads((out / "report.json").read_text())


def _check_figures(out: Path, figures: list[str]) -> None:
    html = (out / "report.html").read_text()
    assert "<script src=" not in html, "the report must not load scripts from the network"
    assert "plotly.js v" in html or "plotly.js" in html
    for key in figures:
        traces = _figure_data(html, key)
        assert traces and any(_has_points(t) for t in traces), f"figure {key} has no data"
        pixels = read_png(out / f"{key}.png")
        height, width, _ = pixels.shape
        assert width >= 800 and height >= 250, (key, pixels.shape)
        gray = pixels[:, :, :3].astype(float).mean(axis=2)
        assert gray.std() > 5.0, f"{key}.png is nearly blank (std {gray.std():.1f})"
        # Not just a frame: a real share of the pixels differ from the background.
        background = float(gray[0, 0])
        assert (abs(gray - background) > 30).mean() > 0.01, f"{key}.png has almost no ink"


def test_report_of_throughput_study(throughput_study: MockStudy, tmp_path: Path) -> None:
    data = _report(throughput_study, tmp_path / "report")
    assert data["figures"] == THROUGHPUT_FIGURES
    _check_figures(tmp_path / "report", THROUGHPUT_FIGURES)
    html = (tmp_path / "report" / "report.html").read_text()
    study = optuna.load_study(study_name=throughput_study.name, storage=throughput_study.storage)
    winner = study.user_attrs["winner"]
    assert f"Winner: {winner['label']}" in html
    # The finalists table: default vs winner per test, with the fitness CIs.
    for test in winner["per_test"]:
        assert f"<td>{test}</td>" in html
        low, high = winner["per_test_ci"][test]
        assert f"{winner['per_test'][test]:.3f} [{low:.3f}, {high:.3f}]" in html, test
    assert f"{winner['ci_low']:.1f}, {winner['ci_high']:.1f}" in html
    best = max(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.values[0])
    assert "Top 10 trials of the search" in html
    assert f"<td>{best.number}</td><td>{best.values[0]:.1f}</td>" in html
    # Importances cover every param of the spec, normalised like the dashboard's.
    importances = data["importances"]["fitness"]
    assert set(importances) == set(study.best_trial.params)
    assert sum(importances.values()) == pytest.approx(1.0)
    assert data["time"]["wall_seconds"] > 0


def test_report_of_pareto_study_has_front(pareto_study: MockStudy, tmp_path: Path) -> None:
    data = _report(pareto_study, tmp_path / "report")
    assert "pareto" in data["figures"]
    assert set(data["importances"]) == {"fitness", "p99_ratio"}
    _check_figures(tmp_path / "report", ["pareto", "history", "importance"])


def test_report_unknown_study_is_a_clear_error(throughput_study: MockStudy, tmp_path: Path) -> None:
    done = tuner(throughput_study.workdir, "study", "report", "nope", "-o", str(tmp_path),
                 "--storage", throughput_study.storage)  # fmt: skip
    assert done.returncode == 2
    assert "no study named 'nope'" in done.stderr


def test_time_breakdown_splits_wall_clock() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    dist: dict[str, BaseDistribution] = {"x": IntDistribution(0, 10)}

    def trial(start: float, end: float, timings: dict[str, float] | None) -> Any:
        return create_trial(
            state=TrialState.COMPLETE,
            value=1.0,
            params={"x": 1},
            distributions=dist,
            user_attrs={"timings": timings} if timings else {},
        )

    trials = [
        trial(0, 100, {"build": 60, "start": 1, "benchmark": 30}),
        trial(150, 200, {"build": 0, "start": 1, "benchmark": 40}),
        trial(200, 210, {"build": 100, "start": 0, "benchmark": 0}),  # reports more than it took
    ]
    spans = [(0, 100), (150, 200), (200, 210)]
    for number, (t, (start, end)) in enumerate(zip(trials, spans, strict=True)):
        t.number = number
        t.datetime_start = t0 + timedelta(seconds=start)
        t.datetime_complete = t0 + timedelta(seconds=end)
    times = breakdown(trials, [{"seconds": 90.0}])
    assert times.wall_seconds == pytest.approx(210 + 90)
    assert times.totals["idle"] == pytest.approx(50)
    assert times.totals["build"] == pytest.approx(60 + 10)  # the third trial scaled to 10 s
    assert times.totals["benchmark"] == pytest.approx(70)
    assert times.totals["other"] == pytest.approx(9 + 9)
    assert times.totals["finalists"] == pytest.approx(90)
    assert times.scaled_trials == 1
    assert sum(times.totals.values()) == pytest.approx(times.wall_seconds)
