"""One redis-benchmark run of one test: arguments, execution and error checks."""

from __future__ import annotations

from itertools import chain

from benchmark.client import BenchmarkClient
from benchmark.csv_format import CsvRow, parse_csv, row_for_test
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.prefill import POP_KEYS, SIZE_COMMAND, commands
from benchmark.workload import Workload


def benchmark_args(workload: Workload, test: str, pipeline: int, requests: int) -> list[str]:
    """redis-benchmark arguments (host and port come from the client)."""
    args = [
        "-t",
        test,
        "-P",
        str(pipeline),
        "-c",
        str(workload.clients),
        "-d",
        str(workload.data_size),
        "-r",
        str(workload.keyspace),
        "-n",
        str(requests),
        "--csv",
    ]
    if workload.threads is not None:
        args += ["--threads", str(workload.threads)]
    return args


def run_test(
    client: BenchmarkClient,
    endpoint: Endpoint,
    workload: Workload,
    test: str,
    pipeline: int,
    requests: int,
    *,
    timeout: float,
) -> tuple[CsvRow, float]:
    """Run ``test`` once; returns its CSV row and the tool's wall seconds.

    A non-zero exit, anything on stderr with no result, or an unusable row raises
    BenchmarkError carrying the tool's stderr.
    """
    run = client.benchmark(
        endpoint, benchmark_args(workload, test, pipeline, requests), timeout=timeout
    )
    if run.returncode != 0:
        raise BenchmarkError(
            f"redis-benchmark {test} -P {pipeline} against {endpoint} exited with status "
            f"{run.returncode}",
            stderr=run.stderr or run.stdout,
            stdout=run.stdout,
            argv=run.argv,
        )
    try:
        row = row_for_test(parse_csv(run.stdout), test)
    except BenchmarkError as exc:
        raise BenchmarkError(
            f"redis-benchmark {test} -P {pipeline} against {endpoint}: {exc.message}",
            stderr=run.stderr,
            stdout=run.stdout,
            argv=run.argv,
        ) from None
    return row, run.seconds


def cli_command(
    client: BenchmarkClient, endpoint: Endpoint, *args: str, timeout: float = 60.0
) -> str:
    """Run one command through redis-cli; an error reply or failure raises BenchmarkError."""
    run = client.cli(endpoint, list(args), timeout=timeout)
    out = run.stdout.strip()
    if run.returncode != 0 or out.startswith(("ERR", "(error)", "Could not connect")):
        raise BenchmarkError(
            f"redis-cli {' '.join(args)} against {endpoint} failed (status {run.returncode}): "
            f"{out[:200]}",
            stderr=run.stderr or run.stdout,
            argv=run.argv,
        )
    return run.stdout


def flushall(client: BenchmarkClient, endpoint: Endpoint) -> None:
    """Empty the server so every run starts from the same state."""
    try:
        client.pipeline(endpoint, [["FLUSHALL"]], timeout=60.0)
    except BenchmarkError as exc:
        raise BenchmarkError(f"FLUSHALL on {endpoint} failed: {exc.message}") from None


def prefill(
    client: BenchmarkClient,
    endpoint: Endpoint,
    workload: Workload,
    test: str,
    pipeline: int,
    requests: int,
    *,
    flush: bool = False,
) -> None:
    """Load the data ``test`` reads or pops (see benchmark.prefill), pipelined.

    With ``flush`` the same pipeline starts with FLUSHALL: one connection per run.
    """
    # Pipelined clients can overshoot -n by up to one pipeline each, so pops get a margin.
    count = requests + workload.clients * pipeline
    fill = commands(test, keyspace=workload.keyspace, data_size=workload.data_size, requests=count)
    sent = chain([["FLUSHALL"]] if flush else [], fill)
    try:
        client.pipeline(endpoint, sent, timeout=120.0)
    except BenchmarkError as exc:
        what = "FLUSHALL and prefill" if flush else "prefill"
        raise BenchmarkError(f"{what} for {test} on {endpoint} failed: {exc.message}") from None


def check_not_exhausted(client: BenchmarkClient, endpoint: Endpoint, test: str) -> None:
    """After a pop test, the structure must still hold data, or some pops measured misses."""
    if test not in POP_KEYS:
        return
    fill, key = POP_KEYS[test]
    left = cli_command(client, endpoint, SIZE_COMMAND[fill], key).strip()
    try:
        remaining = int(left.split()[-1])
    except (ValueError, IndexError):
        raise BenchmarkError(f"{SIZE_COMMAND[fill]} {key} on {endpoint} replied {left!r}") from None
    if remaining <= 0:
        raise BenchmarkError(
            f"{test.upper()} on {endpoint} emptied {key}: some pops measured misses, not pops"
        )
