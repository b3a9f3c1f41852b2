"""PairedRun draws nothing of its own (the tuner's study display, or ``python -m benchmark``,
renders its per-repetition reports), even when stderr looks like a terminal."""

from __future__ import annotations

import pytest

from benchmark.client import LocalClient
from benchmark.paired import PairedRun
from benchmark.result import RepetitionUpdate
from benchmark.server_process import ServerProcess
from benchmark.workload import Workload

pytestmark = pytest.mark.integration


def test_paired_run_reports_through_its_callback_only(
    redis8: ServerProcess,
    client: LocalClient,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    workload = Workload(
        tests=("set",), pipelines=(1,), keyspace=1000, requests=2000,
        min_repetitions=3, max_repetitions=3, target_ci_pct=0.1,
    )  # fmt: skip
    updates: list[RepetitionUpdate] = []
    capfd.readouterr()
    result = PairedRun(
        redis8.endpoint, redis8.endpoint, workload, client, seed=1, on_repetition=updates.append
    ).run()
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert [u.repetition for u in updates] == [1, 2, 3] == list(range(1, result.repetitions + 1))
    assert {u.max_repetitions for u in updates} == {3}
