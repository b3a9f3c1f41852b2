"""Parsing redis-benchmark ``--csv`` output, in both formats it has had.

Redis >= 6.2 prints a header and eight columns (test, rps, avg/min/p50/p95/p99/max latency
in ms); older versions print two columns (test, rps) and no header. A row whose rps is 0,
negative, not finite (``inf`` when a run is too short to time) or not a number is an error,
never a measurement.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from benchmark.errors import BenchmarkError

HEADER = (
    "test",
    "rps",
    "avg_latency_ms",
    "min_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
)


@dataclass(frozen=True)
class CsvRow:
    """One test's line; latencies (ms) are None in the old two-column format."""

    test: str
    rps: float
    avg_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None

    @property
    def key(self) -> str:
        """The ``-t`` name of this row: ``LRANGE_100 (first 100 elements)`` -> lrange_100."""
        return self.test.split(" ", 1)[0].lower()

    @property
    def is_setup(self) -> bool:
        """A row redis-benchmark adds to prepare a test: ``LPUSH (needed to benchmark ...)``."""
        return "(needed to benchmark" in self.test


def _number(text: str, column: str, line: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BenchmarkError(
            f"redis-benchmark csv: {column} {text!r} is not a number in {line!r}"
        ) from None
    return value


def parse_csv(text: str) -> list[CsvRow]:
    """All rows of one run's stdout; raises BenchmarkError for anything not a clean result."""
    rows: list[CsvRow] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise BenchmarkError("redis-benchmark csv: no output", stdout=text)
    for fields in csv.reader(io.StringIO("\n".join(lines))):
        line = ",".join(fields)
        if tuple(f.strip() for f in fields) == HEADER:
            continue
        if len(fields) not in (2, len(HEADER)):
            raise BenchmarkError(
                f"redis-benchmark csv: expected 2 or {len(HEADER)} columns, got {len(fields)} "
                f"in {line!r}",
                stdout=text,
            )
        test = fields[0].strip()
        rps = _number(fields[1], "rps", line)
        if not math.isfinite(rps) or rps <= 0:
            raise BenchmarkError(
                f"redis-benchmark csv: {test} reported rps={fields[1]!r}; a run needs a finite, "
                "positive throughput (inf means the run was too short to time)",
                stdout=text,
            )
        latencies: list[float | None] = [None] * 6
        if len(fields) == len(HEADER):
            latencies = [_number(f, c, line) for f, c in zip(fields[2:], HEADER[2:], strict=True)]
        rows.append(CsvRow(test, rps, *latencies))
    if not rows:
        raise BenchmarkError("redis-benchmark csv: a header but no result rows", stdout=text)
    return rows


def row_for_test(rows: list[CsvRow], test: str) -> CsvRow:
    """The row that measured ``test`` (a ``-t`` name), skipping redis-benchmark's set-up rows."""
    matches = [r for r in rows if r.key == test.lower() and not r.is_setup]
    if len(matches) != 1:
        found = ", ".join(r.test for r in rows)
        raise BenchmarkError(
            f"redis-benchmark csv: expected one {test.upper()} row, found: {found}"
        )
    return matches[0]
