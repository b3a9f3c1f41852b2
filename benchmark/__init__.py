"""Trustworthy paired measurement of a candidate server against Redis 8.0.

Entry points: Workload (what to run), ServerProcess (a pinned local server), LocalClient
(where redis-benchmark runs), PairedRun (the interleaved A/B protocol) -> PairedResult.
"""

from benchmark.client import BenchmarkClient, LocalClient, ToolRun
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError, ServerStartError
from benchmark.paired import PairedRun
from benchmark.result import PairedResult, RawRun, RepetitionUpdate, TestStats
from benchmark.server_process import ServerProcess, free_port
from benchmark.workload import Workload, WorkloadError

__all__ = [
    "BenchmarkClient",
    "BenchmarkError",
    "Endpoint",
    "LocalClient",
    "PairedResult",
    "PairedRun",
    "RawRun",
    "RepetitionUpdate",
    "ServerProcess",
    "ServerStartError",
    "TestStats",
    "ToolRun",
    "Workload",
    "WorkloadError",
    "free_port",
]
