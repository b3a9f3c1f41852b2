"""One client streaming a huge pipeline does not starve the other clients of its thread."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

import pytest

from tests.server.conftest import RunningServer, require_redis8_tool
from tests.server.resp import RespClient, encode_command

pytestmark = pytest.mark.timeout(120)

MEMBERS = 20
# Each SUNIONSTORE walks two 20-member sets: microseconds of work for a 40-byte request and a
# 5-byte reply, so the pipeline stays queued in the socket for a while (Redis 8.0 on a quiet
# machine: 0.14 s for 100k, too short for 20 probes, so 400k).
FLOOD = encode_command(("SUNIONSTORE", "dst", "big", "big")) * 400_000
#: One probe cycle when the probe is served at once: a PING round trip plus the 5 ms pause.
PROBE_CYCLE_S = 0.0065


@pytest.mark.parametrize("which", ["ours", "redis8"])
def test_ping_latency_stays_bounded_during_a_pipeline_flood(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: RunningServer = request.getfixturevalue(which)
    payload = tmp_path / "flood.resp"
    payload.write_bytes(FLOOD)
    with RespClient("127.0.0.1", server.port, timeout=60) as probe:
        probe.execute("DEL", "big", "dst")
        probe.execute("SADD", "big", *range(MEMBERS))
        # redis-cli --pipe (C, no GIL) writes the pipeline as fast as the socket takes it and
        # reads the replies as they come: the flood never pauses on its side.
        cli = require_redis8_tool("redis-cli")
        with payload.open("rb") as stdin:
            flood = subprocess.Popen(
                [str(cli), "-p", str(server.port), "--pipe"],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            t0 = time.perf_counter()
            time.sleep(0.05)  # the flood is under way
            latencies: list[float] = []
            while flood.poll() is None and len(latencies) < 100:
                t = time.perf_counter()
                assert probe.execute("PING") is not None
                latencies.append(time.perf_counter() - t)
                time.sleep(0.005)
            flood_seconds = time.perf_counter() - t0
            assert flood.wait(timeout=60) == 0
        finally:
            if flood.poll() is None:
                flood.kill()
    median = statistics.median(latencies)
    print(
        f"[fairness] {which}: {len(latencies)} probes, median {median * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms, flood {flood_seconds:.1f} s"
    )
    # Answered many times while the flood ran (before the fix the probe waited for a large
    # part of the pipeline each time), each within a generous bound. A fast machine ends the
    # flood sooner: at least half the probes that fit in it, and at least 10.
    fitted = (flood_seconds - 0.05) / PROBE_CYCLE_S
    assert len(latencies) >= min(20, max(10, fitted / 2)), (len(latencies), flood_seconds)
    assert median < 0.05, (median, flood_seconds)
    assert max(latencies) < 1.0, (sorted(latencies)[-5:], flood_seconds)
