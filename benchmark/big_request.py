"""One huge request of many small arguments, timed on a candidate and on Redis 8.0.

A single ``RPUSH key e1 ... eN`` of N small elements (13 MB for a million 8-byte ones) arrives
over hundreds of reads. A server whose parser re-scans the request from its start on every read
spends time quadratic in the size; Redis keeps its parse position and is linear. Both servers
run side by side, in a fresh random order every repetition; ratios are paired per repetition.
"""

from __future__ import annotations

import random
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.table import Table

from benchmark.endpoint import Endpoint
from benchmark.errors import BenchmarkError
from benchmark.pinning import DEFAULT_SERVER_CPUS
from benchmark.server_process import ServerProcess

__all__ = ["BigRequestResult", "compare_big_request", "rpush_payload", "time_request"]

KEY = b"big-request"


def rpush_payload(elements: int, size: int = 8, key: bytes = KEY) -> bytes:
    """``RPUSH key`` with ``elements`` elements of ``size`` decimal digits each, RESP-encoded.

    Element i is i zero-padded (modulo 10**size), so up to 10**size of them are distinct.
    """
    if elements < 1 or size < 1:
        raise BenchmarkError(f"need elements >= 1 and size >= 1, got {elements} and {size}")
    head = b"*%d\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (elements + 2, len(key), key)
    template = b"$%d\r\n%%0%dd\r\n" % (size, size)
    modulus = 10**size
    numbers = range(elements) if elements <= modulus else [i % modulus for i in range(elements)]
    # One formatting call in C: several times faster than formatting each element.
    return head + (template * elements) % tuple(numbers)


def _command(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def _read_line(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchmarkError("server closed the connection before replying")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\r\n")
    buf[:] = rest
    return line


def time_request(endpoint: Endpoint, payload: bytes, expect: bytes, timeout: float = 60.0) -> float:
    """Seconds from the first byte of ``payload`` sent to its one-line reply ``expect`` read.

    The key is deleted before (so every repetition starts from nothing) and after.
    """
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        sock.sendall(_command(b"DEL", KEY))
        _read_line(sock, buf)
        start = time.perf_counter()
        sock.sendall(payload)
        reply = _read_line(sock, buf)
        seconds = time.perf_counter() - start
        sock.sendall(_command(b"DEL", KEY))
        _read_line(sock, buf)
    if reply != expect:
        raise BenchmarkError(f"{endpoint}: expected {expect!r}, got {reply[:200]!r}")
    return seconds


@dataclass(frozen=True)
class BigRequestResult:
    """Per-repetition seconds of both servers for one request shape."""

    elements: int
    request_bytes: int
    candidate_s: tuple[float, ...]
    baseline_s: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        """candidate / baseline seconds, paired within each repetition (lower is better)."""
        return tuple(c / b for c, b in zip(self.candidate_s, self.baseline_s, strict=True))

    def table(self) -> Table:
        table = Table(
            title=f"RPUSH of {self.elements:,} elements ({self.request_bytes / 1e6:.1f} MB), "
            f"{len(self.ratios)} repetitions"
        )
        table.add_column("server")
        table.add_column("median s", justify="right")
        table.add_column("min s", justify="right")
        table.add_column("max s", justify="right")
        for name, xs in (("candidate", self.candidate_s), ("Redis 8.0", self.baseline_s)):
            table.add_row(name, f"{statistics.median(xs):.3f}", f"{min(xs):.3f}", f"{max(xs):.3f}")
        r = self.ratios
        table.add_row(
            "ratio (paired)", f"{statistics.median(r):.2f}x", f"{min(r):.2f}x", f"{max(r):.2f}x"
        )
        return table


def compare_big_request(
    candidate_argv: Sequence[str],
    baseline_argv: Sequence[str],
    *,
    elements: int = 1_000_000,
    size: int = 8,
    repetitions: int = 5,
    cpus: str | None = DEFAULT_SERVER_CPUS,
    seed: int | None = None,
    on_repetition: Callable[[int, float, float], None] | None = None,
) -> BigRequestResult:
    """Start both servers (pinned to ``cpus``) and time the request ``repetitions`` times each."""
    if repetitions < 1:
        raise BenchmarkError(f"repetitions must be >= 1, got {repetitions}")
    payload = rpush_payload(elements, size)
    expect = b":%d" % elements
    rng = random.Random(seed)
    candidate = ServerProcess(candidate_argv, name="candidate", cpus=cpus)
    baseline = ServerProcess(baseline_argv, name="baseline", cpus=cpus)
    cand: list[float] = []
    base: list[float] = []
    try:
        candidate.start()
        baseline.start()
        for rep in range(repetitions):
            order = [(candidate, cand), (baseline, base)]
            rng.shuffle(order)
            for server, into in order:
                into.append(time_request(server.endpoint, payload, expect))
            if on_repetition is not None:
                on_repetition(rep + 1, cand[-1], base[-1])
    finally:
        candidate.cleanup()
        baseline.cleanup()
    return BigRequestResult(elements, len(payload), tuple(cand), tuple(base))
