"""The memory probe: load a spec's datasets into the candidate and the baseline, read
bytes per key.

Run on freshly started servers before the throughput benchmark (which FLUSHALLs before
every run), so the figures are those of a new server holding exactly the dataset, and no
allocator history from the benchmark shows in them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis

from benchmark.dataset import DatasetError, DatasetSpec, Footprint, measure_datasets
from tuner.runners.base import MemoryOutcome, TrialFailure

__all__ = ["footprint", "measure_memory"]

#: Seconds a loading command may take (a large pipelined batch on a loaded machine).
SOCKET_TIMEOUT_S = 120.0


def footprint(endpoint: Any, specs: Sequence[DatasetSpec], *, pid: int | None = None) -> Footprint:
    """FLUSHALL ``endpoint`` (``.name``, ``.host``, ``.port``), load ``specs``, return the
    growth; RSS from /proc/``pid`` when given (a server we started), else INFO's."""
    conn = redis.Redis(
        host=endpoint.host, port=endpoint.port, protocol=2, socket_timeout=SOCKET_TIMEOUT_S
    )
    try:
        return measure_datasets(conn, specs, pid=pid)
    except DatasetError as exc:
        raise TrialFailure(f"{endpoint.name}: loading the dataset failed: {exc}") from None
    except redis.RedisError as exc:
        raise TrialFailure(f"{endpoint.name}: loading the dataset failed: {exc}") from None
    finally:
        conn.close()


def measure_memory(
    candidate: Any,
    baseline: Any,
    specs: Sequence[DatasetSpec],
    *,
    candidate_pid: int | None = None,
    baseline_pid: int | None = None,
) -> MemoryOutcome:
    """Both servers' footprints of ``specs`` as one :class:`MemoryOutcome`."""
    started = time.monotonic()
    cand = footprint(candidate, specs, pid=candidate_pid)
    base = footprint(baseline, specs, pid=baseline_pid)
    if cand.keys != base.keys:
        raise TrialFailure(
            f"the dataset left {cand.keys} keys in the candidate and {base.keys} in the "
            "baseline: memory per key would compare different data"
        )
    return MemoryOutcome(
        keys=cand.keys,
        candidate_used_per_key=cand.used_memory_per_key,
        baseline_used_per_key=base.used_memory_per_key,
        candidate_rss_per_key=cand.rss_per_key,
        baseline_rss_per_key=base.rss_per_key,
        seconds=time.monotonic() - started,
    )
