"""The machine-health guard against a real disturbance: busy loops on the servers' CPU.

Our server (the candidate) and Redis 8.0 (the baseline) share one pinned CPU. During two
whole repetitions, 16 busy loops run on that CPU (taskset, at the servers' niceness), so
each server gets a small share of it: the baseline's own throughput falls far below its
running median, and the guard must drop those repetitions and run them again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

from benchmark.client import LocalClient, ToolRun
from benchmark.endpoint import Endpoint
from benchmark.paired import PairedRun
from benchmark.pinning import DEFAULT_NICE, nice_prefix, taskset_prefix
from benchmark.redis8 import redis_server_argv
from benchmark.result import BASELINE, RepetitionUpdate
from benchmark.server_process import ServerProcess
from benchmark.workload import Workload
from tests.benchmark.conftest import require_or_skip

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
OUR_SERVER = REPO / "server" / "target" / "release" / "redis-server-optimized"
WORKLOAD = Workload(
    tests=("set", "get"),
    pipelines=(1,),
    keyspace=1000,
    duration_s=0.1,
    min_repetitions=6,
    max_repetitions=6,
    target_ci_pct=1.0,
    health_threshold=0.5,
    max_dropped=3,
)
#: Disturb the repetition after each of these (so repetitions 3 and 5 are first run busy).
DISTURB_AFTER = (2, 4)
#: Enough busy loops that the servers keep a small share of their CPU even when other load
#: already competes for it (4 left the baseline at about half its median at load 8).
SPINNERS = 16


class BusyWindowClient:
    """A LocalClient that, once armed, runs ``SPINNERS`` busy loops on ``cpus`` for the next
    ``calls`` benchmark runs (one whole repetition: every unit on both servers)."""

    def __init__(self, inner: LocalClient, cpus: str) -> None:
        self.inner = inner
        self.prefix = [*nice_prefix(DEFAULT_NICE), *taskset_prefix(cpus)]
        self.armed = 0
        self.busy_runs = 0

    def arm(self, calls: int) -> None:
        self.armed = calls

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        if self.armed <= 0:
            return self.inner.benchmark(endpoint, args, timeout=timeout)
        self.armed -= 1
        self.busy_runs += 1
        spinners = [
            subprocess.Popen(
                [*self.prefix, "sh", "-c", "while :; do :; done"], start_new_session=True
            )
            for _ in range(SPINNERS)
        ]
        try:
            return self.inner.benchmark(endpoint, args, timeout=timeout)
        finally:
            for spinner in spinners:
                os.killpg(spinner.pid, signal.SIGKILL)
                spinner.wait()

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        return self.inner.cli(endpoint, args, stdin=stdin, timeout=timeout)

    def pipeline(
        self, endpoint: Endpoint, commands: Iterable[Sequence[str]], *, timeout: float = 120.0
    ) -> int:
        return self.inner.pipeline(endpoint, commands, timeout=timeout)


@pytest.mark.timeout(120)
def test_disturbed_repetitions_are_dropped_and_run_again(
    redis8_bin_dir: Path, cpu_sets: tuple[str | None, str | None]
) -> None:
    server_cpus, client_cpus = cpu_sets
    if server_cpus is None:
        pytest.skip("no CPU to pin the servers to: a busy loop cannot target them")
    if not OUR_SERVER.exists():
        require_or_skip(f"{OUR_SERVER} is not built")
    ours = ServerProcess(
        [str(OUR_SERVER), "--port", "{port}", "--bind", "127.0.0.1"], name="ours", cpus=server_cpus
    )
    redis = ServerProcess(redis_server_argv(redis8_bin_dir), name="redis8", cpus=server_cpus)
    client = BusyWindowClient(LocalClient(redis8_bin_dir, cpus=client_cpus), server_cpus)
    per_repetition = 2 * len(WORKLOAD.units)

    def on_repetition(update: RepetitionUpdate) -> None:
        if update.repetition in DISTURB_AFTER:
            client.arm(per_repetition)

    try:
        ours.start()
        redis.start()
        result = PairedRun(
            ours.endpoint, redis.endpoint, WORKLOAD, client, seed=1, on_repetition=on_repetition
        ).run()
    finally:
        ours.cleanup()
        redis.cleanup()
    assert result.seconds < 60, f"bounded: {result.seconds:.0f}s"
    assert client.busy_runs == per_repetition * len(DISTURB_AFTER)
    # Both busy repetitions dropped (a spontaneous drop on a loaded machine may add one).
    assert len(DISTURB_AFTER) <= result.dropped_repetitions <= WORKLOAD.max_dropped
    assert result.repetitions == WORKLOAD.max_repetitions  # dropped ones were run again
    disturbed = [r for r in result.runs if r.phase == "disturbed"]
    measured = [r for r in result.runs if r.phase == "measure"]
    assert len(disturbed) == per_repetition * result.dropped_repetitions
    assert len(measured) == per_repetition * result.repetitions
    for stats in result.per_test.values():
        assert len(stats.ratios) == result.repetitions
    # The dropped baseline runs were far below the counted ones.
    for unit in WORKLOAD.unit_names:
        quiet = np.median([r.rps for r in measured if r.role == BASELINE and r.unit == unit])
        busy = np.median([r.rps for r in disturbed if r.role == BASELINE and r.unit == unit])
        assert busy < 0.5 * quiet, (unit, busy, quiet)
    print(
        f"\nhealth guard: {result.dropped_repetitions} repetitions dropped, "
        f"{result.repetitions} counted, fitness {result.fitness:.1f}, {result.seconds:.0f}s"
    )
