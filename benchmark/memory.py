"""Memory of a candidate against Redis 8.0 on the same datasets: bytes per key and ratios.

Each (dataset, server) pair gets a fresh server process, so allocator state left by one
dataset never shows in the next. Loading is not a speed measurement: servers are not
pinned and run at normal priority.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rich.table import Table

from benchmark.dataset import DatasetSpec, Footprint, measure_footprint
from benchmark.server_process import ServerProcess

__all__ = ["MemoryComparison", "MemoryRow", "compare_memory", "footprint_of"]


@dataclass(frozen=True)
class MemoryRow:
    """One dataset on both servers."""

    spec: DatasetSpec
    candidate: Footprint
    baseline: Footprint

    @property
    def used_memory_ratio(self) -> float:
        return self.candidate.used_memory_per_key / self.baseline.used_memory_per_key

    @property
    def rss_ratio(self) -> float:
        return self.candidate.rss_per_key / self.baseline.rss_per_key

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.spec.to_dict(),
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "used_memory_ratio": self.used_memory_ratio,
            "rss_ratio": self.rss_ratio,
        }


@dataclass(frozen=True)
class MemoryComparison:
    rows: tuple[MemoryRow, ...]

    def table(self) -> Table:
        t = Table(
            title="bytes per key (growth from an empty server): candidate vs Redis 8.0",
            caption="; ".join(f"{r.spec.name}: {r.spec.description}" for r in self.rows),
        )
        for name in ("dataset", "keys"):
            t.add_column(name)
        for name in ("used_memory", "Redis", "ratio", "RSS", "Redis RSS", "RSS ratio"):
            t.add_column(name, justify="right")
        for r in self.rows:
            t.add_row(
                r.spec.name,
                f"{r.candidate.keys:,}",
                f"{r.candidate.used_memory_per_key:.1f}",
                f"{r.baseline.used_memory_per_key:.1f}",
                f"{r.used_memory_ratio:.2f}x",
                f"{r.candidate.rss_per_key:.1f}",
                f"{r.baseline.rss_per_key:.1f}",
                f"{r.rss_ratio:.2f}x",
            )
        return t

    def to_json(self) -> str:
        return json.dumps({"rows": [r.to_dict() for r in self.rows]}, indent=2)


def footprint_of(
    argv: Sequence[str], spec: DatasetSpec, *, name: str, redis_benchmark: Path | None = None
) -> Footprint:
    """Start ``argv`` ({port} filled in), load ``spec``, return the growth; always stops it."""
    server = ServerProcess(argv, name=name, cpus=None, nice=None)
    try:
        server.start()
        conn = redis.Redis(host=server.host, port=server.port, protocol=2, socket_timeout=120)
        try:
            return measure_footprint(conn, spec, pid=server.pid, redis_benchmark=redis_benchmark)
        finally:
            conn.close()
    finally:
        server.cleanup()


def compare_memory(
    candidate_argv: Sequence[str],
    baseline_argv: Sequence[str],
    specs: Sequence[DatasetSpec],
    *,
    redis_benchmark: Path | None = None,
    on_row: Callable[[MemoryRow], None] | None = None,
) -> MemoryComparison:
    """Every spec into a fresh candidate and a fresh baseline."""
    rows = []
    for spec in specs:
        cand = footprint_of(candidate_argv, spec, name="candidate", redis_benchmark=redis_benchmark)
        base = footprint_of(baseline_argv, spec, name="baseline", redis_benchmark=redis_benchmark)
        row = MemoryRow(spec, cand, base)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return MemoryComparison(tuple(rows))
