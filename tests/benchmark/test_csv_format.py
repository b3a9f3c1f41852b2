"""The CSV parser on real captured redis-benchmark output (tests/data/redis_benchmark)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from benchmark.client import ToolRun
from benchmark.csv_format import CsvRow, parse_csv, row_for_test
from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.invocation import run_test
from benchmark.workload import Workload
from tests.benchmark.conftest import DATA


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_eight_column_format_keeps_every_latency() -> None:
    rows = parse_csv(read("redis8.0.2_csv_8col.csv"))
    assert [r.test for r in rows] == [
        "SET",
        "GET",
        "LPOP",
        "LPUSH (needed to benchmark LRANGE)",
        "LRANGE_100 (first 100 elements)",
        "MSET (10 keys)",
    ]
    assert rows[0] == CsvRow("SET", 83682.01, 8.165, 0.208, 7.439, 34.367, 36.479, 36.671)


def test_two_column_format_has_rps_and_no_latency() -> None:
    rows = parse_csv(read("redis6.0.16_csv_2col.csv"))
    assert len(rows) == 6
    mset = row_for_test(rows, "mset")
    assert mset.rps == pytest.approx(363636.38)
    assert mset.p50_ms is None and mset.p99_ms is None


@pytest.mark.parametrize("fixture", ["redis8.0.2_csv_8col.csv", "redis6.0.16_csv_2col.csv"])
def test_lrange_row_is_chosen_over_its_lpush_setup_row(fixture: str) -> None:
    rows = parse_csv(read(fixture))
    row = row_for_test(rows, "lrange_100")
    assert row.test.startswith("LRANGE_100")
    # The set-up LPUSH is not a result for the lpush test.
    with pytest.raises(BenchmarkError, match="expected one LPUSH row"):
        row_for_test(rows, "lpush")


def test_too_short_run_reporting_inf_is_an_error() -> None:
    with pytest.raises(BenchmarkError, match="inf"):
        parse_csv(read("redis8.0.2_csv_too_short_inf.csv"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no output"),
        ('"SET","0.00"\n', "rps='0.00'"),
        ('"SET","-5"\n', "positive"),
        ('"SET","fast"\n', "not a number"),
        ('"SET","1.0","2.0"\n', "expected 2 or 8 columns"),
        ('"SET","100.0","0.1","0.1","x","0.1","0.1","0.1"\n', "not a number"),
    ],
)
def test_malformed_output_is_an_error(text: str, match: str) -> None:
    with pytest.raises(BenchmarkError, match=match):
        parse_csv(text)


def test_header_only_output_is_an_error() -> None:
    with pytest.raises(BenchmarkError, match="no result rows"):
        parse_csv(read("redis8.0.2_error_reply.stdout"))


class ReplayClient:
    """Replays one captured invocation (stdout, stderr, exit status) of redis-benchmark."""

    def __init__(self, prefix: str) -> None:
        self.run = ToolRun(
            argv=("redis-benchmark",),
            returncode=int(read(f"{prefix}.rc").strip().removeprefix("rc=")),
            stdout=read(f"{prefix}.stdout"),
            stderr=read(f"{prefix}.stderr"),
            seconds=0.01,
        )

    def benchmark(self, endpoint: Endpoint, args: Sequence[str], *, timeout: float) -> ToolRun:
        return self.run

    def cli(
        self,
        endpoint: Endpoint,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
    ) -> ToolRun:
        raise AssertionError("not used")


@pytest.mark.parametrize(
    ("prefix", "stderr_text"),
    [
        ("redis8.0.2_connection_refused", "Connection refused"),
        ("redis8.0.2_noauth", "NOAUTH Authentication required"),
        ("redis8.0.2_error_reply", "WRONGTYPE"),
    ],
)
def test_failed_runs_raise_with_the_tools_stderr(prefix: str, stderr_text: str) -> None:
    endpoint = Endpoint("candidate", "127.0.0.1", 1)
    with pytest.raises(BenchmarkError) as info:
        run_test(ReplayClient(prefix), endpoint, Workload(), "set", 1, 1000, timeout=5)
    assert stderr_text in info.value.stderr
    assert stderr_text in str(info.value)
    assert "exited with status 1" in str(info.value)
