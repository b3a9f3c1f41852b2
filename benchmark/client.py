"""The load generator: where redis-benchmark and redis-cli run (locally or in a container)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.pinning import DEFAULT_CLIENT_CPUS, DEFAULT_NICE, nice_prefix, taskset_prefix
from benchmark.redis8 import find_redis8_bin_dir
from benchmark.resp_pipeline import send_pipelined


@dataclass(frozen=True)
class ToolRun:
    """One finished invocation of redis-benchmark or redis-cli."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class BenchmarkClient(Protocol):
    """Runs redis-benchmark / redis-cli against an endpoint; adds host and port itself.

    Implementations: LocalClient (a pinned local process); compose adds one that runs
    the same tools with ``docker exec`` in the client container.
    """

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        """Run ``redis-benchmark -h HOST -p PORT ARGS``; never raises for a non-zero exit."""
        ...

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        """Run ``redis-cli -h HOST -p PORT ARGS`` (``--pipe`` reads ``stdin``); never raises
        for a non-zero exit."""
        ...

    def pipeline(
        self, endpoint: Endpoint, commands: Iterable[Sequence[str]], *, timeout: float = 120.0
    ) -> int:
        """Send ``commands`` pipelined (FLUSHALL, the prefill); returns the replies read.

        An error reply or a failed connection raises BenchmarkError.
        """
        ...


def run_tool(argv: Sequence[str], *, stdin: bytes | None, timeout: float) -> ToolRun:
    """Run argv to completion; a timeout or missing binary becomes a BenchmarkError."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode(errors="replace")
        raise BenchmarkError(
            f"{Path(argv[0]).name} timed out after {timeout:.0f}s", stderr=stderr, argv=argv
        ) from None
    except OSError as exc:
        raise BenchmarkError(f"cannot run {argv[0]}: {exc}", argv=argv) from None
    return ToolRun(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=proc.stdout.decode(errors="replace"),
        stderr=proc.stderr.decode(errors="replace"),
        seconds=time.perf_counter() - started,
    )


class LocalClient:
    """redis-benchmark and redis-cli as local processes pinned with taskset to ``cpus``,
    at niceness ``nice`` (see benchmark.pinning.DEFAULT_NICE)."""

    def __init__(
        self,
        bin_dir: str | Path | None = None,
        *,
        cpus: str | None = DEFAULT_CLIENT_CPUS,
        nice: int | None = DEFAULT_NICE,
    ) -> None:
        directory = Path(bin_dir) if bin_dir is not None else find_redis8_bin_dir()
        if directory is None:
            raise BenchmarkError(
                "redis-benchmark 8 not found: set REDIS8_BIN_DIR or run `bash .ci/install redis8`"
            )
        self.redis_benchmark = directory / "redis-benchmark"
        self.redis_cli = directory / "redis-cli"
        self.cpus = cpus
        self.nice = nice
        self._prefix = [*nice_prefix(nice), *taskset_prefix(cpus)]

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        argv = [
            *self._prefix,
            str(self.redis_benchmark),
            "-h",
            endpoint.host,
            "-p",
            str(endpoint.port),
            *args,
        ]
        return run_tool(argv, stdin=None, timeout=timeout)

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        argv = [
            *self._prefix,
            str(self.redis_cli),
            "-h",
            endpoint.host,
            "-p",
            str(endpoint.port),
            *args,
        ]
        return run_tool(argv, stdin=stdin, timeout=timeout)

    def pipeline(
        self, endpoint: Endpoint, commands: Iterable[Sequence[str]], *, timeout: float = 120.0
    ) -> int:
        """Through this process's own RESP client (:func:`benchmark.resp_pipeline`)."""
        return send_pipelined(endpoint, commands, timeout=timeout)
