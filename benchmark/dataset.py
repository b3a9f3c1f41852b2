"""Datasets for memory measurement: N keys of one type and shape, loaded through redis-py.

A `DatasetSpec` says what to load (``1M strings of 64 B``, ``100k hashes of 20 fields of
8 B``); `load` writes it with pipelines, and `measure_footprint` reads ``used_memory`` and
the resident set size before and after, giving bytes per key. The same spec loaded into two
servers gives a fair memory comparison: the data is byte-identical and deterministic.

The ``suite`` kind is the data redis-benchmark's default suite leaves behind (run by
redis-benchmark itself with a fixed seed), so "memory after the benchmark" is measured too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import redis

from benchmark.workload import SUITE_TESTS

__all__ = [
    "DATASETS",
    "KINDS",
    "DatasetError",
    "DatasetSpec",
    "Footprint",
    "MemorySample",
    "load",
    "measure_datasets",
    "measure_footprint",
    "sample_memory",
]

KINDS = ("string", "hash", "set", "zset", "list", "suite")
"""Value types a dataset can hold; ``suite`` is redis-benchmark's default suite's data."""

PIPELINE_COMMANDS = 1000
"""Commands per redis-py pipeline round trip while loading."""

MSET_KEYS = 100
"""Strings per MSET while loading (fewer round trips and commands than one SET each)."""


_NOUNS = {
    "hash": ("hashes", "fields"),
    "set": ("sets", "members"),
    "zset": ("sorted sets", "members"),
    "list": ("lists", "elements"),
}


class DatasetError(ValueError):
    """A dataset spec that cannot be loaded; the message starts with ``dataset.<field>``."""


@dataclass(frozen=True)
class DatasetSpec:
    """``keys`` keys of type ``kind``, each with ``elements`` elements of ``value_size`` bytes.

    Strings have one element (their value). Hash fields are ``f<j>`` with values of
    ``value_size`` bytes; set and sorted-set members and list elements are ``value_size``
    bytes, or decimal integers when ``integers`` is true (sets: Redis's intset case).
    For ``suite``, ``keys`` is redis-benchmark's ``-n`` per test, ``value_size`` its ``-d``.
    """

    name: str
    kind: str
    keys: int
    elements: int = 1
    value_size: int = 64
    integers: bool = False
    seed: int = 1

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def description(self) -> str:
        if self.kind == "suite":
            return f"redis-benchmark default suite, -n {self.keys} -d {self.value_size} -P 16"
        what = "integers" if self.integers else f"{self.value_size} B"
        if self.kind == "string":
            return f"{self.keys:,} strings of {self.value_size} B"
        plural, unit = _NOUNS[self.kind]
        return f"{self.keys:,} {plural} of {self.elements} {unit} ({what})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSpec:
        """Build from a table (e.g. a study spec's); unknown keys raise DatasetError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DatasetError(
                f"dataset.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})"
            )
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise DatasetError(f"dataset: {exc}") from None

    def commands(self) -> Iterator[tuple[bytes | str, ...]]:
        """The write commands that build this dataset (not for ``suite``)."""
        if self.kind == "string":
            for start in range(0, self.keys, MSET_KEYS):
                cmd: list[bytes | str] = ["MSET"]
                for i in range(start, min(start + MSET_KEYS, self.keys)):
                    cmd += [_key(self, i), _value(i, self.value_size)]
                yield tuple(cmd)
            return
        verb = {"hash": "HSET", "set": "SADD", "zset": "ZADD", "list": "RPUSH"}[self.kind]
        for i in range(self.keys):
            cmd = [verb, _key(self, i)]
            for j in range(self.elements):
                member = self._member(i, j)
                if self.kind == "hash":
                    cmd += [f"f{j}", member]
                elif self.kind == "zset":
                    cmd += [str(j), member]
                else:
                    cmd.append(member)
            yield tuple(cmd)

    def _member(self, i: int, j: int) -> bytes:
        if self.integers:
            return b"%d" % (i * self.elements + j)
        return _value(i * self.elements + j, self.value_size)


def _key(spec: DatasetSpec, i: int) -> str:
    return f"{spec.kind}:{i:010d}"


def _value(n: int, size: int) -> bytes:
    """``size`` bytes, distinct per ``n`` (a decimal prefix padded with 'v')."""
    return (b"%d:" % n).ljust(size, b"v")[:size]


def _validate(spec: DatasetSpec) -> None:
    if not isinstance(spec.name, str) or not spec.name:
        raise DatasetError(f"dataset.name: expected a non-empty string, got {spec.name!r}")
    if spec.kind not in KINDS:
        raise DatasetError(f"dataset.kind: unknown kind {spec.kind!r} (known: {', '.join(KINDS)})")
    for name in ("keys", "elements", "value_size"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DatasetError(f"dataset.{name}: expected a positive integer, got {value!r}")
    if spec.kind in ("string", "suite") and spec.elements != 1:
        raise DatasetError(f"dataset.elements: a {spec.kind} dataset has 1, got {spec.elements}")
    if spec.integers and spec.kind not in ("set", "zset", "list"):
        raise DatasetError(f"dataset.integers: only for set, zset or list, not {spec.kind}")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool):
        raise DatasetError(f"dataset.seed: expected an integer, got {spec.seed!r}")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("strings-64", "string", 1_000_000, value_size=64),
        DatasetSpec("hashes-20", "hash", 100_000, elements=20, value_size=8),
        DatasetSpec("sets-20-int", "set", 100_000, elements=20, integers=True),
        DatasetSpec("zsets-20", "zset", 100_000, elements=20, value_size=8),
        DatasetSpec("lists-20", "list", 100_000, elements=20, value_size=8),
        DatasetSpec("suite", "suite", 100_000, value_size=64),
    )
}
"""The shipped datasets; the issue's four targets are strings-64, hashes-20, sets-20-int, suite."""


@dataclass(frozen=True)
class MemorySample:
    """What a server reports about its memory at one moment."""

    used_memory: int
    rss: int
    keys: int


@dataclass(frozen=True)
class Footprint:
    """Memory growth from loading one dataset into an empty server."""

    dataset: str
    before: MemorySample
    after: MemorySample
    load_seconds: float

    @property
    def keys(self) -> int:
        return self.after.keys - self.before.keys

    @property
    def used_memory_per_key(self) -> float:
        return (self.after.used_memory - self.before.used_memory) / max(self.keys, 1)

    @property
    def rss_per_key(self) -> float:
        return (self.after.rss - self.before.rss) / max(self.keys, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "before": asdict(self.before),
            "after": asdict(self.after),
            "keys": self.keys,
            "load_seconds": self.load_seconds,
            "used_memory_per_key": self.used_memory_per_key,
            "rss_per_key": self.rss_per_key,
        }


def _rss_from_proc(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def sample_memory(conn: redis.Redis, pid: int | None = None) -> MemorySample:
    """``used_memory``, RSS (/proc/PID/status when ``pid`` is given, else INFO's
    ``used_memory_rss``) and DBSIZE, read now."""
    info = conn.info("memory")
    used = int(info["used_memory"])
    rss = _rss_from_proc(pid) if pid is not None else None
    if rss is None:
        rss = int(info["used_memory_rss"])
    return MemorySample(used_memory=used, rss=rss, keys=int(conn.dbsize()))


def load(conn: redis.Redis, spec: DatasetSpec, *, redis_benchmark: Path | None = None) -> None:
    """Write ``spec`` into the server behind ``conn`` (which should be empty).

    ``suite`` runs ``redis_benchmark`` (required then) against the connection's host/port.
    """
    if spec.kind == "suite":
        _load_suite(conn, spec, redis_benchmark)
        return
    pipe = conn.pipeline(transaction=False)
    queued = 0
    for cmd in spec.commands():
        pipe.execute_command(*cmd)
        queued += 1
        if queued == PIPELINE_COMMANDS:
            _execute(pipe, spec)
            queued = 0
    if queued:
        _execute(pipe, spec)


def _execute(pipe: redis.client.Pipeline, spec: DatasetSpec) -> None:
    for reply in pipe.execute(raise_on_error=False):
        if isinstance(reply, Exception):
            raise DatasetError(f"dataset {spec.name}: the server refused a write: {reply}")


def _load_suite(conn: redis.Redis, spec: DatasetSpec, redis_benchmark: Path | None) -> None:
    if redis_benchmark is None:
        raise DatasetError(f"dataset {spec.name}: the suite dataset needs redis-benchmark")
    kwargs = conn.connection_pool.connection_kwargs
    argv = [
        str(redis_benchmark),
        "-h",
        str(kwargs.get("host", "127.0.0.1")),
        "-p",
        str(kwargs.get("port", 6379)),
        "-n",
        str(spec.keys),
        "-r",
        "100000",
        "-d",
        str(spec.value_size),
        "-c",
        "50",
        "-P",
        "16",
        "--seed",
        str(spec.seed),
        "-q",
        "-t",
        ",".join(SUITE_TESTS),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise DatasetError(
            f"dataset {spec.name}: redis-benchmark exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-500:]}"
        )


def measure_footprint(
    conn: redis.Redis,
    spec: DatasetSpec,
    *,
    pid: int | None = None,
    redis_benchmark: Path | None = None,
    settle_s: float = 0.2,
) -> Footprint:
    """FLUSHALL, sample, load ``spec``, sample again (after ``settle_s``): the growth."""
    return measure_datasets(
        conn, [spec], pid=pid, redis_benchmark=redis_benchmark, settle_s=settle_s
    )


def measure_datasets(
    conn: redis.Redis,
    specs: Sequence[DatasetSpec],
    *,
    pid: int | None = None,
    redis_benchmark: Path | None = None,
    settle_s: float = 0.2,
) -> Footprint:
    """:func:`measure_footprint` of several datasets loaded together (names joined by '+'):
    a study's memory per key over a mix of types."""
    name = "+".join(s.name for s in specs)
    conn.flushall()
    time.sleep(settle_s)
    before = sample_memory(conn, pid)
    start = time.monotonic()
    for spec in specs:
        load(conn, spec, redis_benchmark=redis_benchmark)
    seconds = time.monotonic() - start
    time.sleep(settle_s)
    after = sample_memory(conn, pid)
    if after.keys <= before.keys:
        raise DatasetError(f"dataset {name}: no keys were added ({after.keys} after load)")
    return Footprint(name, before, after, seconds)
