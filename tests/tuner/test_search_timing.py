"""tuner.search_timing on hand-made trials whose times and values are known."""

from __future__ import annotations

import datetime as dt

from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.search_timing import search_timing

T0 = dt.datetime(2026, 12, 3, 12, 0, 0)


def _trial(number: int, start_s: float, seconds: float, state: TrialState, value: float,
           raced: bool = False) -> FrozenTrial:  # fmt: skip
    return FrozenTrial(
        number=number,
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        datetime_start=T0 + dt.timedelta(seconds=start_s),
        datetime_complete=T0 + dt.timedelta(seconds=start_s + seconds),
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={"raced_out": {"bound": 1.0}} if raced else {},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_medians_racing_and_the_trial_that_came_within_one_percent() -> None:
    trials = [
        _trial(0, 0, 50, TrialState.COMPLETE, 100.0),
        _trial(1, 50, 60, TrialState.COMPLETE, 104.0),
        _trial(2, 110, 25, TrialState.PRUNED, 0.0, raced=True),
        _trial(3, 135, 30, TrialState.PRUNED, 0.0, raced=True),
        _trial(4, 165, 55, TrialState.COMPLETE, 110.5),  # within 1% of the final 111.0
        _trial(5, 220, 52, TrialState.COMPLETE, 111.0),
        _trial(6, 272, 5, TrialState.FAIL, 0.0),  # a failed build: not a measured trial
    ]
    finalists = [{"rounds": [{"seconds": 100.0}, {"seconds": 110.0}]}, {"rounds": []}]
    timing = search_timing(trials, finalists)
    assert timing.measured == 6
    assert timing.median_s == 51.0  # of 50, 60, 25, 30, 55, 52
    assert timing.median_complete_s == 53.5 and timing.median_raced_out_s == 27.5
    assert timing.search_s == 272.0
    assert timing.final_best == 111.0 and timing.reached_at == 4
    assert timing.finalize_s == 210.0
    line = timing.line()
    assert "median 51 s each (complete 54 s, raced out 28 s)" in line
    assert "from trial 4" in line and "finalize 3m30s" in line


def test_an_empty_study_has_no_figures() -> None:
    timing = search_timing([])
    assert timing.measured == 0 and timing.median_s is None and timing.reached_at is None
    assert timing.line() == "time: 0 trials measured"
