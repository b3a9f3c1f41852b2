"""The one study display: trials done of the budget, elapsed, ETA from measured trial times,
the incumbent with its CI, the current trial's repetition and running estimate; and the
end-of-study summary (winner vs default with the CI of the gain, config path, commands)."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
from rich.console import Console

from tuner.progress import StudyProgress, eta_seconds, format_seconds
from tuner.runners.base import Progress
from tuner.summary import gain

REPO = Path(__file__).resolve().parents[2]


def test_eta_is_the_median_trial_time_times_the_trials_left() -> None:
    assert eta_seconds([], 5) is None
    assert eta_seconds([10.0, 12.0, 600.0], 4) == 48.0  # one long build does not swing it
    assert eta_seconds([10.0], 0) == 0.0
    assert format_seconds(3725) == "1h02m" and format_seconds(245) == "4m05s"
    assert format_seconds(None) == "?"


def _render(progress: StudyProgress) -> str:
    assert progress._bar is not None
    out = Console(file=io.StringIO(), width=250, record=True)
    out.print(progress._bar.get_renderable())
    return out.export_text()


def test_display_rows_show_budget_eta_incumbent_and_the_current_repetition() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    console = Console(file=io.StringIO(), force_terminal=True, width=250)
    with StudyProgress(console) as progress:
        progress.study_started(study, 0, 10)
        assert "0/10" in _render(progress) and "ETA ?" in _render(progress)
        for number, fitness in ((0, 100.0), (1, 104.0)):
            trial = study.ask()
            progress.trial_started(number, {})
            progress.repetition(number, Progress(3, fitness, fitness - 4, fitness + 4, 10))
            text = _render(progress)
            assert f"trial {number}" in text and "3/10" in text
            assert f"running estimate {fitness:.1f} [{fitness - 4:.1f}, {fitness + 4:.1f}]" in text
            trial.set_user_attr("fitness_ci_low", fitness - 3)
            trial.set_user_attr("fitness_ci_high", fitness + 3)
            study.tell(trial, fitness)
            progress._trial_started -= 60  # as if the trial took a minute
            progress.trial_finished(study, study.trials[-1], number + 1)
        text = _render(progress)
        assert "2/10" in text
        assert "ETA 8m00s" in text  # 8 trials left at the measured minute each
        assert "best 104.0 [101.0, 107.0] (#1)" in text
        assert "trial 1" not in text  # the trial row goes when the trial ends


def test_repetition_one_has_no_ci_yet() -> None:
    study = optuna.create_study(direction="maximize")
    console = Console(file=io.StringIO(), force_terminal=True, width=250)
    with StudyProgress(console) as progress:
        progress.study_started(study, 0, 3)
        progress.trial_started(0, {})
        progress.repetition(0, Progress(1, 99.0, math.nan, math.nan, 10))
        assert "99.0 [CI from rep 2]" in _render(progress)


def test_gain_ci_combines_both_intervals() -> None:
    g = gain((110.0, 105.0, 115.0), (100.0, 95.0, 105.0), 0.95)
    assert math.isclose(g.pct, 10.0)
    # Independent CIs of about ±4.6% and ±5%: the gain's is wider than either.
    assert g.low_pct < 10 - 5 and g.high_pct > 10 + 5
    assert g.clear  # still wholly above zero
    assert not gain((101.0, 96.0, 106.0), (100.0, 95.0, 105.0), 0.95).clear
    unknown = gain((101.0, math.nan, math.nan), (100.0, 95.0, 105.0), 0.95)
    assert math.isclose(unknown.pct, 1.0) and math.isnan(unknown.low_pct)


def test_a_finished_study_says_what_was_found(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TUNER_STUDIES_DIR"] = str(tmp_path / "studies")
    env["COLUMNS"] = "200"
    env.pop("TUNER_STORAGE", None)
    storage = f"sqlite:///{tmp_path}/t.db"
    done = subprocess.run(
        [sys.executable, "-m", "tuner.cli", "study", "run", "--runner", "mock",
         "--trials", "12", "--seed", "3", "--storage", storage, "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "study redis-throughput: what was found" in out
    assert "re-measured as a finalist" in out
    assert ("vs default: fitness" in out and "gain " in out and "95% CI [" in out) or (
        "the default stayed best" in out
    )
    assert f"config: {tmp_path / 'studies' / 'redis-throughput' / 'best_config.toml'}" in out
    assert (tmp_path / "studies" / "redis-throughput" / "best_config.toml").is_file()
    assert f"tuner study report redis-throughput --storage {storage}" in out
    assert f"tuner dashboard --storage {storage}" in out
